import { HttpStatus, Inject, Injectable, Logger, OnApplicationBootstrap } from '@nestjs/common';
import { ApplicationConfig, HttpAdapterHost } from '@nestjs/core';
import bodyParser from 'body-parser';
import type { NextFunction, Request, Response } from 'express';

import { ALECTIO_LOGGER_CONTEXT, DEFAULT_BODY_LIMIT, HANDLER_KINDS, HandlerKind } from '../alectio.constants.js';
import { AlectioConfigurationError } from '../alectio.errors.js';
import {
  EMPTY_BODY,
  NO_TOKEN,
  NOT_JSON,
  NOT_UTF8,
  ROUTE_MOVED,
  TOO_LARGE,
  TOO_NESTED,
  UNAUTHORIZED,
  UNKNOWN_JOB,
} from '../alectio.messages.js';
import { MODULE_OPTIONS_TOKEN } from '../alectio.module-definition.js';
import type { AlectioModuleOptions } from '../interfaces/alectio-options.interface.js';
import { CallLogger } from './call.logger.js';
import { holdsTooManyContainers, MAX_CONTAINERS } from './json-shape.guard.js';
import { protocolError, sendJson } from './protocol-response.js';
import { endpointPath } from './route-path.js';
import { TokenVerifier } from './token.verifier.js';

type BodyParserError = Error & { type?: string; limit?: number; status?: number };

const TOO_NESTED_TYPE = 'alectio.too.nested';
/** `application/json`, any case, with or without parameters (group 1: the parameters). */
const JSON_MEDIA_TYPE = /^\s*application\/json\s*(;.*)?$/i;

/**
 * What has to happen before Nest sees a request to POST /train, /test or /infer: the token
 * check (401 before a byte of the body is read), then the body, parsed with the module's own
 * limit (64 MiB by default) while the app's other routes keep theirs.
 *
 * It is mounted on Express as soon as the HTTP adapter exists, before `app.init()` adds Nest's
 * app-wide JSON parser (100 KiB), which then sees the body parsed and leaves it. Route-level
 * middleware would run after that parser, too late for both jobs. So it also runs before any
 * `app.use()` of the host app: the requests it refuses are not seen by the host's middleware.
 */
@Injectable()
export class RequestGate implements OnApplicationBootstrap {
  private readonly parseJson: ReturnType<typeof bodyParser.json>;
  /** False in an app without HTTP (a worker of a pool, from createApplicationContext). */
  private serving = false;
  private routes?: { globalPrefix: string; byPath: Map<string, HandlerKind> };
  private adapterHost?: HttpAdapterHost;

  constructor(
    adapterHost: HttpAdapterHost,
    private readonly appConfig: ApplicationConfig,
    @Inject(MODULE_OPTIONS_TOKEN) private readonly options: AlectioModuleOptions,
    private readonly verifier: TokenVerifier,
    private readonly calls: CallLogger,
  ) {
    // The gate checks the content type itself, for the protocol's 400. Not strict: a body of
    // valid JSON that is not an object is told so by the validator, not called invalid JSON.
    this.parseJson = bodyParser.json({
      limit: options.bodyLimit ?? DEFAULT_BODY_LIMIT,
      strict: false,
      type: () => true,
      verify: (_req, _res, bytes) => {
        if (holdsTooManyContainers(bytes)) throw Object.assign(new Error(TOO_NESTED(MAX_CONTAINERS)), { type: TOO_NESTED_TYPE });
      },
    });
    // init$ replays once the adapter exists (at once under NestFactory.create, at
    // createNestApplication under @nestjs/testing), then completes: nothing to unsubscribe.
    adapterHost.init$.subscribe(() => this.mount(adapterHost));
  }

  /**
   * The gate must guard the paths the router serves. A RouterModule path or a global-prefix
   * `exclude` moves the routes where the gate cannot see them: refuse to start rather than
   * serve them without the early token check and with Nest's 100 KiB limit.
   */
  onApplicationBootstrap(): void {
    if (!this.options.token && this.serving) new Logger(ALECTIO_LOGGER_CONTEXT).warn(NO_TOKEN);
    const app = this.adapterHost?.httpAdapter.getInstance<{ router?: ExpressRouter; _router?: ExpressRouter }>();
    const router = app?.router ?? app?._router;
    if (!router) return;
    for (const kind of HANDLER_KINDS) {
      const path = this.pathOf(kind);
      const routed = router.stack.some((layer) => layer.route?.methods?.post && layer.match(path));
      if (!routed) throw new AlectioConfigurationError(ROUTE_MOVED(kind, path));
    }
  }

