/**
 * Reads a callback's body as exact text, before anything else looks at it.
 *
 * Why not koa-bodyparser: it decodes invalid UTF-8 into U+FFFD without telling anyone (we must
 * reject it: a replaced byte would change the callback we forward) and it parses the body into an
 * object we would throw away (we need the raw text for forwarding and for 64-bit integers). Reading
 * the bytes here is a few lines and one parse less on the hot path.
 */
import type { IncomingMessage } from 'node:http';
import { HttpError } from '../errors.js';

/** The two body formats ZEGO sends (ZEGO.md, Transport). */
export type BodyFormat = 'json' | 'form';

export interface RawBody {
  format: BodyFormat;
  /** The body exactly as received, decoded as UTF-8 (invalid UTF-8 is refused). */
  text: string;
}

const strictUtf8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

/**
 * The format named by a Content-Type header, or undefined for anything else (415).
 * Only the media type counts; a `charset` other than UTF-8 is refused because ZEGO sends UTF-8.
 */
export function bodyFormatOf(contentType: string | undefined): BodyFormat | undefined {
  if (!contentType) return undefined;
  const [mediaType = '', ...parameters] = contentType.split(';').map((part) => part.trim().toLowerCase());
  const charset = parameters.find((parameter) => parameter.startsWith('charset='))?.slice('charset='.length).replace(/"/g, '');
  if (charset !== undefined && charset !== 'utf-8' && charset !== 'utf8') return undefined;
  if (mediaType === 'application/json') return 'json';
  if (mediaType === 'application/x-www-form-urlencoded') return 'form';
  return undefined;
}

/**
 * Reads the request body: 415 for another content type, 413 beyond `limit` bytes (announced or
 * actual), 400 `invalid_body` for an empty body or invalid UTF-8.
 */
export async function readCallbackBody(request: IncomingMessage, limit: number): Promise<RawBody> {
  const format = bodyFormatOf(request.headers['content-type']);
  if (!format) {
    throw new HttpError(415, 'unsupported_media_type', 'send application/json or application/x-www-form-urlencoded');
  }
  const announced = Number(request.headers['content-length']);
  if (Number.isFinite(announced) && announced > limit) throw tooLarge(limit);

  const bytes = await collect(request, limit);
  if (bytes.length === 0) throw new HttpError(400, 'invalid_body', 'the body is empty');
  let text: string;
  try {
    text = strictUtf8.decode(bytes);
  } catch {
    throw new HttpError(400, 'invalid_body', 'the body is not valid UTF-8');
  }
  return { format, text };
}

function tooLarge(limit: number): HttpError {
  return new HttpError(413, 'payload_too_large', `the body is larger than ${limit} bytes`);
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
        reject(tooLarge(limit));
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
