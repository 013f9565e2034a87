/**
 * The baseline of the end-to-end benchmark: a relay written the plain tutorial way. Koa +
 * koa-bodyparser, `queue.add` of the parsed body on one queue, a Worker (concurrency 20, our
 * default) POSTing it with got's default options to every target. No signature check, no
 * de-duplication, no per-target isolation, and the re-serialised body loses 64-bit digits: it is
 * only a speed yardstick.
 *
 * Run as a child process (bench/e2e.ts forks it): env NAIVE_PORT, NAIVE_REDIS_URL,
 * NAIVE_TARGETS (comma-separated URLs), NAIVE_PREFIX. Sends 'ready' over IPC once listening.
 */
import { Queue, Worker } from 'bullmq';
import got from 'got';
import { Redis } from 'ioredis';
import Koa from 'koa';
import bodyParser from 'koa-bodyparser';

const port = Number(process.env.NAIVE_PORT ?? 8090);
const redisUrl = process.env.NAIVE_REDIS_URL ?? 'redis://127.0.0.1:6379';
const targets = (process.env.NAIVE_TARGETS ?? '').split(',').filter(Boolean);
const prefix = process.env.NAIVE_PREFIX ?? 'naive';

const connection = new Redis(redisUrl, { maxRetriesPerRequest: null });
const queue = new Queue('callbacks', { connection, prefix });

const app = new Koa();
app.use(bodyParser());
app.use(async (ctx) => {
  if (ctx.method !== 'POST' || ctx.path !== '/zego/callback') {
    ctx.status = 404;
    return;
  }
  await queue.add('callback', ctx.request.body);
  ctx.body = { ok: true };
});

const worker = new Worker(
  'callbacks',
  async (job) => {
    await Promise.all(targets.map((url) => got.post(url, { json: job.data })));
  },
  { connection: new Redis(redisUrl, { maxRetriesPerRequest: null }), prefix, concurrency: 20 },
);
worker.on('error', (error) => console.error(error));

const server = app.listen(port, '127.0.0.1', () => process.send?.('ready'));
process.on('SIGTERM', () => {
  server.close();
  void worker.close().then(() => process.exit(0));
});
