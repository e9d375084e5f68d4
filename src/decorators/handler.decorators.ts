import { applyDecorators, SetMetadata } from '@nestjs/common';

import { ALECTIO_HANDLER_METADATA, HandlerKind } from '../alectio.constants.js';

const handler = (kind: HandlerKind): MethodDecorator => applyDecorators(SetMetadata(ALECTIO_HANDLER_METADATA, kind));

/**
 * Serves this method as `POST /train`. It receives a {@link TrainPayload} (and may be async):
 * train on exactly `labeled`, resume from `resume_from` when it is not null, write `ckpt_file`.
 */
export const Train = (): MethodDecorator => handler('train');

/**
 * Serves this method as `POST /test`. It receives a {@link TestPayload} and returns a
 * {@link TestResult}: predictions and labels of the test split, keyed by test index.
 * In spec files, where `Test` is `@nestjs/testing`'s, use {@link AlectioTest}.
 */
export const Test = (): MethodDecorator => handler('test');

/** The same as {@link Test}, under a name that does not clash with `Test` of `@nestjs/testing`. */
export const AlectioTest = Test;

/**
 * Serves this method as `POST /infer`. It receives an {@link InferPayload} and returns an
 * {@link InferResult}: the model's pre-softmax outputs for every index of `unlabeled`.
 */
export const Infer = (): MethodDecorator => handler('infer');
