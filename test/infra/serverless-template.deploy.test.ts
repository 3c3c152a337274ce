/**
 * Asserts what matters in the CloudFormation that `npm run package` generated for both trigger
 * variants (stage ci-msk: Amazon MSK + SASL/SCRAM; stage ci-kafka: self-managed Kafka + mTLS in a VPC):
 * every event source mapping, each function's IAM statements (exact actions and resources), the
 * failure destinations, runtime/architecture/bundles. Run by `npm run test:deploy` after packaging.
 */
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { TOPICS } from '../../events/topics.ts';
import { listHandlers } from '../../infra/aws/package.ts';

const repoRoot = path.resolve(import.meta.dirname, '../..');
const outDir = (stage: string) => path.join(repoRoot, 'dist/serverless', stage);

type Json = Record<string, unknown>;
interface Resource {
  Type: string;
  Properties: Json & { [k: string]: never };
  DependsOn?: string[];
}
interface Statement {
  Sid: string;
  Effect: string;
  Action: string[];
  Resource: unknown;
}

function template(stage: string): { Resources: Record<string, Resource> } {
  const file = path.join(outDir(stage), 'cloudformation-template-update-stack.json');
  if (!existsSync(file)) throw new Error(`${file} missing: run \`npm run package\` first (see .ci/run)`);
  return JSON.parse(readFileSync(file, 'utf8'));
}

const sub = (service: string, rest: string) => ({
  'Fn::Join': [
    '',
    [
      'arn:',
      { Ref: 'AWS::Partition' },
      `:${service}:`,
      { Ref: 'AWS::Region' },
      ':',
      { Ref: 'AWS::AccountId' },
      `:${rest}`,
    ],
  ],
});
const getAttArn = (logicalId: string) => ({ 'Fn::GetAtt': [logicalId, 'Arn'] });

const ENI = [
  'ec2:AssignPrivateIpAddresses',
  'ec2:CreateNetworkInterface',
  'ec2:DeleteNetworkInterface',
  'ec2:DescribeNetworkInterfaces',
  'ec2:DescribeSecurityGroups',
  'ec2:DescribeSubnets',
  'ec2:DescribeVpcs',
  'ec2:UnassignPrivateIpAddresses',
];

const FUNCTIONS = {
  AnalyticsPublisher: {
    file: 'analytics-publisher',
    topic: TOPICS.requestAttributes.name,
    batchSize: 500,
    window: 5,
    produces: [TOPICS.analytics.name],
  },
  ApiAutoCreator: {
    file: 'api-auto-creator',
    topic: TOPICS.serviceLifecycle.name,
    batchSize: 10,
    window: 1,
    produces: [],
  },
  RevocationFanout: {
    file: 'revocation-fanout',
    topic: TOPICS.tokenRevoked.name,
    batchSize: 100,
    window: 0,
    produces: [],
  },
  UsageBilling: {
    file: 'usage-billing',
    topic: TOPICS.usage.name,
    batchSize: 100,
    window: 5,
    produces: [],
  },
  UsageMetering: {
    file: 'usage-metering',
    topic: TOPICS.requestAttributes.name,
    batchSize: 500,
    window: 5,
    produces: [TOPICS.usage.name, TOPICS.usageMeterState.name],
    reads: [TOPICS.usageMeterState.name],
  },
} as const;

/** Environment the functions get that is not a mesh-apim setting (every other name must be documented). */
const PENDING_ENV = new Set(['NODE_OPTIONS']);
const documentedEnv = new Set(
  [
    ...readFileSync(path.join(repoRoot, 'docs/configuration.md'), 'utf8').matchAll(/`([A-Z][A-Z0-9_]+)`/g),
  ].map((m) => m[1]),
);

const ACCOUNT = 'arn:aws:secretsmanager:eu-west-1:123456789012:secret';
const CLUSTER =
  'arn:aws:kafka:eu-west-1:123456789012:cluster/mesh-apim/0f3c4a2e-1111-2222-3333-444455556666-1';
