import { IsCheckpointName } from './checkpoint-name.rule.js';
import { HasNoDuplicateIndices, IsIndexList, IsInPool } from './index-list.rules.js';

/** What `POST /train` carries, as the `@Train()` method receives it. */
export class TrainPayload {
  /** Indices of the pool labeled so far: train on exactly these. */
  @IsIndexList({ min: 1 })
  @HasNoDuplicateIndices()
  @IsInPool()
  labeled!: number[];

  /** Checkpoint to resume from; `null` means start fresh (the wire's `null`, `""` or absence). */
  @IsCheckpointName({ optional: true })
  resume_from!: string | null;

  /** Name of the checkpoint to write. */
  @IsCheckpointName()
  ckpt_file!: string;
}
