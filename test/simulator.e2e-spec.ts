import { readFileSync } from 'node:fs';
import { createServer, IncomingMessage, Server, ServerResponse } from 'node:http';
import { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';

import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';

import type { ClassificationMetrics } from '../src/simulator/metrics.js';
import type { SimulationReport } from '../src/simulator/report.model.js';
import { simulateCommand } from '../src/simulator/simulate.command.js';
import { RunningSample, startSample } from './fixtures/sample.app.js';

/** Runs the command as the CLI does, capturing what it prints. */
async function simulate(args: string[], signal?: AbortSignal) {
  const stdout = new PassThrough();
  const stderr = new PassThrough();
  const out: string[] = [];
  const err: string[] = [];
  stdout.on('data', (chunk) => out.push(String(chunk)));
  stderr.on('data', (chunk) => err.push(String(chunk)));
  const code = await simulateCommand(args, { stdout, stderr, signal });
  return { code, stdout: out.join(''), stderr: err.join('') };
}

const readReport = (dir: string): SimulationReport => JSON.parse(readFileSync(join(dir, 'report.json'), 'utf8'));

/** A server that speaks the protocol's shapes but answers with `answer`, for broken-server cases. */
async function fakeServer(
  answer: (path: string, body: any) => { status?: number; text: string },
): Promise<{ server: Server; url: string; paths: string[] }> {
  const paths: string[] = [];
  const server = createServer((req: IncomingMessage, res: ServerResponse) => {
    const chunks: Buffer[] = [];
    req.on('data', (c) => chunks.push(c));
    req.on('end', () => {
      paths.push(req.url!);
      const body = chunks.length ? JSON.parse(Buffer.concat(chunks).toString()) : undefined;
      const { status = 200, text } = answer(req.url!, body);
      res.writeHead(status, { 'content-type': 'application/json' }).end(text);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { server, url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, paths };
}

/** Answers of a well-behaved server on a pool of `pool` indices. */
function goodAnswer(path: string, body: any): { text: string } {
  if (path === '/health') return { text: JSON.stringify({ status: 200, pool_size: 40 }) };
  if (path === '/train') return { text: '{"status":200}' };
  if (path === '/test') return { text: JSON.stringify({ status: 200, predictions: { 0: 1, 1: 0 }, labels: { 0: 1, 1: 1 } }) };
  return {
    text: JSON.stringify({ status: 200, outputs: Object.fromEntries(body.unlabeled.map((i: number) => [i, [i % 3, 1]])) }),
  };
}

describe('nestjs-alectio simulate', () => {
  let sample: RunningSample;
  let url: string;
  let root: string;

  beforeAll(async () => {
    sample = await startSample();
    ({ url, root } = sample);
  });
  afterAll(() => sample.close());

  it('runs the loop against the sample and writes the report after every loop', async () => {
    const out = join(root, 'report');
    const args = [
      '--url',
      url,
      '--initial',
      '50',
      '--batch',
      '50',
      '--loops',
      '3',
      '--strategy',
      'entropy,random',
      '--seed',
      '1',
      '--out',
      out,
    ];
    const result = await simulate(args);
    expect(result.stderr).toBe('');
    expect(result.code).toBe(0);
    expect(result.stdout).toContain('Test accuracy by labeled count (seed 1):\n\n| labeled | entropy | random |');

    const report = readReport(out);
    expect(report.config).toEqual({
      url,
      pool_size: 7000,
      initial: 50,
      batch: 50,
      loops: 3,
      strategies: ['entropy', 'random'],
      seeds: [1],
      task: 'classification', // the sample's /health says so
    });
    expect(report.runs.map((r) => [r.strategy, r.seed, r.loops.length])).toEqual([
      ['entropy', 1, 3],
      ['random', 1, 3],
    ]);
    for (const run of report.runs) {
      expect(run.loops.map((l) => l.labeled_count)).toEqual([50, 100, 150]);
      expect(run.loops.map((l) => [l.ckpt_file, l.resume_from])).toEqual([
        ['ckpt_0', null],
        ['ckpt_1', 'ckpt_0'],
        ['ckpt_2', 'ckpt_1'],
      ]);
      const labeled = new Set(run.initial);
      for (const loop of run.loops) {
        expect(loop.selected).toHaveLength(50);
        for (const index of loop.selected) {
          expect(labeled.has(index)).toBe(false);
          labeled.add(index);
        }
        expect(loop.metrics.samples).toBe(1500);
        expect((loop.metrics as ClassificationMetrics).accuracy).toBeGreaterThan(0.3);
        expect(loop.metrics.confusion).toHaveLength(10);
        expect(loop.sizes.infer.response).toBeGreaterThan(loop.sizes.infer.request);
        expect(loop.timings.train).toBeGreaterThan(0);
      }
    }
    // Both strategies start from the seed's same initial set.
    expect(report.runs[0].initial).toEqual(report.runs[1].initial);
    expect(report.summary.map((row) => row.labeled_count)).toEqual([50, 100, 150]);
    const html = readFileSync(join(out, 'report.html'), 'utf8');
    expect(html.match(/<circle class="point"/g)).toHaveLength(6); // each seed's own dots, hidden until asked for
    expect(html.match(/<circle class="mean-point"/g)).toHaveLength(6);
    // Self-contained: nothing for the browser to fetch.
    expect(html).not.toMatch(/<link|<script|<img|(src|href)=["']?https?:|url\(/);
  });

  it('runs core-set and margin-core-set against the sample, and compares the strategies over their seeds', async () => {
    const out = join(root, 'diverse');
    const result = await simulate([
      '--url',
      url,
      '--initial',
      '40',
      '--batch',
      '40',
      '--loops',
      '3',
      '--strategy',
      'core-set,margin-core-set,entropy',
      '--seed',
      '1,2',
      '--target',
      '0.5',
      '--out',
      out,
    ]);
    expect(result.stderr).toBe('');
    expect(result.code).toBe(0);
    const report = readReport(out);
    expect(report.config.target).toBe(0.5);
    expect(report.runs.map((r) => [r.strategy, r.seed, r.loops.length])).toEqual([
      ['core-set', 1, 3],
      ['core-set', 2, 3],
      ['margin-core-set', 1, 3],
      ['margin-core-set', 2, 3],
      ['entropy', 1, 3],
      ['entropy', 2, 3],
    ]);
    for (const run of report.runs) {
      const labeled = new Set(run.initial);
      for (const loop of run.loops) {
        expect(new Set(loop.selected).size).toBe(40);
        for (const index of loop.selected) expect(labeled.has(index)).toBe(false);
        for (const index of loop.selected) labeled.add(index);
        expect((loop.metrics as ClassificationMetrics).accuracy).toBeGreaterThan(0.3);
      }
    }
    // Core-set asks /infer for the whole pool (the labeled samples are its first centers): a
    // bigger request than entropy's, on the unlabeled indices only.
    const inferRequest = (strategy: string) => report.runs.find((r) => r.strategy === strategy)!.loops[1].sizes.infer.request;
    expect(inferRequest('core-set')).toBeGreaterThan(inferRequest('entropy'));
    // Diversity picks other samples than uncertainty does.
    expect(report.runs[0].loops[0].selected).not.toEqual(report.runs[4].loops[0].selected);

    // Per labeled count and strategy: the mean and spread over the two seeds.
    for (const row of report.summary) {
      for (const strategy of ['core-set', 'margin-core-set', 'entropy'] as const) {
        const figures = report.runs
          .filter((r) => r.strategy === strategy)
          .map((r) => (r.loops[row.loop].metrics as ClassificationMetrics).accuracy);
        expect(row.strategies[strategy]).toEqual({
          mean: expect.closeTo((figures[0] + figures[1]) / 2, 12),
          std: expect.closeTo(Math.abs(figures[0] - figures[1]) / Math.SQRT2, 12),
          min: Math.min(...figures),
          max: Math.max(...figures),
          runs: 2,
        });
      }
    }
    expect(report.comparison).toMatchObject({ target: 0.5, loops: 3, labeled: [40, 120] });
    expect(report.comparison.strategies.map((s) => s.strategy)).toEqual(['core-set', 'margin-core-set', 'entropy']);
    for (const row of report.comparison.strategies) {
      expect(row.aulc.runs).toBe(2);
      expect(row.aulc.mean).toBeGreaterThan(0.3);
      expect(row.labels_to_target!.per_run).toHaveLength(2);
    }
    // The printed summary holds both tables.
    expect(result.stdout).toContain('| labeled | core-set | margin-core-set | entropy |');
    expect(result.stdout).toMatch(
      /\| strategy \| area under the curve, 40–120 labeled \| accuracy at 120 \| labels to reach 50\.0% \|/,
    );
    expect(result.stdout).toMatch(/\| core-set \| \d+\.\d% ± \d+\.\d \| \d+\.\d% ± \d+\.\d \| (\d+|not reached.*) \|/);
    // And the page: one mean curve per strategy with its band, the comparison, the last loops.
    const html = readFileSync(join(out, 'report.html'), 'utf8');
    expect(html.match(/<polyline class="mean"/g)).toHaveLength(3);
    expect(html.match(/<polygon class="band"/g)).toHaveLength(3);
    expect(html).toContain('<table id="comparison">');
    expect(html.match(/<details class="last-loop"/g)).toHaveLength(6);
  });

  it('scores class names (strings) like class ids, and asks a core-set /infer for every index of the pool', async () => {
    const asked: number[] = [];
    const { server, url: fake } = await fakeServer((path, body) => {
      if (path === '/test') {
        const names = { predictions: { 0: 'spam', 1: 'ham', 2: 'ham' }, labels: { 0: 'spam', 1: 'spam', 2: 'ham' } };
        return { text: JSON.stringify({ status: 200, ...names }) };
      }
      if (path === '/infer') asked.push(body.unlabeled.length);
      return goodAnswer(path, body);
    });
    const out = join(root, 'names');
    try {
      const args = ['--url', fake, '--initial', '10', '--batch', '5', '--loops', '2', '--strategy', 'core-set', '--out', out];
      const result = await simulate(args);
      expect(result.stderr).toBe('');
      expect(result.code).toBe(0);
      const metrics = readReport(out).runs[0].loops[0].metrics as ClassificationMetrics;
      expect(metrics.classes).toEqual(['ham', 'spam']);
      expect(metrics.accuracy).toBeCloseTo(2 / 3, 12);
      expect(metrics.confusion).toEqual([
        [1, 0],
        [1, 1],
      ]);
      expect(asked).toEqual([40, 40]); // the whole pool of /health, both loops
      const html = readFileSync(join(out, 'report.html'), 'utf8');
      expect(html).toContain('<th>spam</th>');
    } finally {
      server.close();
    }
  });

  it('names the problem when core-set gets outputs it cannot measure: vectors of two lengths', async () => {
    const { server, url: fake } = await fakeServer((path, body) =>
      path === '/infer'
        ? {
            text: JSON.stringify({
              status: 200,
              outputs: Object.fromEntries(body.unlabeled.map((i: number) => [i, i % 2 ? [1, 2, 3] : [1, 2]])),
            }),
          }
        : goodAnswer(path, body),
    );
    try {
      const args = ['--url', fake, '--initial', '10', '--batch', '5', '--loops', '2', '--strategy', 'core-set'];
      const result = await simulate([...args, '--out', join(root, 'two-lengths')]);
      expect(result.code).toBe(1);
      expect(result.stderr).toBe(
        'nestjs-alectio simulate: POST /infer: infer output for index 1 gives a vector of 3 numbers where the others give 2: ' +
          'core-set measures distances between vectors of one length\n',
      );
    } finally {
      server.close();
    }
  });

  it('makes the same selections from the same seed', async () => {
    const run = async (seed: string, dir: string) => {
      const out = join(root, dir);
      const result = await simulate([
        '--url',
        url,
        '--initial',
        '30',
        '--batch',
        '20',
        '--loops',
        '2',
        '--strategy',
        'random',
        '--seed',
        seed,
        '--out',
        out,
      ]);
      expect(result.code).toBe(0);
      return readReport(out).runs[0];
    };
    const first = await run('7', 'seed-a');
    const again = await run('7', 'seed-b');
    const other = await run('8', 'seed-c');
    expect(again.initial).toEqual(first.initial);
    expect(again.loops.map((l) => l.selected)).toEqual(first.loops.map((l) => l.selected));
    expect(other.initial).not.toEqual(first.initial);
  });

  it('stops on a server error, naming it, with exit status 1', async () => {
    const result = await simulate([
      '--url',
      url,
      '--pool-size',
      '9000',
      '--initial',
      '8000',
      '--loops',
      '1',
      '--out',
      join(root, 'error'),
    ]);
    expect(result.code).toBe(1);
    expect(result.stderr).toMatch(/POST \/train answered 400: labeled\[\d+\] is \d+, outside the training pool/);
  });

  it.each([
    [
      'outputs that miss an index',
      (path: string, body: any) =>
        path === '/infer'
          ? {
              text: JSON.stringify({
                status: 200,
                outputs: Object.fromEntries(body.unlabeled.slice(1).map((i: number) => [i, [0, 1]])),
              }),
            }
          : goodAnswer(path, body),
      /POST \/infer broke the protocol: no output for 1 of 30 requested indices, first \d+/,
    ],
    [
      'predictions and labels on different indices',
      (path: string, body: any) =>
        path === '/test' ? { text: '{"status":200,"predictions":{"0":1,"1":0},"labels":{"0":1,"2":1}}' } : goodAnswer(path, body),
      /POST \/test broke the protocol: predictions and labels are on different indices \(first index 1\)/,
    ],
    [
      'a body that is not JSON',
      (path: string, body: any) => (path === '/train' ? { text: '{"status": 200' } : goodAnswer(path, body)),
      /POST \/train answered 200 with a body that is not JSON: "\{\\"status\\": 200"/,
    ],
    [
      'outputs that are not logits',
      (path: string, body: any) =>
        path === '/infer'
          ? { text: JSON.stringify({ status: 200, outputs: Object.fromEntries(body.unlabeled.map((i: number) => [i, 'cat'])) }) }
          : goodAnswer(path, body),
      /POST \/infer broke the protocol: infer output for index \d+ is not a list of logits/,
    ],
  ])('names the problem when the server returns %s', async (_case, answer, message) => {
    const { server, url: fake } = await fakeServer(answer);
    try {
      const result = await simulate([
        '--url',
        fake,
        '--initial',
        '10',
        '--batch',
        '5',
        '--loops',
        '2',
        '--out',
        join(root, 'broken'),
      ]);
      expect(result.code).toBe(1);
      expect(result.stderr).toMatch(message);
    } finally {
      server.close();
    }
  });

  it('says so when the server is down', async () => {
    const { server, url: gone } = await fakeServer(goodAnswer);
    await new Promise((resolve) => server.close(resolve));
    const result = await simulate(['--url', gone, '--out', join(root, 'down')]);
    expect(result.code).toBe(1);
    expect(result.stderr).toContain(`GET ${gone}/health failed: connection refused (is the server running, and is --url right?)`);
  });

  it('stops cleanly when interrupted and keeps the finished loops', async () => {
    const controller = new AbortController();
    let trains = 0;
    const { server, url: fake } = await fakeServer((path, body) => {
      if (path === '/train' && ++trains === 2) controller.abort(); // Ctrl-C during loop 1
      return goodAnswer(path, body);
    });
    const out = join(root, 'interrupted');
    try {
      const result = await simulate(
        ['--url', fake, '--initial', '10', '--batch', '5', '--loops', '4', '--out', out],
        controller.signal,
      );
      expect(result.code).toBe(130);
      expect(result.stderr).toContain('interrupted');
      expect(readReport(out).runs[0].loops).toHaveLength(1);
    } finally {
      server.close();
    }
  });

  it('answers --help, and refuses bad options with status 2', async () => {
    const help = await simulate(['--help']);
    expect(help.code).toBe(0);
    expect(help.stdout).toContain('entropy                -sum p ln p');
    const bad = await simulate(['--strategy', 'bald']);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain(
      '--strategy bald is not one of random, least-confidence, margin, entropy, core-set, margin-core-set',
    );
    for (const target of ['0', '1.5', 'high', '']) {
      const badTarget = await simulate(['--target', target]);
      expect(badTarget.code).toBe(2);
      expect(badTarget.stderr).toContain(`--target must be a share above 0 and at most 1 (0.85 for 85%), got "${target}"`);
    }
    const tooMany = await simulate(['--url', url, '--initial', '7000', '--loops', '2', '--out', join(root, 'x')]);
    expect(tooMany.code).toBe(2);
    expect(tooMany.stderr).toContain('is more than the pool of 7000');
  });
});
