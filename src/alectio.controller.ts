import {
  Controller,
  Get,
  Inject,
  InternalServerErrorException,
  Post,
  Req,
  Res,
  Type,
  UseFilters,
  UseGuards,
  VERSION_NEUTRAL,
} from '@nestjs/common';
import type { Request, Response } from 'express';
import { HandlerKind } from './alectio.constants.js';
import { BAD_RESULT, METHOD_FAILED } from './alectio.messages.js';
import { MODULE_OPTIONS_TOKEN } from './alectio.module-definition.js';
import { AlectioRegistry } from './alectio.registry.js';
import { RunTracker } from './alectio.run-tracker.js';
import { ResultContractError } from './alectio.errors.js';
import { AlectioExceptionFilter } from './http/alectio-exception.filter.js';
import { AlectioAuthGuard } from './http/alectio-auth.guard.js';
import { CallLogger } from './http/call.logger.js';
import { sendJson, toProtocolError } from './http/protocol-response.js';
import type { AlectioModuleOptions } from './interfaces/alectio-options.interface.js';
import { serializeInferResult, serializeTestResult } from './results/result.serializer.js';
import { PayloadValidator, type PayloadOf } from './validation/payload.validator.js';

/**
 * The endpoints of PROTOCOL.md. Its routes are fixed; each call asks the registry for the
 * method to run. Answers are written to the response directly, so the host app's global
 * pipes, interceptors and filters cannot reshape the wire protocol.
 */
@Controller({ version: VERSION_NEUTRAL })
@UseFilters(AlectioExceptionFilter)
export class AlectioController {
  constructor(
    private readonly registry: AlectioRegistry,
    private readonly validator: PayloadValidator,
    private readonly tracker: RunTracker,
    private readonly calls: CallLogger,
    @Inject(MODULE_OPTIONS_TOKEN) private readonly options: AlectioModuleOptions,
  ) {}

  @Get('health')
  health(@Res() res: Response): void {
    const handlers = { train: this.registry.has('train'), test: this.registry.has('test'), infer: this.registry.has('infer') };
    sendJson(res, 200, JSON.stringify({ status: 200, handlers, pool_size: this.options.poolSize ?? null }));
  }

  @Post('train')
  @UseGuards(AlectioAuthGuard)
  train(@Req() req: Request, @Res() res: Response): Promise<void> {
    return this.run('train', req, res);
  }

  @Post('test')
  @UseGuards(AlectioAuthGuard)
  test(@Req() req: Request, @Res() res: Response): Promise<void> {
    return this.run('test', req, res);
  }

  @Post('infer')
  @UseGuards(AlectioAuthGuard)
  infer(@Req() req: Request, @Res() res: Response): Promise<void> {
    return this.run('infer', req, res);
  }

  // The body is read from the request, not through @Body(): a global ValidationPipe of the
  // host app would walk every index again, or refuse the fields the protocol says to ignore.
  private async run(kind: HandlerKind, req: Request, res: Response): Promise<void> {
    const started = performance.now();
    const endpoint = `POST /${kind}`;
    let details = '';
    try {
      const payload = this.validator.validate(kind, req.body);
      details = describe(kind, payload);
      const release = this.tracker.enter(kind, payload.ckpt_file);
      let body: string;
      try {
        body = await this.call(kind, payload);
      } finally {
        release();
      }
      sendJson(res, 200, body);
      this.calls.succeeded(endpoint, details, started);
    } catch (exception) {
      const error = toProtocolError(exception);
      this.calls.failed(endpoint, details, started, error, exception);
      sendJson(res, error.status, JSON.stringify(error));
    }
  }

  private async call<K extends HandlerKind>(kind: K, payload: PayloadOf<K>): Promise<string> {
    const handler = this.registry.get(kind)!;
    let result: unknown;
    try {
      result = await handler.call(payload);
    } catch (error) {
      throw new InternalServerErrorException(METHOD_FAILED(kind, handler.name, messageOf(error)), { cause: error });
    }
    try {
      if (kind === 'train') return '{"status":200}';
      if (kind === 'test') return serializeTestResult(result);
      return serializeInferResult(result, (payload as PayloadOf<'infer'>).unlabeled);
    } catch (error) {
      // A getter or toJSON of the customer's result may throw too: still their method's result.
      const reason = error instanceof ResultContractError ? error.message : `reading it threw: ${messageOf(error)}`;
      throw new InternalServerErrorException(BAD_RESULT(kind, handler.name, reason), { cause: error });
    }
  }
}

/** A fresh subclass per module, so that each import of the module can have its own path. */
export function createAlectioController(): Type<AlectioController> {
  class AlectioRoutesController extends AlectioController {}
  return AlectioRoutesController;
}

function describe(kind: HandlerKind, payload: PayloadOf<HandlerKind>): string {
  const sizes =
    kind === 'train'
      ? ` labeled=${(payload as PayloadOf<'train'>).labeled.length}`
      : kind === 'infer'
        ? ` unlabeled=${(payload as PayloadOf<'infer'>).unlabeled.length}`
        : '';
  return `${sizes} ckpt_file=${payload.ckpt_file}`;
}

function messageOf(error: unknown): string {
  if (error instanceof Error) return error.message || error.name;
  return typeof error === 'string' ? error : `threw ${String(error)}`;
}
