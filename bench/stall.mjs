// npm run bench:stall — the longest turn of the event loop while the duplicate search runs on
// lists of indices past 2^27 that a 64 MiB body admits: spread, skewed (every index a multiple of
// 64, which defeated a search by low-bit buckets), all one value, and a repeat at the very end.
// Figures, not a pass/fail: the target is no turn over ~50 ms. Needs the build (`nest build`).
import { firstRepeatOfHugeIndices } from '../dist/src/protocol/payload/duplicate-indices.js';

const N = 4_000_000;
const lists = {
  spread: () => Array.from({ length: N }, (_, i) => 2 ** 27 + 3 * (i + 1)),
  'skewed (multiples of 64)': () => Array.from({ length: N }, (_, i) => 2 ** 27 + 64 * (i + 1)),
  'one value repeated': () => new Array(N).fill(2 ** 40),
  'skewed, a repeat at the end': () => {
    const list = Array.from({ length: N }, (_, i) => 2 ** 27 + 64 * (i + 1));
    list.push(list[0]);
    return list;
  },
};

async function longestTurn(work) {
  let longest = 0;
  let last = performance.now();
  let running = true;
  const tick = () => {
    const now = performance.now();
    longest = Math.max(longest, now - last);
    last = now;
    if (running) setImmediate(tick);
  };
  setImmediate(tick);
  const started = performance.now();
  const at = await work();
  running = false;
  return { longest, total: performance.now() - started, at };
}

console.log(`| list (${N.toLocaleString('en')} indices) | longest turn (ms) | whole search (ms) | first repeat at |`);
console.log('| --- | ---: | ---: | ---: |');
for (const [name, make] of Object.entries(lists)) {
  const list = make();
  const { longest, total, at } = await longestTurn(() => firstRepeatOfHugeIndices(list));
  console.log(`| ${name} | ${longest.toFixed(1)} | ${total.toFixed(0)} | ${at} |`);
}
