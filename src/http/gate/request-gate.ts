import type { IncomingMessage, Server, ServerResponse } from 'node:http';

import {
  BeforeApplicationShutdown,
  HttpStatus,
  Inject,
  Injectable,
  Logger,
  OnApplicationBootstrap,
  Optional,
} from '@nestjs/common';
import { ApplicationConfig, HttpAdapterHost } from '@nestjs/core';
import type { NextFunction, Request, Response } from 'express';

import { ALECTIO_LOGGER_CONTEXT, HANDLER_KINDS, HandlerKind } from '../../alectio.constants.js';
import { METHOD_NOT_ALLOWED, NO_ENDPOINT, NO_TOKEN, UNAUTHORIZED } from '../../alectio.messages.js';
import { ALECTIO_METRICS, type AlectioMetrics } from '../../metrics/alectio.metrics.js';
import { ALECTIO_CONFIG, type ResolvedOptions } from '../../options/resolve-options.js';
import { CallLogger } from '../call.logger.js';
import { endpointPath } from '../route-path.js';
import { TokenVerifier } from '../token.verifier.js';
import { JobRouteGate } from './job-route.gate.js';
import { PostGate } from './post.gate.js';
import { isClosing, normalizePath, refuse } from './refusal.js';
import { assertRoutedWhereGuarded, type ExpressRouter } from './route.check.js';

/** One of the module's routes: the methods it answers; a POST endpoint's kind, or the job routes. */
interface Route {
  allow: string[];
  kind?: HandlerKind;
  jobs?: boolean;
  metrics?: boolean;
}

/** After the grace period, a moment for the last answers (the 503s of calls cut off) to go out. */
const CLOSE_MARGIN_MS = 1000;

/**
 * What has to happen before Nest sees a request to the module's routes: the {@link PostGate}
 * for POST /train, /test and /infer, the {@link JobRouteGate} for the job routes.
 *
 * It is mounted on Express as soon as the HTTP adapter exists, before `app.init()` adds Nest's
 * app-wide JSON parser (100 KiB), which then sees the body parsed and leaves it. Route-level
 * middleware would run after that parser, too late for both jobs. So it also runs before any
 * `app.use()` of the host app: the requests it refuses are not seen by the host's middleware.
 * Only the HTTP side composes it: a pool's worker has none.
 */
@Injectable()
export class RequestGate implements OnApplicationBootstrap, BeforeApplicationShutdown {
  private readonly posts: PostGate;
  private readonly jobRoutes: JobRouteGate;
  private routes?: { globalPrefix: string; byPath: Map<string, Route>; base: string; jobs: string };
  private readonly log: CallLogger;
  private adapterHost?: HttpAdapterHost;

  constructor(
    adapterHost: HttpAdapterHost,
    private readonly appConfig: ApplicationConfig,
    @Inject(ALECTIO_CONFIG) private readonly config: ResolvedOptions,
    private readonly verifier: TokenVerifier,
    log: CallLogger,
    @Optional() @Inject(ALECTIO_METRICS) private readonly metrics: AlectioMetrics | null = null,
  ) {
    this.log = log;
    this.posts = new PostGate(config.bodyLimit, verifier, log);
    this.jobRoutes = new JobRouteGate(verifier, log);
    // init$ replays once the adapter exists (at once under NestFactory.create, at
    // createNestApplication under @nestjs/testing), then completes: nothing to unsubscribe.
    adapterHost.init$.subscribe(() => this.mount(adapterHost));
  }

  onApplicationBootstrap(): void {
    const adapter = this.adapterHost?.httpAdapter;
    if (!adapter) return; // no HTTP server (createApplicationContext): nothing to guard
    if (!this.config.token) new Logger(ALECTIO_LOGGER_CONTEXT).warn(NO_TOKEN);
    const app = adapter.getInstance<{ router?: ExpressRouter; _router?: ExpressRouter }>();
    const router = app?.router ?? app?._router;
    if (router) assertRoutedWhereGuarded(router, (kind) => this.pathOf(kind));
    // Node answers `Expect: 100-continue` itself unless someone listens; the gate listens, so that
    // a request its headers already refuse is told so (401, 413...) instead of "go on, send it".
    const server = adapter.getHttpServer() as Server | undefined;
    if (server?.listenerCount('checkContinue') === 0) {
      server.on('checkContinue', (req: IncomingMessage, res: ServerResponse) => {
        const route = req.method === 'POST' ? this.routeOf(normalizePath(pathnameOf(req.url))) : undefined;
        if (!route?.kind || !this.posts.refusalOf(req)) res.writeContinue();
        server.emit('request', req, res);
      });
    }
  }

  /**
   * Node's `server.close()`, which Nest calls after this hook, waits for every connection that is
   * not idle (one that sent half a header, or part of a body) and stops enforcing the header and
   * request timeouts on them: one such client would keep the stopped process alive for ever. Once
   * the grace period (and a margin) has passed, every connection is closed, whatever it is doing.
   */
  beforeApplicationShutdown(): void {
    const server = this.adapterHost?.httpAdapter?.getHttpServer() as Server | undefined;
    if (typeof server?.closeAllConnections !== 'function') return;
    setTimeout(() => server.closeAllConnections(), this.config.shutdownGraceMs + CLOSE_MARGIN_MS).unref();
  }

