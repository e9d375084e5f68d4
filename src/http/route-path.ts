import { Provider, Type } from '@nestjs/common';
import { PATH_METADATA } from '@nestjs/common/constants.js';
import type { ApplicationConfig } from '@nestjs/core';

import { ALECTIO_CONFIG, type ResolvedOptions } from '../options/resolve-options.js';

const ALECTIO_ROUTES = Symbol('alectio:routes');

/** Path segments joined with single slashes, without a leading or trailing one. */
export function joinPath(...parts: string[]): string {
  return parts
    .map((part) => part.replace(/^\/+|\/+$/g, ''))
    .filter(Boolean)
    .join('/');
}

/** The full path of one of the module's endpoints: global prefix, module prefix, then `parts`. */
export function endpointPath(appConfig: ApplicationConfig, config: Pick<ResolvedOptions, 'prefix'>, ...parts: string[]): string {
  return `/${joinPath(appConfig.getGlobalPrefix(), config.prefix, ...parts)}`;
}

/**
 * Sets the controllers' path from the options. Providers are built before `app.init()`
 * registers routes, so this works for `forRootAsync()` too.
 */
export function routePathProvider(controllers: Type[]): Provider {
  return {
    provide: ALECTIO_ROUTES,
    useFactory: (config: ResolvedOptions) => {
      for (const controller of controllers) Reflect.defineMetadata(PATH_METADATA, config.prefix || '/', controller);
      return config.prefix;
    },
    inject: [ALECTIO_CONFIG],
  };
}
