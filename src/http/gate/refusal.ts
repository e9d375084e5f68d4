import type { ServerResponse } from 'node:http';
import type { Socket } from 'node:net';

import { errorAnswer } from '../../protocol/answer.js';
import { protocolError } from '../../protocol/protocol-error.js';
import type { CallLogger } from '../call.logger.js';
import { sendJson } from '../send-json.js';

/** After a refusal with `close`, how long the connection lingers (half-closed, not read) before it is dropped. */
const LINGER_MS = 2000;
/** Connections told `Connection: close`: whatever else comes on them is not served. */
const closing = new WeakSet<Socket>();

/** Whether the gate has refused a request on this connection and is closing it. */
export function isClosing(socket: Socket | null | undefined): boolean {
  return socket != null && closing.has(socket);
}

/**
 * Answers a request the gate refuses, in the protocol's shape, and logs it as a call. With
 * `close`, the connection is closed once the answer is out (`Connection: close`): a body the
 * client is still sending is not read, nor any request pipelined behind it.
 */
export function refuse(
  log: CallLogger,
  res: ServerResponse,
  endpoint: string,
  started: number,
  status: number,
  message: string,
  { close = false } = {},
): void {
  const error = protocolError(status, message);
  log.failed(endpoint, '', started, error);
  if (close && res.socket) {
    res.setHeader('Connection', 'close');
    lingerThenClose(res.socket);
  }
  sendJson(res, status, errorAnswer(error));
}

/**
 * Node destroys a `Connection: close` socket as soon as the answer is written; with the client's
 * body still arriving, the kernel then resets the connection, and a client still writing (Node's
 * own http client, for one) sees EPIPE instead of the answer. So the socket stops reading (the
 * body is not taken in), is half-closed after the answer, and is dropped a moment later.
 */
function lingerThenClose(socket: Socket): void {
  if (closing.has(socket)) return;
  closing.add(socket);
  socket.destroySoon = function (this: Socket) {
    this.pause();
    this.end();
    setTimeout(() => this.destroy(), LINGER_MS).unref();
  };
}

// Express routes ignore case and a trailing slash; so must the gate, or it could be stepped around.
export function normalizePath(path: string): string {
  return `/${path.toLowerCase().replace(/^\/+|\/+$/g, '')}`;
}
