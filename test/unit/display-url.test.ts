/**
 * How a URL is shown anywhere (check-config, the banner, logs, the admin API): one function,
 * lib/redact.ts displayUrl: scheme, host and port, the first path segment; the rest of the path
 * masked, never credentials, never the query. Pure.
 */
import { describe, expect, it } from 'vitest';
import { answerError } from '../../workers/deliver/outcome.js';
import { serializeError } from '../../src/lib/logger.js';
import { displayUrl, maskHttpUrls } from '../../src/lib/redact.js';

describe('displayUrl', () => {
  it.each([
    ['https://hooks.example.com/webhooks/123456/TOKEN', 'https://hooks.example.com/webhooks/***'],
    ['https://discord.com/api/webhooks/1/Secret-Token', 'https://discord.com/api/***'],
    ['https://billing.example.com/hooks/zego', 'https://billing.example.com/hooks/***'],
    ['https://billing.example.com/hook', 'https://billing.example.com/hook'],
    ['https://billing.example.com/hook/', 'https://billing.example.com/hook'],
    ['https://billing.example.com', 'https://billing.example.com/'],
    ['http://127.0.0.1:8081/hook?token=Query-Token', 'http://127.0.0.1:8081/hook?***'],
    ['https://user:Url-Password@host.example:8443/a/b?c=d#e', 'https://host.example:8443/a/***?***'],
    ['https://host.example:443/a', 'https://host.example/a'],
    ['http://[::1]:9000/x/y', 'http://[::1]:9000/x/***'],
    ['not a url', '(not a URL)'],
  ])('shows %s as %s', (url, shown) => {
    expect(displayUrl(url)).toBe(shown);
  });

  it('shows every http(s) URL in a text so', () => {
    expect(maskHttpUrls('POST https://h.example/webhooks/1/TOKEN failed; see "http://a:b@c/d/e?f"')).toBe('POST https://h.example/webhooks/*** failed; see "http://c/d/***?***"');
    expect(maskHttpUrls('redis://u@h:1/0 stays')).toBe('redis://u@h:1/0 stays');
  });
});

describe('logs', () => {
  it('never carry a target URL past its first path segment, in an error message or stack', () => {
    const error = new Error('Request failed with status code 500: POST https://hooks.example.com/webhooks/123456/Path-Token-9f?key=Query-Token');
    const serialized = JSON.stringify(serializeError(error));
    expect(serialized).toContain('https://hooks.example.com/webhooks/***?***');
    expect(serialized).not.toMatch(/123456|Path-Token|Query-Token/);
  });

  it('show a redirect\'s location as any URL, a relative one by its first segment', () => {
    expect(answerError({ status: 302, statusMessage: 'Found', location: 'https://hooks.example.com/webhooks/1/Token-7?x=1' }, 0)?.message)
      .toBe('target answered 302 Found: redirect to https://hooks.example.com/webhooks/***?*** not followed');
    expect(answerError({ status: 301, location: '/webhooks/1/Token-7' }, 0)?.message).toBe('target answered 301: redirect to /webhooks/*** not followed');
    expect(answerError({ status: 301, location: '/login' }, 0)?.message).toBe('target answered 301: redirect to /login not followed');
  });
});
