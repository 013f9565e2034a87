/**
 * `WAIT N timeout` with group commit, per connection. WAIT blocks the connection it runs on, and
 * it covers every write that connection made before it: so one WAIT in flight at a time serves
 * every write whose reply had arrived when it was sent. A caller whose write came back while a
 * WAIT was already in flight joins the next one, sent as soon as the current one answers. With
 * replicas healthy a WAIT takes one replication round trip; with a replica missing it blocks for
 * its timeout, and at most one does so at a time (a WAIT per request would pile up behind it).
 */
import type { Redis } from 'ioredis';
import { withTimeout } from '../lib/with-timeout.js';

/** A WAIT gets this much longer than its own timeout to answer before it counts as failed. */
const ANSWER_GRACE_MS = 500;

export class ReplicaWait {
  private current: Promise<number> | undefined;
  private queued: Promise<number> | undefined;

  constructor(
    private readonly connection: Redis,
    private readonly replicas: number,
  ) {}

  /** How many replicas acknowledged the writes this connection made before the call (at most `replicas`). */
  confirm(timeoutMs: number): Promise<number> {
    if (!this.current) {
      this.current = this.send(timeoutMs);
      return this.current;
    }
    // The WAIT in flight may have gone out before this caller's write: take the next one.
    this.queued ??= this.current
      .then(
        () => undefined,
        () => undefined,
      )
      .then(() => {
        this.queued = undefined;
        this.current = this.send(timeoutMs);
        return this.current;
      });
    return this.queued;
  }

  private send(timeoutMs: number): Promise<number> {
    // Bounded here too: a WAIT on a connection that never comes back must not hold every later
    // caller (they queue behind the one in flight).
    const wait = withTimeout(this.connection.wait(this.replicas, timeoutMs), timeoutMs + ANSWER_GRACE_MS, () => new Error(`WAIT got no answer within ${timeoutMs + ANSWER_GRACE_MS} ms`));
    const settled = () => {
      if (this.current === wait) this.current = undefined;
    };
    wait.then(settled, settled);
    return wait;
  }
}

/** One ReplicaWait per connection (a cluster's master connections come and go with failovers). */
export class ReplicaWaits {
  private readonly waits = new WeakMap<Redis, ReplicaWait>();

  constructor(private readonly replicas: number) {}

  of(connection: Redis): ReplicaWait {
    let wait = this.waits.get(connection);
    if (!wait) {
      wait = new ReplicaWait(connection, this.replicas);
      this.waits.set(connection, wait);
    }
    return wait;
  }
}
