/**
 * The configuration schema: every key an operator may write, its default and its checks, and the
 * one place where `defaults` are merged into each target. It is the single source of the config's
 * shape: `RelayConfig` and `Target` (load.ts) are derived from its output type. `loadConfig`
 * validates once at start-up; the rest of the code only sees `RelayConfig`.
 */
import { resolve } from 'node:path';
import { z } from 'zod';
import { duration, integer, size } from './primitives.js';
import { redisSchema } from './redis-schema.js';

const boolean = z.preprocess(
  (value) => (value === 'true' ? true : value === 'false' ? false : value),
  z.boolean(),
);

/** ZEGO app ids are unsigned integers; YAML may give them as numbers or strings. */
const appId = z
  .union([z.string(), z.number().int().nonnegative()])
  .transform((value) => String(value).trim())
  .pipe(z.string().regex(/^\d{1,20}$/, 'must be a ZEGO app id (digits)'));

const nonEmptySecret = z.string().min(1, 'must not be empty (is the environment variable set?)');

/** Exact event names, prefix wildcards (`mix_*`) or `*`. */
const eventPattern = z
  .string()
  .regex(/^(\*|[A-Za-z0-9_.-]+\*?)$/, 'must be an event name, a prefix wildcard like mix_*, or *');

/** RFC 7230 `token`: the characters a header name may have. */
const HEADER_NAME = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;
/** What Node's http client accepts in a header value (no CR, LF, NUL or other control characters). */
const HEADER_VALUE = /^[\t\x20-\x7e\x80-\xff]*$/;
/**
 * Headers a target may not set: they describe the connection or the framing of the body, which
 * the relay's HTTP client owns. Passed through, they corrupt every request to the target.
 */
const FORBIDDEN_HEADER = /^(transfer-encoding|content-length|content-encoding|host|connection|keep-alive|upgrade|te|trailer|proxy-.*)$/i;

/** A target's extra request headers: valid names and values, no framing headers, no case twins. */
const targetHeaders = z.record(z.string(), z.string()).superRefine((headers, ctx) => {
  const seen = new Map<string, string>();
  for (const [name, value] of Object.entries(headers)) {
    const lower = name.toLowerCase();
    if (!HEADER_NAME.test(name)) {
      ctx.addIssue({ code: 'custom', path: [name], message: 'is not a valid header name (letters, digits and !#$%&\'*+-.^_`|~ only)' });
    } else if (FORBIDDEN_HEADER.test(name)) {
      ctx.addIssue({ code: 'custom', path: [name], message: 'describes the connection or the body framing, which the relay sets itself: remove it' });
    }
    // The value is never echoed: it is often a token.
    if (!HEADER_VALUE.test(value)) {
      ctx.addIssue({ code: 'custom', path: [name], message: 'the value holds a line break, NUL, another control character or a character beyond Latin-1' });
    }
    const twin = seen.get(lower);
    if (twin !== undefined) {
      ctx.addIssue({ code: 'custom', path: [name], message: `is the same header as ${twin} (names ignore case): keep one` });
    }
    seen.set(lower, name);
  }
});

/** The Standard Webhooks minimum: a shorter key (`whsec_A` decodes to none) signs with next to nothing. */
const MIN_SIGNING_KEY_BYTES = 24;

/** One `whsec_...` secret; the value is never echoed. */
const signingSecret = z
  .string()
  .regex(/^whsec_[A-Za-z0-9+/=]+$/, { message: 'must be whsec_ followed by base64', abort: true })
  .refine((secret) => Buffer.from(secret.slice('whsec_'.length), 'base64').length >= MIN_SIGNING_KEY_BYTES, {
    message: `must decode to at least ${MIN_SIGNING_KEY_BYTES} bytes (whsec_ and the base64 of ${MIN_SIGNING_KEY_BYTES}+ random bytes, e.g. whsec_$(openssl rand -base64 32))`,
  });

const retrySchema = z.strictObject({
  /** Delay before retry 1, 2, ...; attempts = 1 + schedule length. @defaultValue [5s, 5m, 30m, 2h, 5h, 10h, 14h, 20h, 24h] */
  schedule: z.array(duration).max(50),
  /** Random spread of each delay, as a fraction: 0.2 means +-20%. @defaultValue 0.2 */
  jitter: z.number().min(0).max(1).default(0.2),
});

