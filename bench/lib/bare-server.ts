/**
 * The baseline: a bare Koa JSON endpoint (koa-bodyparser, answers `{"ok":true}`), the least any
 * Koa receiver must do. Run as a child process by bench/ingest.ts.
 */
import Koa from 'koa';
import bodyParser from 'koa-bodyparser';

const app = new Koa();
app.use(bodyParser({ enableTypes: ['json'] }));
app.use((ctx) => {
  ctx.body = { ok: true, received: typeof ctx.request.body === 'object' };
});
const server = app.listen(0, '127.0.0.1', () => {
  const address = server.address();
  process.send?.({ port: typeof address === 'object' && address ? address.port : 0 });
});
process.on('SIGTERM', () => server.close(() => process.exit(0)));
