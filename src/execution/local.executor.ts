import { Inject, Injectable, InternalServerErrorException } from '@nestjs/common';

import { HandlerKind } from '../alectio.constants.js';
import { ResultContractError } from '../alectio.errors.js';
import { BAD_RESULT, METHOD_FAILED } from '../alectio.messages.js';
import { AlectioRegistry } from '../discovery/alectio.registry.js';
import type { AlectioContext } from '../interfaces/alectio-context.interface.js';
import { ALECTIO_CONFIG, type ResolvedOptions } from '../options/resolve-options.js';
import type { PayloadOf } from '../protocol/payload/payload.validator.js';
import { serializeInferResult, serializeTestResult } from '../protocol/result/result.serializer.js';
import { shapeCheck } from '../protocol/result/task-shape.js';
import type { WorkExecutor } from './work-executor.js';

/**
 * Runs the work in this process: calls the method for a validated payload and checks its
 * result (against the task's shape too, when one is set). A pool's workers run their pieces through it too, so the checks are the same.
 */
@Injectable()
export class LocalExecutor implements WorkExecutor {
  constructor(
    private readonly registry: AlectioRegistry,
    @Inject(ALECTIO_CONFIG) private readonly config: ResolvedOptions,
  ) {}

  async execute<K extends HandlerKind>(kind: K, payload: PayloadOf<K>, context: AlectioContext): Promise<string[]> {
    const handler = this.registry.get(kind)!;
    let result: unknown;
    try {
      result = await handler.call(payload, context);
    } catch (error) {
      throw new InternalServerErrorException(METHOD_FAILED(kind, handler.name, messageOf(error)), { cause: error });
    }
    try {
      if (kind === 'train') return ['{}'];
      const shape = shapeCheck(this.config.task);
      if (kind === 'test') return [serializeTestResult(result, shape)];
      return await serializeInferResult(result, (payload as PayloadOf<'infer'>).unlabeled, shape);
    } catch (error) {
      // A getter or toJSON of the customer's result may throw too: still their method's result.
      const reason = error instanceof ResultContractError ? error.message : `reading it threw: ${messageOf(error)}`;
      throw new InternalServerErrorException(BAD_RESULT(kind, handler.name, reason), { cause: error });
    }
  }
}

function messageOf(error: unknown): string {
  if (error instanceof Error) return error.message || error.name;
  return typeof error === 'string' ? error : `threw ${String(error)}`;
}
