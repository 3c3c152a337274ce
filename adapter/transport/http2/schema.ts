/**
 * Field numbers of the Envoy messages the http2 transport reads and writes, resolved once at start
 * from the descriptors @grpc/proto-loader builds out of @grpc/grpc-js-xds's protos (adapter/proto.ts).
 * The hand-written codec (check-codec.ts) uses these numbers instead of literals, so a descriptor it
 * does not expect fails at start, not on the wire.
 */
import { envoyPackageDefinition } from '../../proto.ts';

interface FieldDescriptor {
  name: string;
  number: number;
}
interface MessageDescriptor {
  name: string;
  field: FieldDescriptor[];
  nestedType: MessageDescriptor[];
  enumType: { name: string; value: FieldDescriptor[] }[];
}

function message(fullName: string): MessageDescriptor {
  const def = envoyPackageDefinition() as Record<string, { type?: unknown }>;
  const parts = fullName.split('.');
  // The package definition holds top-level messages; nested ones are walked down from there.
  for (let i = parts.length; i > 0; i--) {
    const top = def[parts.slice(0, i).join('.')];
    if (!top?.type) continue;
    let m = top.type as MessageDescriptor;
    for (const nested of parts.slice(i)) {
      const next = m.nestedType.find((n) => n.name === nested);
      if (!next) throw new Error(`proto message ${fullName} not found (at ${nested})`);
      m = next;
    }
    return m;
  }
  throw new Error(`proto message ${fullName} not found`);
}

/** Field number of `field` in message `fullName`; throws when the descriptor has no such field. */
export function fieldNumber(fullName: string, field: string): number {
  const f = message(fullName).field.find((x) => x.name === field);
  if (!f) throw new Error(`proto field ${fullName}.${field} not found`);
  return f.number;
}

/** Number of value `value` of enum `enumName` nested in message `fullName`. */
export function enumNumber(fullName: string, enumName: string, value: string): number {
  const e = message(fullName).enumType.find((x) => x.name === enumName);
  const v = e?.value.find((x) => x.name === value);
  if (!v) throw new Error(`proto enum value ${fullName}.${enumName}.${value} not found`);
  return v.number;
}

function fields<K extends string>(fullName: string, names: readonly K[]): Record<K, number> {
  const out = {} as Record<K, number>;
  for (const n of names) out[n] = fieldNumber(fullName, n);
  return out;
}

const AUTH = 'envoy.service.auth.v3';
const CORE = 'envoy.config.core.v3';

/** Every field number the codec uses, by message. */
export function checkSchema() {
  return {
    CheckRequest: fields(`${AUTH}.CheckRequest`, ['attributes']),
    AttributeContext: fields(`${AUTH}.AttributeContext`, ['source', 'request', 'context_extensions']),
    Peer: fields(`${AUTH}.AttributeContext.Peer`, ['address', 'principal', 'certificate']),
    Address: fields(`${CORE}.Address`, ['socket_address']),
    SocketAddress: fields(`${CORE}.SocketAddress`, ['address']),
    Request: fields(`${AUTH}.AttributeContext.Request`, ['http']),
    HttpRequest: fields(`${AUTH}.AttributeContext.HttpRequest`, [
      'id',
      'method',
      'headers',
      'header_map',
      'path',
      'host',
      'scheme',
      'query',
      'fragment',
      'protocol',
    ]),
    HeaderMap: fields(`${CORE}.HeaderMap`, ['headers']),
    HeaderValue: fields(`${CORE}.HeaderValue`, ['key', 'value', 'raw_value']),
    CheckResponse: fields(`${AUTH}.CheckResponse`, [
      'status',
      'denied_response',
      'ok_response',
      'dynamic_metadata',
    ]),
    Status: fields('google.rpc.Status', ['code', 'message']),
    DeniedHttpResponse: fields(`${AUTH}.DeniedHttpResponse`, ['status', 'headers', 'body']),
    HttpStatus: fields('envoy.type.v3.HttpStatus', ['code']),
    OkHttpResponse: fields(`${AUTH}.OkHttpResponse`, [
      'headers',
      'headers_to_remove',
      'response_headers_to_add',
      'query_parameters_to_remove',
    ]),
    HeaderValueOption: fields(`${CORE}.HeaderValueOption`, ['header', 'append', 'append_action']),
    BoolValue: fields('google.protobuf.BoolValue', ['value']),
    Struct: fields('google.protobuf.Struct', ['fields']),
    // protobufjs' built-in well-known types carry camelCase field names.
    Value: fields('google.protobuf.Value', ['stringValue']),
    OVERWRITE_IF_EXISTS_OR_ADD: enumNumber(
      `${CORE}.HeaderValueOption`,
      'HeaderAppendAction',
      'OVERWRITE_IF_EXISTS_OR_ADD',
    ),
  };
}

export type CheckSchema = ReturnType<typeof checkSchema>;
