import { registerDecorator, ValidationArguments, ValidatorConstraint, ValidatorConstraintInterface } from 'class-validator';

import { kindOf, show } from '../value-display.js';
import { contextOf, fail, noteOf } from './payload-context.js';

// Each rule walks the list once. class-validator's `each: true` rules (and Nest's
// ValidationPipe around them) cost ~300 ms on 1,000,000 indices; `@ArrayUnique()` is quadratic.

const isIndex = (v: unknown): v is number => typeof v === 'number' && Number.isSafeInteger(v) && v >= 0;

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

// Above this largest index a bitmap would cost more memory than it saves; a Set takes over.
const BITMAP_MAX_INDEX = 1 << 27;

@ValidatorConstraint({ name: 'hasNoDuplicateIndices' })
class HasNoDuplicateIndicesConstraint implements ValidatorConstraintInterface {
  validate(value: unknown, args: ValidationArguments): boolean {
    if (!Array.isArray(value)) return true; // isIndexList names that problem
    let max = 0;
    for (let i = 0; i < value.length; i++) if (isIndex(value[i]) && value[i] > max) max = value[i];
    const at = max <= BITMAP_MAX_INDEX ? firstRepeatByBitmap(value, max) : firstRepeatBySet(value);
    if (at < 0) return true;
    const first = value.indexOf(value[at]);
    return fail(
      args,
      'hasNoDuplicateIndices',
      `${args.property}[${at}] repeats index ${value[at]} (first at ${args.property}[${first}]): no index may appear twice`,
    );
  }
  defaultMessage(args: ValidationArguments): string {
    return noteOf(args, 'hasNoDuplicateIndices');
  }
}

function firstRepeatByBitmap(list: unknown[], max: number): number {
  const seen = new Uint32Array((max >>> 5) + 1);
  for (let i = 0; i < list.length; i++) {
    const v = list[i];
    if (!isIndex(v)) continue;
    const word = v >>> 5;
    const bit = 1 << (v & 31);
    if (seen[word] & bit) return i;
    seen[word] |= bit;
  }
  return -1;
}

function firstRepeatBySet(list: unknown[]): number {
  const seen = new Set<number>();
  for (let i = 0; i < list.length; i++) {
    const v = list[i];
    if (!isIndex(v)) continue;
    if (seen.has(v)) return i;
    seen.add(v);
  }
  return -1;
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

/** No index appears twice in the list. One pass, with a bitmap. */
export const HasNoDuplicateIndices = (): PropertyDecorator => constraint(HasNoDuplicateIndicesConstraint);

/** Every index is below the training pool's size, where the module is configured with one. */
export const IsInPool = (): PropertyDecorator => constraint(IsInPoolConstraint);
