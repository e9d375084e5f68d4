// Reading /infer's outputs: a classifier's logits, a detector's boxes with their pre-softmax
// rows, and the vector of each output that the diversity strategies measure distances between.

/** Softmax of logits, shifted by their maximum so exp() cannot overflow. */
export function softmax(logits: readonly number[]): number[] {
  let max = -Infinity;
  for (const z of logits) max = Math.max(max, z); // not Math.max(...logits): 200,000 arguments overflow the stack
  const exp = logits.map((z) => Math.exp(z - max));
  const sum = exp.reduce((a, b) => a + b, 0);
  return exp.map((e) => e / sum);
}

/** The logits in a classification output: a list of numbers. */
export function logitsOf(output: unknown, index: number): number[] {
  if (!Array.isArray(output) || output.length === 0 || !output.every(isFiniteNumber)) {
    throw new Error(`infer output for index ${index} is not a list of logits (numbers)`);
  }
  return output as number[];
}

/**
 * The pre-softmax rows of a detection output `{boxes, pre_softmax, scores}`, one per box, each
 * a non-empty list of numbers; `[]` for an image with no box, a valid output.
 */
export function preSoftmaxRowsOf(output: unknown, index: number): number[][] {
  const { boxes, pre_softmax: rows } = (output ?? {}) as { boxes?: unknown; pre_softmax?: unknown };
  const valid =
    Array.isArray(boxes) &&
    Array.isArray(rows) &&
    rows.length === boxes.length &&
    rows.every((row) => Array.isArray(row) && row.length > 0 && row.every(isFiniteNumber));
  if (!valid) {
    throw new Error(
      `infer output for index ${index} is not a detection output {boxes, pre_softmax, scores} with one row of numbers per box`,
    );
  }
  return rows as number[][];
}

function isFiniteNumber(value: unknown): boolean {
  return typeof value === 'number' && Number.isFinite(value);
}

/**
 * One vector per output, all of one length, for k-center greedy:
 * - an output that is an object carrying an `embedding` list of numbers: that list (every output
 *   of the answer then needs one). PROTOCOL.md's outputs are "whatever the problem needs"; this
 *   extra field lets a model offer its own features, and a platform that does not know it ignores it;
 * - a classification output: its logits, as they are;
 * - a detection output without one: per class, the largest softmax probability over its boxes
 *   (zeros for an image with no box), so two images look alike when they hold the same objects
 *   as surely.
 */
export function vectorsOf(entries: readonly (readonly [number, unknown])[], task: 'classification' | 'detection'): number[][] {
  const withEmbedding = entries.filter(([, output]) => embeddingOf(output) !== undefined).length;
  if (withEmbedding > 0 && withEmbedding < entries.length) {
    const [index] = entries.find(([, output]) => embeddingOf(output) === undefined)!;
    throw new Error(`infer output for index ${index} has no "embedding", which ${withEmbedding} other outputs carry`);
  }
  const vectors = entries.map(([index, output]) => {
    const embedding = embeddingOf(output);
    if (embedding !== undefined) {
      if (embedding.length === 0 || !embedding.every(isFiniteNumber)) {
        throw new Error(`infer output for index ${index} has an "embedding" that is not a non-empty list of numbers`);
      }
      return embedding as number[];
    }
    return task === 'classification' ? logitsOf(output, index) : classPresence(preSoftmaxRowsOf(output, index), index);
  });
  // A detector's image with no box has no row to tell the class count: its zeros take the others' length.
  const width = vectors.find((v) => v.length > 0)?.length ?? 0;
  return vectors.map((vector, i) => {
    if (vector.length === 0) return new Array<number>(width).fill(0);
    if (vector.length !== width) {
      throw new Error(
        `infer output for index ${entries[i][0]} gives a vector of ${vector.length} numbers where the others give ${width}: ` +
          'core-set measures distances between vectors of one length',
      );
    }
    return vector;
  });
}

function embeddingOf(output: unknown): unknown[] | undefined {
  if (output === null || typeof output !== 'object' || Array.isArray(output)) return undefined;
  const { embedding } = output as { embedding?: unknown };
  if (embedding === undefined) return undefined;
  return Array.isArray(embedding) ? embedding : [embedding]; // not a list: refused by the caller's check
}

/** Per class, the largest probability any box gives it; `[]` for an image with no box. */
function classPresence(rows: number[][], index: number): number[] {
  if (rows.length === 0) return [];
  const presence = new Array<number>(rows[0].length).fill(0);
  for (const row of rows) {
    if (row.length !== presence.length) {
      throw new Error(`infer output for index ${index} has pre-softmax rows of different lengths`);
    }
    softmax(row).forEach((p, c) => (presence[c] = Math.max(presence[c], p)));
  }
  return presence;
}
