// Generates the CloudFormation resources serverless.yml cannot express per function: the Kafka event
// source mappings (MSK or self-managed, chosen by the kafkaMode stage parameter), one failure queue per
// function (the mappings' on-failure destination) and one least-privilege IAM role per function.
// Loaded by the Serverless variable resolver (`${file(...):resources}`), hence CommonJS.
'use strict';

const KAFKA_MODES = ['msk', 'kafka'];
const KAFKA_AUTHS = ['sasl-scram', 'mtls', 'iam'];
// Every function may dead-letter (events/topics.ts TOPICS.deadLetter; the deploy test compares).
const DEAD_LETTER_TOPIC = 'mesh-apim.dead-letter.v1';

/** Resolves a stage parameter; `optional` ones may be absent or empty. */
async function param(resolveVariable, name, optional = false) {
  let value;
  try {
    value = await resolveVariable(`param:${name}`);
  } catch (err) {
    // The resolver signals "not resolvable yet, retry in a later phase" this way: pass it on.
    if (err && err.code === 'MISSING_VARIABLE_DEPENDENCY') throw err;
    if (optional) return '';
    throw new Error(`mesh-apim: stage parameter "${name}" is required (${err.message})`);
  }
  if (value === undefined || value === null) value = '';
  if (!optional && value === '') throw new Error(`mesh-apim: stage parameter "${name}" is required`);
  return String(value);
}

const list = (s) =>
  String(s)
    .split(',')
    .map((x) => x.trim())
    .filter(Boolean);

const pascal = (key) => key.charAt(0).toUpperCase() + key.slice(1);

