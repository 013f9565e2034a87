/** How one batch of intake entries is routed when some of it cannot be (workers/route/route-batch.ts). Unit tier: the fan-out is a function. */
import { ReplyError } from 'ioredis';
import { describe, expect, it } from 'vitest';
import { parseEntry } from '../../workers/route/intake-entry.js';
import { routeBatch, type AfterAck, type RoutableEntry } from '../../workers/route/route-batch.js';

const entry = (entryId: string, callbackId: string) => parseEntry([entryId, ['id', callbackId, 'event', 'mix_stop', 'app', '111111', 'body', '{}', 'at', '1700000000000']]);

/**
 * A fan-out that records what it queued (and whether each call had one entry alone) and refuses
 * what `refuse` says, with that error; each call that succeeds asks for one after-ack step.
 */
function fanOut(refuse: (entry: RoutableEntry) => Error | undefined) {
  const queued: string[] = [];
  const calls: string[][] = [];
  const alone: boolean[] = [];
  const run = async (entries: RoutableEntry[], one: boolean): Promise<AfterAck> => {
    calls.push(entries.map(({ entryId }) => entryId));
    alone.push(one);
    const refusal = entries.map(refuse).find((error) => error !== undefined);
    if (refusal) throw refusal;
    queued.push(...entries.map(({ entryId }) => entryId));
    return async () => {};
  };
  return { run, queued, calls, alone };
}

describe('routing a batch', () => {
  it('queues a healthy batch in one fan-out', async () => {
    const fan = fanOut(() => undefined);
    const { unroutable, afterAck } = await routeBatch([entry('1-0', 'cb_a'), entry('2-0', 'cb_b')], fan.run);
    expect(unroutable).toEqual([]);
    expect(fan.calls).toEqual([['1-0', '2-0']]);
    expect(fan.alone).toEqual([false]);
    expect(afterAck).toHaveLength(1);
  });

  it('sets an unreadable entry aside without trying it, and needs nothing for a deleted one', async () => {
    const fan = fanOut(() => undefined);
    const unreadable = entry('2-0', '777');
    const { unroutable: aside } = await routeBatch([entry('1-0', 'cb_a'), unreadable, parseEntry(['3-0', null]), entry('4-0', 'cb_b')], fan.run);
    expect(aside).toEqual([{ entryId: '2-0', reason: unreadable.problem, fields: unreadable.fields }]);
    expect(fan.calls).toEqual([['1-0', '4-0']]);
  });

  it('tries a refused batch entry by entry: sets aside the one the queue refuses, queues the others', async () => {
    const fan = fanOut(({ data }) => (data.callbackId === 'cb_bad' ? new Error('Custom Id cannot be integers') : undefined));
    const { unroutable: aside, afterAck } = await routeBatch([entry('1-0', 'cb_a'), entry('2-0', 'cb_bad'), entry('3-0', 'cb_c')], fan.run);
    expect(aside).toEqual([{ entryId: '2-0', reason: 'refused by the queue: Custom Id cannot be integers', fields: ['id', 'cb_bad', 'event', 'mix_stop', 'app', '111111', 'body', '{}', 'at', '1700000000000'] }]);
    expect(fan.queued).toEqual(['1-0', '3-0']);
    // Entry by entry, each alone (not one range of the stream, for the ordering barrier); the
    // after-ack step of each that went through is kept.
    expect(fan.alone).toEqual([false, true, true, true]);
    expect(afterAck).toHaveLength(2);
  });

  it.each([
    ['an error Redis answered', new ReplyError('WRONGTYPE Operation against a key holding the wrong kind of value')],
    ['a lost connection', Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:6379'), { code: 'ECONNREFUSED' })],
  ])('sets nothing aside for %s: the batch fails, to be read again', async (_name, error) => {
    const whole = fanOut(() => error);
    await expect(routeBatch([entry('1-0', 'cb_a'), entry('2-0', 'cb_b')], whole.run)).rejects.toBe(error);
    expect(whole.calls).toEqual([['1-0', '2-0']]);
    // The batch is refused by the queue, then Redis fails while the entries are tried one by one.
    let calls = 0;
    const later = async () => {
      calls += 1;
      throw calls === 1 ? new Error('Custom Id cannot be integers') : error;
    };
    await expect(routeBatch([entry('1-0', 'cb_a'), entry('2-0', 'cb_b')], later)).rejects.toBe(error);
    expect(calls).toBe(2);
  });
});
