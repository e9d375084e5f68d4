import { createHmac, timingSafeEqual } from 'node:crypto';

/** Header carrying `sha256=<hex HMAC-SHA256 of the raw body under the callback secret>`. */
export const SIGNATURE_HEADER = 'x-alectio-signature';

/** The signature a receiver recomputes to tell the callback came from this server. */
export function signBody(body: string | Buffer, secret: string): string {
  const signer = bodySigner(secret);
  signer.update(body);
  return signer.signature();
}

/** The signature of a body given a part at a time (a body too large to be one string). */
export function bodySigner(secret: string): { update(part: string | Buffer): void; signature(): string } {
  const hmac = createHmac('sha256', secret);
  return {
    update: (part) => void hmac.update(part),
    signature: () => `sha256=${hmac.digest('hex')}`,
  };
}

/**
 * Whether `signature` (the `X-Alectio-Signature` header a callback came with) signs `body` (its
 * raw bytes, before any JSON parsing) under `secret`. The comparison takes the same time however
 * close a forged signature is, so a receiver need not write one that leaks it.
 */
export function verifySignature(body: string | Buffer, secret: string, signature: string | string[] | undefined): boolean {
  const expected = Buffer.from(signBody(body, secret));
  const given = Buffer.from(typeof signature === 'string' ? signature : '');
  // timingSafeEqual needs equal lengths; comparing against itself keeps the time the same.
  const sameLength = given.length === expected.length;
  return timingSafeEqual(sameLength ? given : expected, expected) && sameLength;
}
