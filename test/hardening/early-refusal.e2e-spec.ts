import { connect, type Socket } from 'node:net';

import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { INestApplication } from '@nestjs/common';

import { startFixtureApp } from '../fixtures/fixture.app.js';

const TOKEN = 'early-refusal-token-0123456789';
const AUTH = `Authorization: Bearer ${TOKEN}\r\n`;

interface Exchange {
  /** What the server sent, as text. */
  answer: string;
  /** Bytes of the body the client got to write before the server closed the connection. */
  sent: number;
  /** Whether the server closed the connection. */
  closedByServer: boolean;
}

/**
 * Sends `head`, then writes `bodyBytes` of body in 64 KiB pieces as fast as the socket takes them,
 * until they are all sent or the server closes the connection; then waits `linger` ms for more.
 */
function upload(port: number, head: string, bodyBytes: number, { chunked = false, linger = 300 } = {}): Promise<Exchange> {
  return new Promise((resolve) => {
    const socket: Socket = connect(port, '127.0.0.1');
    let answer = '';
    let sent = 0;
    let closedByServer = false;
    let finished = false;
    const finish = (): void => {
      if (finished) return;
      finished = true;
      socket.destroy();
      resolve({ answer, sent, closedByServer });
    };
    socket.on('data', (chunk) => (answer += chunk.toString('latin1')));
    socket.on('end', () => (closedByServer = true));
    socket.on('close', () => {
      closedByServer = true;
      finish();
    });
    socket.on('error', () => (closedByServer = true));
    const piece = Buffer.alloc(64 * 1024, 0x20);
    const frame = chunked ? Buffer.concat([Buffer.from(`${piece.length.toString(16)}\r\n`), piece, Buffer.from('\r\n')]) : piece;
    const pump = (): void => {
      while (!socket.destroyed && !closedByServer && sent < bodyBytes) {
        sent += piece.length;
        if (!socket.write(frame)) return void socket.once('drain', pump);
      }
      if (sent >= bodyBytes) setTimeout(finish, linger);
    };
    socket.on('connect', () => {
      socket.write(head);
      pump();
    });
  });
}

/** Sends `head` with `Expect: 100-continue` and no body; resolves with what came back first. */
function expectContinue(port: number, head: string): Promise<string> {
  return new Promise((resolve) => {
    const socket = connect(port, '127.0.0.1', () => socket.write(head));
    let answer = '';
    socket.on('data', (chunk) => {
      answer += chunk.toString('latin1');
      if (answer.includes('\r\n\r\n')) {
        socket.destroy();
        resolve(answer);
      }
    });
    socket.on('error', () => resolve(answer));
  });
}

const statusOf = (answer: string): string => answer.split('\r\n')[0];