const rateLimitSchema = z.strictObject({
  /** Deliveries allowed per `duration`, per target. */
  max: integer(1, 1_000_000),
  /** The window of the rate limit. */
  duration,
});

const DEFAULT_SCHEDULE = ['5s', '5m', '30m', '2h', '5h', '10h', '14h', '20h', '24h'];

const BREAKER_SHAPE = 'must be false or { openAfter, minFailures, probeInterval }';

/** A probe interval: a few ms at least, so an open breaker never spins. */
const probeInterval = duration.pipe(z.number().min(10, 'must be at least 10ms'));

/**
 * The circuit breaker of a target: a target whose every attempt fails is paused (its deliveries
 * wait without spending attempts) and probed until it answers 2xx again.
 */
const breakerSchema = z.strictObject({
  /** Every attempt failed for this long (and at least `minFailures` attempts): the breaker opens. @defaultValue 5m */
  openAfter: duration.default(300_000),
  /** Failed attempts needed before it may open; 410 and other never-retried answers do not count. @defaultValue 20 */
  minFailures: integer(1, 1_000_000).default(20),
  /** While open, one delivery is tried this often (10ms at least); its 2xx closes the breaker. @defaultValue 30s */
  probeInterval: probeInterval.default(30_000),
});

/** The breaker's settings when neither `defaults.breaker` nor a target sets a key. */
export const BREAKER_DEFAULTS = Object.freeze(breakerSchema.parse({}));

/** A target's override: any of the keys (the rest come from `defaults.breaker`), or `false`. */
const targetBreakerSchema = z.union(
  [
    z.literal(false),
    z.strictObject({
      /** This target's `defaults.breaker.openAfter`. @defaultValue `defaults.breaker.openAfter` */
      openAfter: duration.optional(),
      /** This target's `defaults.breaker.minFailures`. @defaultValue `defaults.breaker.minFailures` */
      minFailures: integer(1, 1_000_000).optional(),
      /** This target's `defaults.breaker.probeInterval`. @defaultValue `defaults.breaker.probeInterval` */
      probeInterval: probeInterval.optional(),
    }),
  ],
  { error: BREAKER_SHAPE },
);

/** A body field of a ZEGO callback (`task_id`, `stream_alias`, `room_id`). */
const bodyField = z.string().regex(/^[A-Za-z0-9_]+$/, 'must be a body field name (letters, digits and _)');

/**
 * Ordered delivery per key: a key's deliveries are made one at a time, in the order the relay
 * acknowledged the callbacks to ZEGO (docs/RELIABILITY.md, "Ordered delivery per key").
 */
const orderingSchema = z.strictObject({
  /**
   * Body fields naming a callback's key: the first present with a string or number value wins
   * (with the app id, it names the key). A callback with none of them is delivered unordered.
   */
  key: z
    .array(bodyField)
    .min(1, 'name at least one body field')
    .max(10)
    .refine((fields) => new Set(fields).size === fields.length, 'names a field twice'),
});

const defaultsSchema = z.strictObject({
  /** Per-attempt timeout of a delivery. @defaultValue 15s */
  timeout: duration.default(15_000),
  /** Deliveries in flight per target (per worker process). @defaultValue 20 */
  concurrency: integer(1, 1000).default(20),
  /**
   * Retry schedule and jitter: about three days of retries.
   * @defaultValue { schedule: [5s, 5m, 30m, 2h, 5h, 10h, 14h, 20h, 24h], jitter: 0.2 }
   */
  retry: retrySchema.prefault({ schedule: DEFAULT_SCHEDULE }),
  /** Optional rate limit applied to every target that sets none. */
  rateLimit: rateLimitSchema.optional(),
  /**
   * The circuit breaker; `false` never pauses a target.
   * @defaultValue { openAfter: 5m, minFailures: 20, probeInterval: 30s }
   */
  breaker: z.union([z.literal(false), breakerSchema], { error: BREAKER_SHAPE }).prefault({}),
  /**
   * The router makes each delivery's first attempt itself, without a queued job; only a first
   * attempt that did not deliver becomes a job (docs/RELIABILITY.md, "First attempts by the
   * router"). `false`: every delivery is a job, as before. A target with a `rateLimit` always
   * goes through jobs. @defaultValue true
   */
  directFirstAttempt: boolean.default(true),
});

