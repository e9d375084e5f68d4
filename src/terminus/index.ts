// nestjs-alectio/terminus: the module's readiness for apps that check their health with
// @nestjs/terminus (an optional peer: only this entry point loads it).

/** `AlectioHealthIndicator`: `isReady(key)`, the checks of `GET /health/ready` as a Terminus indicator. */
export { AlectioHealthIndicator } from './alectio.health-indicator.js';
