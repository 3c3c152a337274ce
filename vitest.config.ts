import { defineConfig } from 'vitest/config';

// Two projects: `unit` needs nothing outside the process; `integration` needs the services
// that infra/ starts (Kafka, ElasticMQ) and is run by `npm run test:integration`.
export default defineConfig({
  test: {
    projects: [
      {
        test: {
          name: 'unit',
          include: ['test/**/*.test.ts'],
          exclude: ['test/**/*.int.test.ts', 'test/**/*.deploy.test.ts', 'node_modules/**'],
          testTimeout: 20_000,
          hookTimeout: 30_000,
        },
      },
      {
        test: {
          name: 'integration',
          include: ['test/**/*.int.test.ts'],
          testTimeout: 120_000,
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
