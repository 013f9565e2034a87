/**
 * Bull Board over every queue of the relay (one per target plus `unrouted`), mounted on the admin
 * listener. Dead letters are BullMQ's failed jobs, so they show under each target's "Failed" tab,
 * where an operator can inspect, retry or (unless read-only) remove them. Jobs are shown through
 * bull-board-format.ts: the body as JSON, the target and the attempts in the name.
 */
import { createBullBoard } from '@bull-board/api';
import { BullMQAdapter } from '@bull-board/api/bullMQAdapter';
import { KoaAdapter } from '@bull-board/koa';
import type { Queue } from 'bullmq';
import type { Middleware } from 'koa';
import { UNROUTED_QUEUE } from '../shared/names.js';
import { displayJobData, displayJobName, type JobView } from './bull-board-format.js';

/** Where Bull Board is served on the admin listener. */
export const BULL_BOARD_PATH = '/admin/queues';

export interface BullBoardOptions {
  /** No retry, remove or promote buttons (admin.readOnly). */
  readonly readOnly: boolean;
  /** Mount path. @defaultValue /admin/queues */
  readonly basePath?: string;
  /** Attempts each target allows (1 + its retry schedule), for the job names. */
  readonly attemptsByTarget?: ReadonlyMap<string, number>;
}

/** One queue in Bull Board, its jobs shown for people (the stored jobs are not changed). */
function adapter(queue: Queue, target: string | undefined, readOnly: boolean, allowed: number | undefined): BullMQAdapter {
  const board = new BullMQAdapter(queue, { readOnlyMode: readOnly, allowRetries: !readOnly });
  board.setFormatter('data', (data: unknown) => displayJobData(data, target));
  board.setFormatter('name', (job: JobView) => displayJobName(job, target, allowed));
  return board;
}

/**
 * Bull Board's routes that write a job's data (Update data, Duplicate), relative to its base path.
 * Its UI fills them in from what it shows, the formatted view, so saving would replace a body's
 * exact bytes with re-serialised JSON (and add `target`): refused, like any edit of what ZEGO sent.
 * Retry re-delivers a job as stored.
 */
const WRITES_JOB_DATA = /^\/api\/queues\/[^/]+\/(?:add|[^/]+\/update-data)\/?$/;

/**
 * A Koa middleware serving Bull Board's UI and API under `basePath` for `queues`, keyed by target
 * name (and UNROUTED_QUEUE) as openQueues gives them.
 */
export function bullBoardMiddleware(queues: ReadonlyMap<string, Queue>, options: BullBoardOptions): Middleware {
  const basePath = options.basePath ?? BULL_BOARD_PATH;
  const serverAdapter = new KoaAdapter();
  serverAdapter.setBasePath(basePath);
  createBullBoard({
    queues: [...queues].map(([name, queue]) => adapter(queue, name === UNROUTED_QUEUE ? undefined : name, options.readOnly, options.attemptsByTarget?.get(name))),
    serverAdapter,
    options: { uiConfig: { boardTitle: 'zego-relay', hideDocsLink: true } },
  });
  const board = serverAdapter.registerPlugin();
  return async (ctx, next) => {
    if (ctx.method !== 'GET' && ctx.method !== 'HEAD' && WRITES_JOB_DATA.test(ctx.path.slice(basePath.length))) {
      ctx.status = 403;
      // Bull Board's error shape; its UI shows the key as the message.
      ctx.body = { error: { key: 'zego-relay keeps each delivery exactly as received: use Retry to deliver it again' } };
      return;
    }
    return board(ctx, next);
  };
}
