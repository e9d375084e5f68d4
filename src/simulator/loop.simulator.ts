import { isPlainObject } from '../util/value-guards.js';
import { detectionMetrics } from './detection-metrics.js';
import type { LoopMetrics, SimulatedTask } from './headline.js';
import { logitsOf, preSoftmaxRowsOf, vectorsOf } from './infer-outputs.js';
import { classificationMetrics } from './metrics.js';
import { ProtocolClient, SimulationError } from './protocol.client.js';
import { type Aggregate, needsLabeledOutputs, selectNext, StrategyName } from './query-strategies.js';
import { sample, seededRandom } from './seeded-random.js';

/** The four steps of a loop, in order: what the progress line shows and `timings` measures. */
export type Phase = 'train' | 'test' | 'infer' | 'select';

/** One run's parameters: the pool, the labeling budget, the strategy and the seed. */
export interface RunSettings {
  poolSize: number;
  /** Size of the labeled set of loop 0, drawn at random with the seed. */
  initial: number;
  /** Indices added per loop. */
  batch: number;
  loops: number;
  strategy: StrategyName;
  seed: number;
  /** What the outputs are and how /test is scored (`classification` when not given). */
  task?: SimulatedTask;
  /** For detection: how the boxes' uncertainties make an image's (`max` when not given). */
  aggregate?: Aggregate;
}

/** One loop as the report records it. */
export interface LoopRecord {
  loop: number;
  ckpt_file: string;
  resume_from: string | null;
  labeled_count: number;
  /** The indices chosen at the end of this loop, to be labeled for the next. */
  selected: number[];
  /** Classification metrics, or detection metrics (`map50`...) for a detection run. */
  metrics: LoopMetrics;
  /** Wall time of each phase, in milliseconds. */
  timings: Record<Phase, number>;
  /** Bytes of each request and answer. */
  sizes: Record<'train' | 'test' | 'infer', { request: number; response: number }>;
}

/** One run (a strategy and a seed) as the report records it, loop by loop. */
export interface RunRecord {
  strategy: StrategyName;
  seed: number;
  /** Loop 0's labeled set. */
  initial: number[];
  loops: LoopRecord[];
}

/** Callbacks of `runLoops`, for a progress display and a report kept up to date. */
export interface LoopEvents {
  phase?(loop: number, phase: Phase): void;
  /** After every loop, with the run so far: the report is rewritten here. */
  loopDone?(run: RunRecord): Promise<void> | void;
}

/**
 * The platform's loop: loop 0 labels `initial` indices at random; then each loop trains on the
 * labeled set (resuming from the last checkpoint), tests the checkpoint, infers on every
 * unlabeled index, and labels the `batch` chosen by the strategy. Core-set and margin-core-set
 * measure distances to the labeled samples, so their /infer asks for the whole pool, labeled
 * indices included (the protocol's `unlabeled` is any list of indices): a platform that infers on
 * the unlabeled pool only would start their centers from nothing.
 */