const STAGES = {
  'ci-msk': {
    kafkaSecrets: [`${ACCOUNT}:AmazonMSK_mesh-apim-AbCdEf`],
    kms: 'arn:aws:kms:eu-west-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab',
    alarmTopic: 'arn:aws:sns:eu-west-1:123456789012:mesh-apim-alarms',
    cluster: CLUSTER,
    iam: false,
    sasl: 'scram-sha-512',
  },
  // MSK IAM access control: no Kafka secret; the roles hold kafka-cluster:* on the cluster's ARNs.
  'ci-msk-iam': {
    kafkaSecrets: [],
    kms: undefined,
    alarmTopic: undefined,
    cluster: CLUSTER,
    iam: true,
    sasl: 'aws',
  },
  'ci-kafka': {
    kafkaSecrets: [`${ACCOUNT}:mesh-apim/kafka-client-cert-AbCdEf`, `${ACCOUNT}:mesh-apim/kafka-ca-AbCdEf`],
    kms: undefined,
    cluster: undefined,
    alarmTopic: undefined,
    iam: false,
    sasl: 'none',
  },
} as const;

function expectedStatements(stage: keyof typeof STAGES, fn: keyof typeof FUNCTIONS): Statement[] {
  const s = STAGES[stage];
  const name = `mesh-apim-${stage}-${FUNCTIONS[fn].file}`;
  const st: Statement[] = [
    {
      Sid: 'Logs',
      Effect: 'Allow',
      Action: ['logs:CreateLogStream', 'logs:PutLogEvents'],
      Resource: sub('logs', `log-group:/aws/lambda/${name}:*`),
    },
    { Sid: 'NetworkInterfaces', Effect: 'Allow', Action: ENI, Resource: '*' },
  ];
  if (s.kafkaSecrets.length > 0) {
    st.push({
      Sid: 'KafkaSecrets',
      Effect: 'Allow',
      Action: ['secretsmanager:GetSecretValue'],
      Resource: [...s.kafkaSecrets],
    });
  }
  if (s.kms) st.push({ Sid: 'KafkaSecretKey', Effect: 'Allow', Action: ['kms:Decrypt'], Resource: s.kms });
  if (s.cluster) {
    st.push({
      Sid: 'MskCluster',
      Effect: 'Allow',
      Action: ['kafka:DescribeCluster', 'kafka:DescribeClusterV2', 'kafka:GetBootstrapBrokers'],
      Resource: s.cluster,
    });
  }
  if (s.iam) {
    const kafka = 'arn:aws:kafka:eu-west-1:123456789012';
    const cluster = 'mesh-apim/0f3c4a2e-1111-2222-3333-444455556666-1';
    st.push(
      {
        Sid: 'MskIamCluster',
        Effect: 'Allow',
        Action: [
          'kafka-cluster:Connect',
          'kafka-cluster:DescribeClusterDynamicConfiguration',
          'kafka-cluster:WriteDataIdempotently',
        ],
        Resource: CLUSTER,
      },
      {
        Sid: 'MskIamConsume',
        Effect: 'Allow',
        Action: ['kafka-cluster:DescribeTopic', 'kafka-cluster:ReadData'],
        Resource: `${kafka}:topic/${cluster}/${FUNCTIONS[fn].topic}`,
      },
      {
        Sid: 'MskIamConsumerGroup',
        Effect: 'Allow',
        Action: ['kafka-cluster:AlterGroup', 'kafka-cluster:DescribeGroup'],
        Resource: `${kafka}:group/${cluster}/mesh-apim-${FUNCTIONS[fn].file}`,
      },
      {
        Sid: 'MskIamProduce',
        Effect: 'Allow',
        Action: ['kafka-cluster:DescribeTopic', 'kafka-cluster:WriteData'],
        Resource: [TOPICS.deadLetter.name, ...FUNCTIONS[fn].produces].map(
          (t) => `${kafka}:topic/${cluster}/${t}`,
        ),
      },
    );
    const spec = FUNCTIONS[fn] as { reads?: readonly string[] };
    const reads = spec.reads ?? [];
    if (reads.length > 0) {
      st.push(
        {
          Sid: 'MskIamRead',
          Effect: 'Allow',
          Action: ['kafka-cluster:DescribeTopic', 'kafka-cluster:ReadData'],
          Resource: reads.map((t) => `${kafka}:topic/${cluster}/${t}`),
        },
        {
          Sid: 'MskIamReadGroups',
          Effect: 'Allow',
          Action: ['kafka-cluster:AlterGroup', 'kafka-cluster:DescribeGroup'],
          Resource: `${kafka}:group/${cluster}/*.replay.*`,
        },
      );
    }
  }
  st.push({
    Sid: 'XRay',
    Effect: 'Allow',
    Action: ['xray:PutTelemetryRecords', 'xray:PutTraceSegments'],
    Resource: '*',
  });
  st.push({
    Sid: 'FailureQueue',
    Effect: 'Allow',
    Action: ['sqs:SendMessage'],
    Resource: getAttArn(`${fn}FailureQueue`),
  });
  if (fn === 'ApiAutoCreator') {
    st.push({
      Sid: 'SecretApimSecret',
      Effect: 'Allow',
      Action: ['secretsmanager:GetSecretValue'],
      Resource: `${ACCOUNT}:mesh-apim/apim-AbCdEf`,
    });
  }
  if (fn === 'UsageBilling') {
    st.push({
      Sid: 'SecretBillingStripeSecret',
      Effect: 'Allow',
      Action: ['secretsmanager:GetSecretValue'],
      Resource: `${ACCOUNT}:mesh-apim/stripe-AbCdEf`,
    });
  }
  if (fn === 'RevocationFanout') {
    st.push({ Sid: 'AdapterQueueDiscovery', Effect: 'Allow', Action: ['sqs:ListQueues'], Resource: '*' });
    st.push({
      Sid: 'AdapterQueues',
      Effect: 'Allow',
      Action: ['sqs:DeleteQueue', 'sqs:GetQueueAttributes', 'sqs:ListQueueTags', 'sqs:SendMessage'],
      Resource: sub('sqs', 'mesh-apim-adapter-*'),
    });
  }
  return st;
}

