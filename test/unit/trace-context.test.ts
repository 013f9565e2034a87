/**
 * The trace context as a plain field that travels with a callback (CallbackToStore -> intake entry
 * -> DeliveryJobData -> the attempt's headers), and the OTEL_* variables that turn tracing on:
 * pure, no SDK started, no Redis.
 */
import { ROOT_CONTEXT, TraceFlags, trace, type SpanContext } from '@opentelemetry/api';
import { TraceState } from '@opentelemetry/core';
import { describe, expect, it } from 'vitest';
import { parseConfig } from '../../src/config/load.js';
import { readTracingSettings } from '../../src/config/tracing.js';
import { attemptHeaders } from '../../workers/deliver/headers.js';
import { parseEntry } from '../../workers/route/intake-entry.js';
import { contextOfField, traceContextField, traceHeaders, traceIdOfField } from '../../src/trace/context-field.js';
import { traceLogFields } from '../../src/trace/log-fields.js';
import { activeTracer } from '../../src/trace/tracing.js';
import { testConfigObject } from '../helpers/config.js';

const TRACE_ID = '4bf92f3577b34da6a3ce929d0e0e4736';
const SPAN_ID = '00f067aa0ba902b7';

const contextOf = (spanContext: SpanContext) => trace.setSpanContext(ROOT_CONTEXT, spanContext);

describe('the trace context field', () => {
  it.each<[string, Pick<SpanContext, 'traceFlags' | 'traceState'>, string]>([
    ['sampled, no tracestate', { traceFlags: TraceFlags.SAMPLED }, `00-${TRACE_ID}-${SPAN_ID}-01`],
    ['not sampled', { traceFlags: TraceFlags.NONE }, `00-${TRACE_ID}-${SPAN_ID}-00`],
    ['with a tracestate (spaces allowed in it)', { traceFlags: TraceFlags.SAMPLED, traceState: new TraceState('proxy=a1b2,vendor=x y') }, `00-${TRACE_ID}-${SPAN_ID}-01 proxy=a1b2,vendor=x y`],
  ])('round-trips a span context, %s', (_case, facts, field) => {
    const spanContext: SpanContext = { traceId: TRACE_ID, spanId: SPAN_ID, ...facts };
    expect(traceContextField(contextOf(spanContext))).toBe(field);
    const back = trace.getSpanContext(contextOfField(field));
    expect(back).toMatchObject({ traceId: TRACE_ID, spanId: SPAN_ID, traceFlags: facts.traceFlags, isRemote: true });
    expect(back?.traceState?.serialize()).toBe(facts.traceState?.serialize());
    expect(traceIdOfField(field)).toBe(TRACE_ID);
  });

  it('names no parent when it is absent or not a valid traceparent: a span under it starts a trace of its own', () => {
    for (const field of [undefined, '', 'garbage', `00-${'0'.repeat(32)}-${SPAN_ID}-01`, `00-${TRACE_ID}-${SPAN_ID}`]) {
      expect(contextOfField(field)).toBe(ROOT_CONTEXT);
      expect(traceIdOfField(field)).toBeUndefined();
    }
    expect(traceContextField(ROOT_CONTEXT)).toBeUndefined();
    expect(traceHeaders(ROOT_CONTEXT)).toEqual({});
  });

  it('travels from the intake entry into the delivery job data, and is absent when the receiver did not trace', () => {
    const fields = ['id', 'cb_00ff', 'event', 'mix_stop', 'app', '111111', 'body', '{}', 'at', '1700000000123'];
    const field = `00-${TRACE_ID}-${SPAN_ID}-01 proxy=a1b2`;
    expect(parseEntry(['1-0', [...fields, 'trace', field]]).data).toEqual({
      callbackId: 'cb_00ff', event: 'mix_stop', appId: '111111', body: '{}', receivedAt: 1_700_000_000_123, traceContext: field,
    });
    expect(parseEntry(['2-0', fields]).data).not.toHaveProperty('traceContext');
  });

  it('becomes the headers of the attempt span, which a target\'s own headers cannot replace', () => {
    const attemptSpan = contextOf({ traceId: TRACE_ID, spanId: 'b7ad6b7169203331', traceFlags: TraceFlags.SAMPLED, traceState: new TraceState('proxy=a1b2') });
    const target = { headers: { Traceparent: `00-${'1'.repeat(32)}-${'2'.repeat(16)}-01`, tracestate: 'fixed=1', Authorization: 'Bearer t' }, signingSecrets: [] };
    const data = { callbackId: 'cb_1', event: 'mix_stop', appId: '111111', body: '{}' };
    const headers = attemptHeaders({ target, data, attempt: 2, timestampSeconds: 1_700_000_000, trace: traceHeaders(attemptSpan) });
    expect(headers).toMatchObject({ traceparent: `00-${TRACE_ID}-b7ad6b7169203331-01`, tracestate: 'proxy=a1b2', Authorization: 'Bearer t' });
    expect(Object.keys(headers).filter((name) => name.toLowerCase().startsWith('trace'))).toEqual(['traceparent', 'tracestate']);
    // Tracing off: no trace headers at all.
    const untraced = attemptHeaders({ target, data, attempt: 2, timestampSeconds: 1_700_000_000 });
    expect(Object.keys(untraced).filter((name) => name.toLowerCase().startsWith('trace'))).toEqual([]);
  });

  it('adds no trace_id to log lines while tracing is off in this process', () => {
    expect(activeTracer()).toBeUndefined();
    expect(traceLogFields(`00-${TRACE_ID}-${SPAN_ID}-01`)).toEqual({});
  });
});

