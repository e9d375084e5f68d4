import { setImmediate as yieldToEventLoop } from 'node:timers/promises';

import { ResultContractError } from '../../alectio.errors.js';
import { isList, isPlainObject } from '../../util/value-guards.js';
import { OUTPUTS_CLOSE, OUTPUTS_OPEN } from '../answer.js';
import { kindOf } from '../value-display.js';
import type { ShapeCheck } from './task-shape.js';
import { toJson } from './to-json.js';

/**
 * The `@Test()` result as JSON `{predictions, labels}`, each keyed by test index (object, Map or
 * array), both on the same indices. Checked in the order of the messages: the keys of both, then
 * that they match, then every value (against the task's shape, when one is set).
 */
export function serializeTestResult(result: unknown, shape?: ShapeCheck): string {
  const { predictions, labels } = fieldsOf(result, 'test', ['predictions', 'labels']);
  const predicted = indexKeys(predictions, 'test predictions');
  const labelled = indexKeys(labels, 'test labels');
  const mismatch = coverageMismatch(predicted.keys, labelled.keys);
  if (mismatch) throw new ResultContractError(`test returned predictions and labels for different indices: ${mismatch}`);
  if (shape) {
    predicted.values.forEach((value, k) => shape.check(value, 'prediction', predicted.keys[k]));
    labelled.values.forEach((value, k) => shape.check(value, 'label', labelled.keys[k]));
  }
  return `{"predictions":${keyedJson(predicted, 'test prediction')},"labels":${keyedJson(labelled, 'test label')}}`;
}

/**
 * Outputs serialized between two turns of the event loop, at most so many outputs or so many
 * characters of JSON, whichever comes first. A 200,000-output answer takes some 300 ms to write,
 * and 5,000 detection outputs (20 boxes × 81 classes each) are 160 MB; in chunks this size no turn
 * takes more than a few ms, so the server keeps answering /health and the 409s meanwhile.
 */
const OUTPUTS_PER_CHUNK = 1000;
const CHARACTERS_PER_CHUNK = 1 << 19;

/**
 * The `@Infer()` result as JSON `{outputs}`, keyed by every requested index and no other (an
 * array is read by position in `unlabeled`), in parts whose concatenation is the JSON. Parts,
 * not one string: an answer may be larger than the longest string V8 can hold (~512 MB).
 */
export async function serializeInferResult(result: unknown, unlabeled: number[], shape?: ShapeCheck): Promise<string[]> {
  const { outputs } = fieldsOf(result, 'infer', ['outputs']);
  const valueAt = outputLookup(outputs, unlabeled);
  const parts = [OUTPUTS_OPEN];
  let missing = 0;
  let firstMissing = -1;
  for (let start = 0; start < unlabeled.length;) {
    if (start > 0) await yieldToEventLoop();
    const chunk: string[] = [];
    let characters = 0;
    let i = start;
    for (; i < unlabeled.length && i < start + OUTPUTS_PER_CHUNK && characters < CHARACTERS_PER_CHUNK; i++) {
      const value = valueAt(i);
      if (value === undefined) {
        if (missing++ === 0) firstMissing = unlabeled[i];
        continue;
      }
      shape?.check(value, 'output', unlabeled[i]);
      const json = toJson(value, 'infer output', unlabeled[i]);
      characters += json.length;
      // The comma before a later part goes on its first pair: the part stays one flat string.
      chunk.push(`${chunk.length === 0 && parts.length > 1 ? ',' : ''}"${unlabeled[i]}":${json}`);
    }
    if (chunk.length > 0) parts.push(chunk.join(','));
    start = i;
  }
  if (missing > 0) {
    throw new ResultContractError(
      `infer returned no output for ${missing} of ${unlabeled.length} requested indices, first ${firstMissing}`,
    );
  }
  const extra = extraOutput(outputs, unlabeled);
  if (extra !== undefined) {
    throw new ResultContractError(`infer returned outputs for indices that were not requested, first ${extra}`);
  }
  parts.push(OUTPUTS_CLOSE);
  return parts;
}

/** The output for position `i` of `unlabeled`, from an array, a typed array, a Map or an object. */
function outputLookup(outputs: unknown, unlabeled: number[]): (i: number) => unknown {
  if (isList(outputs)) return (i) => outputs[i];
  if (outputs instanceof Map) {
    return (i) => (outputs.has(unlabeled[i]) ? outputs.get(unlabeled[i]) : outputs.get(String(unlabeled[i])));
  }
  if (isPlainObject(outputs)) {
    return (i) => {
      const key = String(unlabeled[i]);
      return Object.hasOwn(outputs, key) ? outputs[key] : undefined;
    };
  }
  throw new ResultContractError(`infer returned outputs as ${kindOf(outputs)}, not an object, Map or array`);
}

/** The first output for an index that was not requested, once every requested one is there. */
function extraOutput(outputs: unknown, unlabeled: number[]): string | undefined {
  if (isList(outputs)) return outputs.length > unlabeled.length ? `position ${unlabeled.length}` : undefined;
  const keys = outputs instanceof Map ? [...outputs.keys()].map(String) : Object.keys(outputs as object);
  return keys.length > unlabeled.length ? extraKeys(keys, unlabeled)[0] : undefined;
}

