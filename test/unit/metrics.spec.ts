import { describe, expect, it } from '@jest/globals';

import { classificationMetrics } from '../../src/simulator/metrics.js';

describe('classificationMetrics', () => {
  // Ten test samples, classes 0, 1, 2. Labels and predictions by index:
  //   labels      0 0 0 0 1 1 1 2 2 2
  //   predictions 0 0 1 2 1 1 0 2 2 1
  // Confusion (row = label, column = prediction):
  //   0: [2, 1, 1]   1: [1, 2, 0]   2: [0, 1, 2]
  const labels = { 0: 0, 1: 0, 2: 0, 3: 0, 4: 1, 5: 1, 6: 1, 7: 2, 8: 2, 9: 2 };
  const predictions = { 0: 0, 1: 0, 2: 1, 3: 2, 4: 1, 5: 1, 6: 0, 7: 2, 8: 2, 9: 1 };
  const m = classificationMetrics(predictions, labels);

  it('counts the confusion matrix by label row and prediction column', () => {
    expect(m.classes).toEqual([0, 1, 2]);
    expect(m.confusion).toEqual([
      [2, 1, 1],
      [1, 2, 0],
      [0, 1, 2],
    ]);
    expect(m.samples).toBe(10);
  });

  it('computes accuracy, precision, recall and F1 as by hand', () => {
    expect(m.accuracy).toBeCloseTo(6 / 10);
    // precision = TP / predicted as the class: 2/3, 2/4, 2/3
    expect(m.precision[0]).toBeCloseTo(2 / 3);
    expect(m.precision[1]).toBeCloseTo(2 / 4);
    expect(m.precision[2]).toBeCloseTo(2 / 3);
    // recall = TP / labeled as the class: 2/4, 2/3, 2/3
    expect(m.recall[0]).toBeCloseTo(2 / 4);
    expect(m.recall[1]).toBeCloseTo(2 / 3);
    expect(m.recall[2]).toBeCloseTo(2 / 3);
    // F1 = 2PR / (P + R): 4/7, 4/7, 2/3
    expect(m.f1[0]).toBeCloseTo(4 / 7);
    expect(m.f1[1]).toBeCloseTo(4 / 7);
    expect(m.f1[2]).toBeCloseTo(2 / 3);
    expect(m.macroPrecision).toBeCloseTo((2 / 3 + 1 / 2 + 2 / 3) / 3);
    expect(m.macroRecall).toBeCloseTo((1 / 2 + 2 / 3 + 2 / 3) / 3);
    expect(m.macroF1).toBeCloseTo((4 / 7 + 4 / 7 + 2 / 3) / 3);
    expect(m.classAccuracy).toEqual(m.recall);
  });

  it('computes label disagreement as FP / (FP + TN)', () => {
    // class 0: FP 1 (index 6), TN = 10 - 4 labeled 0 - 1 = 5 -> 1/6
    // class 1: FP 2 (indices 2, 9), TN = 10 - 3 - 2 = 5 -> 2/7
    // class 2: FP 1 (index 3), TN = 10 - 3 - 1 = 6 -> 1/7
    expect(m.labelDisagreement[0]).toBeCloseTo(1 / 6);
    expect(m.labelDisagreement[1]).toBeCloseTo(2 / 7);
    expect(m.labelDisagreement[2]).toBeCloseTo(1 / 7);
  });

  it('gives 0 where a ratio is undefined', () => {
    // Class 5 is predicted once, never labeled: recall and F1 undefined -> 0; precision 0/1.
    const odd = classificationMetrics({ 0: 5, 1: 1 }, { 0: 1, 1: 1 });
    expect(odd.classes).toEqual([1, 5]);
    expect(odd.precision).toEqual([1, 0]);
    expect(odd.recall).toEqual([0.5, 0]);
    expect(odd.f1[1]).toBe(0);
    // Every sample is labeled 1, so class 1 has no negatives: FP + TN = 0 -> 0.
    expect(odd.labelDisagreement[0]).toBe(0);
    expect(odd.labelDisagreement[1]).toBe(0.5);
    expect(odd.accuracy).toBe(0.5);
  });

  it('refuses values that are neither integer class ids nor class names', () => {
    expect(() => classificationMetrics({ 0: 0.5 }, { 0: 1 })).toThrow(
      'test prediction for index 0 is 0.5, not a class: an integer class id or a class name (a non-empty string)',
    );
    expect(() => classificationMetrics({ 0: 1 }, { 0: { boxes: [] } })).toThrow('test label for index 0 is {"boxes":[]}');
    expect(() => classificationMetrics({ 0: '' }, { 0: 'spam' })).toThrow('test prediction for index 0 is "", not a class');
  });

  it('scores class names (strings) as it scores integer ids', () => {
    const byName = classificationMetrics(
      { 0: 'spam', 1: 'ham', 2: 'spam', 3: 'hard ham' },
      { 0: 'spam', 1: 'spam', 2: 'spam', 3: 'ham' },
    );
    const byId = classificationMetrics({ 0: 2, 1: 0, 2: 2, 3: 1 }, { 0: 2, 1: 2, 2: 2, 3: 0 });
    expect(byName.classes).toEqual(['ham', 'hard ham', 'spam']); // code-point order, as ids are in increasing order
    expect({ ...byName, classes: byId.classes }).toEqual(byId);
    expect(byName.accuracy).toBe(0.5);
    expect(byName.confusion).toEqual([
      [0, 1, 0],
      [0, 0, 0],
      [1, 0, 2],
    ]);
  });

  it('refuses an answer that mixes class ids and class names', () => {
    expect(() => classificationMetrics({ 0: 1, 1: '1' }, { 0: 1, 1: 1 })).toThrow(
      'test values mix class ids and class names (1 and "1"): give every label and prediction as one or the other',
    );
  });
});
