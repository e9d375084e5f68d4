import type { Provider, Type } from '@nestjs/common';

import { ALECTIO_CONFIG, type ResolvedOptions } from '../options/resolve-options.js';
import { type Operation, operations } from './operations.js';

/** Injection token of whether the routes are documented for `@nestjs/swagger` (it is installed). */
const ALECTIO_OPENAPI = Symbol('alectio:openapi');

type Swagger = typeof import('@nestjs/swagger');

/** The module's controllers of one import, as `withRoutes` makes them. */
export interface ModuleControllers {
  protocol: Type;
  jobs: Type;
}

/**
 * Documents the module's routes for `@nestjs/swagger` (an optional peer), so that the app's
 * `SwaggerModule.createDocument()` holds them with their schemas, answers and examples. The
 * controllers read the request themselves (no `@Body()`), so Swagger could not see any of it.
 * Done once the options are known (forRootAsync too); without `@nestjs/swagger`, nothing happens.
 */
export function openApiProvider(controllers: ModuleControllers): Provider {
  return {
    provide: ALECTIO_OPENAPI,
    useFactory: async (config: ResolvedOptions): Promise<boolean> => {
      const swagger = (await import('@nestjs/swagger').catch(() => null)) as Swagger | null;
      if (!swagger) return false;
      const { protocol, jobs } = operations(config);
      document(swagger, controllers.protocol, {
        health: protocol.health,
        live: protocol.live,
        ready: protocol.ready,
        train: protocol.train,
        test: protocol.test,
        infer: protocol.infer,
      });
      document(swagger, controllers.jobs, { list: jobs.list, get: jobs.get, cancel: jobs.cancel });
      return true;
    },
    inject: [ALECTIO_CONFIG],
  };
}

/**
 * Each operation whole through `@ApiOperation()`, but its parameters through `@ApiHeader()`,
 * `@ApiParam()` and `@ApiQuery()`: Swagger builds `parameters` from those, over whatever the
 * operation says.
 */
function document(swagger: Swagger, controller: Type, byMethod: Record<string, Operation>): void {
  for (const [name, { parameters = [], ...operation }] of Object.entries(byMethod)) {
    const descriptor = ownMethod(controller, name);
    const decorate = (decorator: MethodDecorator) => decorator(controller.prototype, name, descriptor);
    decorate(swagger.ApiOperation(operation));
    for (const parameter of parameters as Parameter[]) {
      const { in: where, ...options } = parameter;
      if (where === 'header') decorate(swagger.ApiHeader(options as never));
      else if (where === 'path') decorate(swagger.ApiParam(options as never));
      else decorate(swagger.ApiQuery(options as never));
    }
  }
}

interface Parameter {
  name: string;
  in: 'header' | 'path' | 'query';
  required?: boolean;
  description?: string;
  schema: Record<string, unknown>;
  example?: unknown;
}

/**
 * The controller's own method `name`, made if it is inherited: the base class's method with its
 * route metadata, so that what is documented here belongs to this import (its token, its
 * options), not to every import that shares the base class.
 */
function ownMethod(controller: Type, name: string): PropertyDescriptor {
  const own = Object.getOwnPropertyDescriptor(controller.prototype, name);
  if (own) return own;
  const inherited = (controller.prototype as Record<string, (...args: unknown[]) => unknown>)[name];
  const method = {
    [name](this: unknown, ...args: unknown[]) {
      return inherited.apply(this, args);
    },
  }[name];
  for (const key of Reflect.getOwnMetadataKeys(inherited)) {
    Reflect.defineMetadata(key, Reflect.getOwnMetadata(key, inherited), method);
  }
  const descriptor = { value: method, writable: true, enumerable: false, configurable: true };
  Object.defineProperty(controller.prototype, name, descriptor);
  return descriptor;
}
