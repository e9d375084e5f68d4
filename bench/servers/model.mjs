// The trivial, deterministic "model" every benchmark server calls, so that only the serving differs.
import { subscribe } from 'node:diagnostics_channel';

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

/** Answers the benchmark's questions over IPC: the longest event-loop stall and the peak RSS. */
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
      });
    }
  });
}

export function listening(port) {
  process.send?.({ listening: port });
}
