import type { IncomingMessage } from 'node:http';

import { HttpStatus } from '@nestjs/common';
import type { NextFunction, Request, Response } from 'express';

import type { HandlerKind } from '../../alectio.constants.js';
import { EMPTY_BODY, NOT_JSON, NOT_UTF8, TOO_LARGE, UNAUTHORIZED } from '../../alectio.messages.js';
import type { CallLogger } from '../call.logger.js';
import type { TokenVerifier } from '../token.verifier.js';
import { readJsonBody, type Refusal } from './json-body.reader.js';
import { refuse } from './refusal.js';

/** `application/json`, any case, with or without parameters (group 1: the parameters). */
const JSON_MEDIA_TYPE = /^\s*application\/json\s*(;.*)?$/i;

/**
 * POST /train, /test and /infer before Nest sees them: what the headers alone decide (the token,
 * before a byte of the body is read; the content type; a declared length over the limit), then
 * the body, read with the module's own limit while the app's other routes keep theirs. A refused
 * request is answered at once and its connection closed: the rest of its body is never read.
 */
export class PostGate {
  constructor(
    private readonly bodyLimit: number,
    private readonly verifier: TokenVerifier,
    private readonly log: CallLogger,
  ) {}

  /** The refusal the headers already decide, if any: also what `Expect: 100-continue` is answered with. */
  refusalOf(req: IncomingMessage): Refusal | undefined {
    if (!this.verifier.authorize(req)) return [HttpStatus.UNAUTHORIZED, UNAUTHORIZED];
    const contentType = req.headers['content-type'];
    const declared = req.headers['content-length'];
    if (req.headers['transfer-encoding'] === undefined && declared === undefined) return [HttpStatus.BAD_REQUEST, EMPTY_BODY];
    // The media type alone, before any parameter; compared as type-is would, in one regex.
    const media = JSON_MEDIA_TYPE.exec(contentType ?? '');
    if (!media) return [HttpStatus.BAD_REQUEST, NOT_JSON(contentType)];
    // RFC 8259: JSON between systems is UTF-8; the nesting guard reads the bytes as such.
    const charset = media[1] === undefined ? undefined : /;\s*charset\s*=\s*"?([^";\s]*)/i.exec(contentType!)?.[1];
    if (charset !== undefined && !/^utf-?8$/i.test(charset)) return [HttpStatus.BAD_REQUEST, NOT_UTF8(charset)];
    // An identity body declared over the limit is refused before it is sent (compressed ones are
    // measured once decoded).
    const encoding = req.headers['content-encoding']?.trim().toLowerCase();
    const encoded = encoding !== undefined && encoding !== 'identity';
    if (!encoded && declared !== undefined && Number(declared) > this.bodyLimit) {
      return [HttpStatus.PAYLOAD_TOO_LARGE, TOO_LARGE(this.bodyLimit)];
    }
    return undefined;
  }

  handle(kind: HandlerKind, req: Request, res: Response, next: NextFunction): void {
    const started = performance.now();
    const early = this.refusalOf(req);
    if (early) return refuse(this.log, res, `POST /${kind}`, started, ...early, { close: true });
    readJsonBody(req, this.bodyLimit, (refusal, body) => {
      // Refused before its end (too large, unreadable): the rest must not be read.
      if (refusal) return refuse(this.log, res, `POST /${kind}`, started, ...refusal, { close: !req.complete });
      req.body = body;
      // A training run may take hours: no idle timeout of this server may cut its answer off.
      req.socket.setTimeout(0);
      next();
    });
  }
}
