// npm run simulate:sample — the simulator against the sample: entropy and random, three seeds
// each, one comparison report in reports/sample/. Expects `nest build` to have run (the npm
// script does it).
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const freePort = () =>
  new Promise((resolve) => {
    const probe = createServer().listen(0, '127.0.0.1', () => {
      const { port } = probe.address();
      probe.close(() => resolve(port));
    });
  });

const port = await freePort();
const checkpoints = mkdtempSync(join(tmpdir(), 'alectio-sample-ckpt-'));
const server = spawn(process.execPath, ['dist/sample/main.js'], {
  env: { ...process.env, PORT: String(port), ALECTIO_CKPT_DIR: checkpoints, ALECTIO_TOKEN: '' },
  stdio: ['ignore', 'ignore', 'inherit'],
});
const url = `http://127.0.0.1:${port}`;
try {
  for (let i = 0; ; i++) {
    try {
      if ((await fetch(`${url}/health`)).ok) break;
    } catch {
      // not listening yet
    }
    if (i > 100 || server.exitCode !== null) throw new Error('the sample did not start');
    await new Promise((r) => setTimeout(r, 200));
  }
  const args = [
    'simulate',
    '--url',
    url,
    '--initial',
    '100',
    '--batch',
    '100',
    '--loops',
    '6',
    '--strategy',
    'entropy,random',
    '--seed',
    '1,2,3',
    '--out',
    'reports/sample',
    ...process.argv.slice(2),
  ];
  const simulator = spawn(process.execPath, ['dist/src/simulator/cli.js', ...args], { stdio: 'inherit' });
  process.exitCode = await new Promise((resolve) => simulator.on('exit', (code) => resolve(code ?? 1)));
} finally {
  server.kill();
  rmSync(checkpoints, { recursive: true, force: true });
}
