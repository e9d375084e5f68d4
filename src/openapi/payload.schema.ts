import { getMetadataStorage } from 'class-validator';

import { DEFAULT_CHECKPOINT_NAME } from '../alectio.constants.js';
import type { ResolvedOptions } from '../options/resolve-options.js';

/** A JSON Schema object as OpenAPI 3.0 writes it. */
export type Schema = Record<string, unknown>;

/**
 * The OpenAPI schema of a payload class (TrainPayload, TestPayload, InferPayload), read from the
 * rules its properties carry, the ones the validator runs: each rule adds what it demands. A rule
 * the schema cannot say (a `checkpointName` function) is said in the description.
 */
export function payloadSchema(payload: Function, config: Pick<ResolvedOptions, 'poolSize' | 'checkpointName'>): Schema {
  const storage = getMetadataStorage();
  const properties: Record<string, Schema> = {};
  const required: string[] = [];
  for (const rule of storage.getTargetValidationMetadatas(payload, '', false, false)) {
    const name = storage.getTargetValidatorConstraints(rule.constraintCls as Function)[0]?.name;
    const property = (properties[rule.propertyName] ??= {});
    const constraints = (rule.constraints ?? []) as unknown[];
    switch (name) {
      case 'isIndexList': {
        const [min] = constraints as [number];
        Object.assign(property, {
          type: 'array',
          // The rules apply in any order: a pool's bound, set already, stays.
          items: { type: 'integer', minimum: 0, maximum: Number.MAX_SAFE_INTEGER, ...(property.items as Schema) },
          ...(min > 0 ? { minItems: min } : {}),
        });
        if (!required.includes(rule.propertyName)) required.push(rule.propertyName);
        break;
      }
      case 'hasNoDuplicateIndices':
        property.uniqueItems = true;
        break;
      case 'isInPool':
        if (config.poolSize !== null) property.items = { ...(property.items as Schema), maximum: config.poolSize - 1 };
        else property.items ??= {};
        break;
      case 'isCheckpointName': {
        const [optional] = constraints as [boolean];
        Object.assign(property, checkpointSchema(config.checkpointName, optional));
        if (!optional) required.push(rule.propertyName);
        break;
      }
    }
  }
  return { type: 'object', required, properties };
}

/** A checkpoint name; `optional` (resume_from): also null, absent or "", which all mean "start fresh". */
function checkpointSchema(rule: ResolvedOptions['checkpointName'], optional: boolean): Schema {
  const fresh = optional ? { nullable: true } : {};
  const blank = (pattern: string): string => (optional ? `^$|${pattern}` : pattern);
  const freshNote = optional ? '; null, "" or absent to start fresh' : '';
  if (rule === DEFAULT_CHECKPOINT_NAME) {
    return {
      type: 'string',
      ...(optional ? {} : { minLength: 1 }),
      maxLength: 255,
      pattern: blank(rule.source),
      description: `a plain file name: 1 to 255 characters of A-Z a-z 0-9 . _ -, not starting with "."${freshNote}`,
      ...fresh,
    };
  }
  if (rule instanceof RegExp) {
    // A JSON Schema pattern has no flags: they are said in the description.
    const flags = rule.flags.replace(/[gy]/g, '');
    return {
      type: 'string',
      pattern: blank(rule.source),
      description: `a name matching ${rule.source}${flags ? ` with the flags ${flags}` : ''}${freshNote}`,
      ...fresh,
    };
  }
  return {
    type: 'string',
    description: `a checkpoint name that the module's checkpointName function accepts${freshNote}`,
    ...fresh,
  };
}
