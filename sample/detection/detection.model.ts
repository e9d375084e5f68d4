import { setImmediate as yieldToEventLoop } from 'node:timers/promises';

import { Injectable, Logger } from '@nestjs/common';
import type { AlectioContext, InferResult, TestResult } from 'nestjs-alectio';
import { Infer, InferPayload, Test, TestPayload, Train, TrainPayload } from 'nestjs-alectio';

import { CheckpointStore } from '../checkpoint.store.js';
import { GridDetector } from './grid-detector.js';
import { type Box, ScenesDataset } from './scenes.dataset.js';

const FORMAT = 'grid-detector/1';
/** Scenes detected between two turns of the event loop: a few ms each. */
const SCENES_PER_TURN = 100;

/** A test prediction: PROTOCOL.md's detection value. */
export interface DetectedScene {
  boxes: Box[];
  objects: number[];
  scores: number[];
}

/**
 * An infer output: the boxes, their scores, each box's class scores before softmax, and the
 * scene's embedding (an extra field a platform may ignore; the simulator's core-set measures it).
 */
export interface DetectionOutput {
  boxes: Box[];
  pre_softmax: number[][];
  scores: number[];
  embedding: number[];
}

/** The detection sample's side: the same three methods, for a detector of digits in scenes. */
@Injectable()
export class DetectionModel {
  private readonly logger = new Logger(DetectionModel.name);

  constructor(
    private readonly scenes: ScenesDataset,
    private readonly checkpoints: CheckpointStore,
  ) {}

  @Train()
  async train({ labeled, resume_from, ckpt_file }: TrainPayload, { signal, progress }: AlectioContext): Promise<void> {
    const detector = new GridDetector(resume_from ? await this.checkpoints.load(resume_from, FORMAT) : undefined);
    await detector.fit(this.scenes.pool, labeled, {
      signal,
      onEpoch: (epoch, epochs) => progress(epoch / epochs, `epoch ${epoch} of ${epochs}`),
    });
    await this.checkpoints.save(ckpt_file, detector.weights, labeled.length, FORMAT);
    this.logger.log(`trained ${ckpt_file} on ${labeled.length} labeled scenes${resume_from ? ` from ${resume_from}` : ''}`);
  }

  @Test()
  async test(
    { ckpt_file }: TestPayload,
    { signal }: AlectioContext,
  ): Promise<TestResult<DetectedScene, Omit<DetectedScene, 'scores'>>> {
    const detector = new GridDetector(await this.checkpoints.load(ckpt_file, FORMAT));
    const { test } = this.scenes;
    const indices = Array.from({ length: test.size }, (_, i) => i);
    const looks = await lookAll(detector, test, indices, signal);
    return {
      predictions: looks.map(({ detections: found }) => ({
        boxes: found.map((d) => d.box),
        objects: found.map((d) => d.object),
        scores: found.map((d) => d.score),
      })),
      labels: test.truth.map(({ boxes, objects }) => ({ boxes, objects })),
    };
  }

  @Infer()
  async infer({ unlabeled, ckpt_file }: InferPayload, { signal }: AlectioContext): Promise<InferResult<DetectionOutput>> {
    const detector = new GridDetector(await this.checkpoints.load(ckpt_file, FORMAT));
    const looks = await lookAll(detector, this.scenes.pool, unlabeled, signal);
    return {
      outputs: looks.map(({ detections, embedding }) => ({
        boxes: detections.map((d) => d.box),
        pre_softmax: detections.map((d) => d.preSoftmax),
        scores: detections.map((d) => d.score),
        embedding,
      })),
    };
  }
}

/** What the detector sees in every scene `indices` of `split`, yielding to the event loop as it goes. */
async function lookAll(
  detector: GridDetector,
  split: ScenesDataset['pool'],
  indices: readonly number[],
  signal?: AbortSignal,
): Promise<ReturnType<GridDetector['look']>[]> {
  const all: ReturnType<GridDetector['look']>[] = [];
  for (let i = 0; i < indices.length; i++) {
    if (i > 0 && i % SCENES_PER_TURN === 0) {
      await yieldToEventLoop();
      signal?.throwIfAborted();
    }
    all.push(detector.look(split, indices[i]));
  }
  return all;
}
