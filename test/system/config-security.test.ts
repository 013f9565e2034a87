/**
 * Configuration mistakes that weaken the relay: a dedupe window shorter than the replay window,
 * target headers that break every delivery, YAML errors that would print a secret, and weak or
 * placeholder credentials that check-config should warn about.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { parseConfig } from '../../src/config/load.js';
import { configWarnings } from '../../src/roles/config-warnings.js';
import { runCli } from '../helpers/cli.js';
import { issuesOf } from '../helpers/config-issues.js';

const STRONG = 'k7Qm2vX9pL4sT8wZr1Nc';

/** A valid config with `extra` YAML appended (top-level keys). */
const yaml = (extra = '', apps = `    - appId: "111111"\n      callbackSecrets: ["${STRONG}"]\n`) => `zego:\n  apps:\n${apps}${extra}`;


const target = (headers: string) => `targets:\n  - name: billing\n    url: https://billing.example.com/hook\n    events: ["*"]\n    headers: ${headers}\n`;

describe('zego.dedupeWindow', () => {
  it('must be at least 2 x zego.timestampToleranceSeconds, and the error names both paths', () => {
    const issues = issuesOf(yaml('  timestampToleranceSeconds: 600\n  dedupeWindow: 15m\n'));
    expect(issues).toEqual([expect.stringMatching(/^zego\.dedupeWindow: 15m is shorter than 2 x zego\.timestampToleranceSeconds \(2 x 600 s = 20m\)/)]);
    expect(parseConfig(yaml('  timestampToleranceSeconds: 600\n  dedupeWindow: 20m\n'), { env: {} }).zego.dedupeWindow).toBe(1_200_000);
    // The defaults (24 h, 600 s) pass.
    expect(parseConfig(yaml(), { env: {} }).zego.dedupeWindow).toBe(86_400_000);
  });
});

describe('targets[].headers', () => {
  it.each([
    ['Host', '{ Host: evil.example }', /^targets\[0\]\.headers\.Host: describes the connection/],
    ['Transfer-Encoding', '{ Transfer-Encoding: chunked }', /^targets\[0\]\.headers\.Transfer-Encoding: /],
    ['Content-Length', '{ content-length: "5" }', /^targets\[0\]\.headers\.content-length: /],
    ['Content-Encoding', '{ Content-Encoding: gzip }', /^targets\[0\]\.headers\.Content-Encoding: /],
    ['Connection', '{ Connection: close }', /^targets\[0\]\.headers\.Connection: /],
    ['Keep-Alive', '{ Keep-Alive: "timeout=5" }', /^targets\[0\]\.headers\.Keep-Alive: /],
    ['Upgrade', '{ Upgrade: websocket }', /^targets\[0\]\.headers\.Upgrade: /],
    ['TE', '{ TE: trailers }', /^targets\[0\]\.headers\.TE: /],
    ['Trailer', '{ Trailer: x }', /^targets\[0\]\.headers\.Trailer: /],
    ['Proxy-Authorization', '{ Proxy-Authorization: "Basic eA==" }', /^targets\[0\]\.headers\.Proxy-Authorization: /],
    ['a name with a space', '{ "X Token": a }', /^targets\[0\]\.headers\.X Token: is not a valid header name/],
    ['a name with a colon', '{ "X-Token:": a }', /^targets\[0\]\.headers\.X-Token:: is not a valid header name/],
    ['a CRLF in a value', '{ Authorization: "Bearer abc\\r\\nX-Injected: 1" }', /^targets\[0\]\.headers\.Authorization: the value holds a line break/],
    ['a LF in a value', '{ X-Token: "abc\\n" }', /^targets\[0\]\.headers\.X-Token: the value holds a line break/],
    ['a NUL in a value', '{ X-Token: "a\\0b" }', /^targets\[0\]\.headers\.X-Token: the value holds a line break, NUL/],
    ['two case variants of one name', '{ Authorization: "Bearer a-real-token-1", authorization: "Bearer a-real-token-2" }', /^targets\[0\]\.headers\.authorization: is the same header as Authorization/],
  ])('refuses %s, naming the path', (_name, headers, message) => {
    const issues = issuesOf(yaml(target(headers)));
    expect(issues).toEqual([expect.stringMatching(message)]);
    // The value (often a token) is never echoed.
    expect(issues.join('\n')).not.toMatch(/abc|a-real-token|evil\.example/);
  });

  it('accepts ordinary headers', () => {
    const config = parseConfig(yaml(target('{ Authorization: "Bearer a-real-token", X-Api-Key: "k\tv", User-Agent: "billing-relay" }')), { env: {} });
    expect(config.targets[0]!.headers).toEqual({ Authorization: 'Bearer a-real-token', 'X-Api-Key': 'k\tv', 'User-Agent': 'billing-relay' });
  });
});

