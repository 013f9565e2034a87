/**
 * Bull Board over every queue of the relay (one per target plus `unrouted`), mounted on the admin
 * listener. Dead letters are BullMQ's failed jobs, so they show under each target's "Failed" tab,
 * where an operator can inspect and (unless read-only) retry them. Jobs are shown through
 * bull-board-format.ts: the body as JSON, the target and the attempts in the name.
 */
import { createBullBoard } from '@bull-board/api';
import { BullMQAdapter } from '@bull-board/api/bullMQAdapter';
import { KoaAdapter } from '@bull-board/koa';
import type { Queue } from 'bullmq';
import type { Middleware } from 'koa';
import { UNROUTED_QUEUE } from '../shared/names.js';
import { displayJobData, displayJobName, type JobView } from './bull-board-format.js';
import { bullBoardDecision, type BullBoardDecision } from './bull-board-routes.js';

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

/** Bull Board's error shape; its UI shows the key as the message. */
const refusal = (key: string) => ({ error: { key } });

const REFUSED = refusal(
  'zego-relay allows only Retry of a failed delivery, Promote, Pause and Resume here: it keeps every acknowledged callback exactly as received',
);

/**
 * A Koa middleware serving Bull Board's UI and API under `basePath` for `queues`, keyed by target
 * name (and UNROUTED_QUEUE) as openQueues gives them. Writes pass only as bull-board-routes.ts
 * allows (with admin.readOnly, none): the UI fills an edit in from the formatted view, so saving
 * would replace a body's exact bytes; clean, empty and obliterate would drop deliveries ZEGO was
 * told are safe, and its re-sends would then be answered `duplicate`.
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
  const byQueueName = new Map([...queues.values()].map((queue) => [queue.name, queue]));
  return async (ctx, next) => {
    const decision = bullBoardDecision(ctx.method, ctx.path.slice(basePath.length));
    if (decision.kind !== 'read' && (options.readOnly || decision.kind === 'refused' || !(await isDeadLetter(byQueueName, decision)))) {
      ctx.status = 403;
      ctx.body = decision.kind === 'failed-job' && !options.readOnly ? refusal('zego-relay retries only failed deliveries (dead letters)') : REFUSED;
      return;
    }
    return board(ctx, next);
  };
}

/**
 * False when the job to retry exists and is not a dead letter (a retry of a completed job would
 * deliver it again). An unknown queue or job is Bull Board's to answer (404).
 */
async function isDeadLetter(queues: ReadonlyMap<string, Queue>, decision: BullBoardDecision): Promise<boolean> {
  if (decision.kind !== 'failed-job') return true;
  const job = await queues.get(decision.queueName)?.getJob(decision.jobId);
  return job === undefined || (await job.getState()) === 'failed';
}
