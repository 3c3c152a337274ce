/** The ext_authz test client (a real grpc-js client from Envoy's protos); lives in adapter/ for the CLI. */
export {
  CheckClient,
  type CheckInput,
  type CheckResult,
  decodeCheckResponse,
} from '../../adapter/check-client.ts';
