import { setImmediate as yieldToEventLoop } from 'node:timers/promises';

import { ResultContractError } from '../../alectio.errors.js';
import { isList, isPlainObject } from '../../util/value-guards.js';
import { OUTPUTS_CLOSE, OUTPUTS_OPEN } from '../answer.js';
import { kindOf } from '../value-display.js';
import { toJson } from './to-json.js';

/** Decimal index, as a key of a JSON object: no sign, no leading zero, a safe integer. */
const INDEX_KEY = /^(0|[1-9][0-9]{0,15})$/;

type Entries = Array<[key: string, value: unknown]>;

/**
 * The `@Test()` result as JSON `{predictions, labels}`, each keyed by test index (object, Map or
 * array), both on the same indices.
 */
export function serializeTestResult(result: unknown): string {
  const { predictions, labels } = fieldsOf(result, 'test', ['predictions', 'labels']);
  const fast = numberListsJson(predictions, labels);
  if (fast !== undefined) return fast;
  const predicted = entriesByIndex(predictions, 'test predictions');
  const labelled = entriesByIndex(labels, 'test labels');
  const labelKeys = new Set(labelled.map(([key]) => key));
  const unlabelled = predicted.filter(([key]) => !labelKeys.has(key));
  if (unlabelled.length > 0 || predicted.length !== labelled.length) {
    const predictedKeys = new Set(predicted.map(([key]) => key));
    const unpredicted = labelled.filter(([key]) => !predictedKeys.has(key));
    const problems = [
      unlabelled.length && `${count(unlabelled.length, 'prediction')} without a label, first index ${unlabelled[0][0]}`,
      unpredicted.length && `${count(unpredicted.length, 'label')} without a prediction, first index ${unpredicted[0][0]}`,
    ].filter(Boolean);
    throw new ResultContractError(`test returned predictions and labels for different indices: ${problems.join('; ')}`);
  }
  return `{"predictions":${objectJson(predicted, 'test prediction')}` + `,"labels":${objectJson(labelled, 'test label')}}`;
}

/**
 * Outputs serialized between two turns of the event loop. A 200,000-output answer takes some
 * 300 ms to write; in chunks of this size no turn takes more than a few, so the server keeps
 * answering /health and the 409s meanwhile.
 */
const OUTPUTS_PER_CHUNK = 1000;

/**
 * The `@Infer()` result as JSON `{outputs}`, keyed by every requested index and no other (an
 * array is read by position in `unlabeled`), in parts whose concatenation is the JSON. Parts,
 * not one string: an answer may be larger than the longest string V8 can hold (~512 MB).
 */
export async function serializeInferResult(result: unknown, unlabeled: number[]): Promise<string[]> {
  const { outputs } = fieldsOf(result, 'infer', ['outputs']);
  const valueAt = outputLookup(outputs, unlabeled);
  const parts = [OUTPUTS_OPEN];
  let missing = 0;
  let firstMissing = -1;
  for (let start = 0; start < unlabeled.length; start += OUTPUTS_PER_CHUNK) {
    if (start > 0) await yieldToEventLoop();
    const chunk: string[] = [];
    for (let i = start; i < Math.min(start + OUTPUTS_PER_CHUNK, unlabeled.length); i++) {
      const value = valueAt(i);
      if (value === undefined) {
        if (missing++ === 0) firstMissing = unlabeled[i];
        continue;
      }
      chunk.push(`"${unlabeled[i]}":${toJson(value, `infer output for index ${unlabeled[i]}`)}`);
    }
    if (chunk.length > 0) parts.push(parts.length > 1 ? `,${chunk.join(',')}` : chunk.join(','));
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

/**
 * The common case of a classifier, two arrays of class ids of one length, in one pass with no
 * intermediate pairs; anything else takes the general path.
 */
function numberListsJson(predictions: unknown, labels: unknown): string | undefined {
  if (!Array.isArray(predictions) || !Array.isArray(labels) || predictions.length !== labels.length) return undefined;
  let p = '';
  let l = '';
  for (let i = 0; i < predictions.length; i++) {
    const a = predictions[i];
    const b = labels[i];
    if (typeof a !== 'number' || typeof b !== 'number' || !Number.isFinite(a) || !Number.isFinite(b)) return undefined;
    const comma = i === 0 ? '' : ',';
    p += `${comma}"${i}":${a}`;
    l += `${comma}"${i}":${b}`;
  }
  return `{"predictions":{${p}},"labels":{${l}}}`;
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

/** Keyed-by-index values as [decimal key, value] pairs; an array's position is its index. */
function entriesByIndex(keyed: unknown, what: string): Entries {
  const entries: Entries = [];
  if (isList(keyed)) {
    for (let i = 0; i < keyed.length; i++) if (keyed[i] !== undefined) entries.push([String(i), keyed[i]]);
    return entries;
  }
  let pairs: Iterable<[unknown, unknown]>;
  if (keyed instanceof Map) pairs = keyed;
  else if (isPlainObject(keyed)) pairs = Object.entries(keyed);
  else throw new ResultContractError(`${what} is ${kindOf(keyed)}, not an object, Map or array keyed by index`);
  for (const [key, value] of pairs) {
    const text = String(key);
    if (!INDEX_KEY.test(text) || !Number.isSafeInteger(Number(text))) {
      throw new ResultContractError(`${what} has the key ${JSON.stringify(text)}, which is not an index`);
    }
    if (value !== undefined) entries.push([text, value]);
  }
  return entries;
}

function objectJson(entries: Entries, what: string): string {
  return `{${entries.map(([key, value]) => `"${key}":${toJson(value, `${what} for index ${key}`)}`).join(',')}}`;
}

function count(n: number, noun: string): string {
  return `${n} ${noun}${n === 1 ? '' : 's'}`;
}

function extraKeys(keys: string[], requested: number[]): string[] {
  const wanted = new Set(requested.map(String));
  return keys.filter((key) => !wanted.has(key)).slice(0, 1);
}
