import 'reflect-metadata';

import { Logger } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';

import { AppModule } from './app.module.js';
import { SampleConfig } from './sample.config.js';

async function bootstrap(): Promise<void> {
  // A worker of a distributed pool (`npm run worker`) serves no HTTP: it takes work from Redis.
  if (new SampleConfig().role === 'worker') {
    const worker = await NestFactory.createApplicationContext(AppModule);
    worker.enableShutdownHooks();
    return;
  }
  const app = await NestFactory.create(AppModule);
  app.enableShutdownHooks();
  const { port, host, token, checkpointDir } = app.get(SampleConfig);
  await app.listen(port, host);
  new Logger('Sample').log(`serving on ${host}:${port}; checkpoints in ${checkpointDir}; token ${token ? 'required' : 'off'}`);
}

void bootstrap();