describe('a YAML syntax error', () => {
  const cases: [string, string, number, number][] = [
    ['an unclosed quote in callbackSecrets', `zego:\n  apps:\n    - appId: "1"\n      callbackSecrets: ["Literal-Secret-1, "x"]\n`, 4, 45],
    ['a list item under callbackSecrets', `zego:\n  apps:\n    - appId: "1"\n      callbackSecrets:\n        - Literal-Secret-1 : x : y\n`, 5, 30],
    ['an unclosed quote in admin.password', `admin:\n  password: "Literal-Secret-1\n  port: 9\n`, 4, 1],
    ['an Authorization header', `targets:\n  - name: a\n    headers: { Authorization: "Bearer Literal-Secret-1 }\n`, 4, 1],
    ['a header under headers', `targets:\n  - name: a\n    headers:\n      X-Api: Literal-Secret-1 : x\n`, 4, 14],
    ['a signingSecret', `targets:\n  - name: a\n    signingSecret: whsec_Literal-Secret-1 : x\n`, 3, 20],
    ['a Redis URL with a password', `redis:\n  url: redis://relay:Literal-Secret-1@redis:6379 : x\n`, 2, 8],
    // Flow style: the parsed document says which values are secrets.
    ['callbackSecrets in a flow sequence of a flow map', `zego:\n  apps: [{ appId: "1", callbackSecrets: ["Literal-Secret-1"] }]\n  oops: : x\n`, 3, 9],
    ['admin.password in a flow map', `admin: { password: "Literal-Secret-1", port: 9 }\nfoo: : bar\n`, 2, 6],
    ['admin.password in a flow map over lines', `admin: {\n  password: "Literal-Secret-1",\n  port: : 9 }\n`, 3, 9],
    ['an unquoted admin.password in an unclosed flow map', `admin: {username: ops, password: Literal-Secret-1, port: [}\n`, 1, 59],
    ['header values in a flow map', `targets: [{ name: a, headers: { Authorization: "Bearer Literal-Secret-1", X-Key: Literal-Secret-1 } ]\n`, 1, 101],
    ['signingSecret in a flow sequence', `targets:\n  - { name: a, signingSecret: [whsec_Literal-Secret-1] }\nx: : y\n`, 3, 4],
    ['a Redis URL whose password holds a slash, in a flow map', `redis: { url: "redis://u:Literal/Secret-1@h:6379" }\nx: : y\n`, 2, 4],
    ['two secrets on one flow line', `zego: { apps: [ { appId: "1", callbackSecrets: [ "Literal-Secret-1", "Literal-Secret-1b" ] } ] }\nserver: { port: : 1 }\n`, 2, 17],
  ];

  it.each(cases)('in %s names the line and column and masks the secret', (_name, text, line, column) => {
    const issues = issuesOf(text);
    expect(issues.length).toBeGreaterThan(0);
    expect(issues[0]).toMatch(new RegExp(`^YAML: .* \\(line ${line}, column ${column}\\):\\n`));
    expect(issues.join('\n')).not.toContain('Literal-Secret-1');
    expect(issues.join('\n')).toMatch(/\*\*\*|\[redacted\]/);
  });

  it('keeps the values of other keys, to show the mistake', () => {
    const [issue] = issuesOf('server:\n  callbackPath: "/zego/callback\n  port: 80\n');
    expect(issue).toContain('callbackPath: "/zego/callback');
    // In flow style too, and header names stay readable.
    const [flow] = issuesOf('server: { callbackPath: "/zego/cb", host: 0.0.0.0 }\ntargets: [{ name: a, headers: { X-Key: Literal-Secret-1 } }]\nx: : y\n');
    expect(flow).toContain('server: { callbackPath: "/zego/cb", host: 0.0.0.0 }');
    expect(flow).toContain('headers: { X-Key: *** }');
  });

  // Skipped in a mutation run (test/mutation/run.mjs): the CLI runs the compiled dist/, which a
  // mutant of the sources never reaches.
  describe.skipIf(process.env.MUTATION_SCOPE !== undefined)('printed by the CLI', () => {
    const dir = mkdtempSync(join(tmpdir(), 'zego-relay-yaml-'));
    afterAll(() => rmSync(dir, { recursive: true, force: true }));
    const path = join(dir, 'broken.yaml');
    writeFileSync(path, `mode: production\nzego:\n  apps:\n    - appId: "1"\n      callbackSecrets: ["Literal-Secret-1, "x"]\n`);

    it.each([['check-config'], ['start']])('%s names the line and column and never prints the secret', async (command) => {
      const result = await runCli([command, '--config', path]);
      expect(result.code).toBe(1);
      expect(result.stderr).toContain('line 5, column 45');
      expect(result.stdout + result.stderr).not.toContain('Literal-Secret-1');
    });
  });
});

