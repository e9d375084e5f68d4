import { connect } from 'node:net';

import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { INestApplication } from '@nestjs/common';

import { startFixtureApp } from '../fixtures/fixture.app.js';
import type { FixtureModel } from '../fixtures/fixture.model.js';

describe('a request pipelined behind a refusal that closes the connection', () => {
  let app: INestApplication;
  let model: FixtureModel;
  let port: number;

  beforeAll(async () => {
    ({ app, model } = await startFixtureApp({ name: 'attacks-pipelining' }));
    port = (app.getHttpServer() as { address(): { port: number } }).address().port;
  });
  afterAll(() => app.close());

  /** Writes both requests in one go and returns everything the server sent until it closed. */
  function pipeline(first: string, second: string): Promise<string> {
    return new Promise((resolve) => {
      const socket = connect(port, '127.0.0.1', () => socket.write(first + second));
      let answer = '';
      socket.on('data', (data) => (answer += data.toString('latin1')));
      socket.on('error', () => undefined);
      socket.on('close', () => resolve(answer));
      setTimeout(() => socket.destroy(), 2000).unref();
    });
  }

  it('is not run: the server said Connection: close and will never answer it', async () => {
    model.reset?.();
    const body = JSON.stringify({ labeled: [1, 2, 3], ckpt_file: 'pipelined' });
    const answer = await pipeline(
      'GET /train HTTP/1.1\r\nHost: x\r\n\r\n',
      `POST /train HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: ${body.length}\r\n\r\n${body}`,
    );
    expect(answer).toMatch(/^HTTP\/1\.1 405 /);
    expect(answer).toMatch(/connection: close/i);
    // RFC 9112 9.6: a server that sends "close" must not process further requests on the connection.
    expect(answer.match(/HTTP\/1\.1 /g)).toHaveLength(1);
    await new Promise((resolve) => setTimeout(resolve, 200));
    expect(model.received.train).toEqual([]);
  });
});
