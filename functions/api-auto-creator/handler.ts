/** Lambda entry point (serverless.yml: .build/functions/api-auto-creator/handler.handler); clients reused while warm. */
import { lambdaHandler } from '../lib/lambda.ts';
import apiAutoCreator from './index.ts';

export const handler = lambdaHandler(apiAutoCreator);
