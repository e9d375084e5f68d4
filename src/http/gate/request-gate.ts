import { Inject, Injectable, Logger, OnApplicationBootstrap } from '@nestjs/common';
import { ApplicationConfig, HttpAdapterHost } from '@nestjs/core';
import type { NextFunction, Request, Response } from 'express';

import { ALECTIO_LOGGER_CONTEXT, HANDLER_KINDS, HandlerKind } from '../../alectio.constants.js';
import { NO_TOKEN } from '../../alectio.messages.js';
import { ALECTIO_CONFIG, type ResolvedOptions } from '../../options/resolve-options.js';
import { CallLogger } from '../call.logger.js';
import { endpointPath } from '../route-path.js';
import { TokenVerifier } from '../token.verifier.js';
import { JobRouteGate } from './job-route.gate.js';
import { PostGate } from './post.gate.js';
import { normalizePath } from './refusal.js';
import { assertRoutedWhereGuarded, type ExpressRouter } from './route.check.js';

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
export class RequestGate implements OnApplicationBootstrap {
  private readonly posts: PostGate;
  private readonly jobRoutes: JobRouteGate;
  private routes?: { globalPrefix: string; byPath: Map<string, HandlerKind> };
  private adapterHost?: HttpAdapterHost;

  constructor(
    adapterHost: HttpAdapterHost,
    private readonly appConfig: ApplicationConfig,
    @Inject(ALECTIO_CONFIG) private readonly config: ResolvedOptions,
    verifier: TokenVerifier,
    log: CallLogger,
  ) {
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
    if (req.method === 'GET' || req.method === 'DELETE') return this.jobRoutes.handle(this.pathOf('jobs'), req, res, next);
    const kind = req.method === 'POST' ? this.kindOf(req.path) : undefined;
    if (!kind) return next();
    this.posts.handle(kind, req, res, next);
  }

  /** Which endpoint a path is, following the app's global prefix as the router does. */
  private kindOf(path: string): HandlerKind | undefined {
    const globalPrefix = this.appConfig.getGlobalPrefix();
    if (this.routes?.globalPrefix !== globalPrefix) {
      const byPath = new Map(HANDLER_KINDS.map((kind) => [normalizePath(this.pathOf(kind)), kind] as const));
      this.routes = { globalPrefix, byPath };
    }
    return this.routes.byPath.get(normalizePath(path));
  }

  private pathOf(endpoint: HandlerKind | 'jobs'): string {
    return endpointPath(this.appConfig, this.config, endpoint);
  }
}
