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
    return { status: 200, ...model.test(body) };
  }
  infer(body) {
    const { outputs } = model.infer(body);
    const keyed = {};
    for (let i = 0; i < body.unlabeled.length; i++) keyed[body.unlabeled[i]] = outputs[i];
    return { status: 200, outputs: keyed };
  }
}
Controller()(PlainController);
for (const name of ['train', 'test', 'infer']) {
  const descriptor = Object.getOwnPropertyDescriptor(PlainController.prototype, name);
  Post(name)(PlainController.prototype, name, descriptor);
  HttpCode(200)(PlainController.prototype, name, descriptor);
  Body()(PlainController.prototype, name, 0);
}
class PlainModule {}
Module({ controllers: [PlainController] })(PlainModule);

await reportOverIpc();
const app = await NestFactory.create(PlainModule, { logger: false });
app.useBodyParser('json', { limit: '64mb' });
await app.listen(Number(process.env.PORT), '127.0.0.1');
listening(Number(process.env.PORT));
