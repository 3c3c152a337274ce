/** Lambda entry point (serverless.yml: .build/functions/revocation-fanout/handler.handler). */
import { lambdaDeps } from '../lib/index.ts';
import { createHandler } from './index.ts';

export const handler = createHandler(lambdaDeps());
