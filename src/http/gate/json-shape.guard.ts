/**
 * The most arrays and objects a body may hold. A protocol body holds two or three; extra
 * fields the platform adds are a few more. 64 MiB of `[[],[],...]` is 32 million of them,
 * which JSON.parse takes seconds and gigabytes to build, during which nothing else is served.
 */
export const MAX_CONTAINERS = 10_000;

const OPEN_ARRAY = 0x5b;
const OPEN_OBJECT = 0x7b;
const QUOTE = 0x22;
const BACKSLASH = 0x5c;

/**
 * Whether UTF-8 JSON `bytes` opens more than `limit` arrays and objects. Counting the bracket
 * bytes with indexOf (native, a few calls on a normal body) settles almost every body; only
 * one that has more brackets than the limit is walked byte by byte, skipping strings.
 */
export function holdsTooManyContainers(bytes: Buffer, limit = MAX_CONTAINERS): boolean {
  if (countByte(bytes, OPEN_ARRAY, limit) + countByte(bytes, OPEN_OBJECT, limit) <= limit) return false;
  let containers = 0;
  let inString = false;
  for (let i = 0; i < bytes.length; i++) {
    const byte = bytes[i];
    if (inString) {
      if (byte === BACKSLASH) i++;
      else if (byte === QUOTE) inString = false;
    } else if (byte === QUOTE) {
      inString = true;
    } else if ((byte === OPEN_ARRAY || byte === OPEN_OBJECT) && ++containers > limit) {
      return true;
    }
  }
  return false;
}

function countByte(bytes: Buffer, byte: number, limit: number): number {
  let count = 0;
  for (let at = bytes.indexOf(byte); at !== -1 && count <= limit; at = bytes.indexOf(byte, at + 1)) count++;
  return count;
}
