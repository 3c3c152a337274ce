/**
 * Event emission of one adapter, composed from configuration: the Emitter over the bus and
 * `<dataDir>/spool/`, the check observer, and the access-log service, all under one emission
 * policy (adapter.accessLogs). startAdapter() wires it when it is given a bus.
 */
import type { Registry } from 'prom-client';
import type { Bus } from '../../bus/types.ts';
import type { Config } from '../../common/config/index.ts';
import { addAccessLogService } from '../als/service.ts';
import type { CheckObserver } from '../check-record.ts';
import type { AdapterServer } from '../server.ts';
import { Emitter } from './emitter.ts';
import { checkEmission } from './observer.ts';
import { type EmissionPolicy, emissionPolicy } from './policy.ts';

export interface Emission {
  emitter: Emitter;
  policy: EmissionPolicy;
  onCheck: CheckObserver;
  /** Registers envoy.service.accesslog.v3.AccessLogService on the adapter's gRPC server. */
  register(server: AdapterServer): void;
  start(): Promise<void>;
  stop(): Promise<void>;
}

export function emitterOptionsOf(config: Config) {
  const e = config.emitter;
  return {
    ...e,
    dataDir: config.dataDir,
    topicPrefix: config.bus.topicPrefix,
  };
}

export function createEmission(config: Config, bus: Bus, registry: Registry): Emission {
  const emitter = new Emitter({ bus, registry, ...emitterOptionsOf(config) });
  const policy = emissionPolicy(config.adapter.accessLogs);
  return {
    emitter,
    policy,
    onCheck: checkEmission(emitter, policy),
    register(server) {
      addAccessLogService(server, { emitter, policy, registry });
    },
    start: () => emitter.start(),
    stop: () => emitter.stop(),
  };
}
