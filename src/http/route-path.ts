import type { ApplicationConfig } from '@nestjs/core';

import type { AlectioModuleOptions } from '../interfaces/alectio-options.interface.js';

/** Path segments joined with single slashes, without a leading or trailing one. */
export function joinPath(...parts: string[]): string {
  return parts
    .map((part) => part.replace(/^\/+|\/+$/g, ''))
    .filter(Boolean)
    .join('/');
}

/** The full path of one of the module's endpoints: global prefix, module prefix, then `parts`. */
export function endpointPath(appConfig: ApplicationConfig, options: AlectioModuleOptions, ...parts: string[]): string {
  return `/${joinPath(appConfig.getGlobalPrefix(), options.prefix ?? '', ...parts)}`;
}
