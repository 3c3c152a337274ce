/** Lambda entry point (serverless.yml: .build/functions/revocation-fanout/handler.handler). */
import { lambdaHandler } from '../lib/lambda.ts';
import revocationFanout from './index.ts';

export const handler = lambdaHandler(revocationFanout);
