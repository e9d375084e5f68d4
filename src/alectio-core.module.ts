import { Module } from '@nestjs/common';
import { DiscoveryModule } from '@nestjs/core';

import { AlectioExplorer } from './alectio.explorer.js';
import { AlectioRegistry } from './alectio.registry.js';
import { RunTracker } from './alectio.run-tracker.js';

/**
 * What exists once per app, however many times `AlectioModule` is imported: the discovered
 * methods, and the one training slot PROTOCOL.md allows per server.
 */
@Module({
  imports: [DiscoveryModule],
  providers: [AlectioRegistry, AlectioExplorer, RunTracker],
  exports: [AlectioRegistry, RunTracker],
})
export class AlectioCoreModule {}
