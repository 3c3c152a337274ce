/** Lambda entry point (serverless.yml: .build/functions/usage-billing/handler.handler). */
import { lambdaHandler } from '../lib/lambda.ts';
import usageBilling from './index.ts';

export const handler = lambdaHandler(usageBilling);
