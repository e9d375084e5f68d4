import { describe, expect, it } from '@jest/globals';

import { ResultContractError } from '../../src/alectio.errors.js';
import { serializeInferResult, serializeTestResult } from '../../src/protocol/result/result.serializer.js';
import { shapeCheck } from '../../src/protocol/result/task-shape.js';

const box = [0.1, 0.2, 0.3, 0.4];
const prediction = { boxes: [box], objects: [3], scores: [0.9] };
const label = { boxes: [box], objects: [3] };
const output = { boxes: [box], pre_softmax: [[1, 2, 3]], scores: [0.9] };

const testWith = (task: 'classification' | 'detection', result: unknown) => () => serializeTestResult(result, shapeCheck(task));
const inferWith = (task: 'classification' | 'detection', outputs: unknown[]) =>
  serializeInferResult(
    { outputs },
    outputs.map((_, i) => 10 + i),
    shapeCheck(task),
  );

describe('the task shape checks', () => {
  it('check nothing without a task', () => {
    expect(shapeCheck(null)).toBeUndefined();
    expect(serializeTestResult({ predictions: ['cat'], labels: [{ any: 'thing' }] }, shapeCheck(null))).toBe(
      '{"predictions":{"0":"cat"},"labels":{"0":{"any":"thing"}}}',
    );
  });

  it('let the values of each task through as they are, an image with no box among them', async () => {
    const empty = { boxes: [], objects: [], scores: [] };
    expect(
      JSON.parse(testWith('detection', { predictions: [prediction, empty], labels: [label, { boxes: [], objects: [] }] })()),
    ).toEqual({
      predictions: { 0: prediction, 1: empty },
      labels: { 0: label, 1: { boxes: [], objects: [] } },
    });
    const none = { boxes: [], pre_softmax: [], scores: [] };
    expect(JSON.parse((await inferWith('detection', [output, none])).join(''))).toEqual({ outputs: { 10: output, 11: none } });
    expect(testWith('classification', { predictions: [1, 2], labels: [2, 2] })()).toBe(
      '{"predictions":{"0":1,"1":2},"labels":{"0":2,"1":2}}',
    );
    expect((await inferWith('classification', [[1, 2], Float32Array.of(3, 4)])).join('')).toBe(
      '{"outputs":{"10":[1,2],"11":[3,4]}}',
    );
  });

  it.each([
    [{ ...prediction, boxes: [[0.1, 0.2, 0.3]] }, 'boxes[0] is [0.1,0.2,0.3], not four finite numbers [x1, y1, x2, y2]'],
    [{ ...prediction, boxes: [[0.5, 0.2, 0.3, 0.4]] }, 'boxes[0] has x1 > x2 (0.5 > 0.3)'],
    [{ ...prediction, boxes: [[0.1, 0.5, 0.3, 0.4]] }, 'boxes[0] has y1 > y2 (0.5 > 0.4)'],
    [{ ...prediction, boxes: 'none' }, 'boxes is "none", not a list of [x1, y1, x2, y2] boxes'],
    [{ ...prediction, objects: [2.5] }, 'objects[0] is 2.5, not an integer class id'],
    [{ ...prediction, objects: [1, 2] }, 'objects has 2 entries for 1 boxes: one integer class id per box'],
    [{ ...prediction, scores: [] }, 'scores has 0 entries for 1 boxes: one score per box'],
    [[box], 'it is not an object {boxes, objects, scores}'],
  ])('refuse a detection prediction %p, naming the index and the rule', (broken, rule) => {
    expect(testWith('detection', { predictions: { 7: broken }, labels: { 7: label } })).toThrow(
      new ResultContractError(`test prediction for index 7 breaks the detection shape: ${rule}`),
    );
  });

  it('refuse a detection label without its classes', () => {
    expect(testWith('detection', { predictions: [prediction], labels: [{ boxes: [box] }] })).toThrow(
      'test label for index 0 breaks the detection shape: objects is undefined, not a list of integer class ids, one per box',
    );
  });

  it.each([
    [
      [output, { ...output, pre_softmax: [] }],
      'infer output for index 11 breaks the detection shape: pre_softmax has 0 entries for 1 boxes: one row of class scores per box',
    ],
    [
      [output, { ...output, pre_softmax: [[1, 2]] }],
      'infer output for index 11 breaks the detection shape: pre_softmax[0] has 2 class scores where the rows before have 3',
    ],
    [
      [{ ...output, pre_softmax: [[1, NaN, 3]] }],
      'infer output for index 10 breaks the detection shape: pre_softmax[0][1] is NaN, not a finite number',
    ],
    [
      [{ ...output, scores: undefined }],
      'infer output for index 10 breaks the detection shape: scores is undefined, not a list of scores, one per box',
    ],
  ])('refuse a detection output: %#', async (outputs, message) => {
    await expect(inferWith('detection', outputs)).rejects.toThrow(new ResultContractError(message));
  });

  it.each([
    [
      { predictions: [1, 2.5], labels: [1, 2] },
      'test prediction for index 1 breaks the classification shape: 2.5 is not an integer class id',
    ],
    [
      { predictions: [1, 2], labels: [-1, 2] },
      'test label for index 0 breaks the classification shape: -1 is not an integer class id',
    ],
    [
      { predictions: ['cat'], labels: [1] },
      'test prediction for index 0 breaks the classification shape: "cat" is not an integer class id',
    ],
  ])('refuse a classification test value %p', (result, message) => {
    expect(testWith('classification', result)).toThrow(new ResultContractError(message));
  });

  it('read a detection value as it goes on the wire: its toJSON, a Map, its own fields, not a class getter', () => {
    class Getters {
      get boxes() {
        return [box];
      }
      get objects() {
        return [3];
      }
      get scores() {
        return [0.9];
      }
    }
    expect(testWith('detection', { predictions: [new Getters()], labels: [label] })).toThrow(
      'test prediction for index 0 breaks the detection shape: boxes is undefined, not a list of [x1, y1, x2, y2] boxes',
    );
    const viaToJson = { toJSON: () => prediction };
    const viaMap = new Map(Object.entries(prediction));
    expect(JSON.parse(testWith('detection', { predictions: [viaToJson, viaMap], labels: [label, label] })()).predictions).toEqual(
      {
        0: prediction,
        1: prediction,
      },
    );
  });

  it('refuse an empty list of logits, a row of no class scores, and a class id past 2^53', async () => {
    await expect(inferWith('classification', [[]])).rejects.toThrow('it is not a list of scores (logits)');
    await expect(inferWith('detection', [{ ...output, pre_softmax: [[]] }])).rejects.toThrow(
      'pre_softmax[0] is [], not a list of class scores',
    );
    expect(testWith('classification', { predictions: [2 ** 53 + 2], labels: [1] })).toThrow(
      '9007199254740994 is not an integer class id',
    );
  });

  it('show at most the start of a huge value in a message', () => {
    const error = (() => {
      try {
        testWith('classification', { predictions: [Float32Array.from({ length: 2_000_000 }, () => 0.5)], labels: [1] })();
      } catch (thrown) {
        return thrown as Error;
      }
    })();
    expect(error?.message).toMatch(
      /^test prediction for index 0 breaks the classification shape: \[0\.5,0\.5,.{0,60} is not an integer class id$/,
    );
  });

  it('refuse classification outputs of different lengths, or that are no list', async () => {
    await expect(
      inferWith('classification', [
        [1, 2, 3],
        [1, 2],
      ]),
    ).rejects.toThrow('infer output for index 11 breaks the classification shape: it has 2 scores where the ones before have 3');
    await expect(inferWith('classification', [{ logits: [1] }])).rejects.toThrow(
      'infer output for index 10 breaks the classification shape: it is not a list of scores (logits)',
    );
  });
});
