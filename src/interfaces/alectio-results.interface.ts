/**
 * Values keyed by index: a plain object (`{0: 3, 1: 7}`), a `Map<number, V>`, or an array
 * (for test, position = index; for infer, position = position in `unlabeled`).
 */
export type Keyed<V> = Record<number, V> | Map<number, V> | readonly V[];

/** A number list as a model produces it: a plain array or a typed array. */
export type Scores = readonly number[] | Float32Array | Float64Array;

/** What the `@Test()` method returns: both keyed by test-sample index, on the same indices. */
export interface TestResult<P = unknown, L = P> {
  predictions: Keyed<P>;
  labels: Keyed<L>;
}

/** What the `@Infer()` method returns: one output per index of `unlabeled`, no other. */
export interface InferResult<O = Scores> {
  outputs: Keyed<O>;
}
