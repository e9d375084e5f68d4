import { Inject, Injectable } from '@nestjs/common';

import { AlectioRegistry } from '../discovery/alectio.registry.js';
import { RunSupervisor } from '../execution/run.supervisor.js';
import { POOL_API } from '../roles/pool-api.token.js';

/** One check of readiness: whether it holds, and what was seen. */
export interface ReadinessCheck {
  ok: boolean;
  detail: string;
}

/** What readiness asks of distributed mode's API process (its `PoolApi`): Redis and the workers. */
export interface PoolProbe {
  probe(): Promise<Record<'redis' | 'workers', ReadinessCheck>>;
}

/** What `GET /health/ready` answers: ready when every check holds. */
export interface Readiness {
  ready: boolean;
  /** `methods` and `accepting` always; `redis` and `workers` in distributed mode's API process. */
  checks: Record<string, ReadinessCheck>;
}

/**
 * Whether this server can take the platform's work now: its methods are discovered, it is not
 * draining, and in distributed mode Redis answers and at least one worker takes work. The probe
 * routes, the Terminus indicator and anything else ask here: one place for the rule.
 */
@Injectable()
export class ReadinessService {
  constructor(
    private readonly registry: AlectioRegistry,
    private readonly supervisor: RunSupervisor,
    @Inject(POOL_API) private readonly pool: PoolProbe | null,
  ) {}

  async check(): Promise<Readiness> {
    const found = (['train', 'test', 'infer'] as const).filter((kind) => this.registry.has(kind));
    const checks: Record<string, ReadinessCheck> = {
      methods:
        found.length === 3
          ? { ok: true, detail: 'train, test and infer are discovered' }
          : { ok: false, detail: 'the @Train(), @Test() and @Infer() methods are not discovered yet' },
      accepting: this.supervisor.stopping
        ? { ok: false, detail: 'the server is shutting down and accepts no new work' }
        : { ok: true, detail: 'accepting work' },
      ...(this.pool ? await this.pool.probe() : {}),
    };
    return { ready: Object.values(checks).every((check) => check.ok), checks };
  }
}

/** `not ready: name: detail; ...`, the message of every answer that says the server is not ready. */
export function notReadyMessage({ checks }: Readiness): string {
  const failing = Object.entries(checks).filter(([, check]) => !check.ok);
  return `not ready: ${failing.map(([name, check]) => `${name}: ${check.detail}`).join('; ')}`;
}
