/**
 * docker-compose.yml, Dockerfile and .env.example checked against the code (no Docker engine
 * here): each service runs a real CLI command and role, passes only environment the relay reads,
 * mounts a config that exists and validates with that environment, has a healthcheck on the
 * admin port of that config; the worker scales; the image is multi-stage and runs as `node`.
 * Every check fails when the compose file drifts from the code.
 */
import { existsSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { Redis } from 'ioredis';
import { parseConfig } from '../../src/config/load.js';
import { parseSize } from '../../src/config/units.js';
import { ROLES } from '../../src/cli/start.js';
import { runCli } from '../helpers/cli.js';
import { startRedisServer } from '../helpers/redis.js';

const root = (path: string) => fileURLToPath(new URL(`../../${path}`, import.meta.url));
const read = (path: string) => readFileSync(root(path), 'utf8');

interface Service {
  build?: unknown;
  image?: string;
  command?: string[];
  environment?: Record<string, string>;
  volumes?: string[];
  ports?: string[];
  container_name?: string;
  healthcheck?: { test: string[] };
  depends_on?: Record<string, { condition: string }>;
  stop_grace_period?: string;
}

const composeText = read('docker-compose.yml');
const compose = parse(composeText, { merge: true }) as { services: Record<string, Service>; volumes?: Record<string, unknown> };
const { redis, receiver, worker } = compose.services as Record<'redis' | 'receiver' | 'worker', Service>;
const relayServices = { receiver: receiver!, worker: worker! };

/** The variables the code itself reads (docs/CONFIGURATION.md), beyond the `${VAR}`s of the config file. */
const CODE_ENV = ['RELAY_CONFIG', 'RELAY_MODE', 'REDIS_URL', 'PORT', 'LOG_LEVEL', 'LOG_FORMAT'];

/** .env.example as docker-compose would read it. */
const exampleEnv = Object.fromEntries(
  read('.env.example').split('\n').filter((line) => /^[A-Z_][A-Z0-9_]*=/.test(line)).map((line) => [line.slice(0, line.indexOf('=')), line.slice(line.indexOf('=') + 1)]),
);

/** Compose's own interpolation of `${VAR}`, `${VAR:-default}` and `${VAR:?message}` from .env. */
function interpolate(value: string, env: Record<string, string>): string {
  return value.replace(/\$\{([A-Z_][A-Z0-9_]*)(?::([-?])([^}]*))?\}/g, (_all, name: string, kind?: string, rest?: string) => {
    if (env[name]) return env[name]!;
    if (kind === '?') throw new Error(`compose needs ${name}: ${rest}`);
    return kind === '-' ? (rest ?? '') : '';
  });
}

/** What the container's environment holds, given the .env compose reads (.env.example by default). */
function containerEnvironment(service: Service, dotEnv: Record<string, string> = exampleEnv): Record<string, string> {
  return Object.fromEntries(Object.entries(service.environment ?? {}).map(([key, value]) => [key, interpolate(String(value), dotEnv)]));
}

function mountedConfig(service: Service): { source: string; target: string; mode: string } {
  const env = containerEnvironment(service);
  const mount = (service.volumes ?? []).map((volume) => volume.split(':')).find(([, target]) => target === env.RELAY_CONFIG);
  expect(mount, 'a volume mounts the file RELAY_CONFIG names').toBeDefined();
  return { source: mount![0]!, target: mount![1]!, mode: mount![2] ?? 'rw' };
}

