/**
 * An exporter that says when exporting fails, once per change: the SDK retries and drops spans on
 * its own (bounded by OTEL_EXPORTER_OTLP_TIMEOUT and the batch queue's size), and without this a
 * collector that is down would go unnoticed, or, with a diagnostic logger, be logged per batch.
 */
import { ExportResultCode, type ExportResult } from '@opentelemetry/core';
import type { ReadableSpan, SpanExporter } from '@opentelemetry/sdk-trace-base';
import type { Logger } from '../lib/logger.js';

export class ReportingExporter implements SpanExporter {
  private failing = false;

  constructor(
    private readonly inner: SpanExporter,
    private readonly log: Logger,
  ) {}

  export(spans: ReadableSpan[], done: (result: ExportResult) => void): void {
    this.inner.export(spans, (result) => {
      this.report(result, spans.length);
      done(result);
    });
  }

  shutdown(): Promise<void> {
    return this.inner.shutdown();
  }

  forceFlush(): Promise<void> {
    return this.inner.forceFlush?.() ?? Promise.resolve();
  }

  private report(result: ExportResult, spans: number): void {
    if (result.code === ExportResultCode.SUCCESS) {
      if (this.failing) this.log.info('exporting traces again');
      this.failing = false;
      return;
    }
    if (this.failing) return;
    this.failing = true;
    this.log.warn({ err: result.error, spans }, 'cannot export traces; spans are dropped until the collector answers (callbacks are not affected)');
  }
}
