/**
 * The enqueue baseline: the receiving half of a relay written in an afternoon. Koa +
 * koa-bodyparser and one BullMQ `queue.add` of the parsed body per request: no signature check,
 * no validation, no de-duplication. Run as a child process by bench/ingest.ts (BENCH_REDIS_URL,
 * BENCH_PREFIX).
 */
import { Queue } from 'bullmq';
import { Redis } from 'ioredis';
import Koa from 'koa';
import bodyParser from 'koa-bodyparser';

const connection = new Redis(process.env.BENCH_REDIS_URL ?? 'redis://127.0.0.1:6379', { maxRetriesPerRequest: null });
const queue = new Queue('callbacks', { connection, prefix: process.env.BENCH_PREFIX ?? 'naive-enqueue' });
await queue.waitUntilReady();

const app = new Koa();
app.use(bodyParser({ enableTypes: ['json'] }));
app.use(async (ctx) => {
  await queue.add('callback', ctx.request.body);
  ctx.body = { ok: true };
});
const server = app.listen(0, '127.0.0.1', () => {
  const address = server.address();
  process.send?.({ port: typeof address === 'object' && address ? address.port : 0 });
});
process.on('SIGTERM', () => server.close(() => void queue.close().then(() => process.exit(0))));
