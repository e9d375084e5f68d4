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

  it('writes class instances, Dates and values with toJSON as JSON.stringify does', () => {
    class Detection {
      constructor(
        readonly boxes: number[][],
        readonly scores: Float32Array,
      ) {}
    }
    expect(toJson(new Detection([[0, 0.5, 0.25, 1]], Float32Array.of(0.5)), 'v')).toBe(
      '{"boxes":[[0,0.5,0.25,1]],"scores":[0.5]}',
    );
    expect(toJson({ at: new Date(0) }, 'v')).toBe(JSON.stringify({ at: new Date(0) }));
    expect(toJson({ a: undefined, b: [null] }, 'v')).toBe('{"b":[null]}');
  });

  it.each([
    [
      {
        boxes: [
          [0, 0, 1, 1],
          [0, NaN, 1, 1],
        ],
      },
      'infer output for index 7.boxes[1][1] is NaN, not a finite number',
    ],
    [{ boxes: [Float32Array.of(0, 0, 1, Infinity)] }, 'infer output for index 7.boxes[0][3] is Infinity, not a finite number'],
    [{ pre_softmax: [[1], [2, undefined]] }, 'infer output for index 7.pre_softmax[1][1] is missing (undefined)'],
    [new Map([['scores', [0.5, () => 1]]]), 'infer output for index 7[scores][1] is a function, which JSON cannot carry'],
  ])('names the place deep inside a detection value: %p', (value, message) => {
    expect(() => toJson(value, 'infer output', 7)).toThrow(new ResultContractError(message));
  });

  it("writes an array's elements, never its toJSON, which could turn NaN into null", () => {
    const list = Object.assign(['a'], { toJSON: () => [NaN] });
    expect(toJson(list, 'v')).toBe('["a"]');
    expect(toJson({ rows: list, s: [1] }, 'v')).toBe('{"rows":["a"],"s":[1]}');
  });

  it('lets an error thrown by the value itself through, as it is', () => {
    const value = {
      get boxes(): number[] {
        throw new Error('tensor disposed');
      },
    };
    expect(() => toJson(value, 'v')).toThrow(new Error('tensor disposed'));
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
    [
      { predictions: { 0: 1, 1: Infinity }, labels: { 0: 1, 1: 1 } },
      'test prediction for index 1 is Infinity, not a finite number',
    ],
    [
      { predictions: new Map([[3, { boxes: [[0, 0, 1, NaN]] }]]), labels: new Map([[3, { boxes: [] }]]) },
      'test prediction for index 3.boxes[0][3] is NaN, not a finite number',
    ],
    [{ predictions: { 0: 1 }, labels: { 0: -Infinity } }, 'test label for index 0 is -Infinity, not a finite number'],
    [{ predictions: { '9007199254740993': 1 }, labels: {} }, 'has the key "9007199254740993", which is not an index'],
    [
      {
        predictions: new Map<unknown, number>([
          [3, 1],
          ['3', 1],
        ]),
        labels: { 3: 1 },
      },
      'test predictions has the index 3 twice, under keys of different types',
    ],
  ])('refuses %p', (result, message) => {
    expect(() => serializeTestResult(result)).toThrow(message);
  });

  it.each([
    [{ predictions: { 0: 1, foo: undefined }, labels: { 0: 1 } }, 'test predictions has the key "foo", which is not an index'],
    [
      {
        predictions: new Map<unknown, unknown>([
          [0, 1],
          [-1, undefined],
        ]),
        labels: { 0: 1 },
      },
      'test predictions has the key "-1", which is not an index',
    ],
    [
      {
        predictions: new Map<unknown, number>([
          ['3', 1],
          [3n, 2],
        ]),
        labels: { 3: 1 },
      },
      'test predictions has the index 3 twice, under keys of different types',
    ],
  ])('checks every key, even one holding undefined, and one index under two keys: %p', (result, message) => {
    expect(() => serializeTestResult(result)).toThrow(message);
  });

  it("pairs a Map's keys and values from one iteration, even of a subclass with its own iterator", () => {
    class SortedMap<V> extends Map<number, V> {
      override *[Symbol.iterator](): MapIterator<[number, V]> {
        yield* [...super.entries()].sort((a, b) => a[0] - b[0]);
      }
    }
    const predictions = new SortedMap([
      [2, 'two'],
      [0, 'zero'],
    ]);
    expect(serializeTestResult({ predictions, labels: { 0: 'zero', 2: 'two' } })).toBe(
      '{"predictions":{"0":"zero","2":"two"},"labels":{"0":"zero","2":"two"}}',
    );
  });

  it('reads each prediction once: a getter that answers differently the second time is not asked again', () => {
    let reads = 0;
    const predictions: unknown[] = [];
    Object.defineProperty(predictions, 0, { enumerable: true, get: () => (reads++ === 0 ? 3 : undefined) });
    Object.defineProperty(predictions, 'length', { value: 1 });
    expect(serializeTestResult({ predictions, labels: [1] })).toBe('{"predictions":{"0":3},"labels":{"0":1}}');
    expect(reads).toBe(1);
  });

  it('checks the keys of both, then that they match, then the values, whatever comes first in them', () => {
    expect(() => serializeTestResult({ predictions: { 0: NaN }, labels: { x: 1 } })).toThrow('test labels has the key "x"');
    expect(() => serializeTestResult({ predictions: { 0: NaN }, labels: { 1: 1 } })).toThrow('for different indices');
  });

  it.each([
    ['plain objects', (n: number) => Object.fromEntries(Array.from({ length: n }, (_, i) => [i, i % 10]))],
    ['Maps', (n: number) => new Map(Array.from({ length: n }, (_, i) => [i, i % 10]))],
    ['arrays', (n: number) => Array.from({ length: n }, (_, i) => i % 10)],
    ['typed arrays', (n: number) => Int32Array.from({ length: n }, (_, i) => i % 10)],
  ])('writes 10,000 class ids as %s, exactly as JSON.stringify writes the object', (_kind, make) => {
    const expected = Object.fromEntries(Array.from({ length: 10_000 }, (_, i) => [i, i % 10]));
    const json = serializeTestResult({ predictions: make(10_000), labels: make(10_000) });
    expect(json).toBe(`{"predictions":${JSON.stringify(expected)},"labels":${JSON.stringify(expected)}}`);
  });

  it('matches indices listed in different orders, and writes each in its own order', () => {
    const predictions = new Map([
      [2, 'cat'],
      [0, 'dog'],
    ]);
    const labels = { 0: 'dog', 2: 'cat' };
    expect(serializeTestResult({ predictions, labels })).toBe(
      '{"predictions":{"2":"cat","0":"dog"},"labels":{"0":"dog","2":"cat"}}',
    );
  });

  it('writes detection predictions and labels, class instances among them', () => {
    class Boxes {
      constructor(readonly boxes: number[][]) {}
    }
    const predictions = {
      0: { boxes: [[0.1, 0.2, 0.3, 0.4]], objects: [3], scores: [0.9] },
      1: { boxes: [], objects: [], scores: [] },
    };
    const labels = { 0: new Boxes([[0.1, 0.2, 0.3, 0.5]]), 1: new Boxes([]) };
    expect(JSON.parse(serializeTestResult({ predictions, labels }))).toEqual({
      predictions,
      labels: { 0: { boxes: [[0.1, 0.2, 0.3, 0.5]] }, 1: { boxes: [] } },
    });
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

  it('cuts large outputs into parts of about half a megabyte, so that no turn of the event loop serializes more', async () => {
    const detection = {
      boxes: Array.from({ length: 20 }, (_, b) => [b / 40, b / 40, b / 20, b / 20]),
      pre_softmax: Array.from({ length: 20 }, (_, b) => Array.from({ length: 81 }, (_, c) => Math.sin(b * 81 + c))),
      scores: Array.from({ length: 20 }, (_, b) => Math.cos(b)),
    };
    const indices = Array.from({ length: 200 }, (_, i) => i);
    const parts = await serializeInferResult({ outputs: indices.map(() => detection) }, indices);
    const largest = Math.max(...parts.map((part) => part.length));
    expect(largest).toBeLessThan(1.1 * 2 ** 19);
    expect(parts.length).toBeGreaterThan(5);
    expect(parts.join('')).toBe(`{"outputs":{${indices.map((i) => `"${i}":${JSON.stringify(detection)}`).join(',')}}}`);
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
