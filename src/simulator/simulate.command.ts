import { resolve } from 'node:path';
import { parseArgs } from 'node:util';

import { percent } from './format.js';
import { runLoops, RunRecord } from './loop.simulator.js';
import { OutputStream, ProgressDisplay } from './progress.display.js';
import { ProtocolClient, SimulationError } from './protocol.client.js';
import { STRATEGIES, StrategyName } from './query-strategies.js';
import { summaryMarkdown } from './report.markdown.js';
import { buildReport, SimulationConfig } from './report.model.js';
import { writeReport } from './report.writer.js';

/** The text of `nestjs-alectio simulate --help`. */
export const SIMULATE_HELP = `Usage: nestjs-alectio simulate [options]

Runs the active-learning platform's loop against a server that speaks the nestjs-alectio
protocol: loop 0 labels --initial indices at random; each loop then POSTs /train (resuming
from the previous checkpoint), /test and /infer (on every unlabeled index), and labels the
--batch indices the query strategy picks. After every loop it rewrites report.json and
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
  --out <dir>            report folder (default alectio-report)
  -h, --help             this text

Query strategies, with p = softmax(logits) of one sample; the largest score is labeled first:
  random                 uniform draw (seeded)
  least-confidence       1 - max p
  margin                 -(p1 - p2), the two largest probabilities
  entropy                -sum p ln p

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
    const poolSize = options.poolSize ?? (await poolSizeFrom(client));
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
    };
    for (const strategy of options.strategies) {
      for (const seed of options.seeds) {
        const name = `${strategy} seed ${seed}`;
        const run = await runLoops(
          client,
          { poolSize, initial: options.initial, batch: options.batch, loops: options.loops, strategy, seed },
          {
            phase: (loop, phase) => progress.phase(name, loop, options.loops, phase),
            loopDone: (partial) => {
              if (!runs.includes(partial)) runs.push(partial);
              writeReport(options.out, buildReport(config!, runs));
              const last = partial.loops.at(-1)!;
              const where = `${name} · loop ${last.loop} of 0-${options.loops - 1}`;
              progress.line(`${where}: ${last.labeled_count} labeled, accuracy ${percent(last.metrics.accuracy)}`);
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

async function poolSizeFrom(client: ProtocolClient): Promise<number> {
  const { body } = await client.health();
  const size = body.pool_size;
  if (typeof size !== 'number' || !Number.isSafeInteger(size) || size < 1) {
    throw new UsageError('GET /health reports no pool_size: give --pool-size');
  }
  return size;
}

function countLoops(runs: RunRecord[]): number {
  return runs.reduce((n, run) => n + run.loops.length, 0);
}
