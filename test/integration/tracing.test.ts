/**
 * One trace per callback, seen from outside: callbacks POSTed to the real receiver, routed and
 * delivered by the real workers to HTTP targets on 127.0.0.1, the relay run by the same lifecycle as
 * `zego-relay start` with the OTEL_* variables it would read, its spans exported to an OTLP/HTTP
 * collector on 127.0.0.1 (test/helpers/otlp-collector.ts decodes them).
 */
import { afterEach, describe, expect, it, vi } from 'vitest';
import { parseConfig, type RelayConfig } from '../../src/config/load.js';
import { runUntilStopped, type Lifecycle } from '../../src/process/lifecycle.js';
import { startWorkers } from '../../workers/role.js';
import { silentLogger, type Logger } from '../../src/lib/logger.js';
import { startReceiver, type ReceiverHandle } from '../../src/receive/server.js';
import { UNROUTED_QUEUE, intakeKeys } from '../../src/shared/names.js';
import { intakePendingCount } from '../../src/intake/stats.js';
import { CallbackStore } from '../../src/intake/callback-store.js';
import { activeTracer, startTracing } from '../../src/trace/tracing.js';
import { recordingLogger } from '../helpers/delivery.js';
import { testConfig, testConfigObject, type TargetInput } from '../helpers/config.js';
import { SPAN_KIND, STATUS_ERROR, startOtlpCollector, type ExportedSpan, type OtlpCollector } from '../helpers/otlp-collector.js';
import { useTestRedis } from '../helpers/redis.js';
import { flaky, ok, startTargetServer, type ReceivedRequest, type Responder, type TargetServer } from '../helpers/targets.js';
import { jsonBody, mixStopFields, sign } from '../helpers/zego.js';

const redis = useTestRedis();

afterEach(() => {
  vi.unstubAllEnvs();
});

const TRACEPARENT = /^00-([0-9a-f]{32})-([0-9a-f]{16})-0[01]$/;

/** The trace id and parent span id of a request's traceparent. */
function traceparentOf(request: ReceivedRequest): { traceId: string; spanId: string } {
  const match = TRACEPARENT.exec(String(request.headers.traceparent));
  if (!match) throw new Error(`no valid traceparent: ${String(request.headers.traceparent)}`);
  return { traceId: match[1]!, spanId: match[2]! };
}

async function collector(): Promise<OtlpCollector> {
  const started = await startOtlpCollector();
  redis.cleanup(() => started.close());
  return started;
}

async function target(respond: Responder = ok): Promise<TargetServer> {
  const server = await startTargetServer(respond);
  redis.cleanup(() => server.close());
  return server;
}

interface Relay {
  readonly config: RelayConfig;
  /** POSTs a new signed mix_stop; resolves with its callback id. */
  post(headers?: Record<string, string>): Promise<string>;
  /** Stops it as SIGTERM would (the lifecycle's order: receiver, workers, tracing, ...). */
  stop(): Promise<void>;
}

/** The relay (receiver + workers) under runUntilStopped, configured from `env` as `zego-relay start` is. */
async function startRelay(env: Record<string, string>, targets: TargetInput[], logger: Logger = silentLogger): Promise<Relay> {
  const config = parseConfig(JSON.stringify(testConfigObject({ redisUrl: redis.url, targets })), { env, source: 'test' });
  let lifecycle: Lifecycle | undefined;
  let receiver: ReceiverHandle | undefined;
  const started = new Promise<void>((resolve, reject) => {
    const done = runUntilStopped({
      config,
      logger,
      async start(parts) {
        lifecycle = parts;
        receiver = await startReceiver(config, { logger });
        await parts.adopt('receiver', receiver.close);
        const workers = await startWorkers(config, { logger });
        await parts.adopt('workers', workers.close);
        resolve();
      },
      onStartFailure: reject,
    });
    redis.cleanup(async () => {
      await lifecycle?.stop('test over');
      await done;
    });
  });
  await started;
  return {
    config,
    async post(headers = {}) {
      const response = await fetch(`http://127.0.0.1:${receiver!.port}${config.server.callbackPath}`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', ...headers },
        body: jsonBody(sign(mixStopFields())),
      });
      expect(response.status).toBe(200);
      return ((await response.json()) as { id: string }).id;
    },
    async stop() {
      await lifecycle!.stop('test');
    },
  };
}

const tracingEnv = (otlp: OtlpCollector, protocol: 'http/protobuf' | 'http/json') => ({
  OTEL_EXPORTER_OTLP_ENDPOINT: otlp.endpoint,
  OTEL_EXPORTER_OTLP_PROTOCOL: protocol,
});

