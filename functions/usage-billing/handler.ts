/** Lambda entry point (serverless.yml: .build/functions/usage-billing/handler.handler). */
import { type FunctionDeps, kafkaBatchHandler, lambdaDeps } from '../lib/index.ts';
import { definition } from './index.ts';

export const handler = kafkaBatchHandler((d: FunctionDeps) => definition(d), lambdaDeps());
