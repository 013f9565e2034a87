/**
 * Reads a callback's body as exact bytes, then as text, before anything else looks at it.
 *
 * Why not koa-bodyparser: it decodes invalid UTF-8 into U+FFFD without telling anyone (we must
 * reject it: a replaced byte would change the callback we forward), it picks the parser by the
 * declared type (ZEGO's declared type is not to be trusted: payload.ts reads the body by its shape)
 * and it parses the body into an object we would throw away (we need the raw text for forwarding
 * and for 64-bit integers). Reading the bytes here is a few lines and one parse less.
 */
import type { IncomingMessage } from 'node:http';
import { HttpError } from '../errors.js';

/**
 * The declared types a callback may come with. Which of them does not matter: the body is read by
 * its shape. A `charset` parameter is ignored; the bytes must be UTF-8 whatever it says.
 */
const ACCEPTED_MEDIA_TYPES: ReadonlySet<string> = new Set([
  'application/json',
  'application/x-www-form-urlencoded',
  'text/plain',
  'application/octet-stream',
]);

const strictUtf8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

/** 413 with what was read before the limit passed, for the rejected log. */
export class BodyTooLargeError extends HttpError {
  constructor(
    limit: number,
    /** The bytes read before giving up (empty when Content-Length announced too many). */
    readonly received: Buffer,
    /** The announced Content-Length, else the bytes read so far. */
    readonly size: number,
  ) {
    super(413, 'payload_too_large', `the body is larger than ${limit} bytes`);
    this.name = 'BodyTooLargeError';
  }
}

/** True for no Content-Type or one of the accepted media types (any parameters). */
export function isAcceptedContentType(contentType: string | undefined): boolean {
  const mediaType = (contentType ?? '').split(';')[0]!.trim().toLowerCase();
  return mediaType === '' || ACCEPTED_MEDIA_TYPES.has(mediaType);
}

/**
 * Reads a request body, the one reader of both listeners: 413 (BodyTooLargeError) beyond `limit`
 * bytes, announced or actual. Any declared type is read, so a refused callback (415) still shows
 * in the rejected log.
 */
export async function readBody(request: IncomingMessage, limit: number): Promise<Buffer> {
  const announced = Number(request.headers['content-length']);
  if (Number.isFinite(announced) && announced > limit) throw new BodyTooLargeError(limit, Buffer.alloc(0), announced);
  return collect(request, limit);
}

/** The body as text: 415 for a declared type outside the list, 400 invalid_body when not UTF-8. */
export function callbackText(bytes: Buffer, contentType: string | undefined): string {
  if (!isAcceptedContentType(contentType)) {
    throw new HttpError(
      415,
      'unsupported_media_type',
      'send application/json, application/x-www-form-urlencoded, text/plain, application/octet-stream or no content type',
    );
  }
  try {
    return strictUtf8.decode(bytes);
  } catch {
    throw new HttpError(400, 'invalid_body', 'the body is not valid UTF-8');
  }
}

/** Collects the body, stopping (and answering 413) as soon as it passes the limit. */
function collect(request: IncomingMessage, limit: number): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    const cleanup = () => {
      request.off('data', onData);
      request.off('end', onEnd);
      request.off('error', onError);
      request.off('aborted', onAborted);
    };
    const onData = (chunk: Buffer) => {
      size += chunk.length;
      if (size > limit) {
        cleanup();
        // Stop reading: the answer closes the connection (close-unread.ts) instead of draining
        // the rest, which may never end.
        request.pause();
        reject(new BodyTooLargeError(limit, Buffer.concat(chunks), size));
        return;
      }
      chunks.push(chunk);
    };
    const onEnd = () => {
      cleanup();
      resolve(chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks, size));
    };
    const onError = (error: Error) => {
      cleanup();
      reject(new HttpError(400, 'invalid_body', `the body could not be read (${error.message})`));
    };
    const onAborted = () => onError(new Error('the client aborted the request'));
    request.on('data', onData);
    request.on('end', onEnd);
    request.on('error', onError);
    request.on('aborted', onAborted);
  });
}
