import { ResultContractError } from '../../alectio.errors.js';

// Deeper than this is a cycle or a mistake, not a model's output.
const MAX_DEPTH = 64;

/**
 * JSON of one value of a result, as PROTOCOL.md wants it: typed arrays as arrays, Maps as
 * objects, and NaN or ±Infinity refused (JSON.stringify would quietly send them as null).
 * The error names the value: `subject`, or `<subject> for index <index>` when an index is given.
 *
 * A result is checked for every value and its message built only when one is wrong: a value
 * made of plain arrays, plain objects, finite numbers, strings, booleans and null (what models
 * return nearly always) is checked in one pass and written by V8's own JSON.stringify; anything
 * else, or anything wrong, takes the general path, which names the offending place.
 */
export function toJson(value: unknown, subject: string, index?: number | string): string {
  if (isPlainJson(value, 0)) return JSON.stringify(value);
  try {
    return generalJson(value, 0);
  } catch (error) {
    if (!(error instanceof BadValue)) throw error; // the customer's own toJSON or getter threw
    const where = index === undefined ? subject : `${subject} for index ${index}`;
    throw new ResultContractError(`${where}${error.path} ${error.reason}`);
  }
}

/** Whether JSON.stringify writes `value` exactly as the general path would, with nothing to refuse. */
function isPlainJson(value: unknown, depth: number): boolean {
  switch (typeof value) {
    case 'number':
      return Number.isFinite(value);
    case 'string':
    case 'boolean':
      return true;
    case 'object':
      break;
    default:
      return false; // undefined (a hole), a function, a bigint, a symbol
  }
  if (value === null) return true;
  if (depth >= MAX_DEPTH) return false;
  // JSON.stringify would follow a toJSON (own, a subclass's, a polluted prototype's) where the
  // general path writes the elements: an array with one is not plain.
  if (typeof (value as { toJSON?: unknown }).toJSON === 'function') return false;
  if (Array.isArray(value)) {
    for (let i = 0; i < value.length; i++) {
      const item: unknown = value[i];
      if (typeof item === 'number' ? !Number.isFinite(item) : !isPlainJson(item, depth + 1)) return false;
    }
    return true;
  }
  const prototype: unknown = Object.getPrototypeOf(value);
  if (prototype !== Object.prototype && prototype !== null) return false; // a Map, a typed array, a class instance
  for (const key of Object.keys(value)) {
    const item = (value as Record<string, unknown>)[key];
    if (item !== undefined && !isPlainJson(item, depth + 1)) return false;
  }
  return true;
}

/**
 * What is wrong with a value, and where inside it: each enclosing array or object prefixes its
 * step on the way out, so no path is built unless something is wrong.
 */
class BadValue extends Error {
  constructor(
    readonly reason: string,
    public path = '',
  ) {
    super(reason);
  }
}

function within<T>(step: string, write: () => T): T {
  try {
    return write();
  } catch (error) {
    if (error instanceof BadValue) error.path = `${step}${error.path}`;
    throw error;
  }
}

function generalJson(value: unknown, depth: number): string {
  switch (typeof value) {
    case 'number':
      if (!Number.isFinite(value)) throw new BadValue(`is ${value}, not a finite number`);
      return JSON.stringify(value);
    case 'string':
    case 'boolean':
      return JSON.stringify(value);
    case 'object':
      break;
    default:
      throw new BadValue(`is ${valueName(value)}, which JSON cannot carry`);
  }
  if (value === null) return 'null';
  if (depth >= MAX_DEPTH) throw new BadValue(`is nested deeper than ${MAX_DEPTH} levels (a cycle?)`);
  if (Array.isArray(value)) return arrayJson(value, depth);
  if (ArrayBuffer.isView(value) && !(value instanceof DataView)) return typedArrayJson(value);
  if (value instanceof Map) {
    const parts: string[] = [];
    for (const [key, item] of value) {
      parts.push(`${JSON.stringify(String(key))}:${within(`[${String(key)}]`, () => generalJson(item, depth + 1))}`);
    }
    return `{${parts.join(',')}}`;
  }
  if (typeof (value as { toJSON?: unknown }).toJSON === 'function') {
    return generalJson((value as { toJSON(): unknown }).toJSON(), depth + 1);
  }
  const parts: string[] = [];
  for (const key of Object.keys(value)) {
    const item = (value as Record<string, unknown>)[key];
    if (item === undefined) continue; // as JSON.stringify does with an absent field
    parts.push(`${JSON.stringify(key)}:${within(`.${key}`, () => generalJson(item, depth + 1))}`);
  }
  return `{${parts.join(',')}}`;
}

function arrayJson(list: unknown[], depth: number): string {
  const parts = new Array<string>(list.length);
  for (let i = 0; i < list.length; i++) {
    const item = list[i];
    if (item === undefined) throw new BadValue('is missing (undefined)', `[${i}]`);
    parts[i] = isPlainJson(item, depth + 1) ? JSON.stringify(item) : within(`[${i}]`, () => generalJson(item, depth + 1));
  }
  return `[${parts.join(',')}]`;
}

function typedArrayJson(view: ArrayBufferView): string {
  const list = view as unknown as ArrayLike<number | bigint>;
  const parts = new Array<string>(list.length);
  for (let i = 0; i < list.length; i++) {
    const v = list[i];
    if (typeof v === 'bigint') {
      if (v > BigInt(Number.MAX_SAFE_INTEGER) || v < BigInt(Number.MIN_SAFE_INTEGER)) {
        throw new BadValue(`is ${v}, beyond what a JSON number carries exactly`, `[${i}]`);
      }
      parts[i] = v.toString();
    } else {
      if (!Number.isFinite(v)) throw new BadValue(`is ${v}, not a finite number`, `[${i}]`);
      parts[i] = JSON.stringify(v);
    }
  }
  return `[${parts.join(',')}]`;
}

function valueName(value: unknown): string {
  if (typeof value === 'bigint') return `the bigint ${value}`;
  if (typeof value === 'function') return 'a function';
  return String(value);
}