/** arn:<partition>:<service>:<region>:<account>:<rest>, built without ${} so no resolver touches it. */
const arn = (service, rest) => ({
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

// Lambda in a VPC (the functions produce to Kafka) and the Kafka pollers need ENIs; EC2 does not
// support resource-level permissions on these calls.
const ENI_ACTIONS = [
  'ec2:AssignPrivateIpAddresses',
  'ec2:CreateNetworkInterface',
  'ec2:DeleteNetworkInterface',
  'ec2:DescribeNetworkInterfaces',
  'ec2:DescribeSecurityGroups',
  'ec2:DescribeSubnets',
  'ec2:DescribeVpcs',
  'ec2:UnassignPrivateIpAddresses',
];

async function settings(resolveVariable, resolveConfigurationProperty) {
  const kafkaMode = await param(resolveVariable, 'kafkaMode');
  if (!KAFKA_MODES.includes(kafkaMode)) {
    throw new Error(`mesh-apim: kafkaMode must be one of ${KAFKA_MODES.join(', ')}, got "${kafkaMode}"`);
  }
  const kafkaAuth = await param(resolveVariable, 'kafkaAuth');
  if (!KAFKA_AUTHS.includes(kafkaAuth)) {
    throw new Error(`mesh-apim: kafkaAuth must be one of ${KAFKA_AUTHS.join(', ')}, got "${kafkaAuth}"`);
  }
  if (kafkaAuth === 'iam' && kafkaMode !== 'msk') {
    throw new Error('mesh-apim: kafkaAuth=iam (MSK IAM access control) needs kafkaMode=msk');
  }
  const s = {
    service: await resolveConfigurationProperty(['service']),
    stage: await resolveVariable('sls:stage'),
    kafkaMode,
    kafkaAuth,
    kafkaClusterArn: kafkaMode === 'msk' ? await param(resolveVariable, 'kafkaClusterArn') : '',
    kafkaBootstrapServers: list(await param(resolveVariable, 'kafkaBootstrapServers')),
    // MSK IAM authenticates with the function's role: no Kafka secret.
    kafkaSecretArn: await param(resolveVariable, 'kafkaSecretArn', kafkaAuth === 'iam'),
    kafkaServerRootCaSecretArn: await param(resolveVariable, 'kafkaServerRootCaSecretArn', true),
    kafkaSecretKmsKeyArn: await param(resolveVariable, 'kafkaSecretKmsKeyArn', true),
    subnetIds: list(await param(resolveVariable, 'subnetIds')),
    securityGroupIds: list(await param(resolveVariable, 'securityGroupIds')),
    topicPrefix: await param(resolveVariable, 'topicPrefix', true),
    consumerGroupPrefix: await param(resolveVariable, 'consumerGroupPrefix', true),
    adapterQueuePrefix: await param(resolveVariable, 'adapterQueuePrefix'),
    failureQueueRetentionSeconds: Number(await param(resolveVariable, 'failureQueueRetentionSeconds')),
    alarmTopicArn: await param(resolveVariable, 'alarmTopicArn', true),
    functions: await resolveConfigurationProperty(['custom', 'meshApim', 'functions']),
  };
  if (kafkaMode === 'msk' && kafkaAuth === 'sasl-scram' && !s.kafkaSecretKmsKeyArn) {
    // MSK only accepts SCRAM secrets encrypted with a customer-managed key; the poller must decrypt it.
    throw new Error(
      'mesh-apim: kafkaSecretKmsKeyArn is required with kafkaMode=msk and kafkaAuth=sasl-scram',
    );
  }
  return s;
}

function sourceAccess(s) {
  // MSK IAM: the event source mapping's poller authenticates with the execution role.
  if (s.kafkaAuth === 'iam') return [];
  const access = [
    {
      Type: s.kafkaAuth === 'mtls' ? 'CLIENT_CERTIFICATE_TLS_AUTH' : 'SASL_SCRAM_512_AUTH',
      URI: s.kafkaSecretArn,
    },
  ];
  if (s.kafkaMode === 'kafka') {
    if (s.kafkaServerRootCaSecretArn) {
      access.push({ Type: 'SERVER_ROOT_CA_CERTIFICATE', URI: s.kafkaServerRootCaSecretArn });
    }
    for (const id of s.subnetIds) access.push({ Type: 'VPC_SUBNET', URI: `subnet:${id}` });
    for (const id of s.securityGroupIds)
      access.push({ Type: 'VPC_SECURITY_GROUP', URI: `security_group:${id}` });
  }
  return access;
}

function statements(s, fn, names) {
  const st = [
    {
      Sid: 'Logs',
      Effect: 'Allow',
      Action: ['logs:CreateLogStream', 'logs:PutLogEvents'],
      Resource: arn('logs', `log-group:/aws/lambda/${names.functionName}:*`),
    },
    { Sid: 'NetworkInterfaces', Effect: 'Allow', Action: ENI_ACTIONS, Resource: '*' },
  ];
  const kafkaSecrets = [s.kafkaSecretArn, s.kafkaServerRootCaSecretArn].filter(Boolean);
  if (kafkaSecrets.length > 0) {
    st.push({
      Sid: 'KafkaSecrets',
      Effect: 'Allow',
      Action: ['secretsmanager:GetSecretValue'],
      Resource: kafkaSecrets,
    });
  }
  if (s.kafkaSecretKmsKeyArn) {
    st.push({
      Sid: 'KafkaSecretKey',
      Effect: 'Allow',
      Action: ['kms:Decrypt'],
      Resource: s.kafkaSecretKmsKeyArn,
    });
  }
  if (s.kafkaMode === 'msk') {
    st.push({
      Sid: 'MskCluster',
      Effect: 'Allow',
      Action: ['kafka:DescribeCluster', 'kafka:DescribeClusterV2', 'kafka:GetBootstrapBrokers'],
      Resource: s.kafkaClusterArn,
    });
  }
  if (s.kafkaAuth === 'iam') st.push(...mskIamStatements(s, fn));
  // X-Ray (provider.tracing.lambda): Serverless grants it only to its own shared role, not to these.
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
    Resource: { 'Fn::GetAtt': [names.queue, 'Arn'] },
  });
  for (const secretParam of fn.secrets ?? []) {
    st.push({
      Sid: `Secret${pascal(secretParam.replace(/Arn$/, ''))}`,
      Effect: 'Allow',
      Action: ['secretsmanager:GetSecretValue'],
      Resource: s.secrets[secretParam],
    });
  }
  if (fn.adapterQueues) {
    // ListQueues has no resource-level permission; everything else is confined to the prefix.
    st.push({ Sid: 'AdapterQueueDiscovery', Effect: 'Allow', Action: ['sqs:ListQueues'], Resource: '*' });
    st.push({
      Sid: 'AdapterQueues',
      Effect: 'Allow',
      Action: ['sqs:DeleteQueue', 'sqs:GetQueueAttributes', 'sqs:ListQueueTags', 'sqs:SendMessage'],
      Resource: arn('sqs', `${s.adapterQueuePrefix}-*`),
    });
  }
  return st;
}

