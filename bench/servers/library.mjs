// nestjs-alectio as a customer uses it (the built package), with the trivial model. bench/run.mjs
// also copies this file into an app of its own with the packed package: the customer's view.
import 'reflect-metadata';

import { ConsoleLogger, Injectable, Module } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { AlectioModule, Infer, Test, Train } from 'nestjs-alectio';

import { listening, loggerTime, model, reportOverIpc } from './model.mjs';

class BenchModel {
  train(payload) {
    return model.train(payload);
  }
  test(payload) {
    return model.test(payload);
  }
  infer(payload) {
    return model.infer(payload);
  }
}
// Decorators applied by hand: this file is plain JavaScript.
Injectable()(BenchModel);
for (const [decorator, name] of [
  [Train, 'train'],
  [Test, 'test'],
  [Infer, 'infer'],
]) {
  decorator()(BenchModel.prototype, name, Object.getOwnPropertyDescriptor(BenchModel.prototype, name));
}
// BENCH_TRACE=1: an OpenTelemetry SDK registered, every span recorded (and dropped): the cost of
// tracing on. Without it, @opentelemetry/api (installed beside prom-client) gives no-op spans;
// BENCH_TRACE=off: the module's `tracing: false`, no span at all.
if (process.env.BENCH_TRACE === '1') {
  const { context, trace } = await import('@opentelemetry/api');
  const { AsyncLocalStorageContextManager } = await import('@opentelemetry/context-async-hooks');
  const { BasicTracerProvider, SimpleSpanProcessor } = await import('@opentelemetry/sdk-trace-base');
  const drop = { export: (spans, done) => done({ code: 0 }), shutdown: async () => {} };
  context.setGlobalContextManager(new AsyncLocalStorageContextManager().enable());
  trace.setGlobalTracerProvider(new BasicTracerProvider({ spanProcessors: [new SimpleSpanProcessor(drop)] }));
}
// BENCH_METRICS=1: Prometheus metrics on (prom-client), as the sample has them.
const options = {
  ...(process.env.BENCH_METRICS ? { metrics: true } : {}),
  ...(process.env.BENCH_TRACE === 'off' ? { tracing: false } : {}),
};
class BenchModule {}
Module({ imports: [AlectioModule.forRoot(options)], providers: [BenchModel] })(BenchModule);

// With a logger on, the time spent inside Nest's ConsoleLogger.log, for the table's own row.
if (process.env.BENCH_LOGGER) {
  const log = ConsoleLogger.prototype.log;
  ConsoleLogger.prototype.log = function timedLog(...args) {
    const started = process.hrtime.bigint();
    try {
      return log.apply(this, args);
    } finally {
      loggerTime.nanos += Number(process.hrtime.bigint() - started);
      loggerTime.calls++;
    }
  };
}

await reportOverIpc();
// BENCH_LOGGER=1: Nest's default console logger, so the module's one line per call is written;
// BENCH_LOGGER=json: its JSON form; BENCH_LOGGER=warn: the 'log' level off (no line per success).
const LOGGERS = { 1: {}, json: { logger: new ConsoleLogger({ json: true }) }, warn: { logger: ['error', 'warn'] } };
const app = await NestFactory.create(BenchModule, LOGGERS[process.env.BENCH_LOGGER] ?? { logger: false });
await app.listen(Number(process.env.PORT), '127.0.0.1');
listening(Number(process.env.PORT));
