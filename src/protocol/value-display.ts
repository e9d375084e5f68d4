/**
 * How messages show the values a client sent or a method returned. Never throws, whatever the
 * value: a message about bad input must not fail on the input.
 */

/** Elements of a list, and characters of a string, that a message shows at most. */
const SHOWN = 12;
/** What stands for the elements left out. */
const MORE = '...';

/** A value as it appears in a message: JSON, cut short. */
export function show(value: unknown): string {
  if (typeof value === 'number' && !Number.isFinite(value)) return String(value); // JSON would say null
  let text: string | undefined;
  try {
    // Only the start of each list and string is written: a 5,000,000-element value in a
    // message must not hold the event loop while all of it is turned into JSON.
    text = JSON.stringify(value, (_key, item: unknown) => shortened(item));
  } catch {
    // Nested too deep for the stack, a getter or a proxy that throws: the kind says enough.
  }
  if (text === undefined) return kindOf(value);
  return text.length > 60 ? `${text.slice(0, 57)}...` : text;
}

function shortened(item: unknown): unknown {
  if (typeof item === 'string' && item.length > 5 * SHOWN) return `${item.slice(0, 5 * SHOWN)}...`;
  if (ArrayBuffer.isView(item) && !(item instanceof DataView)) {
    const list = item as unknown as ArrayLike<number | bigint>;
    const head = Array.from({ length: Math.min(list.length, SHOWN) }, (_, i) =>
      typeof list[i] === 'bigint' ? String(list[i]) : list[i],
    );
    return list.length > SHOWN ? [...head, MORE] : head;
  }
  if (Array.isArray(item) && item.length > SHOWN) return [...item.slice(0, SHOWN), MORE];
  if (item instanceof Map) {
    const head: Record<string, unknown> = {};
    let shown = 0;
    for (const [key, v] of item) {
      if (shown++ === SHOWN) break; // not [...item]: a huge Map is not copied whole
      head[String(key)] = v;
    }
    return head;
  }
  return item;
}

/** What kind of value it is, as a message names it: `null`, `an array`, `an object`, `a string`... */
export function kindOf(value: unknown): string {
  if (value === null || value === undefined) return String(value);
  try {
    if (Array.isArray(value)) return 'an array';
  } catch {
    return 'a revoked proxy';
  }
  return typeof value === 'object' ? 'an object' : `a ${typeof value}`;
}