describe('a refused body is not read', () => {
  let guarded: { app: INestApplication; url: string };
  let small: { app: INestApplication; url: string };
  let guardedPort: number;
  let smallPort: number;
  beforeAll(async () => {
    guarded = await startFixtureApp({ name: 'guarded', options: { token: TOKEN } });
    small = await startFixtureApp({ name: 'small', options: { bodyLimit: 1024, prefix: 'alectio' } });
    guardedPort = Number(new URL(guarded.url).port);
    smallPort = Number(new URL(small.url).port);
  });
  afterAll(async () => {
    await guarded.app.close();
    await small.app.close();
  });

  const DECLARED = 256 * 1024 * 1024;

  it('without the token: 401 with Connection: close, and the connection closed long before the declared body is sent', async () => {
    const head = `POST /train HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: ${DECLARED}\r\n\r\n`;
    const { answer, sent, closedByServer } = await upload(guardedPort, head, DECLARED);
    expect(statusOf(answer)).toBe('HTTP/1.1 401 Unauthorized');
    expect(answer).toMatch(/\r\nconnection: close\r\n/i);
    expect(closedByServer).toBe(true);
    expect(sent).toBeLessThan(DECLARED / 4);
  });

  it('without the token and with Expect: 100-continue: the 401 comes instead of 100 Continue', async () => {
    const head =
      `POST /train HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 20\r\n` +
      'Expect: 100-continue\r\n\r\n';
    expect(statusOf(await expectContinue(guardedPort, head))).toBe('HTTP/1.1 401 Unauthorized');
  });

  it('with the token and Expect: 100-continue: 100 Continue, as before', async () => {
    const head =
      `POST /train HTTP/1.1\r\nHost: x\r\n${AUTH}Content-Type: application/json\r\nContent-Length: 20\r\n` +
      'Expect: 100-continue\r\n\r\n';
    expect(statusOf(await expectContinue(guardedPort, head))).toBe('HTTP/1.1 100 Continue');
  });

  it('a declared length over the limit is answered 413 at once, before a byte of the body (Content-Length: 99999999999)', async () => {
    const head =
      'POST /alectio/train HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 99999999999\r\n\r\n';
    const { answer, sent, closedByServer } = await upload(smallPort, head, 0, { linger: 500 });
    expect(sent).toBe(0);
    expect(statusOf(answer)).toBe('HTTP/1.1 413 Payload Too Large');
    expect(answer).toContain('request body is larger than the limit of 1024 bytes');
    expect(closedByServer).toBe(true);
  });

  it('with Expect: 100-continue, a declared length over the limit gets its 413 instead of 100', async () => {
    const head =
      'POST /alectio/train HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 5000\r\nExpect: 100-continue\r\n\r\n';
    expect(statusOf(await expectContinue(smallPort, head))).toBe('HTTP/1.1 413 Payload Too Large');
  });

  it('a chunked body that grows over the limit: 413 and the connection closed while the client is still sending', async () => {
    const head =
      'POST /alectio/train HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n';
    const { answer, sent, closedByServer } = await upload(smallPort, head, DECLARED, { chunked: true });
    expect(statusOf(answer)).toBe('HTTP/1.1 413 Payload Too Large');
    expect(closedByServer).toBe(true);
    expect(sent).toBeLessThan(DECLARED / 4);
  });
});

describe("under the module's paths, every answer is the protocol's", () => {
  let small: { app: INestApplication; url: string };
  beforeAll(async () => {
    small = await startFixtureApp({ name: 'small', options: { bodyLimit: 1024, prefix: 'alectio' } });
  });
  afterAll(() => small.app.close());

  it.each([
    ['GET', '/alectio/train', 'POST'],
    ['PUT', '/alectio/infer', 'POST'],
    ['POST', '/alectio/health', 'GET'],
    ['DELETE', '/alectio/jobs', 'GET'],
    ['POST', '/alectio/jobs/some-id', 'GET, DELETE'],
  ])('%s %s: 405 with Allow: %s', async (method, path, allow) => {
    const res = await fetch(`${small.url}${path}`, { method });
    expect(res.status).toBe(405);
    expect(res.headers.get('allow')).toBe(allow);
    expect(await res.json()).toEqual({
      status: 405,
      error: 'Method Not Allowed',
      message: `${method} is not served at ${path}: it answers ${allow}`,
    });
  });

  it('an unknown path under the prefix: the protocol 404, not Nest\'s {"statusCode":404}', async () => {
    const res = await fetch(`${small.url}/alectio/nope`, { method: 'POST' });
    expect(res.status).toBe(404);
    const body = (await res.json()) as { status: number; error: string; message: string };
    expect(body).toEqual({ status: 404, error: 'Not Found', message: expect.stringContaining('no endpoint at /alectio/nope') });
  });

  it('a path outside the prefix is left to the host app (Nest answers it)', async () => {
    const res = await fetch(`${small.url}/elsewhere`);
    expect(res.status).toBe(404);
    expect(await res.json()).toMatchObject({ statusCode: 404 });
  });

  it('charset=utf8 (no dash) is read as UTF-8, not refused by the parser', async () => {
    const res = await fetch(`${small.url}/alectio/train`, {
      method: 'POST',
      headers: { 'content-type': 'application/json; charset=utf8' },
      body: JSON.stringify({ labeled: [1], ckpt_file: 'ckpt_utf8' }),
    });
    expect(res.status).toBe(200);
  });

  it.each([
    ['GET', '/alectio/health'],
    ['POST', '/alectio/train'],
    ['GET', '/alectio/train'],
    ['GET', '/alectio/jobs'],
  ])('%s %s: no X-Powered-By: Express', async (method, path) => {
    const res = await fetch(`${small.url}${path}`, {
      method,
      headers: { 'content-type': 'application/json' },
      body: method === 'POST' ? '{"labeled":[1],"ckpt_file":"c"}' : undefined,
    });
    expect(res.headers.get('x-powered-by')).toBeNull();
  });
});
