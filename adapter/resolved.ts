/**
 * Values derived from the settings, resolved in one place so a rule cannot drift between copies: the
 * adapter's composition root (adapter/main.ts), the controller, the CLI commands and the
 * api-auto-creator function (which writes the fragments the adapter reads) all call these. Imports
 * nothing but node and types: the Lambda bundle of api-auto-creator and the short CLI commands load it.
 */
import { hostname } from 'node:os';
import { join } from 'node:path';
import type { SQSClientConfig } from '@aws-sdk/client-sqs';
import type { Config } from '../common/config/index.ts';

/** Where the API auto-creator writes, and the standalone source merges, fragment files (under dataDir). */
export const FRAGMENTS_DIR = 'standalone.d';

/** Identity of this process (queue names, consumer groups, event producer id): instanceId, else hostname-pid. */
export function resolveInstanceId(config: Config): string {
  return config.instanceId || `${hostname()}-${process.pid}`;
}

/** adapter.standaloneFragmentsDir, else <dataDir>/standalone.d. */
export function resolveFragmentsDir(config: Config): string {
  return config.adapter.standaloneFragmentsDir || join(config.dataDir, FRAGMENTS_DIR);
}

/** The SQS client of the adapter's revocation queue (revocation.transport sqs). */
export function resolveRevocationSqs(config: Config): SQSClientConfig {
  const r = config.revocation;
  return { region: r.sqsRegion, ...(r.sqsEndpoint ? { endpoint: r.sqsEndpoint } : {}) };
}
