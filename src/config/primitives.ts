/** Schema building blocks shared by the configuration's sections (and the admin API's bodies). */
import { z } from 'zod';
import { parseDuration, parseSize } from './units.js';

/** Integers may arrive as strings after `${VAR}` substitution (`port: ${PORT:-8080}`). */
export const integer = (min: number, max: number) =>
  z.preprocess(
    (value) => (typeof value === 'string' && /^\d+$/.test(value.trim()) ? Number(value) : value),
    z.number().int().min(min).max(max),
  );

/** A duration: milliseconds as a number, or `500ms`, `5s`, `5m`, `2h`, `3d`. */
export const duration = z.union([z.number(), z.string()]).transform((value, ctx) => {
  const ms = parseDuration(value);
  if (ms === undefined) {
    ctx.addIssue({ code: 'custom', message: `"${value}" is not a duration (use milliseconds or 500ms, 5s, 5m, 2h, 3d)` });
    return z.NEVER;
  }
  return ms;
});

/** A size: bytes as a number, or `512b`, `256kb`, `1mb`, `1gb`. */
export const size = z.union([z.number(), z.string()]).transform((value, ctx) => {
  const bytes = parseSize(value);
  if (bytes === undefined || bytes === 0) {
    ctx.addIssue({ code: 'custom', message: `"${value}" is not a size (use bytes or 512b, 256kb, 1mb, 1gb)` });
    return z.NEVER;
  }
  return bytes;
});
