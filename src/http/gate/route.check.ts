import { HANDLER_KINDS, type HandlerKind } from '../../alectio.constants.js';
import { AlectioConfigurationError } from '../../alectio.errors.js';
import { ROUTE_MOVED } from '../../alectio.messages.js';

/** The little of Express 5's router the start-up check reads. */
export interface ExpressRouter {
  stack: Array<{ route?: { methods?: Record<string, boolean> }; match(path: string): boolean }>;
}

/**
 * The gate must guard the paths the router serves. A RouterModule path or a global-prefix
 * `exclude` moves the routes where the gate cannot see them: refuse to start rather than
 * serve them without the early token check and with Nest's 100 KiB limit.
 */
export function assertRoutedWhereGuarded(router: ExpressRouter, pathOf: (kind: HandlerKind) => string): void {
  for (const kind of HANDLER_KINDS) {
    const path = pathOf(kind);
    const routed = router.stack.some((layer) => layer.route?.methods?.post && layer.match(path));
    if (!routed) throw new AlectioConfigurationError(ROUTE_MOVED(kind, path));
  }
}
