import { BadRequestException, Inject, Injectable } from '@nestjs/common';
import { getMetadataStorage, validateSync } from 'class-validator';

import { DEFAULT_CHECKPOINT_NAME, HandlerKind } from '../../alectio.constants.js';
import { ALECTIO_CONFIG, type ResolvedOptions } from '../../options/resolve-options.js';
import { kindOf } from '../value-display.js';
import { firstRepeatOfHugeIndices, repeatMessage } from './duplicate-indices.js';
import { InferPayload } from './infer.dto.js';
import { PAYLOAD_CONTEXTS, PayloadContext } from './payload-context.js';
import { TestPayload } from './test.dto.js';
import { TrainPayload } from './train.dto.js';

const PAYLOADS = { train: TrainPayload, test: TestPayload, infer: InferPayload } as const;

/** The payload class of each endpoint. */
export type PayloadOf<K extends HandlerKind> = InstanceType<(typeof PAYLOADS)[K]>;

/**
 * Turns a parsed body into the payload a method receives, by the rules its DTO declares.
 *
 * Not Nest's ValidationPipe: `plainToInstance` copies every element of a 1,000,000-index list
 * and a global pipe of the host app (say, `forbidNonWhitelisted`) would refuse the extra
 * fields PROTOCOL.md says to ignore. Only the DTO's declared fields are copied, by reference.
 */
@Injectable()
export class PayloadValidator {
  private readonly isCheckpointName: (name: string) => boolean;
  private readonly checkpointRule: string;
  private readonly fields = new Map<Function, string[]>();

  constructor(@Inject(ALECTIO_CONFIG) private readonly config: ResolvedOptions) {
    const rule = config.checkpointName;
    if (rule instanceof RegExp) {
      // A global or sticky RegExp keeps state between test() calls; a copy without them does not.
      const pattern = new RegExp(rule.source, rule.flags.replace(/[gy]/g, ''));
      this.isCheckpointName = (name) => pattern.test(name);
      this.checkpointRule =
        rule === DEFAULT_CHECKPOINT_NAME
          ? 'a plain file name (1 to 255 characters from A-Z a-z 0-9 . _ -, not starting with ".")'
          : `a checkpoint name matching ${rule}`;
    } else {
      this.isCheckpointName = rule;
      this.checkpointRule = 'a checkpoint name accepted by the checkpointName rule';
    }
  }

  /** Returns the payload, or throws a 400 listing every broken rule. */
  async validate<K extends HandlerKind>(kind: K, body: unknown): Promise<PayloadOf<K>> {
    if (body === null || typeof body !== 'object' || Array.isArray(body)) {
      throw new BadRequestException([`body must be a JSON object, got ${kindOf(body)}`]);
    }
    const type = PAYLOADS[kind];
    const payload = new type() as PayloadOf<K> & Record<string, unknown>;
    for (const field of this.fieldsOf(type)) {
      if (Object.hasOwn(body, field)) payload[field] = (body as Record<string, unknown>)[field];
    }
    const context: PayloadContext = {
      poolSize: this.config.poolSize ?? undefined,
      isCheckpointName: this.isCheckpointName,
      checkpointRule: this.checkpointRule,
      notes: new Map(),
      deferred: [],
    };
    PAYLOAD_CONTEXTS.set(payload, context);
    const errors = validateSync(payload, { validationError: { target: false, value: false } });
    PAYLOAD_CONTEXTS.delete(payload);
    if (errors.length > 0) {
      // Decorators register bottom-up; reversed, the messages follow the order the DTO lists its rules.
      throw new BadRequestException(errors.flatMap((error) => Object.values(error.constraints ?? {}).reverse()));
    }
    for (const { property, list } of context.deferred) {
      const at = await firstRepeatOfHugeIndices(list);
      if (at >= 0) throw new BadRequestException([repeatMessage(property, list, at)]);
    }
    if (kind === 'train') payload.resume_from = payload.resume_from || null;
    return payload;
  }

  private fieldsOf(type: Function): string[] {
    let fields = this.fields.get(type);
    if (!fields) {
      const rules = getMetadataStorage().getTargetValidationMetadatas(type, '', true, false);
      fields = [...new Set(rules.map((rule) => rule.propertyName))];
      this.fields.set(type, fields);
    }
    return fields;
  }
}
