import { createHash, timingSafeEqual } from 'node:crypto';
import type { IncomingMessage } from 'node:http';

import { Inject, Injectable } from '@nestjs/common';

import { ALECTIO_CONFIG, type ResolvedOptions } from '../options/resolve-options.js';

const digest = (text: string): Buffer => createHash('sha256').update(text).digest();

// Scheme, blanks, token, optional blanks. The classes do not overlap, so matching is linear
// in the header's length whatever a client sends; longer headers are not even looked at.
const BEARER = /^Bearer[ \t]+([^ \t]+)[ \t]*$/i;
const MAX_HEADER = 4096;

/** Checks the bearer token in a time that does not depend on how close the guess is. */
@Injectable()
export class TokenVerifier {
  // Hashing first gives both sides the same length, as timingSafeEqual requires.
  private readonly expected?: Buffer;
  /** Requests already admitted (by the gate): the route does not hash their token again. */
  private readonly admitted = new WeakSet<IncomingMessage>();

  constructor(@Inject(ALECTIO_CONFIG) config: ResolvedOptions) {
    if (config.token) this.expected = digest(config.token);
  }

  /** Whether the request carries the token (or none is configured); checked once per request. */
  authorize(req: IncomingMessage): boolean {
    if (!this.expected || this.admitted.has(req)) return true;
    if (!this.isAuthorized(req.headers.authorization)) return false;
    this.admitted.add(req);
    return true;
  }

  isAuthorized(header: string | string[] | undefined): boolean {
    if (!this.expected) return true;
    const match = typeof header === 'string' && header.length <= MAX_HEADER ? BEARER.exec(header) : null;
    return timingSafeEqual(digest(match ? match[1] : ''), this.expected) && match !== null;
  }
}
