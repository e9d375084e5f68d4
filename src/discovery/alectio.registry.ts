import { Injectable } from '@nestjs/common';

import { HandlerKind } from '../alectio.constants.js';
import type { AlectioContext } from '../interfaces/alectio-context.interface.js';

/** A discovered `@Train()`, `@Test()` or `@Infer()` method, bound to its instance. */
export interface AlectioHandler {
  kind: HandlerKind;
  /** `Class#method`, as messages and logs name it. */
  name: string;
  call: (payload: unknown, context: AlectioContext) => unknown;
}

/**
 * The methods the controller calls. Filled once by the explorer in `onModuleInit` (after the
 * routes exist) and read per request, as a bus asks its handler map.
 */
@Injectable()
export class AlectioRegistry {
  private readonly handlers = new Map<HandlerKind, AlectioHandler>();

  register(handler: AlectioHandler): void {
    this.handlers.set(handler.kind, handler);
  }

  get(kind: HandlerKind): AlectioHandler | undefined {
    return this.handlers.get(kind);
  }

  has(kind: HandlerKind): boolean {
    return this.handlers.has(kind);
  }
}