describe('docker-compose.yml', () => {
  it('has redis with AOF (fsync choice explained), noeviction, a volume and a redis-cli healthcheck', () => {
    expect(redis?.image).toMatch(/^redis:7/);
    const command = redis!.command!.join(' ');
    expect(command).toContain('--appendonly yes');
    expect(command).toMatch(/--appendfsync (always|everysec)/);
    expect(command).toContain('--maxmemory-policy noeviction');
    expect(composeText).toMatch(/#.*appendfsync (always|everysec)/);
    const [volume] = redis!.volumes!;
    expect(volume).toMatch(/^[a-z-]+:\/data$/);
    expect(Object.keys(compose.volumes ?? {})).toContain(volume!.split(':')[0]);
    expect(redis!.healthcheck!.test).toEqual(['CMD', 'redis-cli', 'ping']);
  });

  it('gives redis a maxmemory from REDIS_MAXMEMORY (sizing explained), which redis-server accepts as compose passes it', async () => {
    const [binary, ...args] = redis!.command!.map((arg) => interpolate(arg, exampleEnv));
    expect(binary).toBe('redis-server');
    const maxmemory = args[args.indexOf('--maxmemory') + 1]!;
    expect(redis!.command).toContain('${REDIS_MAXMEMORY:-1gb}');
    expect(maxmemory).toBe(exampleEnv.REDIS_MAXMEMORY);
    expect(composeText).toMatch(/#.*maxmemory[\s\S]*docs\/SIZING\.md/);
    expect(existsSync(root('docs/SIZING.md'))).toBe(true);
    // The compose file's own arguments, last, so they win over the test server's defaults.
    const server = await startRedisServer({ extraArgs: args });
    const client = new Redis(server.url);
    try {
      const [, bytes] = (await client.config('GET', 'maxmemory')) as string[];
      expect(Number(bytes)).toBe(parseSize(maxmemory));
      expect(Number(bytes)).toBeGreaterThan(0);
      expect(await client.config('GET', 'maxmemory-policy')).toEqual(['maxmemory-policy', 'noeviction']);
      expect(await client.config('GET', 'appendfsync')).toEqual(['appendfsync', 'always']);
    } finally {
      client.disconnect();
      await server.stop();
    }
  });

  for (const [name, service] of Object.entries(relayServices)) {
    describe(name, () => {
      it('runs a real zego-relay command and role from the image built by the Dockerfile', async () => {
        expect(service.build).toBe('.');
        const [command, flag, role] = service.command!;
        expect([command, flag]).toEqual(['start', '--role']);
        expect(ROLES).toContain(role);
        expect(role).toBe(name);
        const help = await runCli([...service.command!, '--help']);
        expect(help.code).toBe(0);
      });

      it('passes only environment the relay reads, and everything the mounted config needs', () => {
        const config = read(mountedConfig(service).source);
        const configVars = new Set([...config.matchAll(/\$\{([A-Za-z_][A-Za-z0-9_]*)/g)].map((match) => match[1]!));
        const required = [...config.matchAll(/\$\{([A-Za-z_][A-Za-z0-9_]*)\}/g)].map((match) => match[1]!);
        const environment = Object.keys(service.environment ?? {});
        for (const key of environment) {
          expect(CODE_ENV.includes(key) || configVars.has(key), `${key} is read by nothing`).toBe(true);
        }
        for (const key of required) expect(environment, `${key} (used in the config without a default)`).toContain(key);
        for (const key of environment.filter((k) => !CODE_ENV.includes(k))) {
          expect(Object.keys(exampleEnv).includes(key) || !/\$\{/.test(String(service.environment![key])), `${key} missing from .env.example`).toBe(true);
        }
        const env = containerEnvironment(service);
        expect(env.RELAY_MODE).toBe('production');
        expect(new URL(env.REDIS_URL!).hostname).toBe('redis');
        expect(Object.keys(compose.services)).toContain(new URL(env.REDIS_URL!).hostname);
      });

      it('mounts an existing config read-only that validates with the compose environment', () => {
        const mount = mountedConfig(service);
        expect(mount.mode).toBe('ro');
        expect(mount.source.startsWith('./')).toBe(true);
        expect(existsSync(root(mount.source.slice(2)))).toBe(true);
        const config = parseConfig(read(mount.source.slice(2)), { env: containerEnvironment(service), source: mount.source });
        expect(config.mode).toBe('production');
        expect(config.redis.url).toBe('redis://redis:6379');
        expect(config.admin.host).toBe('0.0.0.0');
      });

      it('has a healthcheck on the admin port of its config, waits for a healthy redis, stops gracefully', () => {
        const mount = mountedConfig(service);
        const config = parseConfig(read(mount.source.slice(2)), { env: containerEnvironment(service) });
        const test = service.healthcheck!.test.join(' ');
        expect(test).toMatch(/^CMD node -e /);
        expect(test).toContain(`http://127.0.0.1:${config.admin.port}/readyz`);
        expect(service.depends_on?.redis?.condition).toBe('service_healthy');
        const grace = Number(/^(\d+)s$/.exec(service.stop_grace_period ?? '')?.[1]);
        expect(grace * 1000).toBeGreaterThan(config.delivery.shutdownTimeout);
      });
    });
  }

  it('passes ZEGO_CALLBACK_SECRET_NEXT to the relay: config/production.yaml validates with it unset, empty or set', () => {
    const environment = receiver!.environment!;
    expect(environment.ZEGO_CALLBACK_SECRET_NEXT).toBe('${ZEGO_CALLBACK_SECRET_NEXT:-}');
    expect(exampleEnv).toHaveProperty('ZEGO_CALLBACK_SECRET_NEXT', '');
    const production = read('config/production.yaml');
    const secretsWith = (dotEnv: Record<string, string>) => parseConfig(production, { env: containerEnvironment(receiver!, dotEnv) }).zego.apps[0]!.callbackSecrets;
    const { ZEGO_CALLBACK_SECRET_NEXT: _unset, ...withoutNext } = exampleEnv;
    // Unset in .env and empty in it: one secret, the container starts.
    expect(secretsWith(withoutNext)).toEqual([exampleEnv.ZEGO_CALLBACK_SECRET]);
    expect(secretsWith(exampleEnv)).toEqual([exampleEnv.ZEGO_CALLBACK_SECRET]);
    // Set in .env: both verify during the rotation.
    expect(secretsWith({ ...exampleEnv, ZEGO_CALLBACK_SECRET_NEXT: 'the-Next-zego-secret-2' })).toEqual([exampleEnv.ZEGO_CALLBACK_SECRET, 'the-Next-zego-secret-2']);
    // The same file outside compose, the variable not even in the environment.
    const { ZEGO_CALLBACK_SECRET_NEXT: _none, ...outside } = containerEnvironment(receiver!);
    expect(parseConfig(production, { env: outside }).zego.apps[0]!.callbackSecrets).toEqual([exampleEnv.ZEGO_CALLBACK_SECRET]);
  });

  it("gives the receiver a named volume at its config's spool directory; the worker has no spool", () => {
    const config = parseConfig(read(mountedConfig(receiver!).source.slice(2)), { env: containerEnvironment(receiver!) });
    expect(config.spool).not.toBe(false);
    const spoolDir = (config.spool as { dir: string }).dir;
    const mount = receiver!.volumes!.map((volume) => volume.split(':')).find(([, target]) => target === spoolDir);
    expect(mount, `a volume is mounted at ${spoolDir}`).toBeDefined();
    // A named volume (not a path on the host): declared at the top level, and not read-only.
    expect(Object.keys(compose.volumes ?? {})).toContain(mount![0]);
    expect(mount![2]).toBeUndefined();
    expect(worker!.command).toEqual(['start', '--role', 'worker']);
    expect((worker!.volumes ?? []).some((volume) => volume.includes('spool'))).toBe(false);
  });

  it('publishes the callback port, keeps admin off public interfaces, and leaves the worker scalable', () => {
    const config = parseConfig(read('config/production.yaml'), { env: containerEnvironment(receiver!) });
    const ports = receiver!.ports!.map((port) => port.split(':'));
    expect(ports).toContainEqual([String(config.server.port), String(config.server.port)]);
    for (const port of ports.filter((parts) => parts.at(-1) === String(config.admin.port))) expect(port[0]).toBe('127.0.0.1');
    expect(worker!.ports).toBeUndefined();
    expect(worker!.container_name).toBeUndefined();
    expect(receiver!.container_name).toBeUndefined();
  });
});

describe('docker-compose.tracing.yml (the optional tracing example)', () => {
  const tracing = parse(read('docker-compose.tracing.yml')) as { services: Record<string, Service> };
  const collectors = Object.keys(tracing.services).filter((name) => !(name in compose.services));

  it('adds a collector and only OTEL_* variables to the relay services, which turn tracing on', () => {
    expect(collectors.length).toBeGreaterThan(0);
    for (const [name, service] of Object.entries(tracing.services).filter(([name]) => name in compose.services)) {
      expect(['receiver', 'worker'], `${name} is a relay service`).toContain(name);
      expect(Object.keys(service).sort(), `${name} gets environment only`).toEqual(['environment']);
      for (const key of Object.keys(service.environment ?? {})) expect(key).toMatch(/^OTEL_/);
      const env = { ...containerEnvironment(relayServices[name as keyof typeof relayServices]), ...service.environment };
      const config = parseConfig(read(mountedConfig(relayServices[name as keyof typeof relayServices]).source.slice(2)), { env });
      expect(config.tracing, `${name}'s tracing settings`).toBeDefined();
      expect(collectors).toContain(new URL(config.tracing!.url).hostname);
    }
  });

  it('publishes the collector\'s UI on the host\'s loopback only', () => {
    for (const name of collectors) {
      for (const port of tracing.services[name]!.ports ?? []) expect(port.split(':')[0], `${name} ${port}`).toBe('127.0.0.1');
    }
  });
});

describe('Dockerfile', () => {
  const dockerfile = read('Dockerfile');
  const stages = [...dockerfile.matchAll(/^FROM (\S+)(?: AS (\S+))?/gm)];

  it('is multi-stage on a Node LTS image, builds in one stage and ships production dependencies only', () => {
    expect(stages.length).toBeGreaterThanOrEqual(2);
    for (const [, image] of stages) expect(image).toMatch(/^node:(22|24)(-slim)?$/);
    const runtime = dockerfile.slice(dockerfile.lastIndexOf('\nFROM '));
    expect(dockerfile.slice(0, dockerfile.lastIndexOf('\nFROM '))).toContain('npm run build');
    expect(runtime).toMatch(/npm ci --omit=dev --ignore-scripts/);
    expect(runtime).toContain('COPY --from=build /app/dist ./dist');
    expect(runtime).not.toMatch(/^RUN .*npm run build/m);
  });

  it('needs nothing from a registry beyond its base image: no BuildKit frontend', () => {
    expect(dockerfile).not.toMatch(/^#\s*syntax\s*=/im);
  });

  it("creates the spool directory for the node user, so a new volume mounted there is writable", () => {
    const config = parseConfig(read('config/production.yaml'), { env: containerEnvironment(receiver!) });
    const spoolDir = (config.spool as { dir: string }).dir;
    const runtime = dockerfile.slice(dockerfile.lastIndexOf('\nFROM '));
    const creates = runtime.indexOf(`mkdir -p ${spoolDir}`);
    expect(creates).toBeGreaterThan(0);
    expect(runtime).toMatch(new RegExp(`chown -R node:node ${spoolDir.split('/').slice(0, -1).join('/')}`));
    expect(creates).toBeLessThan(runtime.indexOf('USER node'));
  });

  it('runs bin/zego-relay.js as the non-root node user, and copies only paths that exist', () => {
    const runtime = dockerfile.slice(dockerfile.lastIndexOf('\nFROM '));
    expect(runtime).toMatch(/^USER node$/m);
    expect(runtime).toContain('ENTRYPOINT ["node", "bin/zego-relay.js"]');
    expect(existsSync(root('bin/zego-relay.js'))).toBe(true);
    for (const [, sources] of dockerfile.matchAll(/^COPY (?!--from)(.+) \S+$/gm)) {
      for (const source of sources!.split(' ')) expect(existsSync(root(source)), `COPY ${source}`).toBe(true);
    }
    const ignored = read('.dockerignore').split('\n');
    for (const needed of ['src', 'workers', 'bin', 'config', 'package.json']) expect(ignored).not.toContain(needed);
  });
});
