import type { DetectionMetrics } from './detection-metrics.js';
import type { ClassificationMetrics } from './metrics.js';

/** The tasks the simulator scores: PROTOCOL.md's classification and detection values. */
export const TASKS = ['classification', 'detection'] as const;
export type SimulatedTask = (typeof TASKS)[number];

/** The metrics of one loop's /test answer. */
export type LoopMetrics = ClassificationMetrics | DetectionMetrics;

/** The figure each task's curves and summary show. */
export const HEADLINE: Record<SimulatedTask, string> = { classification: 'accuracy', detection: 'mAP@0.5' };

/** A loop's headline figure: accuracy, or mAP at IoU 0.5. */
export function headline(metrics: LoopMetrics): number {
  return 'map50' in metrics ? metrics.map50 : metrics.accuracy;
}
