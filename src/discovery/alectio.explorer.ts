import { Injectable, OnModuleInit } from '@nestjs/common';
import { DiscoveryService, MetadataScanner, Reflector } from '@nestjs/core';
import type { InstanceWrapper } from '@nestjs/core/injector/instance-wrapper.js';

import { ALECTIO_HANDLER_METADATA, HANDLER_KINDS, HandlerKind } from '../alectio.constants.js';
import { AlectioDiscoveryError } from '../alectio.errors.js';
import { DUPLICATE_HANDLER, MISSING_HANDLER, NON_STATIC_HANDLER } from '../alectio.messages.js';
import { AlectioHandler, AlectioRegistry } from './alectio.registry.js';

interface Tagged {
  kind: HandlerKind;
  name: string;
  wrapper: InstanceWrapper;
  methodName: string;
}

/**
 * Finds the `@Train()`, `@Test()` and `@Infer()` methods on every provider of the app, once,
 * and fills the registry. A missing, doubled or unservable method fails `app.init()` with a
 * message that names it, rather than a 500 at the platform's first call.
 */
@Injectable()
export class AlectioExplorer implements OnModuleInit {
  constructor(
    private readonly discovery: DiscoveryService,
    private readonly scanner: MetadataScanner,
    private readonly reflector: Reflector,
    private readonly registry: AlectioRegistry,
  ) {}

  onModuleInit(): void {
    const tagged = this.findTagged();
    for (const kind of HANDLER_KINDS) {
      const methods = tagged.filter((t) => t.kind === kind);
      if (methods.length === 0) throw new AlectioDiscoveryError(MISSING_HANDLER(kind));
      if (methods.length > 1)
        throw new AlectioDiscoveryError(
          DUPLICATE_HANDLER(
            kind,
            methods.map((m) => m.name),
          ),
        );
      const [{ wrapper, methodName, name }] = methods;
      if (!wrapper.isDependencyTreeStatic() || wrapper.isTransient) {
        throw new AlectioDiscoveryError(NON_STATIC_HANDLER(kind, name, name.split('#')[0]));
      }
      const instance = wrapper.instance as Record<string, AlectioHandler['call']>;
      this.registry.register({ kind, name, call: instance[methodName].bind(instance) });
    }
  }

  private findTagged(): Tagged[] {
    const tagged: Tagged[] = [];
    const seen = new Set<unknown>();
    for (const wrapper of this.discovery.getProviders()) {
      if (wrapper.isAlias) continue;
      // Request-scoped providers have no instance yet: read their class, and refuse them later.
      const prototype = wrapper.instance
        ? Object.getPrototypeOf(wrapper.instance)
        : !wrapper.inject && wrapper.metatype?.prototype;
      if (!prototype || seen.has(wrapper.instance ?? prototype)) continue;
      seen.add(wrapper.instance ?? prototype);
      for (const methodName of this.scanner.getAllMethodNames(prototype)) {
        const kind = this.reflector.get<HandlerKind | undefined>(ALECTIO_HANDLER_METADATA, prototype[methodName]);
        if (!kind) continue;
        const className = prototype.constructor?.name || String(wrapper.name);
        tagged.push({ kind, name: `${className}#${methodName}`, wrapper, methodName });
      }
    }
    return tagged;
  }
}
