/**
 * Lambda entry point (serverless.yml: .build/functions/usage-metering/handler.handler): Kafka batches
 * and the EventBridge schedule that closes idle partitions' hours (the core's tick()).
 */
import { lambdaHandler } from '../lib/lambda.ts';
import usageMetering from './index.ts';

export const handler = lambdaHandler(usageMetering);
