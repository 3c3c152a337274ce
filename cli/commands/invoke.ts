/**
 * `mesh-apim invoke <function> --event <file> [--dry-run]`: runs one handler on one event, as Lambda
 * would. The file is a Lambda Kafka event (MSK or self-managed; samples under
 * events/samples/lambda/<function>/) or a plain event (an events/samples/<event>/<case>.json: an
 * object with `type`, or an array of them), which is wrapped into a self-managed Kafka event on the
 * function's first trigger topic. Prints the batch summary as JSON on stdout.
 * Exit: 0 handled, 1 the handler failed (would be retried on Lambda), 2 bad arguments.
 */
import { readFileSync } from 'node:fs';
import { createBus } from '../../bus/index.ts';
import { loadConfig } from '../../common/config/index.ts';
import { errorMessage, MeshApimError } from '../../common/errors.ts';
import { createLogger } from '../../common/log.ts';
import { topicName } from '../../events/topics.ts';
import { type AnyFunctionDefinition, instantiateLocal } from '../../functions/lib/define.ts';
import {
  assertLambdaKafkaEvent,
  buildLambdaKafkaEvent,
  busDeps,
  type FunctionDeps,
  type LambdaKafkaEvent,
  MemoryDeadLetterPublisher,
} from '../../functions/lib/index.ts';
import { functionNames, loadFunction } from '../../functions/registry.ts';
import { outputFormat } from '../output.ts';
import { type Parsed, parseCommand } from '../parse.ts';

export const description = 'Run one function handler on one Lambda-shaped (or plain) event file.';
export const usage = `mesh-apim invoke <function> --event <file> [--dry-run] [--config <file>]

  <function>        one of: ${functionNames().join(', ')}
  --event <file>    Lambda Kafka event JSON (MSK or self-managed), or a plain event / array of events
  --dry-run         dead letters are printed, not published (sinks still run unless configured off)
  --config <file>   configuration file`;

/** A Lambda event as is; a plain event (or array) wrapped on the function's first topic. */
export function toLambdaEvent(json: unknown, fn: AnyFunctionDefinition, prefix = ''): LambdaKafkaEvent {
  if (typeof json === 'object' && json !== null && 'eventSource' in json) {
    assertLambdaKafkaEvent(json);
    return json;
  }
  const events = Array.isArray(json) ? json : [json];
  if (events.length === 0 || !events.every((e) => typeof e === 'object' && e !== null && 'type' in e)) {
    throw new MeshApimError(
      'USAGE',
      'the event file is neither a Lambda Kafka event (eventSource) nor an event with a "type"',
    );
  }
  const contract = fn.topics[0]!;
  const topic = topicName(contract, prefix);
  const now = Date.now();
  return buildLambdaKafkaEvent(
    events.map((e, i) => {
      let key: string | null = null;
      try {
        key = contract.key(e as never);
      } catch {
        key = null; // an invalid event has no key; the handler will dead-letter it
      }
      return {
        topic,
        partition: 0,
        offset: String(i),
        timestamp: now,
        key: key === null ? null : Buffer.from(key),
        value: Buffer.from(JSON.stringify(e)),
        headers: {},
      };
    }),
    { shape: 'self-managed', bootstrapServers: 'invoke' },
  );
}

type Values = { event: string; 'dry-run': boolean; config: string; output: string };

export async function run(argv: string[], parsed?: Parsed<Values>): Promise<number> {
  let values: { event?: string; 'dry-run'?: boolean; config?: string; output?: string };
  let positionals: string[];
  try {
    ({ values, positionals } = parsed ?? parseCommand<Values>('invoke', argv));
    outputFormat(values.output, ['json']);
  } catch (err) {
    process.stderr.write(`mesh-apim invoke: ${errorMessage(err)}\n\n${usage}\n`);
    return 2;
  }
  const [name] = positionals;
  const fn = name ? await loadFunction(name) : undefined;
  if (!fn || positionals.length !== 1) {
    process.stderr.write(
      `mesh-apim invoke: ${name ? `unknown function "${name}"` : 'which function?'} (one of: ${functionNames().join(', ')})\n`,
    );
    return 2;
  }
  if (!values.event) {
    process.stderr.write(`mesh-apim invoke: --event <file> is required\n\n${usage}\n`);
    return 2;
  }
  const config = loadConfig({ file: values.config });
  let event: LambdaKafkaEvent;
  try {
    event = toLambdaEvent(JSON.parse(readFileSync(values.event, 'utf8')), fn, config.bus.topicPrefix);
  } catch (err) {
    process.stderr.write(`mesh-apim invoke: ${values.event}: ${errorMessage(err)}\n`);
    return 2;
  }
  const logger = createLogger('invoke');
  const bus = createBus(config, logger);
  const dl = new MemoryDeadLetterPublisher();
  const deps: FunctionDeps = values['dry-run']
    ? { ...busDeps(bus, config, logger), deadLetters: dl }
    : busDeps(bus, config, logger);
  const instance = instantiateLocal(fn, deps);
  try {
    const summary = await instance.handler(event, {
      awsRequestId: `invoke-${Date.now()}`,
      functionName: fn.name,
    });
    const out = values['dry-run'] ? { ...summary, deadLetters: dl.letters } : summary;
    process.stdout.write(`${JSON.stringify(out, null, 2)}\n`);
    return 0;
  } catch (err) {
    process.stderr.write(
      `mesh-apim invoke: ${fn.name} failed${err instanceof MeshApimError && err.retriable ? ' (retriable: Lambda would retry the batch)' : ''}: ${errorMessage(err)}\n`,
    );
    return 1;
  } finally {
    await instance.close();
    await bus.close();
  }
}
