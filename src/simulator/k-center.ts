/**
 * k-center greedy (Sener & Savarese, "Active Learning for Convolutional Neural Networks: A
 * Core-Set Approach", ICLR 2018): picks, `count` times, the candidate farthest from every center
 * so far (the labeled points, then the picks), by Euclidean distance. Returns positions in
 * `candidates`, in the order picked; a tie goes to the smaller position, so a run can be repeated.
 * With no center at all, every candidate is infinitely far: the first pick is position 0.
 *
 * Cost: at most n × (centers + count) distances from the n candidates, plus the centers'
 * distances to each other, (centers + count)² / 2; O(n × dims) memory. Most of the first are
 * skipped by the triangle inequality: a candidate whose nearest center c lies within distance r
 * cannot come nearer to a new center p when |c − p| ≥ 2r, so its distance to p is not computed.
 * The picks are those of computing them all (but for rounding on a distance tied to the last bit).
 */
export function kCenterGreedy(
  candidates: readonly (readonly number[])[],
  centers: readonly (readonly number[])[],
  count: number,
): number[] {
  if (!Number.isSafeInteger(count) || count < 0) throw new Error(`k-center greedy picks a count of 0 or more, not ${count}`);
  const n = candidates.length;
  if (n === 0 || count === 0) return [];
  const dims = candidates[0].length;
  let largest = 0;
  for (const [what, rows] of [
    ['candidate', candidates],
    ['center', centers],
  ] as const) {
    rows.forEach((row, i) => {
      if (row.length !== dims) {
        throw new Error(
          `k-center greedy needs vectors of one length: ${what} ${i} has ${row.length}, the first candidate ${dims}`,
        );
      }
      for (const v of row) {
        if (!Number.isFinite(v)) throw new Error(`k-center greedy needs finite numbers: ${what} ${i} holds ${v}`);
        largest = Math.max(largest, Math.abs(v));
      }
    });
  }
  // Squares of values past ~1e154 overflow to Infinity and every distance would tie: such vectors
  // are scaled down by a power of two, which is exact and keeps every distance's order.
  const scale = largest > 1e100 ? 2 ** -Math.ceil(Math.log2(largest)) : 1;
  const wanted = Math.min(count, n);
  // Flat arrays: the inner loop reads memory in order. Centers: the labeled ones, then the picks.
  const points = new Float64Array(n * dims);
  candidates.forEach((row, i) => points.set(row, i * dims));
  const centerPoints = new Float64Array((centers.length + wanted) * dims);
  centers.forEach((row, i) => centerPoints.set(row, i * dims));
  if (scale !== 1) {
    for (let i = 0; i < points.length; i++) points[i] *= scale;
    for (let i = 0; i < centerPoints.length; i++) centerPoints[i] *= scale;
  }
  // nearest[i]: squared distance from candidate i to its nearest center (−1 once it is picked); owner[i]: that center.
  const nearest = new Float64Array(n).fill(Infinity);
  const owner = new Int32Array(n).fill(-1);
  // Squared distances from the newest center to every earlier one.
  const toNewest = new Float64Array(centers.length + wanted);

  let centerCount = 0;
  /** Makes the next of `centerPoints` a center: every candidate still free measured against it, unless the pruning says no. */
  const addCenter = (): void => {
    const c = centerCount++;
    const at = c * dims;
    for (let j = 0; j < c; j++) toNewest[j] = squaredDistance(centerPoints, j * dims, centerPoints, at, dims);
    for (let i = 0; i < n; i++) {
      const current = nearest[i];
      if (current < 0) continue;
      // |owner − new| ≥ 2 × √current, squared: the new center cannot be nearer.
      if (owner[i] >= 0 && toNewest[owner[i]] >= 4 * current) continue;
      const d = squaredDistance(points, i * dims, centerPoints, at, dims);
      if (d < current) {
        nearest[i] = d;
        owner[i] = c;
      }
    }
  };

  // The labeled centers first. When their distances to each other fit (2,048 centers take 32 MiB)
  // and cost no more than the candidates' (a shortlist of a few candidates among many labeled
  // samples would not gain), a block of candidates at a time, so that the block stays in cache
  // while every center passes over it; otherwise one center at a time over every candidate.
  const L = centers.length;
  if (L > 0 && L <= 2048 && L <= 2 * n) {
    const between = new Float64Array(L * L);
    for (let a = 0; a < L; a++) {
      for (let b = 0; b < a; b++) {
        between[a * L + b] = between[b * L + a] = squaredDistance(centerPoints, a * dims, centerPoints, b * dims, dims);
      }
    }
    const BLOCK = Math.max(64, Math.floor(32_768 / Math.max(dims, 1)));
    for (let start = 0; start < n; start += BLOCK) {
      const end = Math.min(n, start + BLOCK);
      for (let c = 0; c < L; c++) {
        for (let i = start; i < end; i++) {
          const current = nearest[i];
          if (owner[i] >= 0 && between[c * L + owner[i]] >= 4 * current) continue;
          const d = squaredDistance(points, i * dims, centerPoints, c * dims, dims);
          if (d < current) {
            nearest[i] = d;
            owner[i] = c;
          }
        }
      }
    }
    centerCount = L;
  } else {
    for (let c = 0; c < L; c++) addCenter();
  }

  // Then each pick is a new center.
  const picked: number[] = [];
  while (picked.length < wanted) {
    let best = -1;
    for (let i = 0; i < n; i++) if (nearest[i] >= 0 && (best < 0 || nearest[i] > nearest[best])) best = i;
    picked.push(best);
    nearest[best] = -1;
    centerPoints.set(points.subarray(best * dims, (best + 1) * dims), centerCount * dims);
    addCenter();
  }
  return picked;
}

/** |a − b|² of two vectors stored at offsets of flat arrays; four sums at once for the CPU's sake. */
function squaredDistance(a: Float64Array, at: number, b: Float64Array, bt: number, dims: number): number {
  let d0 = 0;
  let d1 = 0;
  let d2 = 0;
  let d3 = 0;
  let k = 0;
  for (; k + 3 < dims; k += 4) {
    const x0 = a[at + k] - b[bt + k];
    const x1 = a[at + k + 1] - b[bt + k + 1];
    const x2 = a[at + k + 2] - b[bt + k + 2];
    const x3 = a[at + k + 3] - b[bt + k + 3];
    d0 += x0 * x0;
    d1 += x1 * x1;
    d2 += x2 * x2;
    d3 += x3 * x3;
  }
  for (; k < dims; k++) {
    const x = a[at + k] - b[bt + k];
    d0 += x * x;
  }
  return d0 + d1 + d2 + d3;
}
