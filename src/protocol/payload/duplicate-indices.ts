import { setImmediate as nextTurn } from 'node:timers/promises';

/**
 * Finding the first index that repeats an earlier one, without stalling the event loop. Up to
 * 2^27 a bitmap does it in one pass (4M indices in ~20 ms). Above, a `Set` of numbers past 2^31
 * costs a heap number per element (1,000,000 indices near 2^53 took 615 ms); instead the values
 * are split by their low bits into buckets, each sorted natively in its own turn of the event
 * loop: no turn takes more than a few ms, whatever list the body limit admits.
 */

/** Above this largest index a bitmap would cost more memory than it saves. */
export const BITMAP_MAX_INDEX = 1 << 27;
/** Elements handled per turn of the event loop by the huge-index path. */
const PER_TURN = 1 << 18;
const BUCKET_BITS = 6;
const BUCKETS = 1 << BUCKET_BITS;

export const isIndex = (v: unknown): v is number => typeof v === 'number' && Number.isSafeInteger(v) && v >= 0;

/** The position of the first element that repeats an earlier one, or -1; `max` is the largest index. */
export function firstRepeatByBitmap(list: readonly unknown[], max: number): number {
  const seen = new Uint32Array((max >>> 5) + 1);
  for (let i = 0; i < list.length; i++) {
    const v = list[i];
    if (!isIndex(v)) continue;
    const word = v >>> 5;
    const bit = 1 << (v & 31);
    if (seen[word] & bit) return i;
    seen[word] |= bit;
  }
  return -1;
}

/** The same for indices of any size (all valid), in turns of the event loop. */
export async function firstRepeatOfHugeIndices(list: readonly number[]): Promise<number> {
  // Bucket sizes, then the values placed by bucket (a counting sort on the low bits).
  const sizes = new Uint32Array(BUCKETS + 1);
  for (let start = 0; start < list.length; start += PER_TURN) {
    if (start > 0) await nextTurn();
    for (let i = start; i < Math.min(list.length, start + PER_TURN); i++) sizes[(list[i] % BUCKETS) + 1]++;
  }
  for (let b = 1; b <= BUCKETS; b++) sizes[b] += sizes[b - 1];
  const placed = new Float64Array(list.length);
  const next = sizes.slice(0, BUCKETS);
  for (let start = 0; start < list.length; start += PER_TURN) {
    await nextTurn();
    for (let i = start; i < Math.min(list.length, start + PER_TURN); i++) placed[next[list[i] % BUCKETS]++] = list[i];
  }
  // Each bucket sorted in a turn of its own; equal neighbours are the repeated values.
  const repeated = new Set<number>();
  for (let b = 0; b < BUCKETS; b++) {
    await nextTurn();
    const bucket = placed.subarray(sizes[b], sizes[b + 1]).sort();
    for (let i = 1; i < bucket.length; i++) if (bucket[i] === bucket[i - 1]) repeated.add(bucket[i]);
  }
  if (repeated.size === 0) return -1;
  // Only for a list that is refused: where the first repeat is, for the message.
  const seen = new Set<number>();
  for (let start = 0; start < list.length; start += PER_TURN) {
    await nextTurn();
    for (let i = start; i < Math.min(list.length, start + PER_TURN); i++) {
      const v = list[i];
      if (!repeated.has(v)) continue;
      if (seen.has(v)) return i;
      seen.add(v);
    }
  }
  return -1;
}

/** The 400's message for a list whose element `at` repeats an earlier one. */
export function repeatMessage(property: string, list: readonly unknown[], at: number): string {
  const first = list.indexOf(list[at]);
  return `${property}[${at}] repeats index ${String(list[at])} (first at ${property}[${first}]): no index may appear twice`;
}