export async function runLoops(client: ProtocolClient, settings: RunSettings, events: LoopEvents = {}): Promise<RunRecord> {
  const random = seededRandom(settings.seed);
  const task = settings.task ?? 'classification';
  const selection = { task, aggregate: settings.aggregate ?? 'max' };
  const all = Array.from({ length: settings.poolSize }, (_, i) => i);
  const labeled = new Set(sample(all, settings.initial, random));
  const run: RunRecord = {
    strategy: settings.strategy,
    seed: settings.seed,
    initial: [...labeled].sort((a, b) => a - b),
    loops: [],
  };
  let previous: string | null = null;

  for (let loop = 0; loop < settings.loops; loop++) {
    const ckpt = `ckpt_${loop}`;
    const labeledList = [...labeled].sort((a, b) => a - b);

    events.phase?.(loop, 'train');
    const train = await client.post('/train', { labeled: labeledList, resume_from: previous, ckpt_file: ckpt });

    events.phase?.(loop, 'test');
    const test = await client.post<{ predictions?: unknown; labels?: unknown }>('/test', { ckpt_file: ckpt });
    const metrics = metricsOf(test.body, task);

    events.phase?.(loop, 'infer');
    const asked = needsLabeledOutputs(settings.strategy) ? all : all.filter((i) => !labeled.has(i));
    const infer = await client.post<{ outputs?: unknown }>('/infer', { unlabeled: asked, ckpt_file: ckpt });
    const outputs = outputsOf(infer.body, asked, task, needsLabeledOutputs(settings.strategy));
    const labeledOutputs = new Map<number, unknown>();
    for (const index of labeledList) {
      if (outputs.has(index)) labeledOutputs.set(index, outputs.get(index));
      outputs.delete(index);
    }

    events.phase?.(loop, 'select');
    const selectStarted = performance.now();
    const selected = selectNext(settings.strategy, outputs, settings.batch, random, selection, labeledOutputs);
    for (const index of selected) labeled.add(index);
    const selectMs = performance.now() - selectStarted;

    run.loops.push({
      loop,
      ckpt_file: ckpt,
      resume_from: previous,
      labeled_count: labeledList.length,
      selected,
      metrics,
      timings: { train: train.ms, test: test.ms, infer: infer.ms, select: selectMs },
      sizes: {
        train: { request: train.requestBytes, response: train.responseBytes },
        test: { request: test.requestBytes, response: test.responseBytes },
        infer: { request: infer.requestBytes, response: infer.responseBytes },
      },
    });
    previous = ckpt;
    await events.loopDone?.(run);
  }
  return run;
}

function metricsOf(body: { predictions?: unknown; labels?: unknown }, task: SimulatedTask): LoopMetrics {
  const { predictions, labels } = body;
  if (!isPlainObject(predictions) || !isPlainObject(labels)) {
    throw new SimulationError('POST /test broke the protocol: the answer needs "predictions" and "labels" objects');
  }
  const predicted = Object.keys(predictions);
  const labelled = new Set(Object.keys(labels));
  const unmatched = predicted.filter((key) => !labelled.has(key));
  if (unmatched.length > 0 || predicted.length !== labelled.size) {
    const first = unmatched[0] ?? [...labelled].find((key) => !(key in predictions));
    throw new SimulationError(
      `POST /test broke the protocol: predictions and labels are on different indices (first index ${first})`,
    );
  }
  try {
    return task === 'detection' ? detectionMetrics(predictions, labels) : classificationMetrics(predictions, labels);
  } catch (error) {
    throw new SimulationError(`POST /test: ${(error as Error).message}; the simulator scores this run as ${task}`);
  }
}

function outputsOf(
  body: { outputs?: unknown },
  unlabeled: number[],
  task: SimulatedTask,
  measured: boolean,
): Map<number, unknown> {
  const { outputs } = body;
  if (!isPlainObject(outputs)) throw new SimulationError('POST /infer broke the protocol: the answer has no "outputs" object');
  const map = new Map<number, unknown>();
  let missing = 0;
  let firstMissing = -1;
  for (const index of unlabeled) {
    if (Object.hasOwn(outputs, index)) map.set(index, outputs[index]);
    else if (missing++ === 0) firstMissing = index;
  }
  if (missing > 0) {
    throw new SimulationError(
      `POST /infer broke the protocol: no output for ${missing} of ${unlabeled.length} requested indices, first ${firstMissing}`,
    );
  }
  const extra = Object.keys(outputs).length - map.size;
  if (extra > 0) {
    const requested = new Set(unlabeled.map(String));
    const first = Object.keys(outputs).find((key) => !requested.has(key));
    throw new SimulationError(`POST /infer broke the protocol: ${extra} outputs for indices not requested, first ${first}`);
  }
  // Checked before selecting: even random selection must not follow a malformed answer.
  for (const [index, output] of map) {
    try {
      if (task === 'detection') preSoftmaxRowsOf(output, index);
      else logitsOf(output, index);
    } catch (error) {
      throw new SimulationError(`POST /infer broke the protocol: ${(error as Error).message}`);
    }
  }
  // Core-set measures every output: their vectors must be of one length, their embeddings sound.
  if (measured) {
    try {
      vectorsOf([...map], task);
    } catch (error) {
      throw new SimulationError(`POST /infer: ${(error as Error).message}`);
    }
  }
  return map;
}
