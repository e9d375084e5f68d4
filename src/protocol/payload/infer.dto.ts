import { IsCheckpointName } from './checkpoint-name.rule.js';
import { HasNoDuplicateIndices, IsIndexList, IsInPool } from './index-list.rules.js';

/** What `POST /infer` carries, as the `@Infer()` method receives it. */
export class InferPayload {
  /** Indices of the pool to score; may be empty. */
  @IsIndexList({ min: 0 })
  @HasNoDuplicateIndices()
  @IsInPool()
  unlabeled!: number[];

  /** Checkpoint to infer with. */
  @IsCheckpointName()
  ckpt_file!: string;
}
