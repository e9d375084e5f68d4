/**
 * How messages show the values a client sent or a method returned. Never throws, whatever the
 * value: a message about bad input must not fail on the input.
 */

/** A value as it appears in a message: JSON, cut short. */
export function show(value: unknown): string {
  if (typeof value === 'number' && !Number.isFinite(value)) return String(value); // JSON would say null
  let text: string | undefined;
  try {
    text = JSON.stringify(value);
  } catch {
    // Nested too deep for the stack (JSON.parse takes more depth than stringify does).
  }
  if (text === undefined) return kindOf(value);
  return text.length > 60 ? `${text.slice(0, 57)}...` : text;
}

/** What kind of value it is, as a message names it: `null`, `an array`, `an object`, `a string`... */
export function kindOf(value: unknown): string {
  if (value === null || value === undefined) return String(value);
  if (Array.isArray(value)) return 'an array';
  return typeof value === 'object' ? 'an object' : `a ${typeof value}`;
}
