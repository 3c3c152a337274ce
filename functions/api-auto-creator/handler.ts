/** Lambda entry point (serverless.yml: .build/functions/api-auto-creator/handler.handler); clients reused while warm. */
import { type FunctionDeps, kafkaBatchHandler, lambdaDeps } from '../lib/index.ts';
import { definition } from './index.ts';

export const handler = kafkaBatchHandler((d: FunctionDeps) => definition(d), lambdaDeps());
