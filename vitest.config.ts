import { defineConfig } from 'vitest/config';

// Two projects: `unit` needs nothing outside the process; `integration` needs the services
// that infra/ starts (Kafka, ElasticMQ) and is run by `npm run test:integration`.
// Logs of the code under test are off unless the developer sets MESH_APIM_LOG_LEVEL (child processes
// the tests spawn inherit it; tests that read a child's logs set their own level).
const env = { MESH_APIM_LOG_LEVEL: process.env.MESH_APIM_LOG_LEVEL ?? 'silent' };
export default defineConfig({
  test: {
    projects: [
      {
        test: {
          name: 'unit',
          include: ['test/**/*.test.ts'],
          exclude: ['test/**/*.int.test.ts', 'test/**/*.deploy.test.ts', 'node_modules/**'],
          testTimeout: 20_000,
          env,
          hookTimeout: 30_000,
        },
      },
      {
        test: {
          name: 'integration',
          include: ['test/**/*.int.test.ts'],
          testTimeout: 120_000,
          env,
          hookTimeout: 120_000,
          fileParallelism: false,
        },
      },
      {
        // Reads the artifacts `npm run package` wrote (dist/serverless/<stage>); `npm run test:deploy`.
        test: { name: 'deploy', include: ['test/**/*.deploy.test.ts'] },
      },
    ],
  },
});
