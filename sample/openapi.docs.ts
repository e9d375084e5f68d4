import type { INestApplication } from '@nestjs/common';
import { DocumentBuilder, SwaggerModule } from '@nestjs/swagger';

import type { SampleConfig } from './sample.config.js';

/**
 * Swagger UI at `/docs` and the OpenAPI document at `/docs-json`, as a Nest app serves its own:
 * the module's routes are in it with their schemas, answers and examples. Open (no token), like
 * `/health`: it tells how to call the server, not what it holds.
 */
export function serveDocs(app: INestApplication, config: SampleConfig): void {
  const builder = new DocumentBuilder()
    .setTitle(`nestjs-alectio sample: ${config.sample}`)
    .setDescription('The active-learning protocol (POST /train, /test, /infer), job mode, probes and metrics.')
    .setVersion('1');
  // The scheme the module's operations name when a token is set.
  if (config.token) builder.addBearerAuth();
  SwaggerModule.setup('docs', app, () => SwaggerModule.createDocument(app, builder.build()));
}
