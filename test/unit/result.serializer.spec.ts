import { describe, expect, it } from '@jest/globals';

import { ResultContractError } from '../../src/alectio.errors.js';
import { serializeInferResult, serializeTestResult } from '../../src/protocol/result/result.serializer.js';
import { toJson } from '../../src/protocol/result/to-json.js';

const parsed = (json: string) => JSON.parse(json) as Record<string, unknown>;

describe('toJson', () => {
  it('writes what JSON.stringify writes for plain values', () => {
    const value = { a: [1, -2.5, 0], b: 'x"y', c: true, d: null, e: { f: [[1], []] } };
    expect(toJson(value, 'v')).toBe(JSON.stringify(value));
  });

  it('writes typed arrays as arrays and Maps as objects', () => {
    expect(toJson(Float64Array.of(0.5, -1), 'v')).toBe('[0.5,-1]');
    expect(toJson(Int32Array.of(3, 4), 'v')).toBe('[3,4]');
    expect(toJson(BigInt64Array.of(5n), 'v')).toBe('[5]');
    expect(toJson(new Map([[2, 'a']]), 'v')).toBe('{"2":"a"}');
    expect(toJson({ pre_softmax: [Float32Array.of(0.5)] }, 'v')).toBe('{"pre_softmax":[[0.5]]}');
  });

  it.each([
    [NaN, 'v is NaN, not a finite number'],
    [[1, Infinity], 'v[1] is Infinity, not a finite number'],
    [{ scores: [0.1, -Infinity] }, 'v.scores[1] is -Infinity, not a finite number'],
    [Float32Array.of(1, NaN), 'v[1] is NaN, not a finite number'],
    [[1, undefined], 'v[1] is missing (undefined)'],
    [() => 1, 'v is a function, which JSON cannot carry'],
    [10n, 'v is the bigint 10, which JSON cannot carry'],
    [BigInt64Array.of(2n ** 60n), 'v[0] is 1152921504606846976, beyond what a JSON number carries exactly'],
  ])('refuses %p with a message naming where', (value, message) => {
    expect(() => toJson(value, 'v')).toThrow(new ResultContractError(message));
  });

  it('refuses a cycle instead of overflowing the stack', () => {
    const cyclic: Record<string, unknown> = {};
    cyclic.self = cyclic;
    expect(() => toJson(cyclic, 'v')).toThrow(/nested deeper than 64 levels/);
  });
});

describe('serializeTestResult', () => {
  it.each([
    ['plain objects', { predictions: { 0: 1, 2: 0 }, labels: { 2: 1, 0: 1 } }],
    [
      'Maps',
      {
        predictions: new Map([
          [0, 1],
          [2, 0],
        ]),
        labels: new Map([
          ['2', 1],
          ['0', 1],
        ]),
      },
    ],
    ['arrays with a hole', { predictions: [1, undefined, 0], labels: [1, undefined, 1] }],
  ])('keys %s by decimal index', (_kind, result) => {
    const body = parsed(serializeTestResult(result));
    expect(body).toEqual({ predictions: { 0: 1, 2: 0 }, labels: { 0: 1, 2: 1 } });
  });

  it('names the indices that predictions and labels do not share', () => {
    expect(() => serializeTestResult({ predictions: { 0: 1, 1: 1, 7: 2 }, labels: { 0: 1, 1: 1, 3: 2 } })).toThrow(
      'test returned predictions and labels for different indices: 1 prediction without a label, first index 7; 1 label without a prediction, first index 3',
    );
    expect(() => serializeTestResult({ predictions: [1], labels: [1, 2] })).toThrow(
      '1 label without a prediction, first index 1',
    );
  });

  it.each([
    [null, 'test must return {predictions, labels}, got null'],
    [{ predictions: [1] }, 'test must return {predictions, labels}: labels is missing'],
    [{ predictions: 'x', labels: [1] }, 'test predictions is a string, not an object, Map or array keyed by index'],
    [{ predictions: { a: 1 }, labels: { a: 1 } }, 'test predictions has the key "a", which is not an index'],
    [{ predictions: { '-1': 1 }, labels: {} }, 'test predictions has the key "-1", which is not an index'],
    [{ predictions: { '01': 1 }, labels: {} }, 'test predictions has the key "01", which is not an index'],
    [{ predictions: [NaN], labels: [1] }, 'test prediction for index 0 is NaN, not a finite number'],
  ])('refuses %p', (result, message) => {
    expect(() => serializeTestResult(result)).toThrow(message);
  });
});

describe('serializeInferResult', () => {
  const unlabeled = [40, 7, 13];

  it('writes many outputs in parts that join into one JSON object, in the order requested', async () => {
    const many = Array.from({ length: 5001 }, (_, i) => 5001 - i);
    const parts = await serializeInferResult({ outputs: many.map((i) => [i, -i]) }, many);
    expect(parts.length).toBeGreaterThan(3);
    const body = JSON.parse(parts.join(''));
    expect(Object.keys(body.outputs)).toHaveLength(5001);
    expect(body.outputs['5001']).toEqual([5001, -5001]);
    expect(body.outputs['1']).toEqual([1, -1]);
  });

  it('names the first missing output even in a later part', async () => {
    const many = Array.from({ length: 4500 }, (_, i) => i);
    const outputs = many.map((i) => (i === 4321 ? undefined : [i]));
    await expect(serializeInferResult({ outputs }, many)).rejects.toThrow(
      'no output for 1 of 4500 requested indices, first 4321',
    );
  });

  it.each([
    ['an array by position in unlabeled', [[4], [0.7], [1.3]]],
    ['a plain object', { 7: [0.7], 13: [1.3], 40: [4] }],
    [
      'a Map with number keys',
      new Map([
        [13, [1.3]],
        [40, [4]],
        [7, [0.7]],
      ]),
    ],
    [
      'a Map of typed arrays',
      new Map([
        [13, Float64Array.of(1.3)],
        [40, Float64Array.of(4)],
        [7, Float64Array.of(0.7)],
      ]),
    ],
  ])('keys %s by the requested indices, in their order', async (_kind, outputs) => {
    expect((await serializeInferResult({ outputs }, unlabeled)).join('')).toBe('{"outputs":{"40":[4],"7":[0.7],"13":[1.3]}}');
  });

  it.each([
    [{ outputs: [[1], [2]] }, 'infer returned no output for 1 of 3 requested indices, first 13'],
    [{ outputs: { 40: [1] } }, 'infer returned no output for 2 of 3 requested indices, first 7'],
    [{ outputs: [[1], [2], [3], [4]] }, 'infer returned outputs for indices that were not requested, first position 3'],
    [{ outputs: { 40: [1], 7: [1], 13: [1], 99: [1] } }, 'infer returned outputs for indices that were not requested, first 99'],
    [
      {
        outputs: new Map([
          [40, [1]],
          [7, [1]],
          [13, [1]],
          [5, [1]],
        ]),
      },
      'not requested, first 5',
    ],
    [{ outputs: { 40: [1], 7: [NaN], 13: [1] } }, 'infer output for index 7[0] is NaN, not a finite number'],
    [{ outputs: 'x' }, 'infer returned outputs as a string, not an object, Map or array'],
    [[], 'infer must return {outputs}: outputs is missing'],
  ])('refuses %p', async (result, message) => {
    await expect(serializeInferResult(result, unlabeled)).rejects.toThrow(message);
  });
});
