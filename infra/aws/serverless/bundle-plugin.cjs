'use strict';
/**
 * Local Serverless plugin (serverless.yml `plugins`): builds the esbuild bundles of the handlers as
 * part of the framework's own lifecycles, so what is zipped or invoked is always built from the
 * current sources:
 *   - `serverless package` and `serverless deploy` (which packages first): every handler, before the
 *     deployment artifacts are created;
 *   - `serverless invoke local -f <fn>`: that function's bundle, before it is loaded.
 * The bundling itself is infra/aws/package.ts `bundle` (TypeScript, run with tsx in a child process:
 * the framework loads plugins with require()). BUNDLE_ALLOW_MISSING_HANDLERS=1 writes placeholder
 * bundles for missing sources (see package.ts); BUNDLE_SKIP=1 uses the bundles as they are
 * (`deploy --package <dir>` needs no bundles at all).
 */
const { spawnSync } = require('node:child_process');
const path = require('node:path');

class MeshApimBundlePlugin {
  constructor(serverless, options, { log } = {}) {
    this.serverless = serverless;
    this.options = options;
    this.log = log;
    this.hooks = {
      'before:package:createDeploymentArtifacts': () => this.bundle(),
      'before:invoke:local:loadEnvVars': () => this.bundle(this.options.function),
    };
  }

  bundle(functionKey) {
    if (process.env.BUNDLE_SKIP === '1') {
      this.log?.notice?.('mesh-apim: BUNDLE_SKIP=1, using the existing .build/functions bundles');
      return;
    }
    const serviceDir = this.serverless.serviceDir;
    const args = ['--import', 'tsx', path.join(serviceDir, 'infra/aws/package.ts'), 'bundle'];
    if (functionKey) args.push('--function', functionKey);
    if (process.env.BUNDLE_ALLOW_MISSING_HANDLERS === '1') args.push('--allow-missing-handlers');
    // stdout stays clean: invoke local prints the handler's result there.
    const r = spawnSync(process.execPath, args, { cwd: serviceDir, stdio: ['ignore', 2, 2] });
    if (r.status !== 0) {
      throw new this.serverless.classes.Error(
        `mesh-apim: bundling ${functionKey ?? 'the handlers'} failed (exit ${r.status ?? r.signal}); see the esbuild output above`,
        'MESH_APIM_BUNDLE_FAILED',
      );
    }
  }
}

module.exports = MeshApimBundlePlugin;
