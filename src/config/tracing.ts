/**
 * Whether the relay exports OpenTelemetry traces, read once at start-up from the standard `OTEL_*`
 * variables (there is no `tracing:` block in the YAML: these say everything an operator needs).
 * On when an OTLP endpoint is named (OTEL_EXPORTER_OTLP_TRACES_ENDPOINT, else
 * OTEL_EXPORTER_OTLP_ENDPOINT) unless OTEL_SDK_DISABLED=true or OTEL_TRACES_EXPORTER=none. The
 * rest of the standard variables (OTEL_TRACES_SAMPLER, OTEL_EXPORTER_OTLP_HEADERS, _TIMEOUT,
 * OTEL_BSP_*, OTEL_RESOURCE_ATTRIBUTES, ...) are read by the OpenTelemetry SDK itself.
 */
import { maskUrlCredentials } from '../lib/redact.js';
import type { Environment } from './env-substitution.js';

export const OTLP_PROTOCOLS = ['http/protobuf', 'http/json'] as const;
export type OtlpProtocol = (typeof OTLP_PROTOCOLS)[number];

export interface TracingSettings {
  /** Where spans are POSTed: the traces endpoint as given, or the general one + `v1/traces`. */
  readonly url: string;
  /** OTEL_EXPORTER_OTLP_TRACES_PROTOCOL, else OTEL_EXPORTER_OTLP_PROTOCOL. @defaultValue http/protobuf */
  readonly protocol: OtlpProtocol;
}

/** The tracing settings, or undefined when tracing is off; problems name the variable at fault. */
export function readTracingSettings(env: Environment): { settings?: TracingSettings; problems: string[] } {
  const value = (name: string) => env[name]?.trim() || undefined;
  if (value('OTEL_SDK_DISABLED')?.toLowerCase() === 'true') return { problems: [] };
  const exporter = value('OTEL_TRACES_EXPORTER')?.toLowerCase();
  if (exporter === 'none') return { problems: [] };
  const problems: string[] = [];
  if (exporter !== undefined && exporter !== 'otlp') {
    problems.push(`OTEL_TRACES_EXPORTER: "${exporter}" is not supported; use otlp (or none to turn tracing off)`);
  }
  const url = tracesUrl(value('OTEL_EXPORTER_OTLP_TRACES_ENDPOINT'), value('OTEL_EXPORTER_OTLP_ENDPOINT'), problems);
  const protocolVariable = value('OTEL_EXPORTER_OTLP_TRACES_PROTOCOL') ? 'OTEL_EXPORTER_OTLP_TRACES_PROTOCOL' : 'OTEL_EXPORTER_OTLP_PROTOCOL';
  const protocol = value(protocolVariable) ?? 'http/protobuf';
  if (!(OTLP_PROTOCOLS as readonly string[]).includes(protocol)) {
    problems.push(`${protocolVariable}: "${protocol}" is not supported; use ${OTLP_PROTOCOLS.join(' or ')}`);
  }
  if (url === undefined || problems.length > 0) return { problems };
  return { settings: { url, protocol: protocol as OtlpProtocol }, problems };
}

/** The spec's rule: the traces endpoint is used as it is; the general one gets `v1/traces`. */
function tracesUrl(tracesEndpoint: string | undefined, endpoint: string | undefined, problems: string[]): string | undefined {
  const [name, given] = tracesEndpoint
    ? ['OTEL_EXPORTER_OTLP_TRACES_ENDPOINT', tracesEndpoint]
    : ['OTEL_EXPORTER_OTLP_ENDPOINT', endpoint];
  if (given === undefined) return undefined;
  const shown = maskUrlCredentials(given);
  const url = tracesEndpoint ? given : `${given.endsWith('/') ? given : `${given}/`}v1/traces`;
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    problems.push(`${name}: "${shown}" is not a URL (e.g. http://otel-collector:4318)`);
    return undefined;
  }
  if (parsed.protocol !== 'http:' && parsed.protocol !== 'https:') {
    problems.push(`${name}: "${shown}" must be an http:// or https:// URL (OTLP over HTTP)`);
    return undefined;
  }
  return parsed.toString();
}