const targetSchema = z.strictObject({
  /** Unique name: [a-z0-9-]+, not `unrouted`. Names the target's queue, metrics and replay. */
  name: z.string().regex(/^[a-z0-9-]+$/, 'must match [a-z0-9-]+'),
  /** Where deliveries are POSTed (http or https). */
  url: z.url({ protocol: /^https?$/, error: 'must be an http(s) URL' }),
  /** Events routed to this target: exact names, prefix wildcards like mix_*, or *. */
  events: z.array(eventPattern).min(1, 'must name at least one event (or *)'),
  /** Optional filter: only callbacks of these apps. @defaultValue all apps */
  appIds: z.array(appId).min(1).optional(),
  /**
   * Extra request headers, e.g. Authorization. Refused: invalid names or values, two spellings of
   * one name, and the connection and framing headers (Host, Content-Length, Transfer-Encoding,
   * Content-Encoding, Connection, Keep-Alive, Upgrade, TE, Trailer, Proxy-*).
   * @defaultValue {}
   */
  headers: targetHeaders.default({}),
  /**
   * Standard Webhooks secret(s): `whsec_` and the base64 of at least 24 random bytes (e.g.
   * `whsec_$(openssl rand -base64 32)`): each delivery carries a `webhook-signature`. Several: all
   * sign each delivery (rotation). None: deliveries are not signed. @defaultValue []
   */
  signingSecret: z
    .union([z.string(), z.array(z.string())])
    .optional()
    .transform((value) => (value === undefined ? [] : (Array.isArray(value) ? value : [value]).filter((s) => s !== '')))
    .pipe(z.array(signingSecret)),
  /** Per-attempt timeout of this target's deliveries. @defaultValue `defaults.timeout` */
  timeout: duration.optional(),
  /** This target's deliveries in flight, per worker process. @defaultValue `defaults.concurrency` */
  concurrency: integer(1, 1000).optional(),
  /** This target's rate limit. @defaultValue `defaults.rateLimit` */
  rateLimit: rateLimitSchema.optional(),
  /** This target's retries; a key it leaves out comes from `defaults.retry`. */
  retry: z
    .strictObject({
      /** Delay before retry 1, 2, ...; attempts = 1 + schedule length. @defaultValue `defaults.retry.schedule` */
      schedule: z.array(duration).max(50).optional(),
      /** Random spread of each delay, as a fraction. @defaultValue `defaults.retry.jitter` */
      jitter: z.number().min(0).max(1).optional(),
    })
    .optional(),
  /** Overrides keys of `defaults.breaker`; `false` turns the breaker off for this target. */
  breaker: targetBreakerSchema.optional(),
  /** One delivery at a time per key, in acknowledgement order. @defaultValue unset: unordered */
  ordering: orderingSchema.optional(),
  /** Overrides `defaults.directFirstAttempt` for this target. @defaultValue `defaults.directFirstAttempt` */
  directFirstAttempt: boolean.optional(),
});

/**
 * The receiver's outage spool: while Redis cannot confirm a write, callbacks are appended (fsynced)
 * to files here and answered 200, then drained into Redis when it answers again (src/spool).
 */
const spoolSchema = z.strictObject({
  /** Where the spool's files live, resolved against the working directory; one receiver process a directory. @defaultValue ./data/spool */
  dir: z.string().min(1).default('./data/spool').transform((dir) => resolve(dir)),
  /** The most the spool's files may hold; full, the receiver answers 503 as without a spool. @defaultValue 1gb */
  maxBytes: size.default(1024 ** 3),
});