  private mount(adapterHost: HttpAdapterHost): void {
    const adapter = adapterHost.httpAdapter;
    if (!adapter) return;
    this.adapterHost = adapterHost;
    if (adapter.getType() !== 'express') {
      new Logger(ALECTIO_LOGGER_CONTEXT).warn(
        `nestjs-alectio is built for @nestjs/platform-express; on ${adapter.getType()} the token is checked ` +
          `after the body is read and the body limit is the app's own`,
      );
      return;
    }
    // Not named "jsonParser": Nest would take it for its own and skip the app-wide parser.
    const gate = (req: Request, res: Response, next: NextFunction): void => this.handle(req, res, next);
    adapter.use(gate);
  }

  private handle(req: Request, res: Response, next: NextFunction): void {
    // A request pipelined behind a refusal that closes the connection is not served (RFC 9112 9.6).
    if (isClosing(req.socket)) return;
    // CORS preflights are the host app's (its cors middleware runs after the gate).
    if (req.method === 'OPTIONS') return next();
    const path = normalizePath(req.path);
    const route = this.routeOf(path);
    if (!route) {
      // The module owns its prefix: an unknown path under it is the protocol's 404, not Nest's.
      if (this.config.prefix && path.startsWith(`${this.routes!.base}/`)) {
        return refuse(
          this.log,
          res,
          `${req.method} ${req.path}`,
          performance.now(),
          HttpStatus.NOT_FOUND,
          NO_ENDPOINT(req.path, this.routes!.base),
        );
      }
      return next();
    }
    const method = req.method === 'HEAD' ? 'GET' : req.method;
    if (!route.allow.includes(method)) {
      res.setHeader('Allow', route.allow.join(', '));
      const message = METHOD_NOT_ALLOWED(req.method, req.path, route.allow);
      return refuse(this.log, res, `${req.method} ${req.path}`, performance.now(), HttpStatus.METHOD_NOT_ALLOWED, message, {
        close: true,
      });
    }
    if (route.kind) return this.posts.handle(route.kind, req, res, next);
    if (route.jobs) return this.jobRoutes.handle(this.pathOf('jobs'), req, res, next);
    if (route.metrics) return void this.scrape(req, res);
    next();
  }

  /**
   * `GET /metrics`, answered here, before the app's middleware, guards and router: the route
   * exists only when the module serves metrics (a route of Nest's would exist whatever the
   * options, since they may come from a factory, and stand in front of the app's own `/metrics`).
   */
  private async scrape(req: Request, res: Response): Promise<void> {
    const started = performance.now();
    if (!this.verifier.authorize(req)) {
      return refuse(this.log, res, `GET /metrics`, started, HttpStatus.UNAUTHORIZED, UNAUTHORIZED);
    }
    try {
      const { registry } = this.metrics!;
      const text = await registry.metrics();
      res.statusCode = 200;
      res.setHeader('Content-Type', registry.contentType);
      res.end(req.method === 'HEAD' ? undefined : text);
    } catch (error) {
      refuse(
        this.log,
        res,
        `GET /metrics`,
        started,
        HttpStatus.INTERNAL_SERVER_ERROR,
        `metrics failed: ${(error as Error).message}`,
      );
    }
  }

  /** Which of the module's routes a normalized path is, following the app's global prefix as the router does. */
  private routeOf(path: string): Route | undefined {
    const globalPrefix = this.appConfig.getGlobalPrefix();
    if (this.routes?.globalPrefix !== globalPrefix) {
      const byPath = new Map<string, Route>(
        HANDLER_KINDS.map((kind) => [normalizePath(this.pathOf(kind)), { allow: ['POST'], kind }]),
      );
      for (const probe of ['health', 'health/live', 'health/ready'] as const) {
        byPath.set(normalizePath(this.pathOf(probe)), { allow: ['GET'] });
      }
      // Only when the module serves it: otherwise `/metrics` is the app's.
      if (this.config.metrics?.endpoint) byPath.set(normalizePath(this.pathOf('metrics')), { allow: ['GET'], metrics: true });
      byPath.set(normalizePath(this.pathOf('jobs')), { allow: ['GET'], jobs: true });
      const base = normalizePath(endpointPath(this.appConfig, this.config));
      this.routes = { globalPrefix, byPath, base, jobs: normalizePath(this.pathOf('jobs')) };
    }
    const { jobs } = this.routes;
    if (path.startsWith(`${jobs}/`) && !path.slice(jobs.length + 1).includes('/'))
      return { allow: ['GET', 'DELETE'], jobs: true };
    return this.routes.byPath.get(path);
  }

  private pathOf(endpoint: HandlerKind | 'jobs' | 'health' | 'health/live' | 'health/ready' | 'metrics'): string {
    return endpointPath(this.appConfig, this.config, endpoint);
  }
}

/** The path of a request's target, as Express reads it: origin form, or absolute form (`http://host/train`). */
function pathnameOf(url = '/'): string {
  try {
    return new URL(url, 'http://localhost').pathname;
  } catch {
    return url.split(/[?#]/)[0];
  }
}