/** The one span of `spans` that `matches`. */
function only(spans: ExportedSpan[], matches: (span: ExportedSpan) => boolean, what: string): ExportedSpan {
  const found = spans.filter(matches);
  expect(found, what).toHaveLength(1);
  return found[0]!;
}

describe('tracing on: one trace per callback', () => {
  it('10 callbacks (http/protobuf): each target request carries a traceparent whose trace holds the SERVER span and that attempt\'s CLIENT span', async () => {
    const otlp = await collector();
    const billing = await target();
    const relay = await startRelay(tracingEnv(otlp, 'http/protobuf'), [{ name: 'billing', url: billing.url }]);
    const ids: string[] = [];
    for (let index = 0; index < 10; index += 1) ids.push(await relay.post());
    const requests = await billing.waitForRequests(10);
    // Stopping flushes the exporter: every span ended so far is exported before it returns.
    await relay.stop();

    expect(new Set(otlp.contentTypes)).toEqual(new Set(['application/x-protobuf']));
    for (const request of requests) {
      const { traceId, spanId } = traceparentOf(request);
      const callbackId = String(request.headers['webhook-id']);
      const spans = otlp.trace(traceId);
      const server = only(spans, (span) => span.kind === SPAN_KIND.server, `the SERVER span of ${callbackId}`);
      expect(server).toMatchObject({
        name: 'POST /zego/callback',
        parentSpanId: '',
        attributes: {
          'http.request.method': 'POST',
          'http.route': '/zego/callback',
          'http.response.status_code': 200,
          'zego_relay.callback.id': callbackId,
          'zego_relay.callback.event': 'mix_stop',
          'zego_relay.callback.app_id': '111111',
          'zego_relay.outcome': 'stored',
        },
        resource: { 'service.name': 'zego-relay' },
      });
      const attempt = only(spans, (span) => span.spanId === spanId, `the attempt span of ${callbackId}`);
      expect(attempt).toMatchObject({
        kind: SPAN_KIND.client,
        name: 'deliver billing',
        parentSpanId: server.spanId,
        attributes: { 'zego_relay.target': 'billing', 'zego_relay.attempt': 1, 'http.response.status_code': 204, 'zego_relay.callback.id': callbackId },
        status: { code: 0 },
      });
      expect(attempt.attributes['zego_relay.attempt.duration_ms']).toEqual(expect.any(Number));
      // The store call and the router's work are in the same trace, under the SERVER span.
      expect(only(spans, (span) => span.name === 'store', 'the store span')).toMatchObject({ parentSpanId: server.spanId, attributes: { 'zego_relay.outcome': 'stored' } });
      expect(only(spans, (span) => span.name === 'route', 'the route span')).toMatchObject({
        kind: SPAN_KIND.consumer,
        parentSpanId: server.spanId,
        attributes: { 'zego_relay.callback.id': callbackId, 'zego_relay.targets': ['billing'] },
      });
    }
    expect(new Set(requests.map((request) => request.headers['webhook-id']))).toEqual(new Set(ids));
    expect(new Set(requests.map((request) => traceparentOf(request).traceId)).size).toBe(10);
  });

  it('a callback no target takes: its route span names the unrouted queue', async () => {
    const otlp = await collector();
    const relay = await startRelay(tracingEnv(otlp, 'http/json'), [{ name: 'billing', events: ['room_login'] }]);
    const callbackId = await relay.post();
    const routeSpan = () => otlp.spans.filter((span) => span.name === 'route' && span.attributes['zego_relay.callback.id'] === callbackId);
    // The router's batch ends its spans; the exporter sends them within its schedule, the stop flushes.
    await expect.poll(async () => (await intakePendingCount(redis.inspector, relay.config)) === 0, { timeout: 10_000 }).toBe(true);
    await relay.stop();
    expect(routeSpan()).toHaveLength(1);
    expect(routeSpan()[0]!.attributes['zego_relay.targets']).toEqual([UNROUTED_QUEUE]);
  });

  it('a delivery failing once then succeeding (http/json): two attempt spans in the same trace', async () => {
    const otlp = await collector();
    const billing = await target(flaky(1, 500));
    const relay = await startRelay(tracingEnv(otlp, 'http/json'), [{ name: 'billing', url: billing.url, retry: { schedule: [50], jitter: 0 } }]);
    const callbackId = await relay.post();
    const [first, second] = await billing.waitForRequests(2);
    await relay.stop();

    expect(new Set(otlp.contentTypes)).toEqual(new Set(['application/json']));
    const traceId = traceparentOf(first!).traceId;
    expect(traceparentOf(second!).traceId).toBe(traceId);
    const spans = otlp.trace(traceId);
    const server = only(spans, (span) => span.kind === SPAN_KIND.server, 'the SERVER span');
    expect(server.attributes['zego_relay.callback.id']).toBe(callbackId);
    const attempts = spans.filter((span) => span.kind === SPAN_KIND.client && span.name === 'deliver billing').sort((a, b) => Number(a.attributes['zego_relay.attempt']) - Number(b.attributes['zego_relay.attempt']));
    expect(attempts).toHaveLength(2);
    expect(attempts.map((span) => span.spanId)).toEqual([traceparentOf(first!).spanId, traceparentOf(second!).spanId]);
    expect(attempts.map((span) => span.parentSpanId)).toEqual([server.spanId, server.spanId]);
    expect(attempts[0]).toMatchObject({
      attributes: { 'zego_relay.attempt': 1, 'http.response.status_code': 500, 'error.type': '500', 'zego_relay.retryable': true },
      status: { code: STATUS_ERROR, message: expect.stringContaining('500') },
    });
    expect(attempts[1]).toMatchObject({ attributes: { 'zego_relay.attempt': 2, 'http.request.resend_count': 1, 'http.response.status_code': 200 }, status: { code: 0 } });
  });

  it('continues the trace of a traceparent ZEGO\'s request came with, and hands its tracestate to the target', async () => {
    const otlp = await collector();
    const billing = await target();
    const relay = await startRelay(tracingEnv(otlp, 'http/protobuf'), [{ name: 'billing', url: billing.url }]);
    const upstream = { traceId: '4bf92f3577b34da6a3ce929d0e0e4736', spanId: '00f067aa0ba902b7' };
    await relay.post({ traceparent: `00-${upstream.traceId}-${upstream.spanId}-01`, tracestate: 'proxy=a1b2' });
    const [request] = await billing.waitForRequests(1);
    await relay.stop();

    expect(traceparentOf(request!).traceId).toBe(upstream.traceId);
    expect(request!.headers.tracestate).toBe('proxy=a1b2');
    const server = only(otlp.trace(upstream.traceId), (span) => span.kind === SPAN_KIND.server, 'the SERVER span');
    expect(server).toMatchObject({ parentSpanId: upstream.spanId, traceState: 'proxy=a1b2' });
  });

  it('puts the trace id on the callback\'s log lines: the receiver\'s accept line and each attempt line', async () => {
    const otlp = await collector();
    const billing = await target();
    const { logger, lines } = recordingLogger();
    const relay = await startRelay(tracingEnv(otlp, 'http/protobuf'), [{ name: 'billing', url: billing.url }], logger);
    const callbackId = await relay.post();
    const [request] = await billing.waitForRequests(1);
    const { traceId } = traceparentOf(request!);
    await expect.poll(() => lines.find((line) => line.msg === 'delivered' && line.callbackId === callbackId)).toMatchObject({ trace_id: traceId });
    expect(lines.find((line) => line.msg === 'callback accepted' && line.callbackId === callbackId)).toMatchObject({ trace_id: traceId });
    await relay.stop();
  });
});

