#!/usr/bin/env node
// Runs the TypeScript sources directly through tsx, so `npx mesh-apim` works right after `npm ci`
// with no build step. Lambda bundles are built separately with esbuild.
import { register } from 'tsx/esm/api';

register();
await import('../cli/main.ts');
