import { Inject, Injectable } from '@nestjs/common';
import { createHash, timingSafeEqual } from 'node:crypto';
import { MODULE_OPTIONS_TOKEN } from '../alectio.module-definition.js';
import type { AlectioModuleOptions } from '../interfaces/alectio-options.interface.js';

const digest = (text: string): Buffer => createHash('sha256').update(text).digest();

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
    const match = typeof header === 'string' ? /^Bearer[ \t]+(.+?)[ \t]*$/i.exec(header) : null;
    return timingSafeEqual(digest(match ? match[1] : ''), this.expected) && match !== null;
  }
}
