/** Schema building blocks shared by the configuration's sections. */
import { z } from 'zod';

/** Integers may arrive as strings after `${VAR}` substitution (`port: ${PORT:-8080}`). */
export const integer = (min: number, max: number) =>
  z.preprocess(
    (value) => (typeof value === 'string' && /^\d+$/.test(value.trim()) ? Number(value) : value),
    z.number().int().min(min).max(max),
  );
