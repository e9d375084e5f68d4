import { IsCheckpointName } from './checkpoint-name.rule.js';

/** What `POST /test` carries, as the `@Test()` method receives it. */
export class TestPayload {
  /** Checkpoint to evaluate on the test split. */
  @IsCheckpointName()
  ckpt_file!: string;
}
