/**
 * Whether `promise` settled (either way) within `limitMs`: the one timeout race of the module,
 * for waits on methods that may not return and on a Redis that may be gone.
 */
export function within(limitMs: number, promise: Promise<unknown> | undefined): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<boolean>((resolve) => (timer = setTimeout(() => resolve(false), limitMs)));
  return Promise.race([
    Promise.resolve(promise).then(
      () => true,
      () => true,
    ),
    late,
  ]).finally(() => clearTimeout(timer));
}

/** Resolves after `ms` (0 if negative), without keeping the process alive. */
export const delay = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, Math.max(0, ms)).unref());
