import { Module } from '@nestjs/common';
import { DiscoveryModule } from '@nestjs/core';

import { LocalTrainingSlot } from '../execution/local-training.slot.js';
import { AlectioExplorer } from './alectio.explorer.js';
import { AlectioRegistry } from './alectio.registry.js';

/**
 * What exists once per app, however many times `AlectioModule` is imported: the discovered
 * methods, and the one training slot PROTOCOL.md allows per server.
 */
@Module({
  imports: [DiscoveryModule],
  providers: [AlectioRegistry, AlectioExplorer, LocalTrainingSlot],
  exports: [AlectioRegistry, LocalTrainingSlot],
})
export class AlectioCoreModule {}
