/** A client that sends a chunked body that never ends, for tests of listeners that must stop reading. */
import { connect } from 'node:net';

export interface EndlessUpload {
  /** Bytes the client managed to hand to its socket before the relay closed the connection. */
  written: number;
  /** What the relay answered. */
  response: string;
  /** True when the relay closed the connection (false: the client gave up at its budget). */
  closedByRelay: boolean;
}

/**
 * Streams a chunked body that never ends, as fast as the relay takes it, up to `budget` bytes.
 * `headers`: extra header lines, each ending in \r\n.
 */
export function endlessUpload(port: number, path: string, contentType: string, budget: number, headers = ''): Promise<EndlessUpload> {
  return new Promise((resolve) => {
    const socket = connect(port, '127.0.0.1');
    const chunk = Buffer.alloc(64 * 1024, 'x'.charCodeAt(0));
    const framed = Buffer.concat([Buffer.from(`${chunk.length.toString(16)}\r\n`), chunk, Buffer.from('\r\n')]);
    let written = 0;
    let response = '';
    let done = false;
    const finish = (closedByRelay: boolean) => {
      if (done) return;
      done = true;
      socket.destroy();
      resolve({ written, response, closedByRelay });
    };
    const pump = () => {
      while (!done && written < budget) {
        written += framed.length;
        if (!socket.write(framed)) return;
      }
      if (written >= budget) finish(false);
    };
    socket.on('connect', () => {
      socket.write(`POST ${path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: ${contentType}\r\nTransfer-Encoding: chunked\r\n${headers}\r\n`);
      pump();
    });
    socket.on('drain', pump);
    socket.on('data', (data: Buffer) => (response += data.toString('latin1')));
    socket.on('end', () => finish(true));
    socket.on('close', () => finish(true));
    socket.on('error', () => finish(true));
  });
}
