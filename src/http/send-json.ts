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
  await streamJson(res, status, drained(parts));
}

/**
 * Writes a JSON answer read part by part (a job's result, from its store), with backpressure:
 * the next part is read only once the socket has taken the last. A source that fails once the
 * answer has begun cuts the connection, so that the client sees a broken answer, never a wrong one.
 */
export async function streamJson(
  res: ServerResponse,
  status: number,
  parts: AsyncIterable<string> | Iterable<string>,
): Promise<void> {
  if (res.headersSent || res.destroyed) return;
  const source: AsyncIterator<string> | Iterator<string> =
    Symbol.asyncIterator in parts ? parts[Symbol.asyncIterator]() : parts[Symbol.iterator]();
  // The first part read before the head is written: a source that fails at once gets an error answer.
  const first = await source.next();
  res.statusCode = status;
  res.setHeader('Content-Type', 'application/json; charset=utf-8');
  res.removeHeader('X-Powered-By'); // Express's: the protocol's answers do not advertise the stack
  let sinceTurn = 0;
  try {
    for (let next = first; !next.done; next = await source.next()) {
      if (res.destroyed) return void (await source.return?.());
      const part = next.value;
      if (!res.write(part)) await drainedOrClosed(res);
      sinceTurn += part.length;
      if (sinceTurn >= CHARACTERS_PER_TURN) {
        sinceTurn = 0;
        await yieldToEventLoop();
      }
    }
  } catch (error) {
    res.destroy(error as Error);
    return;
  }
  res.end();
}

/** Parts handed out once each, and let go of once written, so the collector may take them meanwhile. */
function* drained(parts: string[]): Generator<string> {
  for (let i = 0; i < parts.length; i++) {
    const part = parts[i];
    parts[i] = '';
    yield part;
  }
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
