// A plain Nest controller: the same routes and model, no validation, no result checks.
import 'reflect-metadata';

import { Body, Controller, HttpCode, Module, Post } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';

import { listening, model, reportOverIpc } from './model.mjs';

class PlainController {
  train(body) {
    model.train(body);
    return { status: 200 };
  }
  test(body) {
    const { predictions, labels } = model.test(body);
    return { status: 200, predictions: asObject(predictions), labels: asObject(labels) };
  }
  infer(body) {
    const { outputs } = model.infer(body);
    const keyed = {};
    for (let i = 0; i < body.unlabeled.length; i++) keyed[body.unlabeled[i]] = outputs[i];
    return { status: 200, outputs: keyed };
  }
}
Controller()(PlainController);
// Nest would send a Map as {} and an array as an array: the wire wants an object keyed by index.
const asObject = (keyed) => (keyed instanceof Map ? Object.fromEntries(keyed) : Array.isArray(keyed) ? { ...keyed } : keyed);
for (const name of ['train', 'test', 'infer']) {
  const descriptor = Object.getOwnPropertyDescriptor(PlainController.prototype, name);
  Post(name)(PlainController.prototype, name, descriptor);
  HttpCode(200)(PlainController.prototype, name, descriptor);
  Body()(PlainController.prototype, name, 0);
}
class PlainModule {}
Module({ controllers: [PlainController] })(PlainModule);

await reportOverIpc();
// BENCH_LOGGER=1: Nest's default console logger (it writes nothing per call here).
const app = await NestFactory.create(PlainModule, process.env.BENCH_LOGGER === '1' ? {} : { logger: false });
app.useBodyParser('json', { limit: '64mb' });
await app.listen(Number(process.env.PORT), '127.0.0.1');
listening(Number(process.env.PORT));
