import { setImmediate as nextTurn } from 'node:timers/promises';

/**
 * Finding the first index that repeats an earlier one, without stalling the event loop. Up to
 * 2^27 a bitmap does it in one pass (4M indices in ~20 ms). Above, a `Set` of numbers past 2^31
 * costs a heap number per element (1,000,000 indices near 2^53 took 615 ms); instead a typed
 * copy is sorted a slice per turn of the event loop: no turn takes more than a few ms, whatever
 * list the body limit admits.
 */

/** Above this largest index a bitmap would cost more memory than it saves. */
export const BITMAP_MAX_INDEX = 1 << 27;
/** Elements handled per turn of the event loop by the huge-index path. */
const PER_TURN = 1 << 17;
/** Set operations (a heap number each) handled per turn. */
const SET_PER_TURN = 1 << 14;

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

/**
 * The same for indices of any size (all valid), in turns of the event loop: a merge sort of a
 * typed copy (runs sorted natively, then merged a slice per turn), so that no input, however
 * skewed or repetitive, puts more than a slice of work in one turn.
 */
export async function firstRepeatOfHugeIndices(list: readonly number[]): Promise<number> {
  const sorted = await sortInTurns(list);
  // The values that repeat, then where the first repeat is (only for a list that is refused).
  const repeated = new Set<number>();
  for (let i = 1; i < sorted.length; i++) {
    if (i % SET_PER_TURN === 0) await nextTurn();
    if (sorted[i] === sorted[i - 1]) repeated.add(sorted[i]);
  }
  if (repeated.size === 0) return -1;
  const seen = new Set<number>();
  for (let i = 0; i < list.length; i++) {
    if (i % SET_PER_TURN === 0) await nextTurn();
    const v = list[i];
    if (!repeated.has(v)) continue;
    if (seen.has(v)) return i;
    seen.add(v);
  }
  return -1;
}

async function sortInTurns(list: readonly number[]): Promise<Float64Array> {
  const n = list.length;
  let from = new Float64Array(n);
  for (let start = 0; start < n; start += PER_TURN) {
    await nextTurn();
    const end = Math.min(n, start + PER_TURN);
    for (let i = start; i < end; i++) from[i] = list[i];
    from.subarray(start, end).sort();
  }
  let to = new Float64Array(n);
  for (let width = PER_TURN; width < n; width *= 2) {
    let budget = 0;
    for (let lo = 0; lo < n; lo += 2 * width) {
      const mid = Math.min(lo + width, n);
      const hi = Math.min(lo + 2 * width, n);
      let [i, j, k] = [lo, mid, lo];
      while (k < hi) {
        if (budget >= PER_TURN) {
          await nextTurn();
          budget = 0;
        }
        const end = Math.min(hi, k + PER_TURN - budget);
        budget += end - k;
        while (k < end) to[k++] = j >= hi || (i < mid && from[i] <= from[j]) ? from[i++] : from[j++];
      }
    }
    [from, to] = [to, from];
  }
  return from;
}

/** The 400's message for a list whose element `at` repeats an earlier one. */
export function repeatMessage(property: string, list: readonly unknown[], at: number): string {
  const first = list.indexOf(list[at]);
  return `${property}[${at}] repeats index ${String(list[at])} (first at ${property}[${first}]): no index may appear twice`;
}
