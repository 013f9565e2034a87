/**
 * What the receiver stores and the workers read: queue names, Redis key names and the job payload.
 * One BullMQ queue per target keeps targets isolated (own concurrency, limiter, backlog).
 */

/** The queue of one target's deliveries. BullMQ forbids ':' in queue names. */
export function deliveryQueueName(targetName: string): string {
  return `deliver-${targetName}`;
}

/** Callbacks that matched no target: kept (and counted), never dropped. */
export const UNROUTED_QUEUE = 'unrouted';

/** Redis keys of the receiver's markers, under the configured prefix. */
export const markerKeys = {
  /** Present while a callback id is remembered for de-duplication. */
  seen: (prefix: string, callbackId: string) => `${prefix}:seen:${callbackId}`,
  /** The callback id a nonce first came with (replay defense). */
  nonce: (prefix: string, appId: string, nonce: string) => `${prefix}:nonce:${appId}:${nonce}`,
};

/** The payload of every delivery job (and of an unrouted callback). */
export interface DeliveryJobData {
  /** The callback id: `webhook-id`, the same on every retry and every target. */
  callbackId: string;
  event: string;
  appId: string;
  /** The JSON body to POST: the exact text ZEGO sent, or a JSON object of a form's fields. */
  body: string;
  /** When the receiver stored it (ms since epoch). */
  receivedAt: number;
}
