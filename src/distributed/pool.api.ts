import { OnApplicationShutdown } from '@nestjs/common';

import type { LocalTrainingSlot } from '../execution/local-training.slot.js';
import type { ResolvedDistributedOptions } from '../options/resolve-options.js';
import { PiecesInFlight } from './pieces-in-flight.js';
import { loadPoolLibraries, poolConfig } from './pool.config.js';
import { PoolExecutor } from './pool.executor.js';
import { PoolLink } from './pool.link.js';
import { PoolTrainingSlot } from './pool-training.slot.js';

/**
 * The API process's side of a pool, assembled: the link to Redis, the pieces in flight, and
 * the executor and training slot that the module provides in place of the local ones.
 */
export class PoolApi implements OnApplicationShutdown {
  private constructor(
    private readonly link: PoolLink,
    readonly executor: PoolExecutor,
    readonly slot: PoolTrainingSlot,
  ) {}

  /** Connects (waiting up to 5 s for Redis, then serving anyway: 503s until it is there). */
  static async start(options: ResolvedDistributedOptions, local: LocalTrainingSlot): Promise<PoolApi> {
    const link = new PoolLink(await loadPoolLibraries(), poolConfig(options));
    const pieces = new PiecesInFlight(link);
    const slot = new PoolTrainingSlot(link, local);
    await link.start({
      completed: (id) => void pieces.completed(id),
      failed: (id, reason) => pieces.failed(id, reason),
      removed: (id) => pieces.removed(id),
      progress: (id, data) => pieces.progress(id, data),
      lost: () => pieces.lost(),
      reconnected: async () => void (await Promise.all([pieces.reconnected(), slot.reconnected()])),
      tick: () => pieces.tick(),
    });
    return new PoolApi(link, new PoolExecutor(link, pieces, slot), slot);
  }

  onApplicationShutdown(): Promise<void> {
    return this.link.close();
  }
}
