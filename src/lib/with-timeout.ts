/** Bounding a promise in time, for work that must not hang an operator (a scrape, a CLI command). */

/**
 * Resolves like `work`, or rejects with `onTimeout()` after `timeoutMs`. The work itself is not
 * cancelled; a late rejection of it is swallowed so it cannot become an unhandled rejection.
 */
export async function withTimeout<T>(work: Promise<T>, timeoutMs: number, onTimeout: () => Error): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_resolve, reject) => {
    timer = setTimeout(() => reject(onTimeout()), timeoutMs);
  });
  work.catch(() => {});
  try {
    return await Promise.race([work, timeout]);
  } finally {
    clearTimeout(timer);
  }
}
