/**
 * A callback's trace across processes: the receiver (here, in the test's process) starts it, a
 * worker process (dist/workers/main.js with the OTEL_* variables set) makes an attempt and is
 * SIGKILLed mid-request, and the retry made by another worker process still joins the trace. And a
 * graceful stop exports the spans still buffered.
 */
import { describe, expect, it } from 'vitest';
import { recentDeliveries } from '../../src/targets/delivery-record.js';
import { silentLogger } from '../../src/lib/logger.js';
import { startReceiver } from '../../src/receive/server.js';
import { startTracing } from '../../src/trace/tracing.js';
import { callback, deliveryFixtures } from '../helpers/delivery.js';
import { SPAN_KIND, startOtlpCollector } from '../helpers/otlp-collector.js';
import { useTestRedis } from '../helpers/redis.js';
import { workerProcesses } from '../helpers/worker-process.js';
import { jsonBody, mixStopFields, sign } from '../helpers/zego.js';

const redis = useTestRedis();
const { setup, start: startWorkerProcess } = workerProcesses(redis);
const { target } = deliveryFixtures(redis);

const TRACEPARENT = /^00-([0-9a-f]{32})-([0-9a-f]{16})-01$/;

function traceparentOf(headers: Record<string, unknown>): { traceId: string; spanId: string } {
  const match = TRACEPARENT.exec(String(headers.traceparent));
  if (!match) throw new Error(`no valid traceparent: ${String(headers.traceparent)}`);
  return { traceId: match[1]!, spanId: match[2]! };
}

async function collector() {
  const otlp = await startOtlpCollector();
  redis.cleanup(() => otlp.close());
  return otlp;
}

describe('a retry in another worker process', () => {
  it('joins the callback\'s trace after the first worker was SIGKILLed mid-attempt', async () => {
    const otlp = await collector();
    const server = await target((_request, index) => (index === 0 ? { hold: true } : { status: 200 }));
    const { file, relay } = await setup({
      redisUrl: redis.url,
      targets: [{ name: 'held', url: server.url }],
      delivery: { lockDuration: 1_000, stalledInterval: 500 },
      // The first attempt is the router's: its batch is taken over after claimAfter.
      intake: { claimAfter: 1_000 },
    });
    // The receiver, traced in this process, exports its spans to the same collector.
    const tracing = startTracing({ url: `${otlp.endpoint}/v1/traces`, protocol: 'http/protobuf' }, { logger: silentLogger, version: 'test' })!;
    redis.cleanup(() => tracing.close());
    const receiver = await startReceiver(relay.config, { logger: silentLogger });
    redis.cleanup(() => receiver.close());
    const workerEnv = { OTEL_EXPORTER_OTLP_ENDPOINT: otlp.endpoint, OTEL_BSP_SCHEDULE_DELAY: '100' };

    const first = await startWorkerProcess(file, workerEnv);
    const response = await fetch(`http://127.0.0.1:${receiver.port}${relay.config.server.callbackPath}`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: jsonBody(sign(mixStopFields())),
    });
    const { id: callbackId } = (await response.json()) as { id: string };
    const [held] = await server.waitForRequests(1);
    first.child.kill('SIGKILL');
    await first.exited;

    const second = await startWorkerProcess(file, workerEnv);
    const [, retried] = await server.waitForRequests(2, 15_000);
    // Delivered by the second process's router on its first attempt there: recorded, no job.
    await expect.poll(async () => (await recentDeliveries(redis.inspector, relay.config.redis.prefix, 'held', 10)).map((entry) => entry.callbackId)).toContain(callbackId);
    const { traceId } = traceparentOf(held!.headers);
    const retry = traceparentOf(retried!.headers);
    expect(retry.traceId).toBe(traceId);
    expect(retry.spanId).not.toBe(traceparentOf(held!.headers).spanId);

    // The second worker exports on its own (every 100 ms); this process's spans once its tracing stops.
    await expect.poll(() => otlp.spans.some((span) => span.spanId === retry.spanId), { timeout: 10_000 }).toBe(true);
    await tracing.close();
    const spans = otlp.trace(traceId);
    const serverSpan = spans.find((span) => span.kind === SPAN_KIND.server)!;
    expect(serverSpan).toMatchObject({ attributes: { 'zego_relay.callback.id': callbackId }, resource: { 'process.pid': process.pid } });
    expect(spans.find((span) => span.spanId === retry.spanId)).toMatchObject({
      kind: SPAN_KIND.client,
      name: 'deliver held',
      parentSpanId: serverSpan.spanId,
      attributes: { 'zego_relay.target': 'held', 'http.response.status_code': 200, 'zego_relay.callback.id': callbackId },
      resource: { 'process.pid': second.child.pid, 'service.name': 'zego-relay' },
    });
  }, 60_000);
});

describe('a graceful stop (SIGTERM)', () => {
  it('exports the spans still buffered before the process exits', async () => {
    const otlp = await collector();
    const server = await target();
    const { file, relay } = await setup({ redisUrl: redis.url, targets: [{ name: 'steady', url: server.url }] });
    // Nothing is exported on a schedule within the test: only the stop's flush can send the span.
    const worker = await startWorkerProcess(file, { OTEL_EXPORTER_OTLP_ENDPOINT: otlp.endpoint, OTEL_BSP_SCHEDULE_DELAY: '600000' });
    const parent = { traceId: '4bf92f3577b34da6a3ce929d0e0e4736', spanId: '00f067aa0ba902b7' };
    const data = await relay.enqueue('steady', callback({ traceContext: `00-${parent.traceId}-${parent.spanId}-01` }));
    await relay.waitForState('steady', data.callbackId, 'completed');
    expect(otlp.requests()).toBe(0);

    worker.child.kill('SIGTERM');
    expect(await worker.exited).toBe(0);
    const [request] = server.requests;
    expect(otlp.trace(parent.traceId)).toEqual([
      expect.objectContaining({ kind: SPAN_KIND.client, spanId: traceparentOf(request!.headers).spanId, parentSpanId: parent.spanId }),
    ]);
  }, 30_000);
});
