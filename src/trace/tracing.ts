/**
 * The process's tracing: off (nothing started, nothing recorded) unless the OTEL_* variables named
 * an exporter endpoint (config/tracing.ts). On, it runs the OpenTelemetry SDK with a batch span
 * processor and an OTLP/HTTP exporter (protobuf or JSON). Spans are made by hand where the relay
 * does its work (callback-span.ts, route-span.ts, attempt-span.ts), each checking `activeTracer()`
 * once: no auto-instrumentation, no global registration, no context manager; parents are passed
 * explicitly, across processes through the trace context field (context-field.ts).
 */
import type { Tracer } from '@opentelemetry/api';
import { OTLPTraceExporter as JsonTraceExporter } from '@opentelemetry/exporter-trace-otlp-http';
import { OTLPTraceExporter as ProtobufTraceExporter } from '@opentelemetry/exporter-trace-otlp-proto';
import { defaultResource, detectResources, envDetector, hostDetector, processDetector, resourceFromAttributes } from '@opentelemetry/resources';
import { BasicTracerProvider, BatchSpanProcessor } from '@opentelemetry/sdk-trace-base';
import { ATTR_SERVICE_NAME, ATTR_SERVICE_VERSION } from '@opentelemetry/semantic-conventions';
import type { TracingSettings } from '../config/tracing.js';
import type { Logger } from '../lib/logger.js';
import { maskUrlCredentials } from '../lib/redact.js';
import { withTimeout } from '../lib/with-timeout.js';
import { ReportingExporter } from './reporting-exporter.js';

/** OTEL_SERVICE_NAME (or service.name in OTEL_RESOURCE_ATTRIBUTES) replaces it. */
export const DEFAULT_SERVICE_NAME = 'zego-relay';

/** The longest a stop waits for the last spans to be exported: a dead collector never holds up an exit. */
const FLUSH_TIMEOUT_MS = 5_000;

/** Set while tracing is on: the one flag the hot path checks. */
let tracer: Tracer | undefined;

/** The tracer while tracing is on; undefined when it is off. */
export function activeTracer(): Tracer | undefined {
  return tracer;
}

export interface TracingOptions {
  logger: Logger;
  /** service.version of the spans. */
  version: string;
  /** @defaultValue 5 s */
  flushTimeoutMs?: number;
}

export interface TracingHandle {
  /** Exports the spans still buffered (bounded in time), then stops tracing. Never throws. */
  close(): Promise<void>;
}

/** Starts tracing when `settings` says so; undefined (and nothing started) when it is off. */
export function startTracing(settings: TracingSettings | undefined, options: TracingOptions): TracingHandle | undefined {
  if (!settings) return undefined;
  if (tracer) throw new Error('tracing is already on in this process');
  const log = options.logger.child({ component: 'tracing' });
  const exporter = settings.protocol === 'http/json' ? new JsonTraceExporter({ url: settings.url }) : new ProtobufTraceExporter({ url: settings.url });
  // Ours first, then what the environment says (OTEL_SERVICE_NAME, OTEL_RESOURCE_ATTRIBUTES) on top.
  const resource = defaultResource()
    .merge(resourceFromAttributes({ [ATTR_SERVICE_NAME]: DEFAULT_SERVICE_NAME, [ATTR_SERVICE_VERSION]: options.version }))
    .merge(detectResources({ detectors: [hostDetector, processDetector, envDetector] }));
  // The provider reads OTEL_TRACES_SAMPLER and the span limits, the processor OTEL_BSP_*, the
  // exporter OTEL_EXPORTER_OTLP_HEADERS, _TIMEOUT, _COMPRESSION and the certificates.
  const provider = new BasicTracerProvider({ resource, spanProcessors: [new BatchSpanProcessor(new ReportingExporter(exporter, log))] });
  const own = provider.getTracer('zego-relay', options.version);
  tracer = own;
  log.info({ endpoint: maskUrlCredentials(settings.url), protocol: settings.protocol }, 'tracing on: exporting spans over OTLP');

  let closing: Promise<void> | undefined;
  const flushTimeoutMs = options.flushTimeoutMs ?? FLUSH_TIMEOUT_MS;
  return {
    close() {
      closing ??= (async () => {
        if (tracer === own) tracer = undefined;
        try {
          await withTimeout(provider.shutdown(), flushTimeoutMs, () => new Error(`the collector did not take the last spans within ${flushTimeoutMs} ms`));
        } catch (error) {
          log.warn({ err: error }, 'tracing stopped without exporting every span');
        }
      })();
      return closing;
    },
  };
}
