import { connect, type Socket } from 'node:net';

import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';

import { AppProcess, buildSample, freePort } from '../fixtures/app.process.js';

const TOKEN = 'shutdown-test-token-0123456789';
const GRACE_MS = 300;

/** A raw TCP connection to the server that sends `text` and then nothing more. */
function openConnection(port: number, text: string): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const socket = connect(port, '127.0.0.1', () => {
      if (text) socket.write(text);
      resolve(socket);
    });
    socket.on('error', () => undefined); // closed by the server: expected
    socket.once('error', reject);
  });
}

function closed(socket: Socket): Promise<void> {
  return new Promise((resolve) => (socket.destroyed ? resolve() : socket.once('close', () => resolve())));
}

describe('a stopped server ends, whatever its clients do', () => {
  beforeAll(() => buildSample(), 120_000);

  let server: AppProcess;
  let sockets: Socket[] = [];
  afterAll(() => {
    for (const socket of sockets) socket.destroy();
    server?.child.kill('SIGKILL');
  });

  it('closes idle, half-sent and half-uploaded connections after the grace period, and exits', async () => {
    const port = await freePort();
    server = await new AppProcess(
      'sample',
      'alone',
      { ALECTIO_TOKEN: TOKEN, ALECTIO_SHUTDOWN_GRACE_MS: String(GRACE_MS) },
      port,
    ).ready();
    sockets = await Promise.all([
      openConnection(port, ''), // connected, sent nothing
      openConnection(port, 'POST /train HTTP/1.1\r\nHost: 127.0.0.1\r\n'), // half a header
      openConnection(
        port,
        'POST /train HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n' +
          `Authorization: Bearer ${TOKEN}\r\nContent-Length: 100000\r\n\r\n{"labeled": [1, 2,`, // part of an upload
      ),
    ]);
    // The upload is being read by the time the signal comes.
    await new Promise((resolve) => setTimeout(resolve, 200));
    server.child.kill('SIGTERM');
    // Without the library closing them, each of these keeps the process alive until the client leaves.
    const exit = await Promise.race([
      server.exited,
      new Promise((resolve) => setTimeout(() => resolve('still running'), 20_000).unref()),
    ]);
    expect(exit).toEqual({ code: null, signal: 'SIGTERM' });
    await Promise.all(sockets.map(closed));
    expect(server.log()).not.toMatch(/Error|error/);
  }, 60_000);
});
