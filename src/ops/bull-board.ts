/**
 * Bull Board over every queue of the relay (one per target plus `unrouted`), mounted on the admin
 * listener. Dead letters are BullMQ's failed jobs, so they show under each target's "Failed" tab,
 * where an operator can inspect, retry or (unless read-only) remove them.
 */
import { createBullBoard } from '@bull-board/api';
import { BullMQAdapter } from '@bull-board/api/bullMQAdapter';
import { KoaAdapter } from '@bull-board/koa';
import type { Queue } from 'bullmq';
import type { Middleware } from 'koa';

/** Where Bull Board is served on the admin listener. */
export const BULL_BOARD_PATH = '/admin/queues';

export interface BullBoardOptions {
  /** No retry, remove or promote buttons (admin.readOnly). */
  readonly readOnly: boolean;
  /** Mount path. @defaultValue /admin/queues */
  readonly basePath?: string;
}

/** A Koa middleware serving Bull Board's UI and API for `queues` under `basePath`. */
export function bullBoardMiddleware(queues: Iterable<Queue>, options: BullBoardOptions): Middleware {
  const basePath = options.basePath ?? BULL_BOARD_PATH;
  const serverAdapter = new KoaAdapter();
  serverAdapter.setBasePath(basePath);
  createBullBoard({
    queues: [...queues].map((queue) => new BullMQAdapter(queue, { readOnlyMode: options.readOnly, allowRetries: !options.readOnly })),
    serverAdapter,
    options: { uiConfig: { boardTitle: 'zego-relay', hideDocsLink: true } },
  });
  return serverAdapter.registerPlugin();
}
