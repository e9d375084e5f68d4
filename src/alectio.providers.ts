import { Provider, Type } from '@nestjs/common';
import { PATH_METADATA } from '@nestjs/common/constants.js';
import { MODULE_OPTIONS_TOKEN } from './alectio.module-definition.js';
import { assertValidOptions } from './alectio.options.js';
import type { AlectioModuleOptions } from './interfaces/alectio-options.interface.js';

const ALECTIO_ROUTES = Symbol('alectio:routes');

/**
 * Checks the options and sets the controller's path from them. Providers are built before
 * `app.init()` registers routes, so this works for `forRootAsync()` too.
 */
export function routePathProvider(controller: Type): Provider {
  return {
    provide: ALECTIO_ROUTES,
    useFactory: (options: AlectioModuleOptions) => {
      assertValidOptions(options);
      Reflect.defineMetadata(PATH_METADATA, options.prefix ?? '/', controller);
      return options.prefix ?? '/';
    },
    inject: [MODULE_OPTIONS_TOKEN],
  };
}