  private mount(adapterHost: HttpAdapterHost): void {
    const adapter = adapterHost.httpAdapter;
    if (!adapter) return;
    this.serving = true;
    if (adapter.getType() !== 'express') {
      new Logger(ALECTIO_LOGGER_CONTEXT).warn(
        `nestjs-alectio is built for @nestjs/platform-express; on ${adapter.getType()} the token is checked ` +
          `after the body is read and the body limit is the app's own`,
      );
      return;
    }
    this.adapterHost = adapterHost;
    // Not named "jsonParser": Nest would take it for its own and skip the app-wide parser.
    const gate = (req: Request, res: Response, next: NextFunction): void => this.handle(req, res, next);
    adapter.use(gate);
  }

  private handle(req: Request, res: Response, next: NextFunction): void {
    if (req.method === 'GET' || req.method === 'DELETE') return this.handleJobRoute(req, res, next);
    const kind = req.method === 'POST' ? this.kindOf(req.path) : undefined;
    if (!kind) return next();
    const started = performance.now();
    const reject = (status: number, message: string): void => {
      const error = protocolError(status, message);
      this.calls.failed(`POST /${kind}`, '', started, error);
      sendJson(res, status, JSON.stringify(error));
    };
    if (!this.verifier.isAuthorized(req.headers.authorization)) return reject(HttpStatus.UNAUTHORIZED, UNAUTHORIZED);
    const contentType = req.headers['content-type'];
    if (req.headers['transfer-encoding'] === undefined && req.headers['content-length'] === undefined) {
      return reject(HttpStatus.BAD_REQUEST, EMPTY_BODY);
    }
    // The media type alone, before any parameter; compared as type-is would, in one regex.
    const media = JSON_MEDIA_TYPE.exec(contentType ?? '');
    if (!media) return reject(HttpStatus.BAD_REQUEST, NOT_JSON(contentType));
    // RFC 8259: JSON between systems is UTF-8; the nesting guard reads the bytes as such.
    const charset = media[1] === undefined ? undefined : /;\s*charset\s*=\s*"?([^";\s]*)/i.exec(contentType!)?.[1];
    if (charset !== undefined && !/^utf-?8$/i.test(charset)) return reject(HttpStatus.BAD_REQUEST, NOT_UTF8(charset));
    this.parseJson(req, res, (error?: BodyParserError) => {
      if (error) return reject(...this.parseFailure(error));
      // A training run may take hours: no idle timeout of this server may cut its answer off.
      req.socket.setTimeout(0);
      next();
    });
  }

  /**
   * Job routes: the token first, and an id that is not valid percent-encoding answered here,
   * as the router would refuse it in Nest's own error shape before any guard or filter runs.
   */
  private handleJobRoute(req: Request, res: Response, next: NextFunction): void {
    const jobs = normalize(endpointPath(this.appConfig, this.options, 'jobs'));
    const path = normalize(req.path);
    const rawId = path.startsWith(`${jobs}/`) ? req.path.replace(/\/+$/, '').split('/').pop()! : undefined;
    if (path !== jobs && rawId === undefined) return next();
    const started = performance.now();
    const reject = (status: number, message: string): void => {
      const error = protocolError(status, message);
      this.calls.failed(`${req.method} /jobs`, '', started, error);
      sendJson(res, status, JSON.stringify(error));
    };
    if (!this.verifier.isAuthorized(req.headers.authorization)) return reject(HttpStatus.UNAUTHORIZED, UNAUTHORIZED);
    if (rawId !== undefined) {
      try {
        decodeURIComponent(rawId);
      } catch {
        return reject(HttpStatus.NOT_FOUND, UNKNOWN_JOB(rawId));
      }
    }
    next();
  }

  private parseFailure(error: BodyParserError): [number, string] {
    switch (error.type) {
      case 'entity.too.large':
        return [HttpStatus.PAYLOAD_TOO_LARGE, TOO_LARGE(error.limit ?? 0)];
      case TOO_NESTED_TYPE:
        return [HttpStatus.BAD_REQUEST, error.message];
      case 'entity.parse.failed':
        return [HttpStatus.BAD_REQUEST, `body is not valid JSON: ${error.message}`];
      default:
        return [HttpStatus.BAD_REQUEST, `body could not be read: ${error.message}`];
    }
  }

  /** Which endpoint a path is, following the app's global prefix as the router does. */
  private kindOf(path: string): HandlerKind | undefined {
    const globalPrefix = this.appConfig.getGlobalPrefix();
    if (this.routes?.globalPrefix !== globalPrefix) {
      const byPath = new Map(HANDLER_KINDS.map((kind) => [normalize(this.pathOf(kind)), kind] as const));
      this.routes = { globalPrefix, byPath };
    }
    return this.routes.byPath.get(normalize(path));
  }

  private pathOf(kind: HandlerKind): string {
    return endpointPath(this.appConfig, this.options, kind);
  }
}

/** The little of Express 5's router the start-up check reads. */
interface ExpressRouter {
  stack: Array<{ route?: { methods?: Record<string, boolean> }; match(path: string): boolean }>;
}

// Express routes ignore case and a trailing slash; so must the gate, or it could be stepped around.
function normalize(path: string): string {
  return `/${path.toLowerCase().replace(/^\/+|\/+$/g, '')}`;
}
