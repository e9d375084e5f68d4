import { resolve } from 'node:path';
import { parseArgs } from 'node:util';

import { percent } from './format.js';
import { HEADLINE, headline, type SimulatedTask, TASKS } from './headline.js';
import { runLoops, RunRecord } from './loop.simulator.js';
import { OutputStream, ProgressDisplay } from './progress.display.js';
import { ProtocolClient, SimulationError } from './protocol.client.js';
import { type Aggregate, AGGREGATES, SHORTLIST_FACTOR, STRATEGIES, StrategyName } from './query-strategies.js';
import { summaryMarkdown } from './report.markdown.js';
import { buildReport, SimulationConfig } from './report.model.js';
import { writeReport } from './report.writer.js';

/** The text of `nestjs-alectio simulate --help`. */
export const SIMULATE_HELP = `Usage: nestjs-alectio simulate [options]

Runs the active-learning platform's loop against a server that speaks the nestjs-alectio
protocol: loop 0 labels --initial indices at random; each loop then POSTs /train (resuming
from the previous checkpoint), /test and /infer (on every unlabeled index; on the whole pool for
core-set and margin-core-set), and labels the --batch indices the query strategy picks. After every loop it rewrites report.json and
report.html (the learning curve) in --out.

Options:
  --url <url>            the server (default http://127.0.0.1:5000)
  --token <token>        bearer token (default: $ALECTIO_TOKEN)
  --pool-size <n>        size of the training pool (default: pool_size of GET /health)
  --initial <n>          labeled indices at loop 0 (default 100)
  --batch <n>            indices labeled per loop (default 100)
  --loops <n>            loops per run (default 5)
  --strategy <list>      comma-separated: ${STRATEGIES.join(', ')} (default entropy)
  --seed <list>          comma-separated seeds, one run per strategy and seed (default 1)
  --task <task>          classification or detection (default: task of GET /health, else
                         classification): how /test is scored and /infer's outputs read
  --aggregate <rule>     detection: an image's uncertainty from its boxes', ${AGGREGATES.join(', ')} (default max)
  --target <share>       a figure above 0, at most 1 (e.g. 0.85): the comparison reports the labels
                         each strategy needed to reach it
  --out <dir>            report folder (default alectio-report)
  -h, --help             this text

Query strategies, with p = softmax(logits) of one sample; the largest score is labeled first:
  random                 uniform draw (seeded)
  least-confidence       1 - max p
  margin                 1 - (p1 - p2), the two largest probabilities
  entropy                -sum p ln p
  core-set               k-center greedy (Sener & Savarese 2018): each pick the sample farthest
                         from the labeled ones and the picks so far, by Euclidean distance
                         between output vectors
  margin-core-set        the ${SHORTLIST_FACTOR} x --batch lowest-margin samples, then k-center greedy among them
                         (the pre-filter of Zhdanov 2019)
For detection, p is the softmax of one box's pre-softmax row; an image's score is the max, mean
or sum over its boxes (--aggregate), and an image with no box comes after every image with one.
Core-set's output vectors: a detection output's "embedding" list when every output carries one,
else per class the largest probability over its boxes; a classifier's logits. Core-set and
margin-core-set measure the distance to the labeled samples, so with them /infer is asked for
the whole pool.

Metrics: classification scores accuracy (and per-class precision, recall, F1, confusion), with
classes as integer ids or as class names (strings);
detection scores mAP at IoU 0.5 (PASCAL VOC, all-point), COCO mAP at IoU 0.5:0.05:0.95
(101-point), AP per class, precision and recall at score 0.5, and a confusion matrix with a
background row and column. Per strategy, over its seeds, the report gives the mean and spread
at each labeled count, the area under the learning curve, and the labels to reach --target.

Exit status: 0 done, 1 the server answered an error or broke the protocol, 2 bad options,
130 interrupted (the report keeps every finished loop).`;

/** Where `simulateCommand` prints, and the signal that interrupts it (the CLI's Ctrl-C). */
export interface SimulateIo {
  stdout: OutputStream;
  stderr: NodeJS.WritableStream;
  signal?: AbortSignal;
}

