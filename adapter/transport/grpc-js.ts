/**
 * The grpc-js transport (adapter.transport=grpc-js): the fallback, and the baseline the bench compares
 * the http2 transport with. Check answers with the proto-loader object response.ts builds.
 */
import * as grpc from '@grpc/grpc-js';
import { HealthImplementation } from 'grpc-health-check';
import { errorMessage } from '../../common/errors.ts';
import { createLogger, type Logger } from '../../common/log.ts';
import { authorizationService } from '../proto.ts';
import type { CheckResponseObject } from '../response.ts';
import type { ProtoCheckRequest } from '../translate.ts';
import {
  AUTHORIZATION_SERVICE_NAME,
  type CheckHandler,
  type Transport,
  type TransportLimits,
} from './types.ts';

export class GrpcJsTransport implements Transport {
  readonly server: grpc.Server;
  readonly health: HealthImplementation;
  private started = false;
  private readonly log: Logger;

  constructor(options: { check: CheckHandler; limits: TransportLimits; logger?: Logger }) {
    const check = options.check;
    this.log = options.logger ?? createLogger('grpc');
    this.server = new grpc.Server({
      'grpc.max_concurrent_streams': options.limits.maxConcurrentStreams,
      'grpc.max_receive_message_length': options.limits.maxMessageBytes,
    });
    this.health = new HealthImplementation({
      '': 'NOT_SERVING',
      [AUTHORIZATION_SERVICE_NAME]: 'NOT_SERVING',
    });
    this.health.addToServer(this.server);
    this.server.addService(authorizationService().service, {
      Check: (
        call: grpc.ServerUnaryCall<ProtoCheckRequest, CheckResponseObject>,
        callback: grpc.sendUnaryData<CheckResponseObject>,
      ) => {
        check.evaluate(call.request).then(
          ({ response, record }) => {
            // Answer Envoy first; the observer (event emitter) runs after the reply is queued.
            callback(null, response);
            check.notify(record);
          },
          // evaluate() does not reject; this is the last line of defence.
          (err: unknown) => callback({ code: grpc.status.INTERNAL, details: errorMessage(err) }),
        );
      },
    });
  }

  addService(service: grpc.ServiceDefinition, implementation: grpc.UntypedServiceImplementation): void {
    if (this.started) throw new Error('addService must be called before start()');
    this.server.addService(service, implementation);
  }

  setServing(serving: boolean): void {
    const s = serving ? 'SERVING' : 'NOT_SERVING';
    this.health.setStatus('', s);
    this.health.setStatus(AUTHORIZATION_SERVICE_NAME, s);
  }

  start(address: string): Promise<number> {
    this.started = true;
    return new Promise((resolve, reject) => {
      this.server.bindAsync(address, grpc.ServerCredentials.createInsecure(), (err, port) => {
        if (err) reject(err);
        else {
          this.log.info({ address, port, transport: 'grpc-js' }, 'gRPC server listening');
          resolve(port);
        }
      });
    });
  }

  stop(graceMs: number): Promise<void> {
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.server.forceShutdown();
        resolve();
      }, graceMs);
      timer.unref();
      this.server.tryShutdown(() => {
        clearTimeout(timer);
        resolve();
      });
    });
  }
}
