import { registerDecorator, ValidationArguments, ValidatorConstraint, ValidatorConstraintInterface } from 'class-validator';

import { kindOf, show } from '../value-display.js';
import { BITMAP_MAX_INDEX, firstRepeatByBitmap, isIndex, repeatMessage } from './duplicate-indices.js';
import { contextOf, fail, noteOf } from './payload-context.js';

// Each rule walks the list once. class-validator's `each: true` rules (and Nest's
// ValidationPipe around them) cost ~300 ms on 1,000,000 indices; `@ArrayUnique()` is quadratic.

@ValidatorConstraint({ name: 'isIndexList' })
class IsIndexListConstraint implements ValidatorConstraintInterface {
  validate(value: unknown, args: ValidationArguments): boolean {
    const [min] = args.constraints as [number];
    const field = args.property;
    if (value === undefined || value === null) return fail(args, 'isIndexList', `${field} is required`);
    if (!Array.isArray(value)) {
      return fail(args, 'isIndexList', `${field} must be an array of indices, got ${kindOf(value)}`);
    }
    if (value.length < min) {
      return fail(args, 'isIndexList', `${field} must hold at least ${min} index, got an empty array`);
    }
    for (let i = 0; i < value.length; i++) {
      if (!isIndex(value[i])) {
        return fail(args, 'isIndexList', `${field}[${i}] must be an index (an integer from 0 to 2^53-1), got ${show(value[i])}`);
      }
    }
    return true;
  }
  defaultMessage(args: ValidationArguments): string {
    return noteOf(args, 'isIndexList');
  }
}

/**
 * No index twice. Small indices are searched here, with a bitmap, whatever the other rules say
 * (a 400 names every broken rule). A list with indices past 2^27 is left to the validator, which
 * searches it between turns of the event loop, and only once every other rule holds: a list the
 * pool size already refuses is not searched at all.
 */
@ValidatorConstraint({ name: 'hasNoDuplicateIndices' })
class HasNoDuplicateIndicesConstraint implements ValidatorConstraintInterface {
  validate(value: unknown, args: ValidationArguments): boolean {
    if (!Array.isArray(value)) return true; // isIndexList names that problem
    let max = 0;
    for (let i = 0; i < value.length; i++) if (isIndex(value[i]) && value[i] > max) max = value[i];
    if (max > BITMAP_MAX_INDEX) {
      contextOf(args).deferred.push({ property: args.property, list: value as number[] });
      return true;
    }
    const at = firstRepeatByBitmap(value, max);
    return at < 0 || fail(args, 'hasNoDuplicateIndices', repeatMessage(args.property, value, at));
  }
  defaultMessage(args: ValidationArguments): string {
    return noteOf(args, 'hasNoDuplicateIndices');
  }
}

@ValidatorConstraint({ name: 'isInPool' })
class IsInPoolConstraint implements ValidatorConstraintInterface {
  validate(value: unknown, args: ValidationArguments): boolean {
    const { poolSize } = contextOf(args);
    if (poolSize === undefined || !Array.isArray(value)) return true;
    for (let i = 0; i < value.length; i++) {
      const v = value[i];
      if (isIndex(v) && v >= poolSize) {
        return fail(
          args,
          'isInPool',
          `${args.property}[${i}] is ${v}, outside the training pool: indices must be below the pool size ${poolSize}`,
        );
      }
    }
    return true;
  }
  defaultMessage(args: ValidationArguments): string {
    return noteOf(args, 'isInPool');
  }
}

function constraint(target: Function, constraints: unknown[] = []): PropertyDecorator {
  return (object, propertyName) =>
    registerDecorator({
      target: object.constructor,
      propertyName: propertyName as string,
      constraints,
      validator: target,
    });
}

/** The property is a list of indices (non-negative safe integers), at least `min` long. */
export const IsIndexList = (options: { min: number }): PropertyDecorator => constraint(IsIndexListConstraint, [options.min]);

/** No index appears twice in the list; searched only once the list's other rules hold. */
export const HasNoDuplicateIndices = (): PropertyDecorator => constraint(HasNoDuplicateIndicesConstraint);

/** Every index is below the training pool's size, where the module is configured with one. */
export const IsInPool = (): PropertyDecorator => constraint(IsInPoolConstraint);