describe('check-config warnings about credentials', () => {
  const warningsOf = (text: string, env: Record<string, string> = {}) => configWarnings(parseConfig(text, { env }));

  it("warns about .env.example's placeholder admin password, a short one and a well-known one", () => {
    const withPassword = (password: string) => warningsOf(yaml(`admin:\n  password: \${ADMIN_PASSWORD}\n`), { ADMIN_PASSWORD: password });
    expect(withPassword('replace-with-a-long-random-password')).toContain("admin.password looks like a placeholder (is it .env.example's value?): use a long random one (ADMIN_PASSWORD, e.g. openssl rand -base64 24)");
    for (const known of ['admin', 'password', 'changeme', 'Password', '123456']) {
      expect(withPassword(known), known).toContainEqual(expect.stringMatching(/^admin\.password (is a well-known password|looks like a placeholder)/));
    }
    expect(withPassword('Xk29-f0q!a')).toContainEqual(expect.stringMatching(/^admin\.password is shorter than 12 characters/));
    expect(withPassword('W7u-eQ4r-Lz9t-Pc2m').filter((warning) => warning.startsWith('admin.password'))).toEqual([]);
    for (const warning of withPassword('replace-with-a-long-random-password')) expect(warning).not.toContain('replace-with');
  });

  it('warns about a placeholder or empty token in target headers, without printing it', () => {
    const headers = '{ Authorization: "Bearer ${BILLING_TOKEN}", X-Api-Key: "${API_KEY}", X-Other: "${OTHER}" }';
    const warnings = warningsOf(yaml(target(headers)), { BILLING_TOKEN: 'replace-with-the-billing-api-token', API_KEY: 'changeme', OTHER: 'Zr8-real-value-3k' });
    expect(warnings).toContain('targets[0] (billing).headers.Authorization looks like a placeholder: set the real value from the environment (${VAR})');
    expect(warnings).toContain('targets[0] (billing).headers.X-Api-Key looks like a placeholder: set the real value from the environment (${VAR})');
    expect(warnings.join('\n')).not.toContain('X-Other');
    expect(warnings.join('\n')).not.toMatch(/replace-with|changeme/);
    expect(warningsOf(yaml(target('{ Authorization: "Bearer ${BILLING_TOKEN}" }')))).toContain('targets[0] (billing).headers.Authorization is empty: is its environment variable set?');
  });

  it('warns when two apps share a callback secret', () => {
    const apps = `    - appId: "111111"\n      callbackSecrets: ["${STRONG}"]\n    - appId: "222222"\n      callbackSecrets: ["another-Strong-secret-9", "${STRONG}"]\n`;
    const warnings = warningsOf(yaml('', apps));
    expect(warnings).toContain('zego.apps[0] (111111), zego.apps[1] (222222) share a callback secret: a callback signed for one also verifies as the other; give each app its own secret');
    expect(warnings.join('\n')).not.toContain(STRONG);
  });
});
