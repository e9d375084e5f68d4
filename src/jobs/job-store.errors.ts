import { ServiceUnavailableException } from '@nestjs/common';

import { AlectioConfigurationError } from '../alectio.errors.js';

/**
 * The job store cannot take or give a job right now. Thrown by a store as a Nest HttpException,
 * so that the routes answer it in the protocol's shape (503); its message names the cause and
 * never a server path (start-up errors, for the operator, do name the file).
 */
export class JobStoreUnavailableError extends ServiceUnavailableException {}

/** Another process holds the job database's lock: the store does not wait for it (the event loop would). */
export class JobStoreLockedError extends JobStoreUnavailableError {
  constructor(cause?: unknown) {
    super('the job database is locked by another process; retry', { cause });
  }
}

/** A shared store out of reach for now (its Redis away): a job's writes wait and are tried again. */
export class JobStoreAwayError extends JobStoreUnavailableError {}

/** The job database's disk (or its size limit) is full. */
export class JobStoreFullError extends JobStoreUnavailableError {
  constructor(cause?: unknown) {
    super("the job database's disk is full; retry once space has been freed", { cause });
  }
}

/** SQLite's answer when another connection holds the lock it needs. */
export function isBusy(error: unknown): boolean {
  const code = (error as { code?: unknown }).code;
  return typeof code === 'string' && /^SQLITE_(BUSY|LOCKED)/.test(code);
}

/** A start-up error for the operator: names the option and the file. */
export function openError(file: string, error: unknown): Error {
  if (error instanceof AlectioConfigurationError) return error;
  const code = String((error as { code?: unknown }).code ?? '');
  const message = (error as Error).message;
  const named = `jobsDatabase ${JSON.stringify(file)}`;
  const text =
    code === 'SQLITE_NOTADB'
      ? `${named} is not an SQLite database (${message})`
      : code.startsWith('SQLITE_CORRUPT')
        ? `${named} is a corrupt SQLite database (${message})`
        : isBusy(error)
          ? `${named} is locked by another process (${message})`
          : `${named} cannot be opened (${message})`;
  return new AlectioConfigurationError(text, { cause: error });
}

/** A result larger than the store's whole budget: its job fails with this message. */
export class JobResultTooLargeError extends Error {
  constructor(bytes: number, budget: number) {
    super(
      `the result is ${bytes} bytes, more than the job store keeps (jobResultBytes, ${budget} bytes); ` +
        'ask for it synchronously, or raise jobResultBytes',
    );
  }
}
