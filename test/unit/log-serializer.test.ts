/**
 * The log serializer every error goes through: it keeps what helps an operator (type, message,
 * stack, network fields, the command's name) and nothing else, so no library's extra fields can
 * carry a credential into a log line.
 */
import { describe, expect, it } from 'vitest';
import { serializeError } from '../../src/lib/logger.js';

class ReplyError extends Error {
  command = { name: 'auth', args: ['relay-user', 'Acl-Password-1'] };
}

describe('serializeError', () => {
  it("keeps an ioredis error's message and command name, never the command's arguments", () => {
    const serialized = serializeError(new ReplyError('WRONGPASS invalid username-password pair or user is disabled.')) as Record<string, unknown>;
    expect(serialized).toMatchObject({ type: 'ReplyError', message: 'WRONGPASS invalid username-password pair or user is disabled.', command: 'auth' });
    expect(JSON.stringify(serialized)).not.toMatch(/relay-user|Acl-Password-1/);
  });

  it("keeps a network error's fields and drops everything unknown (got's request options with headers)", () => {
    const error = Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:6379'), {
      code: 'ECONNREFUSED', errno: -111, syscall: 'connect', address: '127.0.0.1', port: 6379,
      options: { headers: { authorization: 'Bearer Header-Token-1' } }, password: 'Field-Password-1',
    });
    const serialized = serializeError(error) as Record<string, unknown>;
    expect(serialized).toMatchObject({ code: 'ECONNREFUSED', errno: -111, syscall: 'connect', address: '127.0.0.1', port: 6379 });
    expect(JSON.stringify(serialized)).not.toMatch(/Header-Token-1|Field-Password-1/);
  });

  it('masks credentials in URLs in messages, stacks, causes and strings', () => {
    const url = 'redis://relay:Url-Password-1@redis.internal:6379';
    const error = new Error(`cannot reach ${url}`, { cause: new AggregateError([new ReplyError(`at ${url}`)], 'all failed') });
    const text = JSON.stringify(serializeError(error));
    expect(text).toContain('redis://[redacted]@redis.internal:6379');
    expect(text).toContain('"command":"auth"');
    expect(text).not.toMatch(/Url-Password-1|relay:/);
    expect(serializeError(`lost ${url}`)).toBe('lost redis://[redacted]@redis.internal:6379');
  });
});
