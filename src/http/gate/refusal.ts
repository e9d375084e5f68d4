import type { ServerResponse } from 'node:http';

import { errorAnswer } from '../../protocol/answer.js';
import { protocolError } from '../../protocol/protocol-error.js';
import type { CallLogger } from '../call.logger.js';
import { sendJson } from '../send-json.js';

/**
 * Answers a request the gate refuses, in the protocol's shape, and logs it as a call. With
 * `close`, the connection is closed once the answer is out (`Connection: close`): a body the
 * client is still sending is not read.
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
  if (close) res.setHeader('Connection', 'close');
  sendJson(res, status, errorAnswer(error));
}

// Express routes ignore case and a trailing slash; so must the gate, or it could be stepped around.
export function normalizePath(path: string): string {
  return `/${path.toLowerCase().replace(/^\/+|\/+$/g, '')}`;
}
