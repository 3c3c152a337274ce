/** Lambda entry point (serverless.yml: .build/functions/usage-metering/handler.handler). */
import { lambdaDeps } from '../lib/index.ts';
import { lambdaHandler } from './index.ts';

export const handler = lambdaHandler(lambdaDeps());
