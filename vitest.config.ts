import { defineConfig } from 'vitest/config';

// One project per test-file suffix, each file in exactly one (the suffix decides, the folder does not:
// test/scenarios/ holds whole-system tests of every kind):
//   *.int.test.ts     integration: needs the services infra/ starts (Kafka, ElasticMQ, RabbitMQ); `npm run test:integration`
//   *.deploy.test.ts  deploy: reads the artifacts `npm run package` wrote (dist/serverless/<stage>); `npm run test:deploy`
//   *.e2e.test.ts     e2e: whole processes (`mesh-apim start`, signals), nothing outside the machine; part of `npm test`
//   *.test.ts         unit: any other test, nothing outside the process; `npm test`
// Logs of the code under test are off unless the developer sets MESH_APIM_LOG_LEVEL (child processes
// the tests spawn inherit it; tests that read a child's logs set their own level).
const env = { MESH_APIM_LOG_LEVEL: process.env.MESH_APIM_LOG_LEVEL ?? 'silent' };
const SUFFIXED = ['int', 'deploy', 'e2e'] as const;
const only = (suffix: (typeof SUFFIXED)[number]) => [`test/**/*.${suffix}.test.ts`];
const local = { testTimeout: 20_000, hookTimeout: 30_000, env };
export default defineConfig({
  test: {
    projects: [
      {
        test: {
          name: 'unit',
          include: ['test/**/*.test.ts'],
          exclude: [...SUFFIXED.flatMap(only), 'node_modules/**'],
          ...local,
        },
      },
      { test: { name: 'e2e', include: only('e2e'), ...local } },
      {
        test: {
          name: 'integration',
          include: only('int'),
          testTimeout: 120_000,
          env,
          hookTimeout: 120_000,
          fileParallelism: false,
        },
      },
      { test: { name: 'deploy', include: only('deploy') } },
    ],
  },
});
