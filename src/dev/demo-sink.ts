/**
 * The demo target of config/relay.yaml (development mode only): the admin listener receives the
 * relay's own deliveries and logs them, so `npm start` + `zego-relay simulate` shows the whole
 * path end to end without any other service. It logs what a target would see, minus anything
 * secret-bearing (the target's own `headers`, e.g. Authorization, are not logged).
 */
import type { Context } from 'koa';
import type { Logger } from '../lib/logger.js';
import { readBody } from '../http/read-body.js';

/** Where the demo target POSTs. */
export const DEMO_SINK_PATH = '/demo/sink';

/** The demo sink reads at most this much of a delivery. */
const DEMO_SINK_BODY_LIMIT = 256 * 1024;

/** Logs one delivery and answers 204; 413 (thrown, for the error middleware) when the body is larger than the demo limit. */
export function demoSinkHandler(logger: Logger): (ctx: Context) => Promise<void> {
  return async (ctx) => {
    const body = (await readBody(ctx.req, DEMO_SINK_BODY_LIMIT)).toString('utf8');
    logger.info(
      {
        demoSink: {
          webhookId: ctx.get('webhook-id') || undefined,
          event: ctx.get('x-zego-event') || undefined,
          appId: ctx.get('x-zego-appid') || undefined,
          attempt: ctx.get('x-relay-attempt') || undefined,
          signed: ctx.get('webhook-signature') !== '',
          body: parseOrKeep(body),
        },
      },
      'demo sink received a delivery',
    );
    ctx.status = 204;
  };
}

function parseOrKeep(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return text;
  }
}