function fieldsOf<K extends string>(result: unknown, method: string, fields: K[]): Record<K, unknown> {
  if (result === null || typeof result !== 'object') {
    throw new ResultContractError(`${method} must return {${fields.join(', ')}}, got ${kindOf(result)}`);
  }
  const record = result as Record<K, unknown>;
  for (const field of fields) {
    if (record[field] === undefined || record[field] === null) {
      throw new ResultContractError(`${method} must return {${fields.join(', ')}}: ${field} is missing`);
    }
  }
  return record;
}

/** Test predictions or labels read once: their indices as decimal keys, and the value of each. */
interface Indexed {
  keys: string[];
  values: unknown[];
}

/**
 * The indices and values of test predictions or labels, in their order, every key checked and
 * those holding `undefined` then left out (an array's hole, an absent field); an array's
 * position is its index. Each value is read here once: a getter is not asked twice.
 */
function indexKeys(keyed: unknown, what: string): Indexed {
  const keys: string[] = [];
  const values: unknown[] = [];
  if (isList(keyed)) {
    for (let i = 0; i < keyed.length; i++) {
      const value = keyed[i];
      if (value === undefined) continue;
      keys.push(String(i));
      values.push(value);
    }
    return { keys, values };
  }
  if (keyed instanceof Map) {
    let numbers = true;
    for (const [key, value] of keyed) {
      const text = indexKey(String(key), what);
      if (value === undefined) continue;
      numbers &&= typeof key === 'number';
      keys.push(text);
      values.push(value);
    }
    // Only a Map can hold one index under two keys (3 and '3', 3n): distinct numbers cannot.
    if (!numbers) {
      const seen = new Set<string>();
      for (const key of keys) {
        if (seen.has(key)) throw new ResultContractError(`${what} has the index ${key} twice, under keys of different types`);
        seen.add(key);
      }
    }
    return { keys, values };
  }
  if (!isPlainObject(keyed)) {
    throw new ResultContractError(`${what} is ${kindOf(keyed)}, not an object, Map or array keyed by index`);
  }
  for (const key of Object.keys(keyed)) {
    indexKey(key, what);
    const value = keyed[key];
    if (value === undefined) continue;
    keys.push(key);
    values.push(value);
  }
  return { keys, values };
}

/** `key` if it is a decimal index (no sign, no leading zero, a safe integer), else the error. */
function indexKey(key: string, what: string): string {
  const length = key.length;
  let digits = length > 0 && length <= 16 && (key.charCodeAt(0) !== 48 || length === 1);
  for (let i = 0; digits && i < length; i++) {
    const code = key.charCodeAt(i);
    digits = code >= 48 && code <= 57;
  }
  if (!digits || !Number.isSafeInteger(Number(key))) {
    throw new ResultContractError(`${what} has the key ${JSON.stringify(key)}, which is not an index`);
  }
  return key;
}

/** What differs between the indices of predictions and labels, or '' when they are the same. */
function coverageMismatch(predicted: string[], labelled: string[]): string {
  // The usual case, both in the same order (arrays, objects): one pass, no sets.
  if (predicted.length === labelled.length) {
    let i = 0;
    while (i < predicted.length && predicted[i] === labelled[i]) i++;
    if (i === predicted.length) return '';
  }
  const labelKeys = new Set(labelled);
  const predictedKeys = new Set(predicted);
  const unlabelled = predicted.filter((key) => !labelKeys.has(key));
  const unpredicted = labelled.filter((key) => !predictedKeys.has(key));
  // The same indices listed in another order (a Map filled in another order); none is listed twice.
  if (unlabelled.length === 0 && unpredicted.length === 0) return '';
  return [
    unlabelled.length && `${count(unlabelled.length, 'prediction')} without a label, first index ${unlabelled[0]}`,
    unpredicted.length && `${count(unpredicted.length, 'label')} without a prediction, first index ${unpredicted[0]}`,
  ]
    .filter(Boolean)
    .join('; ');
}

/**
 * Keyed-by-index values as a JSON object, a pair at a time: for an object of class ids, faster
 * than JSON.stringify, which takes its slow path on integer keys.
 */
function keyedJson({ keys, values }: Indexed, what: string): string {
  const parts = new Array<string>(keys.length);
  for (let k = 0; k < keys.length; k++) {
    const value = values[k];
    parts[k] = `"${keys[k]}":${typeof value === 'number' && Number.isFinite(value) ? value : toJson(value, what, keys[k])}`;
  }
  return `{${parts.join(',')}}`;
}

function count(n: number, noun: string): string {
  return `${n} ${noun}${n === 1 ? '' : 's'}`;
}

function extraKeys(keys: string[], requested: number[]): string[] {
  const wanted = new Set(requested.map(String));
  return keys.filter((key) => !wanted.has(key)).slice(0, 1);
}
