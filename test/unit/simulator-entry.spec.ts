import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

import { describe, expect, it } from '@jest/globals';

import * as simulator from '../../src/simulator/index.js';

const manifest = JSON.parse(readFileSync(fileURLToPath(new URL('../../package.json', import.meta.url)), 'utf8'));

describe('the nestjs-alectio/simulator entry point', () => {
  it('is the ./simulator subpath of package.json, the compiled src/simulator/index.ts', () => {
    expect(manifest.exports['./simulator']).toEqual({
      types: './dist/src/simulator/index.d.ts',
      default: './dist/src/simulator/index.js',
    });
    expect(manifest.bin['nestjs-alectio']).toBe('./dist/src/simulator/cli.js');
  });

  it('exposes the command, the loop, the client, the strategies, the metrics and the report', () => {
    for (const name of [
      'simulateCommand',
      'runLoops',
      'ProtocolClient',
      'SimulationError',
      'selectNext',
      'uncertainty',
      'softmax',
      'logitsOf',
      'classificationMetrics',
      'detectionMetrics',
      'preSoftmaxRowsOf',
      'headline',
      'seededRandom',
      'sample',
      'buildReport',
      'summarize',
      'summaryMarkdown',
      'reportHtml',
      'writeReport',
      'kCenterGreedy',
      'vectorsOf',
      'needsLabeledOutputs',
      'compareStrategies',
      'spreadOf',
      'areaUnderCurve',
      'labelsToReach',
    ] as const) {
      expect({ name, type: typeof simulator[name] }).toEqual({ name, type: 'function' });
    }
    expect(simulator.STRATEGIES).toEqual(['random', 'least-confidence', 'margin', 'entropy', 'core-set', 'margin-core-set']);
    expect(simulator.SIMULATE_HELP).toMatch(/^Usage: nestjs-alectio simulate/);
  });

  it('selects with a strategy: the most uncertain outputs first, ties to the smaller index', () => {
    const outputs = new Map<number, number[]>([
      [5, [9, 0, 0]],
      [3, [0, 0, 0]],
      [8, [1, 1, 0]],
      [1, [0, 0, 0]],
    ]);
    expect(simulator.selectNext('entropy', outputs, 3, simulator.seededRandom(1))).toEqual([1, 3, 8]);
    expect(simulator.selectNext('margin', outputs, 1, simulator.seededRandom(1))).toEqual([1]);
  });

  it('scores a /test answer and summarizes it as the command prints it', () => {
    const metrics = simulator.classificationMetrics({ 0: 1, 1: 0, 2: 1, 3: 1 }, { 0: 1, 1: 1, 2: 1, 3: 0 });
    expect(metrics.accuracy).toBe(0.5);
    const config = {
      url: 'http://x',
      pool_size: 10,
      initial: 2,
      batch: 1,
      loops: 1,
      strategies: ['random' as const],
      seeds: [1],
      task: 'classification' as const,
    };
    const loop = {
      loop: 0,
      ckpt_file: 'ckpt_0',
      resume_from: null,
      labeled_count: 2,
      selected: [4],
      metrics,
      timings: { train: 1, test: 1, infer: 1, select: 1 },
      sizes: { train: { request: 1, response: 1 }, test: { request: 1, response: 1 }, infer: { request: 1, response: 1 } },
    };
    const report = simulator.buildReport(config, [{ strategy: 'random', seed: 1, initial: [0, 1], loops: [loop] }]);
    expect(simulator.summaryMarkdown(report)).toBe(
      [
        'Test accuracy by labeled count (seed 1):',
        '',
        '| labeled | random |',
        '| ---: | ---: |',
        '| 2 | 50.0% |',
        '',
        '| strategy | area under the curve, at 2 labeled | accuracy at 2 |',
        '| --- | ---: | ---: |',
        '| random | 50.0% | 50.0% |',
      ].join('\n'),
    );
  });
});
