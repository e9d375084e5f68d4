// npm run simulate:sample — the simulator against the digits sample: every query strategy, three
// seeds each, one comparison report in reports/sample/. npm run simulate:text and
// simulate:detection — the same against the text sample (`--sample text`, reports/text/) and the
// detection sample (`--sample detection`, reports/detection/). Expects `nest build` to have run
// (the npm scripts do it); further arguments go to the simulator, after these.
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

const given = process.argv.slice(2);
const at = given.indexOf('--sample');
const sample = at >= 0 ? given.splice(at, 2)[1] : 'digits';
// Per sample: its budgets (the detector trains slower per image), the figure whose labeled cost
// the comparison reports, and where the report goes.
const SETTINGS = {
  digits: { initial: '100', batch: '100', loops: '10', target: '0.85', out: 'reports/sample' },
  text: { initial: '50', batch: '50', loops: '8', target: '0.97', out: 'reports/text' },
  detection: { initial: '100', batch: '150', loops: '5', target: '0.15', out: 'reports/detection' },
};
const STRATEGIES = 'random,least-confidence,margin,entropy,core-set,margin-core-set';
if (!SETTINGS[sample]) throw new Error(`--sample ${sample} is not one of ${Object.keys(SETTINGS).join(', ')}`);
const settings = SETTINGS[sample];

const port = await freePort();
const checkpoints = mkdtempSync(join(tmpdir(), 'alectio-sample-ckpt-'));
const server = spawn(process.execPath, ['dist/sample/main.js'], {
  env: { ...process.env, PORT: String(port), ALECTIO_CKPT_DIR: checkpoints, ALECTIO_TOKEN: '', ALECTIO_SAMPLE: sample },
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
    settings.initial,
    '--batch',
    settings.batch,
    '--loops',
    settings.loops,
    '--strategy',
    STRATEGIES,
    '--seed',
    '1,2,3',
    '--target',
    settings.target,
    '--out',
    settings.out,
    ...given,
  ];
  const simulator = spawn(process.execPath, ['dist/src/simulator/cli.js', ...args], { stdio: 'inherit' });
  process.exitCode = await new Promise((resolve) => simulator.on('exit', (code) => resolve(code ?? 1)));
} finally {
  server.kill();
  rmSync(checkpoints, { recursive: true, force: true });
}
