import 'reflect-metadata';

import { Logger } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';

import { AppModule } from './app.module.js';
import { serveDocs } from './openapi.docs.js';
import { SampleConfig } from './sample.config.js';

async function bootstrap(): Promise<void> {
  // A worker of a distributed pool (`npm run worker`) serves no HTTP: it takes work from Redis.
  const config = new SampleConfig();
  if (config.role === 'worker') {
    const worker = await NestFactory.createApplicationContext(AppModule.forSample(config));
    worker.enableShutdownHooks();
    return;
  }
  const app = await NestFactory.create(AppModule.forSample(config));
  app.enableShutdownHooks();
  serveDocs(app, config);
  const { sample, port, host, token, checkpointDir } = config;
  await app.listen(port, host);
  new Logger('Sample').log(
    `serving the ${sample} sample on ${host}:${port} (Swagger UI at /docs); checkpoints in ${checkpointDir}; token ${token ? 'required' : 'off'}`,
  );
}

void bootstrap();
