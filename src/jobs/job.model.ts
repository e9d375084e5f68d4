import { setImmediate as yieldToEventLoop } from 'node:timers/promises';

import type { JobRecord, JobState } from '../interfaces/alectio-job.interface.js';

export type { JobState };

export const FINISHED_STATES: readonly JobState[] = ['succeeded', 'failed', 'cancelled'];

/**
 * A recorded result, read back in parts (strings whose concatenation is its JSON): never one
 * string, which a result may be too large for, and never all at once, so that serving it streams.
 */
export interface JobResult {
  /** Its JSON, a part at a time; throws if the store lost it meanwhile (dropped to keep its budget). */
  parts(): AsyncIterable<string>;
}

/** A job as a store gives it back: the wire's {@link JobRecord}, with nulls kept and the result as parts. */
export type StoredJob = Omit<JobRecord, 'result' | 'error'> & {
  /** The answer a synchronous call would have given, without `status`; null until it succeeded. */
  result: JobResult | null;
  error: string | null;
};

/** What a job changes as it runs, before it ends. */
export interface JobUpdate {
  state?: 'running';
  progress?: number;
  message?: string | null;
  started_at?: string;
}

/** How a job ends: recorded once, and whatever is written to it afterwards is ignored. */
export interface JobEnd {
  state: 'succeeded' | 'failed' | 'cancelled';
  finished_at: string;
  progress?: number;
  message?: string | null;
  error?: string | null;
  /** On success, the answer's JSON as parts (any cut of it: each part is stored as given, or sliced). */
  result?: string[];
}

/** What a store keeps of a job that has not ended yet: its record, without a result. */
export type NewJob = Omit<StoredJob, 'result'> & { result: null };

/** A store splits parts longer than this, so that no row, list element or write is large. */
export const MAX_PART_CHARS = 1 << 20;

/** The parts of a result as they are stored: none longer than {@link MAX_PART_CHARS}, none empty. */
export function storedParts(parts: readonly string[]): string[] {
  const out: string[] = [];
  for (const part of parts) {
    if (part.length <= MAX_PART_CHARS) {
      if (part.length > 0) out.push(part); // as it is: reading a character would flatten a rope
      continue;
    }
    for (let at = 0; at < part.length;) {
      let end = Math.min(part.length, at + MAX_PART_CHARS);
      // Never between the two halves of a surrogate pair (an emoji): each half alone is not UTF-8.
      const last = part.charCodeAt(end - 1);
      if (end < part.length && last >= 0xd800 && last <= 0xdbff) end--;
      out.push(part.slice(at, end));
      at = end;
    }
  }
  return out;
}

/**
 * Characters handled between two turns of the event loop when a result is measured or read from
 * memory: an async generator over parts in memory runs on microtasks alone, so a result of
 * hundreds of MB would otherwise be signed or sent in one turn.
 */
const CHARACTERS_PER_TURN = 4 << 20;

/** UTF-8 bytes of parts, measured without joining them, the event loop free every few MiB. */
export async function bytesOf(parts: readonly string[]): Promise<number> {
  let bytes = 0;
  let since = 0;
  for (const part of parts) {
    bytes += Buffer.byteLength(part, 'utf8');
    since += part.length;
    if (since >= CHARACTERS_PER_TURN) {
      since = 0;
      await yieldToEventLoop();
    }
  }
  return bytes;
}

/** A result held in memory, read back as it was given, the event loop free every few MiB. */
export function resultOf(parts: readonly string[]): JobResult {
  return {
    async *parts() {
      let since = 0;
      for (const part of parts) {
        yield part;
        since += part.length;
        if (since >= CHARACTERS_PER_TURN) {
          since = 0;
          await yieldToEventLoop();
        }
      }
    },
  };
}
