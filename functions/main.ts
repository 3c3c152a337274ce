/**
 * Composition root of the in-process functions (`mesh-apim start` with functions.runLocal): every
 * enabled function consuming from the pipeline's bus, through the local runner (functions/runner/).
 * On AWS each function is its own Lambda bundle instead (serverless.yml); this module is not in the
 * container image (.dockerignore), so the pipeline imports it only when it runs functions.
 */
import type { Bus } from '../bus/types.ts';
import type { Config } from '../common/config/index.ts';
import type { Logger } from '../common/log.ts';
import { type RunningFunctions, startFunctions } from './runner/index.ts';

export interface LocalFunctionsDeps {
  bus: Bus;
  logger?: Logger;
}

export function startLocalFunctions(config: Config, deps: LocalFunctionsDeps): Promise<RunningFunctions> {
  return startFunctions(config, deps.bus, deps.logger ? { logger: deps.logger } : {});
}
