/** Type guards shared by the result serializer and the simulator, which read the same shapes. */

/** A non-null object that is not an array: a plain object, a class instance, a Map... */
export function isPlainObject(value: unknown): value is Record<string, unknown> {
  return value !== null && typeof value === 'object' && !Array.isArray(value);
}

/** An array or a typed array (what a tensor library returns), read by position. */
export function isList(value: unknown): value is ArrayLike<unknown> {
  return Array.isArray(value) || (ArrayBuffer.isView(value) && !(value instanceof DataView));
}
