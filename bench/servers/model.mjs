// The trivial, deterministic "model" every benchmark server calls, so that only the serving differs.
import { subscribe } from 'node:diagnostics_channel';
import { monitorEventLoopDelay } from 'node:perf_hooks';

export const TEST_SIZE = 100;
export const CLASSES = 10;

// BENCH_FULL_PRECISION=1: logits with all their digits (~19 characters each, as a real model's
// are), for the largest-answer check; by default short ones, so the figures measure serving.
const FULL = process.env.BENCH_FULL_PRECISION === '1';

export function logits(index) {
  const out = new Array(CLASSES);
  for (let c = 0; c < CLASSES; c++) out[c] = FULL ? Math.sin(index * 31 + c * 7) * 5 : (((index * 31 + c * 7) % 100) - 50) / 10;
  return out;
}

export const model = {
  train() {},
  test() {
    const predictions = [];
    const labels = [];
    for (let i = 0; i < TEST_SIZE; i++) {
      predictions.push(i % CLASSES);
      labels.push((i * 3) % CLASSES);
    }
    return { predictions, labels };
  },
  infer({ unlabeled }) {
    const outputs = unlabeled.map(logits);
    answerPhase.begin();
    return { outputs };
  },
};

/**
 * The event loop while the answer goes out: from the method's return to the response's last
 * byte (Node's `http.server.response.finish` diagnostics channel), apart from the request's
 * parsing and the method's own work, which the whole-request figure includes.
 */
const answerPhase = {
  maxMs: 0,
  current: undefined,
  begin() {
    this.current?.disable();
    this.current = monitorEventLoopDelay({ resolution: 5 });
    this.current.enable();
  },
  end() {
    if (!this.current) return;
    this.current.disable();
    // An empty histogram's max is 0; one that saw no tick has nothing to add.
    this.maxMs = Math.max(this.maxMs, this.current.max / 1e6);
    this.current = undefined;
  },
};
subscribe('http.server.response.finish', () => answerPhase.end());

/** Answers the benchmark's questions over IPC: the longest event-loop stall and the peak RSS. */
export async function reportOverIpc() {
  const delay = monitorEventLoopDelay({ resolution: 5 });
  delay.enable();
  process.on('message', (message) => {
    if (message === 'reset') {
      delay.reset();
      answerPhase.maxMs = 0;
    }
    if (message === 'stats') {
      process.send({ maxStallMs: delay.max / 1e6, answerStallMs: answerPhase.maxMs, peakRssMb: process.resourceUsage().maxRSS / 1024 });
    }
  });
}

export function listening(port) {
  process.send?.({ listening: port });
}