describe('the OTEL_* variables', () => {
  it.each([
    ['nothing set: off', {}, undefined],
    ['an empty endpoint: off', { OTEL_EXPORTER_OTLP_ENDPOINT: ' ' }, undefined],
    ['an endpoint: v1/traces appended, protobuf', { OTEL_EXPORTER_OTLP_ENDPOINT: 'http://collector:4318' }, { url: 'http://collector:4318/v1/traces', protocol: 'http/protobuf' }],
    ['an endpoint with a path and a slash', { OTEL_EXPORTER_OTLP_ENDPOINT: 'https://otel.example/base/' }, { url: 'https://otel.example/base/v1/traces', protocol: 'http/protobuf' }],
    ['the traces endpoint, used as it is, before the general one', { OTEL_EXPORTER_OTLP_ENDPOINT: 'http://a:4318', OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: 'http://b:4318/traces' }, { url: 'http://b:4318/traces', protocol: 'http/protobuf' }],
    ['http/json', { OTEL_EXPORTER_OTLP_ENDPOINT: 'http://c:4318', OTEL_EXPORTER_OTLP_PROTOCOL: 'http/json' }, { url: 'http://c:4318/v1/traces', protocol: 'http/json' }],
    ['the traces protocol before the general one', { OTEL_EXPORTER_OTLP_ENDPOINT: 'http://c:4318', OTEL_EXPORTER_OTLP_PROTOCOL: 'grpc', OTEL_EXPORTER_OTLP_TRACES_PROTOCOL: 'http/json' }, { url: 'http://c:4318/v1/traces', protocol: 'http/json' }],
    ['OTEL_SDK_DISABLED=true: off', { OTEL_EXPORTER_OTLP_ENDPOINT: 'http://c:4318', OTEL_SDK_DISABLED: 'TRUE' }, undefined],
    ['OTEL_TRACES_EXPORTER=none: off', { OTEL_EXPORTER_OTLP_ENDPOINT: 'http://c:4318', OTEL_TRACES_EXPORTER: 'none' }, undefined],
    ['OTEL_TRACES_EXPORTER=otlp', { OTEL_EXPORTER_OTLP_ENDPOINT: 'http://c:4318', OTEL_TRACES_EXPORTER: 'otlp' }, { url: 'http://c:4318/v1/traces', protocol: 'http/protobuf' }],
  ])('%s', (_case, env, settings) => {
    expect(readTracingSettings(env)).toEqual({ problems: [], ...(settings ? { settings } : {}) });
  });

  it.each([
    [{ OTEL_EXPORTER_OTLP_ENDPOINT: 'http://c:4318', OTEL_EXPORTER_OTLP_PROTOCOL: 'grpc' }, 'OTEL_EXPORTER_OTLP_PROTOCOL: "grpc" is not supported; use http/protobuf or http/json'],
    [{ OTEL_EXPORTER_OTLP_ENDPOINT: 'collector:4318' }, 'OTEL_EXPORTER_OTLP_ENDPOINT: "collector:4318" must be an http:// or https:// URL (OTLP over HTTP)'],
    [{ OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: 'not a url' }, 'OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: "not a url" is not a URL (e.g. http://otel-collector:4318)'],
    [{ OTEL_EXPORTER_OTLP_ENDPOINT: 'grpc://u:secret@c:4317' }, 'OTEL_EXPORTER_OTLP_ENDPOINT: "grpc://[redacted]@c:4317" must be an http:// or https:// URL (OTLP over HTTP)'],
    [{ OTEL_EXPORTER_OTLP_ENDPOINT: 'http://c:4318', OTEL_TRACES_EXPORTER: 'zipkin' }, 'OTEL_TRACES_EXPORTER: "zipkin" is not supported; use otlp (or none to turn tracing off)'],
  ])('refuses %j with a message naming the variable', (env, problem) => {
    expect(readTracingSettings(env)).toEqual({ problems: [problem] });
  });

  it('are part of the configuration, validated with it', () => {
    const text = JSON.stringify(testConfigObject({ redisUrl: 'redis://127.0.0.1:6379' }));
    expect(parseConfig(text, { env: { OTEL_EXPORTER_OTLP_ENDPOINT: 'http://c:4318' } }).tracing).toEqual({ url: 'http://c:4318/v1/traces', protocol: 'http/protobuf' });
    expect(parseConfig(text, { env: {} }).tracing).toBeUndefined();
    expect(() => parseConfig(text, { env: { OTEL_EXPORTER_OTLP_ENDPOINT: 'http://c:4318', OTEL_EXPORTER_OTLP_PROTOCOL: 'grpc' } })).toThrow(/OTEL_EXPORTER_OTLP_PROTOCOL: "grpc" is not supported/);
  });
});