describe.each(Object.keys(STAGES) as (keyof typeof STAGES)[])('packaged template, stage %s', (stage) => {
  const t = template(stage);
  const byType = (type: string) => Object.entries(t.Resources).filter(([, r]) => r.Type === type);

  it('has exactly one event source mapping per function, one per topic', () => {
    const esms = byType('AWS::Lambda::EventSourceMapping');
    expect(esms.map(([id]) => id).sort()).toEqual(
      Object.keys(FUNCTIONS).map((f) => `${f}EventSourceMapping`),
    );
  });

  it('has no role other than the per-function ones (no shared execution role)', () => {
    expect(
      byType('AWS::IAM::Role')
        .map(([id]) => id)
        .sort(),
    ).toEqual(Object.keys(FUNCTIONS).map((f) => `${f}Role`));
    expect(t.Resources.IamRoleLambdaExecution).toBeUndefined();
  });

  for (const [fn, spec] of Object.entries(FUNCTIONS) as [
    keyof typeof FUNCTIONS,
    (typeof FUNCTIONS)[keyof typeof FUNCTIONS],
  ][]) {
    describe(fn, () => {
      it('runs nodejs22.x on arm64 from its esbuild bundle, in the VPC, with its own role', () => {
        const p = t.Resources[`${fn}LambdaFunction`]!.Properties as Json;
        expect(p.Runtime).toBe('nodejs22.x');
        expect(p.Architectures).toEqual(['arm64']);
        expect(p.Handler).toBe(`.build/functions/${spec.file}/handler.handler`);
        expect(p.Role).toEqual(getAttArn(`${fn}Role`));
        expect(p.VpcConfig).toEqual({
          SecurityGroupIds: ['sg-0a1b2c3d4e5f60001'],
          SubnetIds: ['subnet-0a1b2c3d4e5f60001', 'subnet-0a1b2c3d4e5f60002'],
        });
        const env = (p.Environment as { Variables: Record<string, string> }).Variables;
        expect(env.NODE_OPTIONS).toBe('--enable-source-maps');
        for (const k of Object.keys(env)) {
          expect(
            documentedEnv.has(k) || PENDING_ENV.has(k),
            `${k} is neither a documented setting nor pending`,
          ).toBe(true);
        }
        expect(env.MESH_APIM_BUS_KAFKA_SASL_MECHANISM).toBe(STAGES[stage].sasl);
        if (STAGES[stage].iam) expect(env.MESH_APIM_BUS_KAFKA_SECRET_ARN).toBe('');
        // On Lambda the functions talk to the real backends, not the standalone defaults.
        if (fn === 'ApiAutoCreator') expect(env.MESH_APIM_AUTO_CREATOR_TARGET).toBe('apim');
        if (fn === 'RevocationFanout') expect(env.MESH_APIM_REVOCATION_TRANSPORT).toBe('sqs');
        if (fn === 'UsageMetering') {
          expect(env.MESH_APIM_FUNCTIONS_USAGE_LATENESS_MS).toBe('300000');
          // The meter state survives a cold start in the compacted state topic.
          expect(env.MESH_APIM_FUNCTIONS_USAGE_STATE_TOPIC).toBe('true');
        }
        if (fn === 'UsageBilling') {
          expect(env.MESH_APIM_FUNCTIONS_BILLING_PROVIDER).toBe('stripe');
          expect(env.MESH_APIM_FUNCTIONS_BILLING_STRIPE_SECRET_ARN).toBe(
            `${ACCOUNT}:mesh-apim/stripe-AbCdEf`,
          );
        }
        // Secrets travel by ARN only.
        for (const [k, v] of Object.entries(env)) {
          if (/SECRET|PASSWORD|TOKEN/.test(k))
            expect(v === '' || v.startsWith('arn:aws:secretsmanager:'), k).toBe(true);
        }
      });

      it('consumes its topic with the intended batching and position, failures to its queue', () => {
        const p = t.Resources[`${fn}EventSourceMapping`]!.Properties as Json;
        expect(p.FunctionName).toEqual({ Ref: `${fn}LambdaFunction` });
        expect(p.Topics).toEqual([spec.topic]);
        expect(p.BatchSize).toBe(spec.batchSize);
        expect(p.MaximumBatchingWindowInSeconds).toBe(spec.window);
        expect(p.StartingPosition).toBe('TRIM_HORIZON');
        expect(p.DestinationConfig).toEqual({ OnFailure: { Destination: getAttArn(`${fn}FailureQueue`) } });
        const group = { ConsumerGroupId: `mesh-apim-${spec.file}` };
        if (stage === 'ci-msk' || stage === 'ci-msk-iam') {
          expect(p.EventSourceArn).toBe(STAGES[stage].cluster);
          expect(p.AmazonManagedKafkaEventSourceConfig).toEqual(group);
          expect(p.SelfManagedEventSource).toBeUndefined();
          // MSK IAM: the poller authenticates with the execution role (no source access configuration).
          expect(p.SourceAccessConfigurations).toEqual(
            stage === 'ci-msk-iam'
              ? undefined
              : [{ Type: 'SASL_SCRAM_512_AUTH', URI: `${ACCOUNT}:AmazonMSK_mesh-apim-AbCdEf` }],
          );
        } else {
          expect(p.EventSourceArn).toBeUndefined();
          expect(p.SelfManagedKafkaEventSourceConfig).toEqual(group);
          expect(p.SelfManagedEventSource).toEqual({
            Endpoints: {
              KafkaBootstrapServers: ['kafka-0.example.internal:9093', 'kafka-1.example.internal:9093'],
            },
          });
          expect(p.SourceAccessConfigurations).toEqual([
            { Type: 'CLIENT_CERTIFICATE_TLS_AUTH', URI: `${ACCOUNT}:mesh-apim/kafka-client-cert-AbCdEf` },
            { Type: 'SERVER_ROOT_CA_CERTIFICATE', URI: `${ACCOUNT}:mesh-apim/kafka-ca-AbCdEf` },
            { Type: 'VPC_SUBNET', URI: 'subnet:subnet-0a1b2c3d4e5f60001' },
            { Type: 'VPC_SUBNET', URI: 'subnet:subnet-0a1b2c3d4e5f60002' },
            { Type: 'VPC_SECURITY_GROUP', URI: 'security_group:sg-0a1b2c3d4e5f60001' },
          ]);
        }
      });

      it('has an encrypted failure queue kept 14 days', () => {
        const q = t.Resources[`${fn}FailureQueue`]!;
        expect(q.Type).toBe('AWS::SQS::Queue');
        expect(q.Properties).toEqual({
          QueueName: `mesh-apim-${stage}-${spec.file}-failures`,
          MessageRetentionPeriod: 1_209_600,
          SqsManagedSseEnabled: true,
        });
      });

      it('is traced by X-Ray (active)', () => {
        const p = t.Resources[`${fn}LambdaFunction`]!.Properties as Json;
        expect(p.TracingConfig).toEqual({ Mode: 'Active' });
      });

      it('alarms on the first batch in its failure queue (notifying the alarm topic when given)', () => {
        const a = t.Resources[`${fn}FailureQueueAlarm`]!;
        expect(a.Type).toBe('AWS::CloudWatch::Alarm');
        const p = a.Properties as Json;
        expect(p).toMatchObject({
          Namespace: 'AWS/SQS',
          MetricName: 'ApproximateNumberOfMessagesVisible',
          Dimensions: [{ Name: 'QueueName', Value: { 'Fn::GetAtt': [`${fn}FailureQueue`, 'QueueName'] } }],
          Threshold: 0,
          ComparisonOperator: 'GreaterThanThreshold',
          TreatMissingData: 'notBreaching',
        });
        const topic = STAGES[stage].alarmTopic;
        expect(p.AlarmActions).toEqual(topic ? [topic] : undefined);
      });

      it('has exactly the IAM statements it needs', () => {
        const role = t.Resources[`${fn}Role`]!.Properties as Json;
        expect(role.AssumeRolePolicyDocument).toEqual({
          Version: '2012-10-17',
          Statement: [
            { Effect: 'Allow', Principal: { Service: 'lambda.amazonaws.com' }, Action: 'sts:AssumeRole' },
          ],
        });
        expect(role.ManagedPolicyArns).toBeUndefined();
        const policies = role.Policies as { PolicyDocument: { Statement: Statement[] } }[];
        expect(policies).toHaveLength(1);
        expect(policies[0]!.PolicyDocument.Statement).toEqual(expectedStatements(stage, fn));
      });
    });
  }

  it('serializes api-auto-creator and usage-metering (reserved concurrency 1); the others scale freely', () => {
    expect((t.Resources.ApiAutoCreatorLambdaFunction!.Properties as Json).ReservedConcurrentExecutions).toBe(
      1,
    );
    // usage-metering: batches and the idle-close schedule share one state (state topic): one writer at a time.
    expect((t.Resources.UsageMeteringLambdaFunction!.Properties as Json).ReservedConcurrentExecutions).toBe(
      1,
    );
    expect(
      (t.Resources.AnalyticsPublisherLambdaFunction!.Properties as Json).ReservedConcurrentExecutions,
    ).toBeUndefined();
    expect(
      (t.Resources.RevocationFanoutLambdaFunction!.Properties as Json).ReservedConcurrentExecutions,
    ).toBeUndefined();
  });

  it('closes idle usage hours on a schedule that invokes usage-metering (and only it)', () => {
    const rules = byType('AWS::Events::Rule');
    expect(rules).toHaveLength(1);
    const p = rules[0]![1].Properties as Json;
    expect(p.ScheduleExpression).toBe('rate(5 minutes)');
    expect(p.State).toBe('ENABLED');
    const targets = p.Targets as { Arn: unknown }[];
    expect(targets).toHaveLength(1);
    expect(targets[0]!.Arn).toEqual(getAttArn('UsageMeteringLambdaFunction'));
    const perms = byType('AWS::Lambda::Permission').map(([, r]) => r.Properties as Json);
    expect(perms).toContainEqual(
      expect.objectContaining({
        Principal: 'events.amazonaws.com',
        FunctionName: getAttArn('UsageMeteringLambdaFunction'),
      }),
    );
  });

  it('ships one zip per function; real bundles unless the handler was missing when packaged', () => {
    const missing = JSON.parse(
      readFileSync(path.join(outDir(stage), 'missing-handlers.json'), 'utf8'),
    ) as string[];
    for (const h of listHandlers()) {
      expect(existsSync(path.join(outDir(stage), `${h.key}.zip`)), h.key).toBe(true);
      expect(missing.includes(h.source)).toBe(!existsSync(path.join(repoRoot, h.source)));
    }
    if (missing.length > 0) {
      console.warn(`[deploy test] packaged with PLACEHOLDER bundles for: ${missing.join(', ')}`);
    }
  });
});
