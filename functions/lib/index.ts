/** The shared function library: import from here (`functions/lib/index.ts`). See functions/README.md. */
export {
  type BatchContext,
  type BatchOutcome,
  type BatchSummary,
  type KafkaFunction,
  type PerRecordResult,
  processBatch,
  type RecordOutcome,
  settleBatch,
  type ValidRecord,
} from './batch.ts';
export { contractForTopic, decodeJsonValue, validateRecord } from './contracts.ts';
export {
  busDeadLetterPublisher,
  type DeadLetterPublisher,
  deadLetterFromRaw,
  deadLetterFromRecord,
  deadLetterId,
  type FailureInfo,
  MemoryDeadLetterPublisher,
} from './dead-letter.ts';
export {
  type AnyFunctionDefinition,
  defineFunction,
  type FunctionCore,
  type FunctionDefinition,
  type FunctionInstance,
  instantiate,
  instantiateLocal,
  kafkaFunctionOf,
} from './define.ts';
export { busDeps, type FunctionDeps, lambdaDeps, lazyKafkaProducer } from './deps.ts';
export {
  BatchRetryError,
  DeadLetterPublishError,
  FunctionError,
  InvalidLambdaEventError,
  RecordDecodeError,
  RecordSchemaError,
} from './errors.ts';
export { type InvocationContext, type KafkaHandler, kafkaBatchHandler } from './handler.ts';
export {
  assertLambdaKafkaEvent,
  type BuildEventOptions,
  buildLambdaKafkaEvent,
  type DecodedEntry,
  decodeKafkaEvent,
  eventShape,
  inRecordsFromValues,
  type LambdaEventShape,
  type LambdaKafkaEvent,
  type LambdaKafkaRecord,
  type MskEvent,
  type SelfManagedKafkaEvent,
  splitTopicPartition,
} from './kafka-event.ts';
export { isScheduledEvent, type LambdaEvent, type LambdaResult, lambdaHandler } from './lambda.ts';
export { type BatchMetrics, emfRecord, METRICS_NAMESPACE } from './metrics.ts';
