import { ResultContractError } from '../alectio.errors.js';
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
    throw new ResultContractError(
      `test returned predictions and labels for different indices: ${problems.join('; ')}`,
    );
  }
  return (
    `{"predictions":${objectJson(predicted, 'test prediction')}` +
    `,"labels":${objectJson(labelled, 'test label')}}`
  );
}

/**
 * The `@Infer()` result as JSON `{outputs}`, keyed by every requested index and no other (an
 * array is read by position in `unlabeled`).
 */
export function serializeInferResult(result: unknown, unlabeled: number[]): string {
  const { outputs } = fieldsOf(result, 'infer', ['outputs']);
  const parts = new Array<string>(unlabeled.length);
  let missing = 0;
  let firstMissing = -1;
  const put = (i: number, value: unknown): void => {
    if (value === undefined) {
      if (missing++ === 0) firstMissing = unlabeled[i];
      return;
    }
    parts[i] = `"${unlabeled[i]}":${toJson(value, `infer output for index ${unlabeled[i]}`)}`;
  };

  let extra: string[] = [];
  if (isList(outputs)) {
    for (let i = 0; i < unlabeled.length; i++) put(i, outputs[i]);
    if (outputs.length > unlabeled.length) extra = [`position ${unlabeled.length}`];
  } else if (outputs instanceof Map) {
    for (let i = 0; i < unlabeled.length; i++) {
      const key = unlabeled[i];
      put(i, outputs.has(key) ? outputs.get(key) : outputs.get(String(key)));
    }
    if (outputs.size > unlabeled.length - missing) extra = extraKeys([...outputs.keys()].map(String), unlabeled);
  } else if (isPlainObject(outputs)) {
    for (let i = 0; i < unlabeled.length; i++) {
      const key = String(unlabeled[i]);
      put(i, Object.hasOwn(outputs, key) ? outputs[key] : undefined);
    }
    const keys = Object.keys(outputs);
    if (keys.length > unlabeled.length - missing) extra = extraKeys(keys, unlabeled);
  } else {
    throw new ResultContractError(`infer returned outputs as ${kindOf(outputs)}, not an object, Map or array`);
  }

  if (missing > 0) {
    throw new ResultContractError(
      `infer returned no output for ${missing} of ${unlabeled.length} requested indices, first ${firstMissing}`,
    );
  }
  if (extra.length > 0) {
    throw new ResultContractError(
      `infer returned outputs for indices that were not requested, first ${extra[0]}`,
    );
  }
  return `{"outputs":{${parts.join(',')}}}`;
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

function isList(value: unknown): value is ArrayLike<unknown> {
  return Array.isArray(value) || (ArrayBuffer.isView(value) && !(value instanceof DataView));
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  return value !== null && typeof value === 'object' && !Array.isArray(value);
}

function kindOf(value: unknown): string {
  if (value === null || value === undefined) return String(value);
  if (Array.isArray(value)) return 'an array';
  return typeof value === 'object' ? `a ${value.constructor?.name ?? 'object'}` : `a ${typeof value}`;
}
