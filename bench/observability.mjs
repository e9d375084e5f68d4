// npm run bench:observability — what the module's metrics and spans add to one call, timed in a
// tight loop (no server: the loaded benchmark's req/s swing more than this between runs here):
// the metrics of a POST call (in progress up and down, the list size, the count and the
// duration), a span with @opentelemetry/api and no SDK (a no-op), and a span with an SDK that
// records every span (dropped at once). Needs the build (`nest build`).
import { context, trace } from '@opentelemetry/api';
import { AsyncLocalStorageContextManager } from '@opentelemetry/context-async-hooks';
import { BasicTracerProvider, SimpleSpanProcessor } from '@opentelemetry/sdk-trace-base';

import { AlectioMetrics } from '../dist/src/metrics/alectio.metrics.js';
import { AlectioTracer } from '../dist/src/tracing/alectio.tracer.js';

const N = 200_000;
const ROUNDS = 5;

async function perCall(work) {
  const runs = [];
  for (let round = 0; round < ROUNDS; round++) {
    const started = performance.now();
    for (let i = 0; i < N; i++) await work();
    runs.push(((performance.now() - started) * 1000) / N);
  }
  runs.sort((a, b) => a - b);
  return runs[Math.floor(ROUNDS / 2)];
}

const metrics = await AlectioMetrics.create({ registry: undefined, prefix: 'alectio_', endpoint: true }, false);
const tracer = await AlectioTracer.create();
const emptyCall = await perCall(async () => {});
const rows = [['an empty async call (the loop itself)', emptyCall]];
rows.push([
  'metrics of one POST call',
  await perCall(async () => {
    const started = performance.now();
    metrics.handling('train', 1);
    metrics.listSize('train', 10);
    metrics.called('POST /train', 200, started);
    metrics.handling('train', -1);
  }),
]);
const span = async () =>
  tracer.inSpan('alectio.train', { 'alectio.endpoint': 'train' }, async (s) => {
    s.setAttribute('alectio.labeled.count', 10);
    s.setAttribute('alectio.ckpt_file', 'ckpt_0');
  });
rows.push(['a span, no SDK registered (no-op)', await perCall(span)]);
const drop = { export: (spans, done) => done({ code: 0 }), shutdown: async () => {} };
context.setGlobalContextManager(new AsyncLocalStorageContextManager().enable());
trace.setGlobalTracerProvider(new BasicTracerProvider({ spanProcessors: [new SimpleSpanProcessor(drop)] }));
rows.push(['a span, an SDK recording every span', await perCall(span)]);

console.log(`| per call (median of ${ROUNDS} rounds of ${N.toLocaleString('en')}) | µs |`);
console.log('| --- | ---: |');
for (const [what, us] of rows) console.log(`| ${what} | ${us.toFixed(2)} |`);
