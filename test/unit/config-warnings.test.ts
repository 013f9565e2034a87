/**
 * check-config's warning about events no target routes: ZEGO sends every event of an app to the
 * one callback URL, so what no target takes is kept in the unrouted queue (bodies included), and
 * the operator should know how much of it Redis keeps. Also the unrouted queue's job options,
 * where that bound is applied.
 */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { configWarnings } from '../../src/roles/config-warnings.js';
import { parseConfig } from '../../src/config/load.js';
import { unroutedJobOptions } from '../../workers/route/job-options.js';

const SECRET = 'k7Qm2vX9pL4sT8wZr1Nc';
const apps = `zego:\n  apps:\n    - { appId: "111111", callbackSecrets: ["${SECRET}"] }\n    - { appId: "222222", callbackSecrets: ["${SECRET}-2"] }\n`;
const withTargets = (targets: string, extra = '') => `${apps}${extra}targets:\n${targets}`;
const target = (name: string, events: string, more = '') => `  - { name: ${name}, url: "https://${name}.example.com/", events: ${events}${more} }\n`;
const unroutedWarnings = (text: string) => configWarnings(parseConfig(text, { env: {} })).filter((warning) => warning.includes('match'));

const KEPT = 'they are kept as unrouted callbacks, bodies included, up to 10000 for 7d (retention.unroutedCount, retention.unroutedAge)';

describe('check-config on events no target routes', () => {
  it('warns for the shipped production config, which routes only mix_stop', () => {
    const config = parseConfig(readFileSync('config/production.yaml', 'utf8'), {
      env: { ZEGO_APP_ID: '111111', ZEGO_CALLBACK_SECRET: SECRET, BILLING_URL: 'https://billing.example.com/hook', BILLING_TOKEN: 'Zr8-real-value-3k' },
    });
    expect(configWarnings(config)).toContain(`app 111111: events other than mix_stop match no target: ${KEPT}`);
  });

  it('names the events routed per app, groups apps alike, and says what the retention keeps', () => {
    const text = withTargets(target('billing', '[mix_stop, "room_*"]') + target('audit', '[record]', ', appIds: ["222222"]'), 'retention: { unroutedAge: 1d, unroutedCount: 500 }\n');
    expect(unroutedWarnings(text)).toEqual([
      'app 111111: events other than mix_stop, room_login, room_logout, room_create, room_close match no target: they are kept as unrouted callbacks, bodies included, up to 500 for 1d (retention.unroutedCount, retention.unroutedAge)',
      'app 222222: events other than mix_stop, room_login, room_logout, room_create, room_close, record match no target: they are kept as unrouted callbacks, bodies included, up to 500 for 1d (retention.unroutedCount, retention.unroutedAge)',
    ]);
    expect(unroutedWarnings(withTargets(target('a', '[mix_stop]') + target('b', '["transcode_*"]')))).toEqual([
      `apps 111111, 222222: events other than mix_stop, transcode_* match no target: ${KEPT}`,
    ]);
  });

  it('says so when an app routes nothing, and when nothing is kept', () => {
    const text = withTargets(target('billing', '[mix_stop]', ', appIds: ["111111"]'), 'retention: { unroutedCount: 0 }\n');
    expect(unroutedWarnings(text)).toEqual([
      'app 111111: events other than mix_stop match no target: they are removed at once (retention.unroutedCount: 0)',
      'app 222222: no event matches a target: they are removed at once (retention.unroutedCount: 0)',
    ]);
  });

  it('is quiet when a target takes every event, and when every known event is routed and unknown ones are refused', () => {
    expect(unroutedWarnings(withTargets(target('all', '["*"]')))).toEqual([]);
    const everyKnown = '[mix_start, mix_stop, "stream_*", "room_*", record, snapshot, compose, procedure, "transcode_*", "censor_*"]';
    expect(unroutedWarnings(withTargets(target('known', everyKnown), ''))).toHaveLength(1);
    expect(unroutedWarnings(`${apps.replace('zego:\n', 'zego:\n  allowUnknownEvents: false\n')}targets:\n${target('known', everyKnown)}`)).toEqual([]);
  });

  it('bounds the unrouted queue by age and count where the router queues it', () => {
    const { retention } = parseConfig(`${apps}retention: { unroutedAge: 2d, unroutedCount: 25 }\n`, { env: {} });
    expect(unroutedJobOptions(retention, 'cb_1')).toEqual({ jobId: 'cb_1', removeOnComplete: { age: 172_800, count: 25 } });
  });
});

describe('check-config on a claimAfter shorter than the first attempts may take', () => {
  const claimWarnings = (text: string) => configWarnings(parseConfig(text, { env: {} })).filter((warning) => warning.startsWith('intake.claimAfter'));

  it('warns when a router could take over a batch still making its first attempts', () => {
    expect(claimWarnings(withTargets(target('billing', '[mix_stop]'), 'intake: { claimAfter: 900ms, firstAttemptDeadline: 1s }\n'))).toEqual([
      'intake.claimAfter (900ms) is shorter than twice intake.firstAttemptDeadline (1s): a router would take over batches another router is still making first attempts for, and deliver them twice',
    ]);
  });

  it('is quiet at twice the deadline, with the defaults, and when no target takes first attempts', () => {
    expect(claimWarnings(withTargets(target('billing', '[mix_stop]'), 'intake: { claimAfter: 2s, firstAttemptDeadline: 1s }\n'))).toEqual([]);
    expect(claimWarnings(withTargets(target('billing', '[mix_stop]')))).toEqual([]);
    expect(claimWarnings(withTargets(target('billing', '[mix_stop]', ', directFirstAttempt: false'), 'intake: { claimAfter: 300ms }\n'))).toEqual([]);
  });
});
