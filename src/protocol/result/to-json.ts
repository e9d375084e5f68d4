import { ResultContractError } from '../../alectio.errors.js';

// Deeper than this is a cycle or a mistake, not a model's output.
const MAX_DEPTH = 64;

/**
 * JSON of one value of a result, as PROTOCOL.md wants it: typed arrays as arrays, Maps as
 * objects, and NaN or ±Infinity refused (JSON.stringify would quietly send them as null).
 * `where` names the value in the error message.
 */
export function toJson(value: unknown, where: string, depth = 0): string {
  switch (typeof value) {
    case 'number':
      if (!Number.isFinite(value)) throw new ResultContractError(`${where} is ${value}, not a finite number`);
      return JSON.stringify(value);
    case 'string':
    case 'boolean':
      return JSON.stringify(value);
    case 'object':
      break;
    default:
      throw new ResultContractError(`${where} is ${valueName(value)}, which JSON cannot carry`);
  }
  if (value === null) return 'null';
  if (depth >= MAX_DEPTH) throw new ResultContractError(`${where} is nested deeper than ${MAX_DEPTH} levels (a cycle?)`);
  if (Array.isArray(value)) return numberArrayJson(value) ?? arrayJson(value, where, depth);
  if (ArrayBuffer.isView(value) && !(value instanceof DataView)) return typedArrayJson(value, where);
  if (value instanceof Map) {
    const parts: string[] = [];
    for (const [key, item] of value) {
      parts.push(`${JSON.stringify(String(key))}:${toJson(item, `${where}[${String(key)}]`, depth + 1)}`);
    }
    return `{${parts.join(',')}}`;
  }
  if (typeof (value as { toJSON?: unknown }).toJSON === 'function') {
    return toJson((value as { toJSON(): unknown }).toJSON(), where, depth + 1);
  }
  const parts: string[] = [];
  for (const key of Object.keys(value)) {
    const item = (value as Record<string, unknown>)[key];
    if (item === undefined) continue; // as JSON.stringify does with an absent field
    parts.push(`${JSON.stringify(key)}:${toJson(item, `${where}.${key}`, depth + 1)}`);
  }
  return `{${parts.join(',')}}`;
}

// The common case, a list of logits: one check, then V8's own stringify.
function numberArrayJson(list: unknown[]): string | undefined {
  for (let i = 0; i < list.length; i++) {
    const v = list[i];
    if (typeof v !== 'number' || !Number.isFinite(v)) return undefined;
  }
  return JSON.stringify(list);
}

function arrayJson(list: unknown[], where: string, depth: number): string {
  const parts = new Array<string>(list.length);
  for (let i = 0; i < list.length; i++) {
    const item = list[i];
    if (item === undefined) throw new ResultContractError(`${where}[${i}] is missing (undefined)`);
    parts[i] = toJson(item, `${where}[${i}]`, depth + 1);
  }
  return `[${parts.join(',')}]`;
}

function typedArrayJson(view: ArrayBufferView, where: string): string {
  const list = view as unknown as ArrayLike<number | bigint>;
  const parts = new Array<string>(list.length);
  for (let i = 0; i < list.length; i++) {
    const v = list[i];
    if (typeof v === 'bigint') {
      if (v > BigInt(Number.MAX_SAFE_INTEGER) || v < BigInt(Number.MIN_SAFE_INTEGER)) {
        throw new ResultContractError(`${where}[${i}] is ${v}, beyond what a JSON number carries exactly`);
      }
      parts[i] = v.toString();
    } else {
      if (!Number.isFinite(v)) throw new ResultContractError(`${where}[${i}] is ${v}, not a finite number`);
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
