/**
 * The known name nearest to `name` (case-insensitive edit distance), if near enough to be a
 * typo: at most a third of its length, or a known name it begins (`inferChunk`). A few names to
 * compare once at start-up: no library needed.
 */
export function closest(name: string, known: readonly string[]): string | undefined {
  let best: string | undefined;
  let bestDistance = Math.max(2, Math.floor(name.length / 3)) + 1;
  for (const candidate of known) {
    const [given, known] = [name.toLowerCase(), candidate.toLowerCase()];
    const distance = given.length >= 4 && known.startsWith(given) ? 1 : editDistance(given, known);
    if (distance < bestDistance) [best, bestDistance] = [candidate, distance];
  }
  return best;
}

/** Levenshtein distance, one row at a time. */
function editDistance(a: string, b: string): number {
  let previous = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const row = [i];
    for (let j = 1; j <= b.length; j++) {
      row[j] = Math.min(previous[j] + 1, row[j - 1] + 1, previous[j - 1] + (a[i - 1] === b[j - 1] ? 0 : 1));
    }
    previous = row;
  }
  return previous[b.length];
}