describe('a callback that could not be stored', () => {
  it('has its POST span and its store span marked as errors, with the reason', async () => {
    const otlp = await collector();
    const tracing = startTracing({ url: `${otlp.endpoint}/v1/traces`, protocol: 'http/json' }, { logger: silentLogger, version: 'test' })!;
    redis.cleanup(() => tracing.close());
    // Nothing listens on port 1: the store gives up at its deadline and the receiver answers 503.
    const receiver = await startReceiver(testConfig({ redisUrl: 'redis://127.0.0.1:1' }), { logger: silentLogger });
    redis.cleanup(() => receiver.close());
    const response = await fetch(`http://127.0.0.1:${receiver.port}/zego/callback`, { method: 'POST', body: jsonBody(sign(mixStopFields())) });
    expect(response.status).toBe(503);
    await tracing.close();

    const server = only(otlp.spans, (span) => span.kind === SPAN_KIND.server, 'the SERVER span');
    expect(server).toMatchObject({
      attributes: { 'http.response.status_code': 503, 'zego_relay.outcome': 'unavailable', 'error.type': 'unavailable' },
      status: { code: STATUS_ERROR, message: expect.stringContaining('ECONNREFUSED') },
    });
    expect(only(otlp.spans, (span) => span.name === 'store', 'the store span')).toMatchObject({
      parentSpanId: server.spanId,
      attributes: { 'error.type': 'UnavailableError' },
      status: { code: STATUS_ERROR },
    });
  });
});