/**
 * MSK IAM access control (kafka-cluster:* actions), per function: connect; consume its trigger topic
 * in its consumer group (the event source mapping's poller uses this role); produce dead letters and
 * the topics it writes (`produces` in custom.meshApim.functions), idempotently (the bus' producer is);
 * read the topics it reads besides its trigger (`reads`: the bus reads them with a throw-away
 * `<clientId>.replay.<uuid>` group).
 * Topic and group ARNs are the cluster ARN with cluster/ replaced by topic/ or group/ plus the name.
 */
function mskIamStatements(s, fn) {
  const m = /^(arn:[^:]+:kafka:[^:]+:[^:]+:)cluster\/([^/]+\/[^/]+)$/.exec(s.kafkaClusterArn);
  if (!m) {
    throw new Error(
      `mesh-apim: kafkaClusterArn "${s.kafkaClusterArn}" is not an MSK cluster ARN (arn:aws:kafka:<region>:<account>:cluster/<name>/<uuid>)`,
    );
  }
  const [, head, cluster] = m;
  const topicArn = (t) => `${head}topic/${cluster}/${s.topicPrefix}${t}`;
  const produced = [...new Set([DEAD_LETTER_TOPIC, ...(fn.produces ?? [])])];
  const read = fn.reads ?? [];
  const reads = read.length
    ? [
        {
          Sid: 'MskIamRead',
          Effect: 'Allow',
          Action: ['kafka-cluster:DescribeTopic', 'kafka-cluster:ReadData'],
          Resource: read.map(topicArn),
        },
        {
          Sid: 'MskIamReadGroups',
          Effect: 'Allow',
          Action: ['kafka-cluster:AlterGroup', 'kafka-cluster:DescribeGroup'],
          Resource: `${head}group/${cluster}/*.replay.*`,
        },
      ]
    : [];
  return [
    {
      Sid: 'MskIamCluster',
      Effect: 'Allow',
      Action: [
        'kafka-cluster:Connect',
        'kafka-cluster:DescribeClusterDynamicConfiguration',
        'kafka-cluster:WriteDataIdempotently',
      ],
      Resource: s.kafkaClusterArn,
    },
    {
      Sid: 'MskIamConsume',
      Effect: 'Allow',
      Action: ['kafka-cluster:DescribeTopic', 'kafka-cluster:ReadData'],
      Resource: topicArn(fn.topic),
    },
    {
      Sid: 'MskIamConsumerGroup',
      Effect: 'Allow',
      Action: ['kafka-cluster:AlterGroup', 'kafka-cluster:DescribeGroup'],
      Resource: `${head}group/${cluster}/${s.consumerGroupPrefix}${fn.file}`,
    },
    {
      Sid: 'MskIamProduce',
      Effect: 'Allow',
      Action: ['kafka-cluster:DescribeTopic', 'kafka-cluster:WriteData'],
      Resource: produced.map(topicArn),
    },
    ...reads,
  ];
}

