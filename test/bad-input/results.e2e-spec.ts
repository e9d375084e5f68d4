import { describe, expect, it } from '@jest/globals';
import { BadRequestException } from '@nestjs/common';

import { type Answer, brokeContract, expectRejected, guarded, post, useBadInputApps, validTrain } from './bad-input.harness.js';

// What the customer's methods return or throw: results that break the contract are a 500 naming the method.
// Shared set-up and helpers: ./bad-input.harness.ts.

useBadInputApps();

describe('results that break the contract', () => {
  const infer = (unlabeled: number[]) => post(guarded, '/infer').send({ unlabeled, ckpt_file: 'ckpt_1' });
  const test = () => post(guarded, '/test').send({ ckpt_file: 'ckpt_1' });
  const expect500 = (answer: Answer | PromiseLike<Answer>, message: unknown) => expectRejected(answer, 500, message);

  it('infer misses indices', () => {
    guarded.model.behaviour.infer = ({ unlabeled }: { unlabeled: number[] }) => ({
      outputs: Object.fromEntries(unlabeled.filter((i) => i % 2 === 0).map((i) => [i, [0.1]])),
    });
    return expect500(
      infer([2, 5, 4, 7, 9]),
      brokeContract('infer', 'infer returned no output for 3 of 5 requested indices, first 5'),
    );
  });

  it('infer misses indices (array shorter than unlabeled)', () => {
    guarded.model.behaviour.infer = () => ({ outputs: [[1]] });
    return expect500(
      infer([10, 11, 12]),
      brokeContract('infer', 'infer returned no output for 2 of 3 requested indices, first 11'),
    );
  });

  it('infer misses indices (Map keyed by other numbers)', () => {
    guarded.model.behaviour.infer = () => ({
      outputs: new Map([
        [10, [1]],
        [12, [2]],
      ]),
    });
    return expect500(infer([10, 11]), brokeContract('infer', 'infer returned no output for 1 of 2 requested indices, first 11'));
  });

  it('infer returns extra indices', () => {
    guarded.model.behaviour.infer = () => ({ outputs: { 1: [1], 2: [2], 999: [3] } });
    return expect500(
      infer([1, 2]),
      brokeContract('infer', 'infer returned outputs for indices that were not requested, first 999'),
    );
  });

  it('infer returns an array longer than unlabeled', () => {
    guarded.model.behaviour.infer = () => ({ outputs: [[1], [2], [3]] });
    return expect500(
      infer([1, 2]),
      brokeContract('infer', 'infer returned outputs for indices that were not requested, first position 2'),
    );
  });

  it('NaN inside infer outputs is a 500, never null on the wire', async () => {
    guarded.model.behaviour.infer = () => ({ outputs: { 1: [0.5, NaN], 2: [1, 2] } });
    const res = await infer([1, 2]);
    expect(res.text).not.toContain('null');
    await expect500(res, brokeContract('infer', 'infer output for index 1[1] is NaN, not a finite number'));
  });

  it('Infinity inside a Float32Array output', () => {
    guarded.model.behaviour.infer = () => ({ outputs: [new Float32Array([1, -Infinity])] });
    return expect500(infer([3]), brokeContract('infer', 'infer output for index 3[1] is -Infinity, not a finite number'));
  });

  it('NaN deep inside a detection output', () => {
    guarded.model.behaviour.infer = () => ({
      outputs: { 3: { boxes: [[0, 0, 1, 1]], pre_softmax: [[0.1, NaN]], scores: [0.9] } },
    });
    return expect500(
      infer([3]),
      brokeContract('infer', 'infer output for index 3.pre_softmax[0][1] is NaN, not a finite number'),
    );
  });

  it('Infinity in test predictions', () => {
    guarded.model.behaviour.test = () => ({ predictions: { 0: Infinity }, labels: { 0: 1 } });
    return expect500(test(), brokeContract('test', 'test prediction for index 0 is Infinity, not a finite number'));
  });

  it('infer returns undefined', () => {
    guarded.model.behaviour.infer = () => undefined;
    return expect500(infer([1]), brokeContract('infer', 'infer must return {outputs}, got undefined'));
  });

  it('infer returns {outputs: undefined}', () => {
    guarded.model.behaviour.infer = () => ({ outputs: undefined });
    return expect500(infer([1]), brokeContract('infer', 'infer must return {outputs}: outputs is missing'));
  });

  it('an undefined output value counts as missing', () => {
    guarded.model.behaviour.infer = () => ({ outputs: { 1: [1], 2: undefined } });
    return expect500(infer([1, 2]), brokeContract('infer', 'infer returned no output for 1 of 2 requested indices, first 2'));
  });

  it('undefined inside an output array', () => {
    guarded.model.behaviour.infer = () => ({ outputs: { 1: [1, undefined] } });
    return expect500(infer([1]), brokeContract('infer', 'infer output for index 1[1] is missing (undefined)'));
  });

  it('a bigint and a function inside outputs', async () => {
    guarded.model.behaviour.infer = () => ({ outputs: { 1: [1n] } });
    await expect500(infer([1]), brokeContract('infer', 'infer output for index 1[0] is the bigint 1, which JSON cannot carry'));
    guarded.model.behaviour.infer = () => ({ outputs: { 1: () => 1 } });
    await expect500(infer([1]), brokeContract('infer', 'infer output for index 1 is a function, which JSON cannot carry'));
  });

  it('a cyclic output', () => {
    const cyclic: Record<string, unknown> = { scores: [1] };
    cyclic.self = cyclic;
    guarded.model.behaviour.infer = () => ({ outputs: { 1: cyclic } });
    return expect500(
      infer([1]),
      expect.stringMatching(
        /^infer in FixtureModel#infer returned a result that breaks the protocol: infer output for index 1(\.self)+(\.scores)? is nested deeper than 64 levels \(a cycle\?\)$/,
      ),
    );
  });

  it('an output whose toJSON throws: 500 naming the method and the error, not an "internal error"', () => {
    guarded.model.behaviour.infer = () => ({
      outputs: {
        1: {
          toJSON() {
            throw new Error('tensor was disposed');
          },
        },
      },
    });
    return expect500(infer([1]), expect.stringMatching(/FixtureModel#infer.*tensor was disposed/));
  });

  it('a result whose getter throws: 500 naming the method and the error, not an "internal error"', () => {
    guarded.model.behaviour.infer = () => ({
      get outputs(): unknown {
        throw new Error('lazy tensor could not be read');
      },
    });
    return expect500(infer([1]), expect.stringMatching(/FixtureModel#infer.*lazy tensor could not be read/));
  });

  it('test predictions and labels on different indices', () => {
    guarded.model.behaviour.test = () => ({ predictions: { 0: 1, 1: 0, 3: 2 }, labels: { 0: 1, 1: 1, 2: 2 } });
    return expect500(
      test(),
      brokeContract(
        'test',
        'test returned predictions and labels for different indices: 1 prediction without a label, first index 3; 1 label without a prediction, first index 2',
      ),
    );
  });

  it('test labels cover more indices than predictions (array vs object)', () => {
    guarded.model.behaviour.test = () => ({ predictions: [1, 0], labels: { 0: 1, 1: 1, 2: 2 } });
    return expect500(
      test(),
      brokeContract(
        'test',
        'test returned predictions and labels for different indices: 1 label without a prediction, first index 2',
      ),
    );
  });

  it('test predictions keyed by something that is not an index', () => {
    guarded.model.behaviour.test = () => ({ predictions: { '-1': 0, 0: 1 }, labels: { '-1': 0, 0: 1 } });
    return expect500(test(), brokeContract('test', 'test predictions has the key "-1", which is not an index'));
  });

  it('test without labels', () => {
    guarded.model.behaviour.test = () => ({ predictions: { 0: 1 } });
    return expect500(test(), brokeContract('test', 'test must return {predictions, labels}: labels is missing'));
  });

  it.each([
    ['a number', 42, 'a number'],
    ['a string', 'done', 'a string'],
    ['null', null, 'null'],
    ['a boolean', true, 'a boolean'],
  ])('infer returns %s', (_, value, shown) => {
    guarded.model.behaviour.infer = () => value;
    return expect500(infer([1]), brokeContract('infer', `infer must return {outputs}, got ${shown}`));
  });

  it('test returns a non-object', () => {
    guarded.model.behaviour.test = () => 'accuracy: 0.9';
    return expect500(test(), brokeContract('test', 'test must return {predictions, labels}, got a string'));
  });

  it('infer returns outputs of the wrong kind', () => {
    guarded.model.behaviour.infer = () => ({ outputs: 'logits' });
    return expect500(infer([1]), brokeContract('infer', 'infer returned outputs as a string, not an object, Map or array'));
  });

  it('train returning anything is ignored', async () => {
    guarded.model.behaviour.train = () => ({ outputs: NaN, status: 500 });
    const res = await post(guarded, '/train').send(validTrain);
    expect(res.status).toBe(200);
    expect(res.body).toEqual({ status: 200 });
  });

  describe('a method that throws', () => {
    const noStack = (text: string): void => {
      expect(text).not.toMatch(/\bat .+:\d+:\d+/);
      expect(text).not.toMatch(/stack/i);
      expect(text).not.toContain('fixture.model');
    };

    it('train throws an Error', async () => {
      guarded.model.behaviour.train = () => {
        throw new Error('checkpoint "ckpt_0" not found');
      };
      const res = await post(guarded, '/train').send({ labeled: [1], resume_from: 'ckpt_0', ckpt_file: 'ckpt_1' });
      noStack(res.text);
      await expectRejected(
        Promise.resolve({ status: res.status, headers: res.headers, text: res.text }),
        500,
        'train failed in FixtureModel#train: checkpoint "ckpt_0" not found',
      );
    });

    it('test rejects asynchronously', async () => {
      guarded.model.behaviour.test = async () => {
        await new Promise((resolve) => setImmediate(resolve));
        throw new TypeError('Cannot read properties of undefined (reading "shape")');
      };
      const res = await test();
      noStack(res.text);
      await expectRejected(
        Promise.resolve({ status: res.status, headers: res.headers, text: res.text }),
        500,
        'test failed in FixtureModel#test: Cannot read properties of undefined (reading "shape")',
      );
    });

    it('infer throws a string', () => {
      guarded.model.behaviour.infer = () => {
        throw 'out of memory';
      };
      return expect500(infer([1]), 'infer failed in FixtureModel#infer: out of memory');
    });

    it('infer throws an HttpException: still a 500 of the method, not its 400', () => {
      guarded.model.behaviour.infer = () => {
        throw new BadRequestException('bad tensor');
      };
      return expect500(infer([1]), 'infer failed in FixtureModel#infer: bad tensor');
    });

    it('infer throws an Error without a message', () => {
      guarded.model.behaviour.infer = () => {
        throw new RangeError();
      };
      return expect500(infer([1]), 'infer failed in FixtureModel#infer: RangeError');
    });
  });
});