/** `nestjs-alectio simulate`: returns the exit status. */
export async function simulateCommand(argv: string[], io: SimulateIo): Promise<number> {
  let options: ReturnType<typeof parseOptions>;
  try {
    options = parseOptions(argv);
  } catch (error) {
    io.stderr.write(`nestjs-alectio simulate: ${(error as Error).message}\nTry --help.\n`);
    return 2;
  }
  if (options.help) {
    io.stdout.write(`${SIMULATE_HELP}\n`);
    return 0;
  }

  const client = new ProtocolClient(options.url, options.token, io.signal);
  const progress = new ProgressDisplay(io.stdout);
  const runs: RunRecord[] = [];
  let config: SimulationConfig | undefined;
  try {
    const health = options.poolSize === undefined || options.task === undefined ? (await client.health()).body : {};
    const poolSize = options.poolSize ?? poolSizeOf(health);
    const task = options.task ?? taskOf(health);
    const needed = options.initial + options.batch * (options.loops - 1);
    if (needed > poolSize) {
      throw new UsageError(`--initial + --batch × (--loops − 1) = ${needed} is more than the pool of ${poolSize}`);
    }
    config = {
      url: options.url,
      pool_size: poolSize,
      initial: options.initial,
      batch: options.batch,
      loops: options.loops,
      strategies: options.strategies,
      seeds: options.seeds,
      task,
      ...(task === 'detection' ? { aggregate: options.aggregate } : {}),
      ...(options.target === undefined ? {} : { target: options.target }),
    };
    const figure = HEADLINE[task];
    const reportConfig = config;
    for (const strategy of options.strategies) {
      for (const seed of options.seeds) {
        const name = `${strategy} seed ${seed}`;
        const run = await runLoops(
          client,
          {
            poolSize,
            initial: options.initial,
            batch: options.batch,
            loops: options.loops,
            strategy,
            seed,
            task,
            aggregate: options.aggregate,
          },
          {
            phase: (loop, phase) => progress.phase(name, loop, options.loops, phase),
            loopDone: (partial) => {
              if (!runs.includes(partial)) runs.push(partial);
              writeReport(options.out, buildReport(reportConfig, runs));
              const last = partial.loops.at(-1)!;
              const where = `${name} · loop ${last.loop} of 0-${options.loops - 1}`;
              progress.line(`${where}: ${last.labeled_count} labeled, ${figure} ${percent(headline(last.metrics))}`);
            },
          },
        );
        if (!runs.includes(run)) runs.push(run);
      }
    }
    progress.stop();
    const report = buildReport(config, runs);
    writeReport(options.out, report);
    io.stdout.write(`${summaryMarkdown(report)}\n\nReport: ${resolve(options.out, 'report.html')}\n`);
    return 0;
  } catch (error) {
    progress.stop();
    if (io.signal?.aborted) {
      io.stderr.write(`interrupted: ${resolve(options.out)} keeps the ${countLoops(runs)} finished loops\n`);
      return 130;
    }
    if (error instanceof UsageError) {
      io.stderr.write(`nestjs-alectio simulate: ${error.message}\n`);
      return 2;
    }
    const message = error instanceof SimulationError ? error.message : `unexpected error: ${(error as Error)?.stack ?? error}`;
    io.stderr.write(`nestjs-alectio simulate: ${message}\n`);
    if (runs.length > 0) io.stderr.write(`the report in ${resolve(options.out)} keeps the ${countLoops(runs)} finished loops\n`);
    return 1;
  }
}

class UsageError extends Error {}

function parseOptions(argv: string[]) {
  const { values } = parseArgs({
    args: argv,
    strict: true,
    options: {
      url: { type: 'string', default: 'http://127.0.0.1:5000' },
      token: { type: 'string' },
      'pool-size': { type: 'string' },
      initial: { type: 'string', default: '100' },
      batch: { type: 'string', default: '100' },
      loops: { type: 'string', default: '5' },
      strategy: { type: 'string', default: 'entropy' },
      seed: { type: 'string', default: '1' },
      task: { type: 'string' },
      aggregate: { type: 'string', default: 'max' },
      target: { type: 'string' },
      out: { type: 'string', default: 'alectio-report' },
      help: { type: 'boolean', short: 'h', default: false },
    },
  });
  const strategies = list(values.strategy!).map((name) => {
    if (!(STRATEGIES as readonly string[]).includes(name)) {
      throw new Error(`--strategy ${name} is not one of ${STRATEGIES.join(', ')}`);
    }
    return name as StrategyName;
  });
  if (values.task !== undefined && !(TASKS as readonly string[]).includes(values.task)) {
    throw new Error(`--task ${values.task} is not one of ${TASKS.join(', ')}`);
  }
  if (!(AGGREGATES as readonly string[]).includes(values.aggregate!)) {
    throw new Error(`--aggregate ${values.aggregate} is not one of ${AGGREGATES.join(', ')}`);
  }
  let target: number | undefined;
  if (values.target !== undefined) {
    target = Number(values.target);
    if (values.target.trim() === '' || !(target > 0 && target <= 1)) {
      throw new Error(`--target must be a share above 0 and at most 1 (0.85 for 85%), got "${values.target}"`);
    }
  }
  let url: URL;
  try {
    url = new URL(values.url!);
  } catch {
    throw new Error(`--url ${values.url} is not a URL`);
  }
  return {
    help: values.help!,
    url: url.toString().replace(/\/$/, ''),
    token: values.token ?? (process.env.ALECTIO_TOKEN || undefined),
    poolSize: values['pool-size'] === undefined ? undefined : count('--pool-size', values['pool-size'], 1),
    initial: count('--initial', values.initial!, 1),
    batch: count('--batch', values.batch!, 1),
    loops: count('--loops', values.loops!, 1),
    strategies: [...new Set(strategies)],
    seeds: [...new Set(list(values.seed!).map((seed) => count('--seed', seed, 0)))],
    out: values.out!,
    task: values.task as SimulatedTask | undefined,
    aggregate: values.aggregate as Aggregate,
    target,
  };
}

function list(text: string): string[] {
  return text
    .split(',')
    .map((part) => part.trim())
    .filter(Boolean);
}

function count(flag: string, text: string, min: number): number {
  const value = Number(text);
  if (!/^\d+$/.test(text) || !Number.isSafeInteger(value) || value < min) {
    throw new Error(`${flag} must be an integer of at least ${min}, got "${text}"`);
  }
  return value;
}

function poolSizeOf(health: Record<string, unknown>): number {
  const size = health.pool_size;
  if (typeof size !== 'number' || !Number.isSafeInteger(size) || size < 1) {
    throw new UsageError('GET /health reports no pool_size: give --pool-size');
  }
  return size;
}

/** The task the server reports (its `task` option); none reported: classification, the original's. */
function taskOf(health: Record<string, unknown>): SimulatedTask {
  if (health.task === undefined || health.task === null) return 'classification';
  if (!(TASKS as readonly unknown[]).includes(health.task)) {
    throw new UsageError(
      `GET /health reports the task ${JSON.stringify(health.task)}, which the simulator does not score: give --task`,
    );
  }
  return health.task as SimulatedTask;
}

function countLoops(runs: RunRecord[]): number {
  return runs.reduce((n, run) => n + run.loops.length, 0);
}
