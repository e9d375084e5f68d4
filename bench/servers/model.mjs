// The trivial, deterministic "model" every benchmark server calls, so that only the serving differs.
// The request's ckpt_file picks the shape of the answer, so one server process serves every scenario:
//   POST /test  {ckpt_file: '<shape>-<size>'}: <size> test samples keyed by index, as plain objects
//               ('objects-1000', the original SDK's examples), Maps or arrays;
//   POST /infer {ckpt_file: 'detection'}: per index {boxes, pre_softmax, scores}, 20 boxes × 81
//               classes (COCO-sized); any other name: a flat list of 10 logits.
import { subscribe } from 'node:diagnostics_channel';

export const CLASSES = 10;
const BOXES = 20;
const COCO_CLASSES = 81;

// BENCH_FULL_PRECISION=1: logits with all their digits (~19 characters each, as a real model's
// are), for the largest-answer check; by default short ones, so the figures measure serving.
const FULL = process.env.BENCH_FULL_PRECISION === '1';

export function logits(index) {
  const out = new Array(CLASSES);
  for (let c = 0; c < CLASSES; c++) out[c] = FULL ? Math.sin(index * 31 + c * 7) * 5 : (((index * 31 + c * 7) % 100) - 50) / 10;
  return out;
}

// A detector's outputs have all their digits. 64 distinct images, reused by index: building
// 5,000 × 1,720 numbers per call would measure the model, not the serving (JSON.stringify caches
// nothing, so a reused object costs the serving as much as a fresh one).
const DETECTIONS = Array.from({ length: 64 }, (_, image) => {
  const boxes = [];
  const pre_softmax = [];
  const scores = [];
  for (let b = 0; b < BOXES; b++) {
    const x = Math.abs(Math.sin(image * 13 + b)) * 0.7;
    const y = Math.abs(Math.cos(image * 7 + b)) * 0.7;
    boxes.push([x, y, x + 0.1 + (b % 5) * 0.04, y + 0.12 + (b % 3) * 0.05]);
    pre_softmax.push(Array.from({ length: COCO_CLASSES }, (_, c) => Math.sin(image * 31 + b * 17 + c) * 4));
    scores.push(Math.abs(Math.cos(image + b * 3)));
  }
  return { boxes, pre_softmax, scores };
});

/** The shape and size a test call asks for; `ckpt_0` and anything unknown: 100 as arrays. */
function testShape(ckpt) {
  const match = /^(objects|maps|arrays)-(\d+)$/.exec(ckpt ?? '');
  return match ? { shape: match[1], size: Number(match[2]) } : { shape: 'arrays', size: 100 };
}

/** Calls of the methods, for the server's CPU time per call. */
let calls = 0;
/** Time inside the logger's `log`, where a server measures it (library.mjs with a logger on). */
export const loggerTime = { nanos: 0, calls: 0 };

export const model = {
  train() {
    calls++;
  },
  test({ ckpt_file }) {
    calls++;
    const { shape, size } = testShape(ckpt_file);
    const keyed = () => (shape === 'maps' ? new Map() : shape === 'objects' ? {} : []);
    const predictions = keyed();
    const labels = keyed();
    for (let i = 0; i < size; i++) {
      const p = i % CLASSES;
      const l = (i * 3) % CLASSES;
      if (shape === 'maps') {
        predictions.set(i, p);
        labels.set(i, l);
      } else {
        predictions[i] = p;
        labels[i] = l;
      }
    }
    return { predictions, labels };
  },
  infer({ unlabeled, ckpt_file }) {
    calls++;
    const outputs = ckpt_file === 'detection' ? unlabeled.map((index) => DETECTIONS[index % 64]) : unlabeled.map(logits);
    answerPhase.begin();
    return { outputs };
  },
};

/**
 * The event loop while the answer goes out: from the method's return to the response's last
 * byte (Node's `http.server.response.finish` diagnostics channel), apart from the request's
 * parsing and the method's own work, which the whole-request figure includes. A 5 ms timer
 * ticks all along; a stall is the time past its due tick without one, counted from the start of
 * the phase at the earliest. (monitorEventLoopDelay cannot be switched on at the phase's start:
 * it ignores the first delay it sees, which here would be the whole stall.)
 */
const TICK_MS = 5;
const answerPhase = {
  maxMs: 0,
  since: undefined,
  lastTick: performance.now(),
  observe(now) {
    if (this.since !== undefined) this.maxMs = Math.max(this.maxMs, now - Math.max(this.lastTick + TICK_MS, this.since));
  },
  begin() {
    this.since = performance.now();
  },
  end() {
    this.observe(performance.now());
    this.since = undefined;
  },
};
setInterval(() => {
  const now = performance.now();
  answerPhase.observe(now);
  answerPhase.lastTick = now;
}, TICK_MS).unref();
subscribe('http.server.response.finish', () => answerPhase.end());

function cpuMicros() {
  const { user, system } = process.cpuUsage();
  return user + system;
}

/** Answers the benchmark's questions over IPC: the longest event-loop stall, the peak RSS, the CPU time and the calls so far. */
export async function reportOverIpc() {
  const { monitorEventLoopDelay } = await import('node:perf_hooks');
  const delay = monitorEventLoopDelay({ resolution: 5 });
  delay.enable();
  process.on('message', (message) => {
    if (message === 'reset') {
      delay.reset();
      answerPhase.maxMs = 0;
    }
    if (message === 'stats') {
      process.send({
        maxStallMs: delay.max / 1e6,
        answerStallMs: answerPhase.maxMs,
        peakRssMb: process.resourceUsage().maxRSS / 1024,
        cpuMicros: cpuMicros(),
        calls,
        loggerNanos: loggerTime.nanos,
        loggerCalls: loggerTime.calls,
      });
    }
  });
}

export function listening(port) {
  process.send?.({ listening: port });
}