function eventSourceMapping(s, fn, names) {
  const props = {
    FunctionName: { Ref: names.lambda },
    Topics: [`${s.topicPrefix}${fn.topic}`],
    StartingPosition: fn.startingPosition,
    BatchSize: fn.batchSize,
    MaximumBatchingWindowInSeconds: fn.maximumBatchingWindow,
    DestinationConfig: { OnFailure: { Destination: { 'Fn::GetAtt': [names.queue, 'Arn'] } } },
  };
  const access = sourceAccess(s);
  if (access.length > 0) props.SourceAccessConfigurations = access;
  const groupId = `${s.consumerGroupPrefix}${fn.file}`;
  if (s.kafkaMode === 'msk') {
    props.EventSourceArn = s.kafkaClusterArn;
    props.AmazonManagedKafkaEventSourceConfig = { ConsumerGroupId: groupId };
  } else {
    props.SelfManagedEventSource = { Endpoints: { KafkaBootstrapServers: s.kafkaBootstrapServers } };
    props.SelfManagedKafkaEventSourceConfig = { ConsumerGroupId: groupId };
  }
  // FunctionName's Ref already orders it after the function, hence after its role and inline policy.
  return { Type: 'AWS::Lambda::EventSourceMapping', Properties: props };
}

async function resources({ resolveVariable, resolveConfigurationProperty }) {
  const s = await settings(resolveVariable, resolveConfigurationProperty);
  s.secrets = {};
  const out = {};
  const outputs = {};
  for (const [key, fn] of Object.entries(s.functions)) {
    for (const secretParam of fn.secrets ?? [])
      s.secrets[secretParam] = await param(resolveVariable, secretParam);
    const base = pascal(key);
    const names = {
      lambda: `${base}LambdaFunction`,
      role: `${base}Role`,
      queue: `${base}FailureQueue`,
      esm: `${base}EventSourceMapping`,
      functionName: `${s.service}-${s.stage}-${fn.file}`,
    };
    out[names.queue] = {
      Type: 'AWS::SQS::Queue',
      Properties: {
        QueueName: `${names.functionName}-failures`,
        MessageRetentionPeriod: s.failureQueueRetentionSeconds,
        SqsManagedSseEnabled: true,
      },
    };
    out[names.role] = {
      Type: 'AWS::IAM::Role',
      Properties: {
        AssumeRolePolicyDocument: {
          Version: '2012-10-17',
          Statement: [
            { Effect: 'Allow', Principal: { Service: 'lambda.amazonaws.com' }, Action: 'sts:AssumeRole' },
          ],
        },
        Policies: [
          {
            PolicyName: `${names.functionName}`,
            PolicyDocument: { Version: '2012-10-17', Statement: statements(s, fn, names) },
          },
        ],
      },
    };
    out[names.esm] = eventSourceMapping(s, fn, names);
    // A batch in the failure queue is a batch the function gave up on: alarm on the first one.
    out[`${base}FailureQueueAlarm`] = {
      Type: 'AWS::CloudWatch::Alarm',
      Properties: {
        AlarmName: `${names.functionName}-failures`,
        AlarmDescription: `Batches ${fn.file} could not process are waiting in ${names.functionName}-failures`,
        Namespace: 'AWS/SQS',
        MetricName: 'ApproximateNumberOfMessagesVisible',
        Dimensions: [{ Name: 'QueueName', Value: { 'Fn::GetAtt': [names.queue, 'QueueName'] } }],
        Statistic: 'Maximum',
        Period: 60,
        EvaluationPeriods: 1,
        Threshold: 0,
        ComparisonOperator: 'GreaterThanThreshold',
        TreatMissingData: 'notBreaching',
        ...(s.alarmTopicArn ? { AlarmActions: [s.alarmTopicArn], OKActions: [s.alarmTopicArn] } : {}),
      },
    };
    outputs[`${base}FailureQueueUrl`] = {
      Description: `Invocation failures of ${fn.file} (event source mapping on-failure destination)`,
      Value: { Ref: names.queue },
    };
  }
  return { Resources: out, Outputs: outputs };
}

module.exports = {
  resources,
  subnetIds: async ({ resolveVariable }) => list(await param(resolveVariable, 'subnetIds')),
  securityGroupIds: async ({ resolveVariable }) => list(await param(resolveVariable, 'securityGroupIds')),
};
