/** Metadata key under which `@Train()`, `@Test()` and `@Infer()` record their kind. */
export const ALECTIO_HANDLER_METADATA = 'alectio:handler_metadata';

/** The three methods the platform calls, in the order of a loop. */
export const HANDLER_KINDS = ['train', 'test', 'infer'] as const;
export type HandlerKind = (typeof HANDLER_KINDS)[number];

/** Default body limit: PROTOCOL.md says 64 MiB (a 1,000,000-index list is about 7 MB). */
export const DEFAULT_BODY_LIMIT = 64 * 1024 * 1024;

/**
 * PROTOCOL.md's checkpoint name: a plain file name of 1 to 255 characters from
 * `A-Z a-z 0-9 . _ -`, not starting with `.`, so it can never leave the checkpoint folder.
 */
export const DEFAULT_CHECKPOINT_NAME = /^[A-Za-z0-9_-][A-Za-z0-9._-]{0,254}$/;

/** The logger context of every line the module writes. */
export const ALECTIO_LOGGER_CONTEXT = 'Alectio';
