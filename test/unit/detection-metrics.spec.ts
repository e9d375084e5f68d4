import { describe, expect, it } from '@jest/globals';

import { detectionMetrics, iou } from '../../src/simulator/detection-metrics.js';

type Box = [number, number, number, number];
const A: Box = [0, 0, 0.5, 0.5];
const B: Box = [0.5, 0.5, 1, 1];
// IoU with A: 0.82 (above 0.5, between two of COCO's thresholds), and 0.064 (below 0.5).
const NEAR_A: Box = [0, 0, 0.5, 0.41];
const FAR_FROM_A: Box = [0.35, 0.35, 0.7, 0.7];

const truth = (boxes: Box[], objects: number[]) => ({ boxes, objects });
const found = (boxes: Box[], objects: number[], scores: number[]) => ({ boxes, objects, scores });

describe('detectionMetrics', () => {
  it('scores perfect detections 1 everywhere, with a diagonal confusion and no background', () => {
    const labels = { 0: truth([A, B], [1, 2]), 1: truth([B], [1]) };
    const predictions = { 0: found([A, B], [1, 2], [0.9, 0.8]), 1: found([B], [1], [0.7]) };
    const m = detectionMetrics(predictions, labels);
    expect(m).toMatchObject({
      samples: 2,
      map50: 1,
      mapCoco: 1,
      classes: [1, 2],
      ap50: [1, 1],
      groundTruth: [2, 1],
      precision: 1,
      recall: 1,
    });
    expect(m.confusion).toEqual([
      [2, 0, 0],
      [0, 1, 0],
      [0, 0, 0],
    ]);
  });

  it('counts a duplicate detection of one box as a false positive: each box is matched once', () => {
    const labels = { 0: truth([A], [1]) };
    const predictions = { 0: found([A, NEAR_A], [1, 1], [0.9, 0.8]) };
    const m = detectionMetrics(predictions, labels);
    // Ranked: TP (precision 1, recall 1), then FP: the area under the monotone curve is still 1...
    expect(m.ap50[0]).toBe(1);
    // ...but at the score threshold, one of the two confident detections is wrong.
    expect(m.precision).toBe(0.5);
    expect(m.recall).toBe(1);
    expect(m.confusion).toEqual([
      [1, 0],
      [1, 0],
    ]);
    // Ranked the other way round (the duplicate first), the best box still matches once: a FP then a TP.
    const swapped = detectionMetrics({ 0: found([FAR_FROM_A, A], [1, 1], [0.9, 0.8]) }, labels);
    expect(swapped.ap50[0]).toBeCloseTo(0.5, 10);
  });

  it('takes a box below the IoU threshold as a miss and a false positive, and counts it at the looser COCO thresholds only as they allow', () => {
    expect(iou(A, NEAR_A)).toBeCloseTo(0.82, 10);
    expect(iou(A, FAR_FROM_A)).toBeLessThan(0.5);
    const labels = { 0: truth([A], [3]) };
    const below = detectionMetrics({ 0: found([FAR_FROM_A], [3], [0.9]) }, labels);
    expect(below).toMatchObject({ map50: 0, mapCoco: 0, precision: 0, recall: 0 });
    expect(below.confusion).toEqual([
      [0, 1],
      [1, 0],
    ]);
    // IoU 0.82: a match at 0.5 to 0.8, a miss from 0.85 on: 7 of COCO's 10 thresholds.
    const near = detectionMetrics({ 0: found([NEAR_A], [3], [0.9]) }, labels);
    expect(near.map50).toBe(1);
    expect(near.mapCoco).toBeCloseTo(0.7, 10);
  });

  it('leaves a class with no ground truth out of the mean, its boxes counted as boxes on nothing', () => {
    const labels = { 0: truth([A], [1]) };
    const m = detectionMetrics({ 0: found([A, B], [1, 7], [0.9, 0.95]) }, labels);
    expect(m.classes).toEqual([1, 7]);
    expect(m.ap50).toEqual([1, null]);
    expect(m.map50).toBe(1);
    expect(m.groundTruth).toEqual([1, 0]);
    expect(m.confusion[2]).toEqual([0, 1, 0]); // background row: the class-7 box on nothing
  });

  it('scores an image with no detections as all its boxes missed, and one with no boxes and none found as nothing', () => {
    const labels = { 0: truth([A, B], [1, 1]), 1: truth([], []) };
    const m = detectionMetrics({ 0: found([], [], []), 1: found([], [], []) }, labels);
    expect(m).toMatchObject({ samples: 2, map50: 0, mapCoco: 0, ap50: [0], precision: 0, recall: 0 });
    expect(m.confusion).toEqual([
      [0, 2],
      [0, 0],
    ]);
  });

  it('interpolates over every point of the precision-recall curve (VOC 2010+), not 11', () => {
    // Two boxes of one class in two images; ranked TP, FP, TP: precision 1, 0.5, 0.67 at recall 0.5, 0.5, 1.
    const labels = { 0: truth([A], [1]), 1: truth([B], [1]) };
    const predictions = { 0: found([A, FAR_FROM_A], [1, 1], [0.9, 0.8]), 1: found([B], [1], [0.7]) };
    // All-point: 0.5 × 1 + 0.5 × 2/3.
    expect(detectionMetrics(predictions, labels).ap50[0]).toBeCloseTo(0.5 + 1 / 3, 10);
  });

  it('follows pycocotools where it differs from VOC: of two equal overlaps the last box, and its own threshold doubles', () => {
    // One detection overlaps both boxes equally (IoU 0.778): pycocotools gives it the second, which
    // leaves the first to the next detection (IoU 0.6). pycocotools' COCOeval: mAP 0.4515.
    // (Eighths, so that both overlaps are the same double.)
    const labels = {
      0: truth(
        [
          [0, 0, 0.5, 0.5],
          [0.125, 0, 0.625, 0.5],
        ],
        [1, 1],
      ),
    };
    const predictions = {
      0: found(
        [
          [0.0625, 0, 0.5625, 0.5],
          [-0.125, 0, 0.375, 0.5],
        ],
        [1, 1],
        [0.9, 0.8],
      ),
    };
    expect(detectionMetrics(predictions, labels).mapCoco).toBeCloseTo(0.4515, 4);
    // Recall exactly 0.7 (7 of 10 boxes found): pycocotools' recall point 0.7 is 0.7000000000000001,
    // past it, so 70 of the 101 points count, not 71.
    const ten = Array.from({ length: 10 }, (_, i): Box => [i / 10, 0, i / 10 + 0.05, 0.05]);
    const seven = found(ten.slice(0, 7), new Array(7).fill(2), new Array(7).fill(0.9));
    expect(detectionMetrics({ 0: seven }, { 0: truth(ten, new Array(10).fill(2)) }).mapCoco).toBeCloseTo(70 / 101, 10);
  });

  it('refuses a value that is not a detection value, naming the index', () => {
    expect(() => detectionMetrics({ 0: 3 }, { 0: 3 })).toThrow('test label for index 0 has no list of boxes');
    expect(() => detectionMetrics({ 0: found([A], [1], []) }, { 0: truth([A], [1]) })).toThrow(
      'test prediction for index 0 has no list of scores, one finite number per box',
    );
  });
});
