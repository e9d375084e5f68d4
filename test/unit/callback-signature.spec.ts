import { createHmac } from 'node:crypto';

import { describe, expect, it } from '@jest/globals';

import { SIGNATURE_HEADER, signBody, verifySignature } from '../../src/jobs/callback.signature.js';

const SECRET = 'callback-secret-0123456789';
const BODY = '{"job":{"id":"5d0c6a1e","kind":"train","state":"succeeded","progress":1,"result":{}}}';

describe('signBody', () => {
  it('is sha256= and the hex HMAC-SHA256 of the body under the secret', () => {
    const hex = createHmac('sha256', SECRET).update(BODY).digest('hex');
    expect(signBody(BODY, SECRET)).toBe(`sha256=${hex}`);
    expect(signBody(BODY, SECRET)).toMatch(/^sha256=[0-9a-f]{64}$/);
  });

  it('signs a Buffer as the string of the same bytes', () => {
    expect(signBody(Buffer.from(BODY, 'utf8'), SECRET)).toBe(signBody(BODY, SECRET));
    expect(signBody(Buffer.from('{"m":"é"}'), SECRET)).toBe(signBody('{"m":"é"}', SECRET));
  });

  it('is sent in the X-Alectio-Signature header', () => {
    expect(SIGNATURE_HEADER).toBe('x-alectio-signature');
  });
});

describe('verifySignature', () => {
  const signature = signBody(BODY, SECRET);

  it("accepts signBody's output for a string body and for the same bytes as a Buffer", () => {
    expect(verifySignature(BODY, SECRET, signature)).toBe(true);
    expect(verifySignature(Buffer.from(BODY), SECRET, signature)).toBe(true);
    expect(verifySignature(BODY, SECRET, signBody(Buffer.from(BODY), SECRET))).toBe(true);
  });

  it('refuses a signature made with another secret', () => {
    expect(verifySignature(BODY, SECRET, signBody(BODY, 'another-secret-0123456789'))).toBe(false);
    expect(verifySignature(BODY, 'another-secret-0123456789', signature)).toBe(false);
  });

  it('refuses a body changed after signing, even by one byte or its whitespace', () => {
    expect(verifySignature(BODY.replace('succeeded', 'failed'), SECRET, signature)).toBe(false);
    expect(verifySignature(`${BODY} `, SECRET, signature)).toBe(false);
    expect(verifySignature(JSON.stringify(JSON.parse(BODY), null, 2), SECRET, signature)).toBe(false);
    expect(verifySignature(Buffer.from(BODY.replace('"progress":1', '"progress":0')), SECRET, signature)).toBe(false);
  });

  it('refuses a missing header', () => {
    expect(verifySignature(BODY, SECRET, undefined)).toBe(false);
    expect(verifySignature(BODY, SECRET, '')).toBe(false);
  });

  it('refuses a signature shorter or longer than a right one', () => {
    expect(verifySignature(BODY, SECRET, signature.slice(0, -1))).toBe(false);
    expect(verifySignature(BODY, SECRET, signature.slice('sha256='.length))).toBe(false);
    expect(verifySignature(BODY, SECRET, `${signature}0`)).toBe(false);
    expect(verifySignature(BODY, SECRET, `${signature}${signature}`)).toBe(false);
  });

  it('refuses a signature of the right length that is wrong in one place, or in another case', () => {
    const last = signature.at(-1) === '0' ? '1' : '0';
    expect(verifySignature(BODY, SECRET, `${signature.slice(0, -1)}${last}`)).toBe(false);
    expect(verifySignature(BODY, SECRET, `sha512=${signature.slice('sha256='.length)}`)).toBe(false);
    expect(verifySignature(BODY, SECRET, signature.toUpperCase())).toBe(false);
  });

  it('refuses a header given more than once (an array), even holding the right signature', () => {
    expect(verifySignature(BODY, SECRET, [signature])).toBe(false);
    expect(verifySignature(BODY, SECRET, [signature, signature])).toBe(false);
    expect(verifySignature(BODY, SECRET, [])).toBe(false);
  });
});
