/** Buckets of the feature hashing: 2^16, so that few of a mail's words share one. */
export const BUCKETS = 1 << 16;
/**
 * The characters of a mail that are read: the first 10,000, headers first (91% of the corpus's
 * mails are shorter), so that the few huge ones, up to 300,000 characters of base64 attachments
 * and HTML, do not slow the start; reading up to 20,000 or 50,000 scored no better.
 */
export const MAX_CHARS = 10_000;
/**
 * Documents' hashed terms, one after the other (compressed sparse rows): document d's buckets are
 * `buckets[offsets[d]]` to `buckets[offsets[d + 1] - 1]`, ascending, and `tf` holds the sublinear
 * term frequency (1 + ln count) of each. Stateless: the same text gives the same row on every start.
 */
export interface HashedTerms {
  offsets: Int32Array;
  buckets: Int32Array;
  tf: Float32Array;
}

/**
 * Hashes documents' terms: lowercase tokens as scikit-learn's default pattern `\b\w\w+\b` finds
 * them with JavaScript's ASCII `\w` (runs of two or more of `a-z 0-9 _`), each into a bucket by a
 * 32-bit hash. It scans the characters itself rather than running that regular expression: the
 * same tokens, without a string per token, for a faster start.
 */
export class TermHasher {
  private readonly counts = new Int32Array(BUCKETS);
  /** The buckets of the document being added, in the order first met (a typed array: it sorts far faster). */
  private readonly touched = new Int32Array(BUCKETS);
  private offsets: number[] = [0];
  private buckets: number[] = [];
  private tf: number[] = [];

  /** Adds the next document's row. */
  add(text: string): void {
    const { counts, touched } = this;
    const end = Math.min(text.length, MAX_CHARS);
    let hash = FNV_OFFSET;
    let length = 0;
    let distinct = 0;
    for (let i = 0; i <= end; i++) {
      const code = i < end ? text.charCodeAt(i) : 0;
      const lower = code < 128 ? WORD[code] : 0;
      if (lower !== 0) {
        hash = Math.imul(hash ^ lower, FNV_PRIME);
        length++;
        continue;
      }
      if (length >= 2) {
        const bucket = finalized(hash);
        if (counts[bucket]++ === 0) touched[distinct++] = bucket;
      }
      hash = FNV_OFFSET;
      length = 0;
    }
    for (const bucket of touched.subarray(0, distinct).sort()) {
      this.buckets.push(bucket);
      this.tf.push(1 + Math.log(counts[bucket]));
      counts[bucket] = 0;
    }
    this.offsets.push(this.buckets.length);
  }

  /** The rows added so far, in the order they were added. */
  build(): HashedTerms {
    const terms = {
      offsets: Int32Array.from(this.offsets),
      buckets: Int32Array.from(this.buckets),
      tf: Float32Array.from(this.tf),
    };
    this.offsets = [0];
    this.buckets = [];
    this.tf = [];
    return terms;
  }
}

/** Per ASCII code: the lowercase of a word character (`A-Z a-z 0-9 _`), 0 for any other. */
const WORD = new Uint8Array(128).map((_, code) => {
  const char = String.fromCharCode(code);
  return /\w/.test(char) ? char.toLowerCase().charCodeAt(0) : 0;
});
const FNV_OFFSET = 0x811c9dc5;
const FNV_PRIME = 0x01000193;

/** The bucket of a token (lowercase): FNV-1a over its characters, then murmur3's finalizer so that the low bits mix. */
export function bucketOf(token: string): number {
  let hash = FNV_OFFSET;
  for (let i = 0; i < token.length; i++) hash = Math.imul(hash ^ token.charCodeAt(i), FNV_PRIME);
  return finalized(hash);
}

function finalized(hash: number): number {
  let h = hash;
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h & (BUCKETS - 1);
}

/**
 * The inverse document frequency of every bucket over the documents `indices` of `terms` (the
 * labeled ones: nothing else may shape the model), smoothed as scikit-learn's:
 * ln((1 + n) / (1 + df)) + 1. A bucket no labeled document holds gets 0: like a word outside a
 * fitted vocabulary, it counts for nothing, not even in a document's norm.
 */
export function inverseDocumentFrequency(terms: HashedTerms, indices: readonly number[]): Float64Array {
  const df = new Float64Array(BUCKETS);
  for (const d of indices) for (let k = terms.offsets[d]; k < terms.offsets[d + 1]; k++) df[terms.buckets[k]]++;
  const n = indices.length;
  for (let b = 0; b < BUCKETS; b++) df[b] = df[b] === 0 ? 0 : Math.log((1 + n) / (1 + df[b])) + 1;
  return df;
}

/**
 * The factor that makes document `d`'s tf-idf vector of unit length (L2); 0 when none of its
 * buckets has an idf (a mail without a word of the labeled ones).
 */
export function unitScale(terms: HashedTerms, d: number, idf: Float64Array): number {
  let sum = 0;
  for (let k = terms.offsets[d]; k < terms.offsets[d + 1]; k++) {
    const value = terms.tf[k] * idf[terms.buckets[k]];
    sum += value * value;
  }
  return sum === 0 ? 0 : 1 / Math.sqrt(sum);
}
