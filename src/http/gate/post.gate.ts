import { HttpStatus } from '@nestjs/common';
import bodyParser from 'body-parser';
import type { NextFunction, Request, Response } from 'express';

import type { HandlerKind } from '../../alectio.constants.js';
import { EMPTY_BODY, NOT_JSON, NOT_UTF8, TOO_LARGE, TOO_NESTED, UNAUTHORIZED } from '../../alectio.messages.js';
import type { CallLogger } from '../call.logger.js';
import type { TokenVerifier } from '../token.verifier.js';
import { holdsTooManyContainers, MAX_CONTAINERS } from './json-shape.guard.js';
import { refuse } from './refusal.js';

type BodyParserError = Error & { type?: string; limit?: number; status?: number };

const TOO_NESTED_TYPE = 'alectio.too.nested';
/** `application/json`, any case, with or without parameters (group 1: the parameters). */
const JSON_MEDIA_TYPE = /^\s*application\/json\s*(;.*)?$/i;

/**
 * POST /train, /test and /infer before Nest sees them: the token (401 before a byte of the body
 * is read), the content type, then the body, parsed with the module's own limit while the
 * app's other routes keep theirs.
 */
export class PostGate {
  private readonly parseJson: ReturnType<typeof bodyParser.json>;

  constructor(
    bodyLimit: number | string,
    private readonly verifier: TokenVerifier,
    private readonly log: CallLogger,
  ) {
    // The gate checks the content type itself, for the protocol's 400. Not strict: a body of
    // valid JSON that is not an object is told so by the validator, not called invalid JSON.
    this.parseJson = bodyParser.json({
      limit: bodyLimit,
      strict: false,
      type: () => true,
      verify: (_req, _res, bytes) => {
        if (holdsTooManyContainers(bytes)) throw Object.assign(new Error(TOO_NESTED(MAX_CONTAINERS)), { type: TOO_NESTED_TYPE });
      },
    });
  }

  handle(kind: HandlerKind, req: Request, res: Response, next: NextFunction): void {
    const started = performance.now();
    const reject = (status: number, message: string): void => refuse(this.log, res, `POST /${kind}`, started, status, message);
    if (!this.verifier.authorize(req)) return reject(HttpStatus.UNAUTHORIZED, UNAUTHORIZED);
    const contentType = req.headers['content-type'];
    if (req.headers['transfer-encoding'] === undefined && req.headers['content-length'] === undefined) {
      return reject(HttpStatus.BAD_REQUEST, EMPTY_BODY);
    }
    // The media type alone, before any parameter; compared as type-is would, in one regex.
    const media = JSON_MEDIA_TYPE.exec(contentType ?? '');
    if (!media) return reject(HttpStatus.BAD_REQUEST, NOT_JSON(contentType));
    // RFC 8259: JSON between systems is UTF-8; the nesting guard reads the bytes as such.
    const charset = media[1] === undefined ? undefined : /;\s*charset\s*=\s*"?([^";\s]*)/i.exec(contentType!)?.[1];
    if (charset !== undefined && !/^utf-?8$/i.test(charset)) return reject(HttpStatus.BAD_REQUEST, NOT_UTF8(charset));
    this.parseJson(req, res, (error?: BodyParserError) => {
      if (error) return reject(...parseFailure(error));
      // A training run may take hours: no idle timeout of this server may cut its answer off.
      req.socket.setTimeout(0);
      next();
    });
  }
}

function parseFailure(error: BodyParserError): [number, string] {
  switch (error.type) {
    case 'entity.too.large':
      return [HttpStatus.PAYLOAD_TOO_LARGE, TOO_LARGE(error.limit ?? 0)];
    case TOO_NESTED_TYPE:
      return [HttpStatus.BAD_REQUEST, error.message];
    case 'entity.parse.failed':
      return [HttpStatus.BAD_REQUEST, `body is not valid JSON: ${error.message}`];
    default:
      return [HttpStatus.BAD_REQUEST, `body could not be read: ${error.message}`];
  }
}
