/**
 * A small OTLP/HTTP trace collector on 127.0.0.1 for tracing tests: it takes what the SDK POSTs to
 * /v1/traces, decodes it (http/json: JSON; http/protobuf: the few fields of OTLP's
 * ExportTraceServiceRequest read straight off the protobuf wire format, no generated code) and
 * keeps every span with its resource. It can also fail every export, or take requests and never
 * answer (a collector that hangs), to test that tracing never holds up the relay.
 */
import { createServer, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';

export type AttributeValue = string | number | boolean | AttributeValue[] | undefined;

export interface ExportedSpan {
  readonly traceId: string;
  readonly spanId: string;
  /** '' for a root span. */
  readonly parentSpanId: string;
  readonly traceState: string;
  readonly name: string;
  /** OTLP's numbers: 1 internal, 2 server, 3 client, 4 producer, 5 consumer. */
  readonly kind: number;
  readonly attributes: Record<string, AttributeValue>;
  /** 0 unset, 1 ok, 2 error. */
  readonly status: { readonly code: number; readonly message: string };
  readonly startNanos: bigint;
  readonly endNanos: bigint;
  readonly resource: Record<string, AttributeValue>;
}

export const SPAN_KIND = { internal: 1, server: 2, client: 3, producer: 4, consumer: 5 } as const;
export const STATUS_ERROR = 2;

export interface OtlpCollector {
  /** The endpoint for OTEL_EXPORTER_OTLP_ENDPOINT (the SDK appends v1/traces). */
  readonly endpoint: string;
  readonly spans: ExportedSpan[];
  /** Content types of the export requests, in arrival order. */
  readonly contentTypes: string[];
  /** Export requests received (answered or not). */
  requests(): number;
  /** Every span of one trace. */
  trace(traceId: string): ExportedSpan[];
  /** While true, requests are read and then left unanswered. */
  hang: boolean;
  /** While set, requests are answered with this status and their spans are not kept. */
  failWith: number | undefined;
  close(): Promise<void>;
}

export async function startOtlpCollector(): Promise<OtlpCollector> {
  const spans: ExportedSpan[] = [];
  const contentTypes: string[] = [];
  const held = new Set<ServerResponse>();
  const sockets = new Set<Socket>();
  let requests = 0;
  const server = createServer((request, response) => {
    const chunks: Buffer[] = [];
    request.on('data', (chunk: Buffer) => chunks.push(chunk));
    request.on('end', () => {
      requests += 1;
      if (collector.hang) {
        held.add(response);
        return;
      }
      if (collector.failWith !== undefined) {
        response.writeHead(collector.failWith).end();
        return;
      }
      const type = request.headers['content-type'] ?? '';
      contentTypes.push(type);
      const body = Buffer.concat(chunks);
      try {
        spans.push(...(type.includes('json') ? decodeJson(body) : decodeProtobuf(body)));
      } catch (error) {
        response.writeHead(400).end(String(error));
        return;
      }
      response.writeHead(200, { 'content-type': type.includes('json') ? 'application/json' : 'application/x-protobuf' });
      response.end(type.includes('json') ? '{}' : '');
    });
  });
  server.on('connection', (socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  const collector: OtlpCollector = {
    endpoint: `http://127.0.0.1:${port}`,
    spans,
    contentTypes,
    requests: () => requests,
    trace: (traceId) => spans.filter((span) => span.traceId === traceId),
    hang: false,
    failWith: undefined,
    close: () =>
      new Promise<void>((resolve) => {
        for (const socket of sockets) socket.destroy();
        held.clear();
        server.close(() => resolve());
      }),
  };
  return collector;
}

// ---- http/json -----------------------------------------------------------------------------------

interface JsonAnyValue {
  stringValue?: string;
  boolValue?: boolean;
  intValue?: number | string;
  doubleValue?: number;
  arrayValue?: { values?: JsonAnyValue[] };
}
interface JsonKeyValue {
  key: string;
  value: JsonAnyValue;
}

function jsonValue(value: JsonAnyValue | undefined): AttributeValue {
  if (!value) return undefined;
  if (value.stringValue !== undefined) return value.stringValue;
  if (value.boolValue !== undefined) return value.boolValue;
  if (value.intValue !== undefined) return Number(value.intValue);
  if (value.doubleValue !== undefined) return value.doubleValue;
  if (value.arrayValue) return (value.arrayValue.values ?? []).map(jsonValue);
  return undefined;
}

const jsonAttributes = (list: JsonKeyValue[] | undefined) => Object.fromEntries((list ?? []).map(({ key, value }) => [key, jsonValue(value)]));

function decodeJson(body: Buffer): ExportedSpan[] {
  const request = JSON.parse(body.toString()) as {
    resourceSpans?: { resource?: { attributes?: JsonKeyValue[] }; scopeSpans?: { spans?: Record<string, any>[] }[] }[];
  };
  return (request.resourceSpans ?? []).flatMap((resourceSpans) => {
    const resource = jsonAttributes(resourceSpans.resource?.attributes);
    return (resourceSpans.scopeSpans ?? []).flatMap((scope) =>
      (scope.spans ?? []).map(
        (span): ExportedSpan => ({
          traceId: span.traceId,
          spanId: span.spanId,
          parentSpanId: span.parentSpanId ?? '',
          traceState: span.traceState ?? '',
          name: span.name,
          kind: span.kind,
          attributes: jsonAttributes(span.attributes),
          status: { code: span.status?.code ?? 0, message: span.status?.message ?? '' },
          startNanos: BigInt(span.startTimeUnixNano),
          endNanos: BigInt(span.endTimeUnixNano),
          resource,
        }),
      ),
    );
  });
}

// ---- http/protobuf ----------------------------------------------------------------------------------

/** One field of a protobuf message: its number and its raw value (varint, fixed or bytes). */
interface WireField {
  readonly field: number;
  readonly varint?: bigint;
  readonly bytes?: Buffer;
}

/** The fields of one protobuf message, in order (wire types 0, 1, 2 and 5). */
function wireFields(buffer: Buffer): WireField[] {
  const fields: WireField[] = [];
  let offset = 0;
  const varint = (): bigint => {
    let result = 0n;
    let shift = 0n;
    for (;;) {
      const byte = buffer[offset++]!;
      result |= BigInt(byte & 0x7f) << shift;
      if ((byte & 0x80) === 0) return result;
      shift += 7n;
    }
  };
  while (offset < buffer.length) {
    const key = Number(varint());
    const field = key >>> 3;
    switch (key & 7) {
      case 0:
        fields.push({ field, varint: varint() });
        break;
      case 1:
        fields.push({ field, bytes: buffer.subarray(offset, offset + 8) });
        offset += 8;
        break;
      case 2: {
        const length = Number(varint());
        fields.push({ field, bytes: buffer.subarray(offset, offset + length) });
        offset += length;
        break;
      }
      case 5:
        fields.push({ field, bytes: buffer.subarray(offset, offset + 4) });
        offset += 4;
        break;
      default:
        throw new Error(`unsupported wire type ${key & 7}`);
    }
  }
  return fields;
}

const messages = (fields: WireField[], number: number) => fields.filter((field) => field.field === number).map((field) => wireFields(field.bytes!));
const bytesOf = (fields: WireField[], number: number) => fields.find((field) => field.field === number)?.bytes;
const textOf = (fields: WireField[], number: number) => bytesOf(fields, number)?.toString('utf8') ?? '';
const varintOf = (fields: WireField[], number: number) => fields.find((field) => field.field === number)?.varint ?? 0n;

/** AnyValue: 1 string, 2 bool, 3 int, 4 double, 5 array (ArrayValue: 1 values). */
function protobufValue(fields: WireField[]): AttributeValue {
  const [only] = fields;
  if (!only) return undefined;
  switch (only.field) {
    case 1:
      return only.bytes!.toString('utf8');
    case 2:
      return only.varint === 1n;
    case 3:
      return Number(BigInt.asIntN(64, only.varint!));
    case 4:
      return only.bytes!.readDoubleLE(0);
    case 5:
      return messages(wireFields(only.bytes!), 1).map(protobufValue);
    default:
      return undefined;
  }
}

/** KeyValue: 1 key, 2 value. */
const protobufAttributes = (list: WireField[][]) =>
  Object.fromEntries(list.map((keyValue) => [textOf(keyValue, 1), protobufValue(messages(keyValue, 2)[0] ?? [])]));

/**
 * ExportTraceServiceRequest: 1 resource_spans. ResourceSpans: 1 resource (Resource: 1 attributes),
 * 2 scope_spans. ScopeSpans: 2 spans. Span: 1 trace_id, 2 span_id, 3 trace_state, 4 parent_span_id,
 * 5 name, 6 kind, 7 start (fixed64), 8 end (fixed64), 9 attributes, 15 status (Status: 2 message, 3 code).
 */
function decodeProtobuf(body: Buffer): ExportedSpan[] {
  return messages(wireFields(body), 1).flatMap((resourceSpans) => {
    const resource = protobufAttributes(messages(messages(resourceSpans, 1)[0] ?? [], 1));
    return messages(resourceSpans, 2).flatMap((scopeSpans) =>
      messages(scopeSpans, 2).map((span): ExportedSpan => {
        const status = messages(span, 15)[0] ?? [];
        return {
          traceId: bytesOf(span, 1)?.toString('hex') ?? '',
          spanId: bytesOf(span, 2)?.toString('hex') ?? '',
          parentSpanId: bytesOf(span, 4)?.toString('hex') ?? '',
          traceState: textOf(span, 3),
          name: textOf(span, 5),
          kind: Number(varintOf(span, 6)),
          attributes: protobufAttributes(messages(span, 9)),
          status: { code: Number(varintOf(status, 3)), message: textOf(status, 2) },
          startNanos: bytesOf(span, 7)?.readBigUInt64LE(0) ?? 0n,
          endNanos: bytesOf(span, 8)?.readBigUInt64LE(0) ?? 0n,
          resource,
        };
      }),
    );
  });
}