/** The file as an operator writes it. */
const fileSchema = z.strictObject({
  /** `development` allows the built-in development secret and the demo target; RELAY_MODE overrides it. @defaultValue production */
  mode: z.enum(['production', 'development'], { error: 'must be production or development (RELAY_MODE overrides the file)' }).default('production'),
  /** The public listener: the callback path and the health checks, nothing else. */
  server: z
    .strictObject({
      /** The address the public listener binds. @defaultValue 0.0.0.0 */
      host: z.string().min(1).default('0.0.0.0'),
      /** The public listener's port; PORT overrides it. @defaultValue 8080 */
      port: integer(0, 65535).default(8080),
      /** Where ZEGO POSTs callbacks. @defaultValue /zego/callback */
      callbackPath: z.string().regex(/^\/[^\s?#]*$/, 'must be a path starting with /').default('/zego/callback'),
      /** Largest accepted callback body; a larger one is answered 413. @defaultValue 256kb */
      bodyLimit: size.default(256 * 1024),
    })
    .prefault({}),
  /** The admin listener: metrics, health checks, Bull Board and the admin API. */
  admin: z
    .strictObject({
      /** The address the admin listener binds. Keep it private. @defaultValue 127.0.0.1 */
      host: z.string().min(1).default('127.0.0.1'),
      /** The admin listener's port. @defaultValue 9090 */
      port: integer(0, 65535).default(9090),
      /** The user of Bull Board's and the admin API's basic auth. @defaultValue admin */
      username: z.string().min(1).default('admin'),
      /**
       * The password of that basic auth. None: Bull Board and the admin API are off (404), except
       * in development mode on a loopback `admin.host`, where `start` generates one per run and prints it.
       */
      password: z
        .string()
        .optional()
        .transform((value) => (value ? value : undefined)),
      /** Bull Board without retry, remove or promote buttons; the admin API only lists (pause, resume, replay: 403). @defaultValue false */
      readOnly: boolean.default(false),
      /**
       * Host names (no port) a loopback admin listener answers besides loopback ones (127.x.x.x,
       * ::1, localhost): the name an operator's tunnel or local proxy puts in `Host`. Any other
       * `Host` is refused (403), so a site whose name resolves to 127.0.0.1 (DNS rebinding) reaches
       * nothing. Not used when `host` is not a loopback address. @defaultValue []
       */
      allowedHosts: z
        .array(z.string().regex(/^(?:[A-Za-z0-9.-]+|\[[0-9A-Fa-f:.]+\])$/, 'must be a host name or address, without a port'))
        .default([]),
    })
    .prefault({}),
  /** Which Redis (one, a cluster or a Sentinel-watched primary), TLS, waitReplicas, key prefix. */
  redis: redisSchema,
  /** The outage spool; `false` turns it off (503 while Redis cannot confirm a write). @defaultValue { dir: ./data/spool, maxBytes: 1gb } */
  spool: z
    .preprocess((value) => (value === 'false' ? false : value), z.union([z.literal(false), spoolSchema], { error: 'must be false or { dir, maxBytes }' }))
    .prefault({}),
  /** The ZEGO apps whose callbacks are accepted, and how a callback is checked. */
  zego: z.strictObject({
    /** Every app that sends callbacks here, with its callback secrets. */
    apps: z
      .array(
        z.strictObject({
          /** The app's id (digits), as ZEGO sends it in `appid`; other apps get 401 `unknown_app`. */
          appId,
          /**
           * Every secret that may have signed a callback (rotation). An empty entry (an unset
           * `${VAR:-}`, like the next secret of a rotation not yet begun) is ignored while another is set.
           */
          callbackSecrets: z
            .array(z.string())
            .transform((secrets) => (secrets.some((secret) => secret !== '') ? secrets.filter((secret) => secret !== '') : secrets))
            .pipe(z.array(nonEmptySecret).min(1, 'needs at least one secret')),
        }),
      )
      .min(1, 'configure at least one app'),
    /** Allowed clock difference, both directions. @defaultValue 600 */
    timestampToleranceSeconds: integer(1, 86_400).default(600),
    /**
     * Accept events the relay does not know (identified by a hash of the body); `false` answers
     * them 400 `invalid_payload`. @defaultValue true
     */
    allowUnknownEvents: boolean.default(true),
    /**
     * How long a callback id is remembered for de-duplication; at least 2 x
     * timestampToleranceSeconds, else a captured callback re-sent late is stored again. @defaultValue 24h
     */
    dedupeWindow: duration.default(86_400_000),
  }),
  /** Delivery settings of every target that does not set its own. */
  defaults: defaultsSchema.prefault({}),
  /** The intake log: where the receiver stores callbacks before a router moves them to the targets' queues. */
  intake: z
    .strictObject({
      /**
       * Intake log shards (Redis Streams, each on its own hash tag). More than 1 spreads intake over
       * Redis Cluster masters; every receiver and router must use the same number. @defaultValue 1
       */
      shards: integer(1, 1024).default(1),
      /** Callbacks a router takes from the intake in one batch. @defaultValue 200 */
      batchSize: integer(1, 10_000).default(200),
      /** A router's taken but unrouted callbacks (it crashed) go to another router after this. @defaultValue 30s */
      claimAfter: duration.default(30_000),
      /**
       * How long the router's first attempts may hold their batch: an attempt still running then
       * is handed to a job (the request may still arrive: a possible second delivery). @defaultValue 1s
       */
      firstAttemptDeadline: duration.pipe(z.number().min(10, 'must be at least 10ms').max(60_000, 'must be at most 60s')).default(1_000),
    })
    .prefault({}),
  /** How workers deliver: the target's answer, crashed workers, shutdown. */
  delivery: z
    .strictObject({
      /** Largest response body read from a target; the rest is discarded. @defaultValue 64kb */
      maxResponseBytes: size.default(64 * 1024),
      /** A crashed worker's in-flight deliveries are retried after this. @defaultValue 30s */
      lockDuration: duration.default(30_000),
      /** How often workers look for deliveries of crashed workers. @defaultValue 30s */
      stalledInterval: duration.default(30_000),
      /** On SIGTERM, how long to wait for in-flight deliveries. @defaultValue 25s */
      shutdownTimeout: duration.default(25_000),
    })
    .prefault({}),
  /** How long Redis keeps delivered jobs, dead letters and unrouted callbacks. */
  retention: z
    .strictObject({
      /** Delivered jobs are removed after this age... @defaultValue 1h */
      completedAge: duration.default(3_600_000),
      /** ...or beyond this many per target. @defaultValue 1000 */
      completedCount: integer(0, 10_000_000).default(1000),
      /** Dead letters are kept this long. @defaultValue 30d */
      deadLetterAge: duration.default(30 * 86_400_000),
      /**
       * Callbacks that matched no target (the `unrouted` queue, bodies included) are kept this
       * long... @defaultValue 7d
       */
      unroutedAge: duration.default(7 * 86_400_000),
      /** ...and at most this many, the newest: they cannot fill Redis however many arrive. @defaultValue 10000 */
      unroutedCount: integer(0, 10_000_000).default(10_000),
    })
    .prefault({}),
  /** Where callbacks are delivered: each target has its own queue, retries and breaker. @defaultValue [] */
  targets: z.array(targetSchema).default([]),
});

type FileConfig = z.output<typeof fileSchema>;
type TargetInFile = FileConfig['targets'][number];

/**
 * A target's breaker: off when the target says false; else its keys over `defaults.breaker`'s (a
 * target may turn on with `breaker: {}` what `defaults.breaker: false` turned off).
 */
function resolveBreaker(defaults: FileConfig['defaults']['breaker'], own: TargetInFile['breaker']) {
  if (own === false) return false as const;
  if (own === undefined) return defaults === false ? (false as const) : { ...defaults };
  const base = defaults === false ? BREAKER_DEFAULTS : defaults;
  return {
    openAfter: own.openAfter ?? base.openAfter,
    minFailures: own.minFailures ?? base.minFailures,
    probeInterval: own.probeInterval ?? base.probeInterval,
  };
}

/** A target with every default applied: what the relay runs with. */
function resolveTarget(target: TargetInFile, defaults: FileConfig['defaults']) {
  const rateLimit = target.rateLimit ?? defaults.rateLimit;
  return {
    name: target.name,
    url: target.url,
    events: target.events,
    ...(target.appIds ? { appIds: target.appIds } : {}),
    headers: target.headers,
    signingSecrets: target.signingSecret,
    timeout: target.timeout ?? defaults.timeout,
    concurrency: target.concurrency ?? defaults.concurrency,
    ...(rateLimit ? { rateLimit } : {}),
    retry: {
      schedule: target.retry?.schedule ?? defaults.retry.schedule,
      jitter: target.retry?.jitter ?? defaults.retry.jitter,
    },
    breaker: resolveBreaker(defaults.breaker, target.breaker),
    ...(target.ordering ? { ordering: { key: target.ordering.key } } : {}),
    directFirstAttempt: target.directFirstAttempt ?? defaults.directFirstAttempt,
  };
}

/** The configuration the relay runs with: the file, validated, with `defaults` merged into each target. */
export const configSchema = fileSchema.transform(({ defaults, targets, ...rest }) => ({
  ...rest,
  targets: targets.map((target) => resolveTarget(target, defaults)),
}));

export type ParsedConfig = z.output<typeof configSchema>;
