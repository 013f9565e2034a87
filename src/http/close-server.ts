/** Closing an HTTP listener without hanging on keep-alive clients. */
import type { Server } from 'node:http';

/**
 * Stops accepting connections, closes idle keep-alive sockets at once, gives requests in flight
 * `graceMs` to finish, then cuts what is left. Resolves once the server is closed.
 */
export async function closeServer(server: Server, graceMs: number): Promise<void> {
  const closed = new Promise<void>((resolve) => server.close(() => resolve()));
  server.closeIdleConnections();
  const cut = setTimeout(() => server.closeAllConnections(), graceMs);
  await closed;
  clearTimeout(cut);
}