describe('a collector in trouble', () => {
  it('never holds up a callback; the failure is logged once, the recovery once', async () => {
    vi.stubEnv('OTEL_BSP_SCHEDULE_DELAY', '50');
    const otlp = await collector();
    const billing = await target();
    const { logger, lines } = recordingLogger();
    const relay = await startRelay(tracingEnv(otlp, 'http/protobuf'), [{ name: 'billing', url: billing.url }], logger);
    const failures = () => lines.filter((line) => line.msg?.toString().startsWith('cannot export traces'));
    otlp.failWith = 400;
    for (let wave = 1; wave <= 3; wave += 1) {
      const before = otlp.requests();
      await relay.post();
      await billing.waitForRequests(wave);
      // Another export was tried (and refused) before the next wave.
      await expect.poll(() => otlp.requests(), { timeout: 5_000 }).toBeGreaterThan(before);
    }
    expect(failures()).toHaveLength(1);
    otlp.failWith = undefined;
    await relay.post();
    await expect.poll(() => lines.some((line) => line.msg === 'exporting traces again'), { timeout: 5_000 }).toBe(true);
    expect(failures()).toHaveLength(1);
    await relay.stop();
  });

  it('a collector that never answers: the stop still ends, bounded', async () => {
    const otlp = await collector();
    otlp.hang = true;
    const billing = await target();
    const relay = await startRelay(tracingEnv(otlp, 'http/protobuf'), [{ name: 'billing', url: billing.url }]);
    await relay.post();
    await billing.waitForRequests(1);
    const stopping = Date.now();
    await relay.stop();
    // The flush waits at most 5 s (the exporter's own timeout is longer: 10 s).
    expect(Date.now() - stopping).toBeLessThan(8_000);
    expect(otlp.requests()).toBeGreaterThan(0);
  });
});

describe('tracing off', () => {
  it('with no endpoint: nothing recorded, and the target gets exactly today\'s headers, no traceparent', async () => {
    const billing = await target();
    const relay = await startRelay({ OTEL_EXPORTER_OTLP_PROTOCOL: 'http/json', OTEL_SERVICE_NAME: 'relay' }, [{ name: 'billing', url: billing.url }]);
    expect(relay.config.tracing).toBeUndefined();
    expect(activeTracer()).toBeUndefined();
    await relay.post();
    const [request] = await billing.waitForRequests(1);
    const names = request!.rawHeaders.filter((_value, index) => index % 2 === 0).map((name) => name.toLowerCase());
    expect(names.sort()).toEqual(
      ['connection', 'content-length', 'content-type', 'host', 'user-agent', 'webhook-id', 'webhook-timestamp', 'x-relay-attempt', 'x-zego-appid', 'x-zego-event'].sort(),
    );
    await relay.stop();
  });

  it('with OTEL_SDK_DISABLED=true next to an endpoint: no span is exported and no traceparent sent', async () => {
    const otlp = await collector();
    const billing = await target();
    const relay = await startRelay({ ...tracingEnv(otlp, 'http/protobuf'), OTEL_SDK_DISABLED: 'true' }, [{ name: 'billing', url: billing.url }]);
    await relay.post();
    const [request] = await billing.waitForRequests(1);
    // The stop would flush every span ended so far, had any been recorded.
    await relay.stop();
    expect(request!.headers.traceparent).toBeUndefined();
    expect(request!.headers.tracestate).toBeUndefined();
    expect(otlp.requests()).toBe(0);
  });
});

describe('the intake entry', () => {
  it('holds the trace context only when the receiver traced the callback: with tracing off it is as before', async () => {
    const config = testConfig({ redisUrl: redis.url });
    const store = CallbackStore.open(config, silentLogger);
    redis.cleanup(() => store.close());
    const traceContext = '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01 proxy=a1b2';
    const callback = (id: string) => ({ callbackId: id, event: 'mix_stop', appId: '111111', replayKey: id, body: '{}' });
    expect(await store.store(callback('cb_untraced'), 1_000)).toBe('stored');
    expect(await store.store({ ...callback('cb_traced'), traceContext }, 2_000)).toBe('stored');
    const entries = await store.connection.xrange(intakeKeys(config.redis.prefix, 0).stream, '-', '+');
    expect(entries.map(([, fields]) => fields)).toEqual([
      ['id', 'cb_untraced', 'event', 'mix_stop', 'app', '111111', 'body', '{}', 'at', '1000'],
      ['id', 'cb_traced', 'event', 'mix_stop', 'app', '111111', 'body', '{}', 'at', '2000', 'trace', traceContext],
    ]);
  });
});
