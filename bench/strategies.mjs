// npm run bench:strategies — how long each query strategy takes to pick a batch from a pool of
// 100,000 outputs, the size the README states: 10 logits per output (a digits-like classifier),
// then a 64-number embedding per output, with 1,000 labeled samples as core-set's first centers
// and batches of 100 and 1,000. Outputs gather around 10 class prototypes, as a trained model's
// do; uniform noise ("spread"), where no distance can be skipped, is core-set's worst case.
// Figures, not a pass/fail. Needs the build (`nest build`).
import { seededRandom, selectNext, STRATEGIES } from '../dist/src/simulator/index.js';

const POOL = 100_000;
const LABELED = 1_000;

/** Seeded outputs: `dims` logits (or an embedding beside them) per index, near a class prototype or spread. */
function outputs(count, dims, offset, embedding, spread) {
  const random = seededRandom(offset + dims);
  const prototypes = Array.from({ length: 10 }, (_, c) => Array.from({ length: dims }, (_, k) => (k % 10 === c ? 8 : 0)));
  const map = new Map();
  for (let i = 0; i < count; i++) {
    const near = prototypes[Math.floor(random() * 10)];
    const vector = spread
      ? Array.from({ length: dims }, () => random() * 8 - 4)
      : near.map((v) => v + (random() + random() + random() - 1.5) * 2);
    map.set(offset + i, embedding ? { boxes: [], pre_softmax: [], scores: [], embedding: vector } : vector);
  }
  return map;
}

const shapes = [
  { name: '10 logits', dims: 10, task: 'classification', embedding: false },
  { name: '64-number embedding', dims: 64, task: 'detection', embedding: true },
  { name: '10 logits, spread', dims: 10, task: 'classification', embedding: false, spread: true },
  { name: '64-number embedding, spread', dims: 64, task: 'detection', embedding: true, spread: true },
];
const rows = [];
for (const shape of shapes) {
  const pool = outputs(POOL, shape.dims, LABELED, shape.embedding, shape.spread);
  const labeled = outputs(LABELED, shape.dims, 0, shape.embedding, shape.spread);
  for (const batch of [100, 1000]) {
    for (const strategy of STRATEGIES) {
      // Uncertainty alone does not look at the vectors: once is enough.
      if ((shape.embedding || shape.spread) && !['core-set', 'margin-core-set'].includes(strategy)) continue;
      const started = performance.now();
      const picked = selectNext(strategy, pool, batch, seededRandom(1), { task: shape.task, aggregate: 'max' }, labeled);
      const ms = performance.now() - started;
      if (picked.length !== batch) throw new Error(`${strategy} picked ${picked.length}`);
      rows.push({ outputs: shape.name, batch, strategy, ms: Math.round(ms) });
      console.log(`${shape.name.padEnd(28)} batch ${String(batch).padStart(5)}  ${strategy.padEnd(16)} ${Math.round(ms)} ms`);
    }
  }
}
console.log(
  `\n| outputs (pool ${POOL.toLocaleString('en')}, ${LABELED.toLocaleString('en')} labeled) | batch | strategy | time |`,
);
console.log('| --- | ---: | --- | ---: |');
for (const r of rows) console.log(`| ${r.outputs} | ${r.batch} | ${r.strategy} | ${r.ms.toLocaleString('en')} ms |`);
