/**
 * Every command's name, summary, arguments and options, declared once with commander: `--help`,
 * `--version`, suggestions for a mistyped command and the shell completion scripts all come from
 * here. This module imports nothing but commander, so `mesh-apim --help` / `--version` / a typo load
 * no command; a command's own module (cli/commands/<name>.ts) is imported only when it runs.
 *
 * Commander is the only parser (strict: unknown options and excess arguments are usage errors, exit 2):
 * main.ts parses once and hands the values to the command; cli/parse.ts parses a command's argv with
 * the same declaration when the command is called directly.
 */
import { Argument, Command, Option } from 'commander';

const CONFIG = [
  '--config <file>',
  'configuration file, YAML or JSON (default: $MESH_APIM_CONFIG, else none)',
] as const;

function output(formats: readonly string[], dflt: string): Option {
  return new Option('-o, --output <format>', 'output format').choices(formats).default(dflt);
}

/** Adds the options every command shares. */
function common(cmd: Command): Command {
  return cmd.option(...CONFIG);
}

/** A repeatable option: every occurrence, in order (undefined when not given). */
const repeat = (value: string, previous: string[] | undefined): string[] => [...(previous ?? []), value];

export function buildProgram(version: string): Command {
  const program = new Command('mesh-apim')
    .description(
      'API management for Istio: ext_authz adapter, event stream, functions, WSO2 API Manager integration.',
    )
    .version(version, '-v, --version', 'print the version')
    .helpOption('-h, --help', 'show help (also: mesh-apim <command> --help)')
    .showSuggestionAfterError()
    .addHelpText(
      'after',
      '\nExit codes: 0 ok, 1 failed, 2 usage error, 3 ran and the answer is no (check denied, validate found problems, topics drift).\nDocs: docs/cli.md',
    );

  common(program.command('start'))
    .summary('run the adapter (gRPC + admin HTTP), embedded log and local functions')
    .description(
      'Run the pipeline on this machine: the ext_authz adapter (gRPC + admin HTTP) on the configured control plane, the event stream and the local functions. Logs are readable on a terminal and JSON elsewhere (MESH_APIM_LOG_FORMAT=json|pretty). Stops cleanly on SIGINT/SIGTERM.',
    );

  common(program.command('apikey'))
    .summary('print a WSO2-format API key for a standalone application')
    .description(
      'Print a WSO2-format API key for a standalone application, signed with the key in the data directory (created on first use).',
    )
    .requiredOption('-a, --application <name>', 'application name from the standalone file')
    .option('--validity <seconds>', 'lifetime of the key in seconds', '86400')
    .option('--key-type <type>', 'PRODUCTION or SANDBOX (any case)', 'PRODUCTION')
    .option('--permitted-ip <list>', 'comma-separated IPs/CIDRs the key is restricted to (default: none)')
    .option(
      '--permitted-referer <list>',
      'comma-separated referer patterns the key is restricted to (default: none)',
    )
    .addOption(output(['text', 'json'], 'text'));

  common(program.command('check'))
    .summary('send one ext_authz CheckRequest to a running adapter and print the answer')
    .description(
      'Send one ext_authz CheckRequest to a running adapter (as Envoy would) and print the answer as JSON. Exit 0 allowed, 3 denied, 1 adapter unreachable.',
    )
    .option('--path <path>', 'request path', '/petstore/v1/pets')
    .option('--method <method>', 'HTTP method', 'GET')
    .option('--apikey <key>', 'API key, sent as the apikey header (default: none)')
    .option('--header <name=value>', 'request header; repeatable', repeat)
    .option('--client-ip <ip>', 'client address as Envoy would see it (default: none)')
    .option('--request-id <id>', 'x-request-id (default: a fresh UUID per check)')
    .option('--address <host:port>', 'adapter gRPC address (default: adapter.grpcAddress of the config)')
    .addOption(output(['json'], 'json'));

  common(program.command('config'))
    .summary('print the effective configuration, secrets masked')
    .description(
      'Print the effective configuration (defaults + file + environment) as JSON with every secret masked (passwords, keys, URL user info). --docs prints the settings table of docs/configuration.md.',
    )
    .option('--docs', 'print the Markdown table of every setting with its default instead')
    .addOption(output(['json'], 'json'));

  common(program.command('validate'))
    .summary('check a standalone policy file; report every problem with file, line and path')
    .description(
      'Validate a standalone control-plane file (and the fragments of <dataDir>/standalone.d when it is the configured file): every problem with file:line and its path. Exit 0 valid, 3 problems found, 1 unreadable.',
    )
    .argument('[file]', 'standalone file (default: adapter.standaloneFile of the config)')
    .addOption(output(['text', 'json'], 'text'));

  const topics = common(program.command('topics'))
    .summary('create/verify the topics of infra/topics.yaml, or list them')
    .description('Create/verify the topics of infra/topics.yaml on the configured bus, or list them.');
  common(topics.command('apply'))
    .description(
      'Create missing topics (partitions, retention, cleanup policy from infra/topics.yaml) and verify existing ones; exit 3 when an existing topic differs (partitions are never changed).',
    )
    .option('--dry-run', 'print what would be created; change nothing')
    .addOption(output(['text', 'json'], 'text'));
  common(topics.command('list'))
    .description('Print every topic on the bus with its settings and records per partition.')
    .addOption(output(['text', 'json'], 'text'));

  common(program.command('replay'))
    .summary('replay a time range of request-attributes through the analytics publisher')
    .description(
      'Replay a time range of request-attributes through the analytics publisher (backfill), without touching the live consumer group.',
    )
    .requiredOption('--from <ISO time>', 'start of the range (inclusive), e.g. 2026-11-26T00:00:00Z')
    .requiredOption('--to <ISO time>', 'end of the range (exclusive)')
    .option('--topic <name>', 'topic to replay, logical or wire name', 'request-attributes')
    .option(
      '--sink <kinds>',
      'file,http,kafka; repeatable or comma-separated (default: functions.analytics.sinks)',
      repeat,
    )
    .option('--dry-run', 'map and count only: publish nothing, dead-letter nothing')
    .option('--batch-size <n>', 'records per handler invocation (default: functions.batchSize)')
    .option('--rate <n>', 'at most n records per second (throttled backfill; default: unlimited)')
    .option('--partition <n>', 'only this partition (repeatable or comma-separated; default: all)', repeat)
    .option('--concurrency <n>', 'partitions replayed at once, each in offset order (default: 1)')
    .option(
      '--workers <n>',
      'worker threads for decode, validation and mapping (default: the CPUs, at most 4)',
    )
    .addOption(output(['text', 'json'], 'text'));

  common(program.command('usage'))
    .summary('export metered usage per hour, application, API, tier and key type')
    .description(
      'Export the usage topic (usage-metering: latest revision of every closed hourly window, summed over partitions) for hours starting in [--from, --to), as CSV or JSON.',
    )
    .requiredOption('--from <ISO time>', 'first hour (inclusive), e.g. 2026-11-26T00:00:00Z')
    .requiredOption('--to <ISO time>', 'end (exclusive)')
    .option('--application <id|name>', 'only this application')
    .addOption(output(['csv', 'json'], 'csv'));

  common(program.command('invoke'))
    .summary('run one function handler on one event file')
    .description(
      'Run one function handler on one Lambda-shaped (MSK or self-managed Kafka) or plain event file and print the batch summary as JSON. Exit 1 when the handler failed (Lambda would retry).',
    )
    .argument('<function>', 'function name, e.g. analytics-publisher')
    .requiredOption('--event <file>', 'Lambda Kafka event JSON, or a plain event / array of events')
    .option('--dry-run', 'dead letters are printed, not published (sinks still run unless configured off)')
    .addOption(output(['json'], 'json'));

  common(program.command('revoke'))
    .summary('revoke a key/JWT, application, user or opaque token (publishes token-revoked)')
    .description(
      'Revoke an API key / JWT (jti), an application (consumer key), a user or an opaque token: publishes token-revoked to the stream. Give exactly one of --jti, --consumer-key, --user, --token.',
    )
    .option('--jti <id>', 'JWT / API key id')
    .option('--expires-at <ISO time>', 'with --jti: when the revoked token expires (default: none)')
    .option('--consumer-key <key>', 'application consumer key')
    .option('--user <id>', 'user id')
    .option('--token <token>', 'opaque token (published as its SHA-256, never as is)')
    .option('--tenant <domain>', 'tenant domain (default: apim.tenant)')
    .addOption(output(['text', 'json'], 'text'));

  common(program.command('controller'))
    .summary('watch Kubernetes Services and emit service-deployed / service-deleted')
    .description(
      'Watch Kubernetes Services with mesh-apim.io/* annotations and emit service-deployed / service-deleted.',
    )
    .option('--kubeconfig <file>', 'kubeconfig file (default: controller.kubeconfig, else in-cluster)')
    .option('--namespace <ns>', 'namespace to watch (default: controller.namespace)')
    .option('--cluster <name>', 'cluster name in the events (default: controller.cluster)');

  common(program.command('bridge'))
    .summary("bridge WSO2 API Manager's event hub and revocation notifier to the event stream")
    .description(
      "Bridge WSO2 API Manager's event hub (AMQP: token revocations, change notifications) and its revocation notifier (HTTP) to the event stream.",
    );

  program
    .command('version')
    .description('print the version')
    .addOption(output(['text', 'json'], 'text'));

  program
    .command('completion')
    .description(
      'print a shell completion script: `source <(mesh-apim completion bash)`, or for zsh `source <(mesh-apim completion zsh)`',
    )
    .addArgument(new Argument('<shell>', 'bash or zsh').choices(['bash', 'zsh']));

  return program;
}
