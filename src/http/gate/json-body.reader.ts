import type { IncomingMessage } from 'node:http';
import type { Readable } from 'node:stream';
import { createBrotliDecompress, createGunzip, createInflate } from 'node:zlib';

import { HttpStatus } from '@nestjs/common';
import getRawBody from 'raw-body';

import { TOO_LARGE, TOO_NESTED } from '../../alectio.messages.js';
import { holdsTooManyContainers, MAX_CONTAINERS } from './json-shape.guard.js';

/** Why a body was refused: the status and the message of the protocol's answer. */
export type Refusal = [status: number, message: string];

const DECODERS: Record<string, () => NodeJS.ReadWriteStream> = {
  gzip: createGunzip,
  deflate: createInflate,
  br: createBrotliDecompress,
};

/**
 * Reads a JSON body (UTF-8; gzip, deflate or br) of at most `limit` bytes once decoded. Unlike
 * body-parser, a refusal is reported as soon as it is known, never after the rest of the body
 * has been read and thrown away: the caller answers and closes the connection.
 */
export function readJsonBody(
  req: IncomingMessage,
  limit: number,
  done: (refusal: Refusal | undefined, body?: unknown) => void,
): void {
  const encoding = String(req.headers['content-encoding'] ?? 'identity')
    .trim()
    .toLowerCase();
  let stream: Readable = req;
  if (encoding !== 'identity') {
    const decoder = DECODERS[encoding];
    if (!decoder) return done([HttpStatus.BAD_REQUEST, `body could not be read: unsupported content encoding "${encoding}"`]);
    stream = req.pipe(decoder()) as unknown as Readable;
  }
  // The declared length is the encoded one: it is checked only for an identity body.
  const length = encoding === 'identity' ? req.headers['content-length'] : undefined;
  getRawBody(stream, { limit, length }, (error, bytes) => {
    if (stream !== req) {
      req.unpipe(stream as unknown as NodeJS.WritableStream);
      stream.destroy();
    }
    if (error) return done(readFailure(error as Error & { type?: string; limit?: number }, limit));
    if (holdsTooManyContainers(bytes)) return done([HttpStatus.BAD_REQUEST, TOO_NESTED(MAX_CONTAINERS)]);
    let text = bytes.toString('utf8');
    if (text.charCodeAt(0) === 0xfeff) text = text.slice(1); // a BOM, as body-parser's decoder dropped it
    if (text.length === 0) return done(undefined, {}); // an empty body, as body-parser read it
    try {
      done(undefined, JSON.parse(text));
    } catch (parseError) {
      done([HttpStatus.BAD_REQUEST, `body is not valid JSON: ${(parseError as Error).message}`]);
    }
  });
}

function readFailure(error: Error & { type?: string; limit?: number }, limit: number): Refusal {
  if (error.type === 'entity.too.large') return [HttpStatus.PAYLOAD_TOO_LARGE, TOO_LARGE(error.limit ?? limit)];
  return [HttpStatus.BAD_REQUEST, `body could not be read: ${error.message}`];
}
