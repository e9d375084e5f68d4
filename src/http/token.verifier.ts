import { createHash, timingSafeEqual } from 'node:crypto';

import { Inject, Injectable } from '@nestjs/common';

import { MODULE_OPTIONS_TOKEN } from '../alectio.module-definition.js';
import type { AlectioModuleOptions } from '../interfaces/alectio-options.interface.js';

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

  constructor(@Inject(MODULE_OPTIONS_TOKEN) options: AlectioModuleOptions) {
    if (options.token) this.expected = digest(options.token);
  }

  isAuthorized(header: string | string[] | undefined): boolean {
    if (!this.expected) return true;
    const match = typeof header === 'string' && header.length <= MAX_HEADER ? BEARER.exec(header) : null;
    return timingSafeEqual(digest(match ? match[1] : ''), this.expected) && match !== null;
  }
}
