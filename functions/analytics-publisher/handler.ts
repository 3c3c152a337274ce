/**
 * Lambda entry point (serverless.yml: .build/functions/analytics-publisher/handler.handler). Deps and
 * sinks are built on the first invocation and reused while the container is warm.
 */
import { lambdaHandler } from '../lib/lambda.ts';
import analyticsPublisher from './index.ts';

export const handler = lambdaHandler(analyticsPublisher);
