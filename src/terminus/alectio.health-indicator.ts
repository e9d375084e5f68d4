import { Injectable } from '@nestjs/common';
import { HealthIndicatorService } from '@nestjs/terminus';

import { notReadyMessage, ReadinessService } from '../health/readiness.service.js';

/**
 * The module's readiness as a `@nestjs/terminus` indicator, for an app that checks its health
 * with Terminus: the same checks as `GET /health/ready` (methods discovered, not draining, and in
 * distributed mode Redis answering and a worker connected).
 *
 * ```ts
 * @Get('health') @HealthCheck()
 * check() { return this.health.check([() => this.alectio.isReady('alectio')]); }
 * ```
 */
@Injectable()
export class AlectioHealthIndicator {
  constructor(
    private readonly indicators: HealthIndicatorService,
    private readonly readiness: ReadinessService,
  ) {}

  /** `up` with every check, or `down` with every check and the message of `GET /health/ready`'s 503. */
  async isReady<const Key extends string = 'alectio'>(key: Key = 'alectio' as Key) {
    const session = this.indicators.check(key);
    const readiness = await this.readiness.check();
    if (readiness.ready) return session.up({ checks: readiness.checks });
    return session.down({ message: notReadyMessage(readiness), checks: readiness.checks });
  }
}
