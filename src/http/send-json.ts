import type { ServerResponse } from 'node:http';
import { setImmediate as yieldToEventLoop } from 'node:timers/promises';

/**
 * Characters written between two turns of the event loop. On loopback, or to any client that
 * reads as fast as we write, every write completes at once and 'drain' comes on the same tick:
 * a 160 MB answer would go out in one 200 ms run of microtasks, with timers and other requests waiting.
 */
const CHARACTERS_PER_TURN = 1 << 19;

/**
 * Writes a JSON answer given in parts, with backpressure: a large answer goes out a part at a
 * time as the socket drains, and its parts never have to be one string. Chunked, without a
 * Content-Length: measuring 40 MB of parts up front would itself hold the event loop ~20 ms.
 */
export async function sendJsonParts(res: ServerResponse, status: number, parts: string[]): Promise<void> {
  // One part, the usual small answer: one write of headers and body together.
  if (parts.length === 1) return sendJson(res, status, parts[0]);
  if (res.headersSent || res.destroyed) return;
  res.statusCode = status;
  res.setHeader('Content-Type', 'application/json; charset=utf-8');
  res.removeHeader('X-Powered-By'); // Express's: the protocol's answers do not advertise the stack
  let sinceTurn = 0;
  for (let i = 0; i < parts.length; i++) {
    if (res.destroyed) return;
    const part = parts[i];
    parts[i] = ''; // written: the collector may take it while the rest goes out
    if (!res.write(part)) await drainedOrClosed(res);
    sinceTurn += part.length;
    if (sinceTurn >= CHARACTERS_PER_TURN) {
      sinceTurn = 0;
      await yieldToEventLoop();
    }
  }
  res.end();
}

/** Writes a JSON answer straight to the socket, past any interceptor of the host app. */
export function sendJson(res: ServerResponse, status: number, json: string): void {
  if (res.headersSent || res.destroyed) return;
  res.statusCode = status;
  res.setHeader('Content-Type', 'application/json; charset=utf-8');
  res.setHeader('Content-Length', Buffer.byteLength(json));
  res.removeHeader('X-Powered-By');
  res.end(json);
}

function drainedOrClosed(res: ServerResponse): Promise<void> {
  return new Promise((resolve) => {
    const done = (): void => {
      res.off('drain', done);
      res.off('close', done);
      resolve();
    };
    res.on('drain', done);
    res.on('close', done);
  });
}
