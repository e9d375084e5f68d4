import { registerDecorator, ValidationArguments, ValidatorConstraint, ValidatorConstraintInterface } from 'class-validator';

import { kindOf, show } from '../value-display.js';
import { contextOf, fail, noteOf } from './payload-context.js';

@ValidatorConstraint({ name: 'isCheckpointName' })
class IsCheckpointNameConstraint implements ValidatorConstraintInterface {
  validate(value: unknown, args: ValidationArguments): boolean {
    const [optional] = args.constraints as [boolean];
    const field = args.property;
    // PROTOCOL.md: for resume_from, null, absent and "" all mean "start fresh".
    if (optional && (value === undefined || value === null || value === '')) return true;
    if (value === undefined || value === null) return fail(args, 'isCheckpointName', `${field} is required`);
    if (typeof value !== 'string') {
      return fail(args, 'isCheckpointName', `${field} must be a checkpoint name (a string), got ${kindOf(value)}`);
    }
    const context = contextOf(args);
    if (!context.isCheckpointName(value)) {
      const length = value.length > 57 ? ` (${value.length} characters)` : '';
      return fail(args, 'isCheckpointName', `${field} must be ${context.checkpointRule}, got ${show(value)}${length}`);
    }
    return true;
  }
  defaultMessage(args: ValidationArguments): string {
    return noteOf(args, 'isCheckpointName');
  }
}

/**
 * The property is a checkpoint name that cannot leave the checkpoint folder (the module's
 * `checkpointName` rule). With `optional`, `null`, `""` and absence are accepted too.
 */
export function IsCheckpointName(options: { optional?: boolean } = {}): PropertyDecorator {
  return (object, propertyName) =>
    registerDecorator({
      target: object.constructor,
      propertyName: propertyName as string,
      constraints: [options.optional ?? false],
      validator: IsCheckpointNameConstraint,
    });
}
