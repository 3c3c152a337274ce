/**
 * google.protobuf.Struct <-> JSON, in the shape @grpc/proto-loader uses (keepCase, oneofs). The
 * check writes the RequestContext into dynamic_metadata with jsonToStruct; the access log hands it
 * back and valueToJson/structToJson read it.
 */

export interface PbValue {
  kind?: string;
  nullValue?: unknown;
  numberValue?: number;
  stringValue?: string;
  boolValue?: boolean;
  structValue?: PbStruct | null;
  listValue?: { values?: PbValue[] | null } | null;
}
export interface PbStruct {
  fields?: Record<string, PbValue> | null;
}

/** google.protobuf.Value -> plain JSON (Struct in dynamic metadata is how the context travels). */
export function valueToJson(v: PbValue | null | undefined): unknown {
  if (!v) return null;
  const kind =
    v.kind ??
    (['structValue', 'listValue', 'stringValue', 'numberValue', 'boolValue', 'nullValue'] as const).find(
      (k) => v[k] !== undefined && v[k] !== null,
    );
  switch (kind) {
    case 'structValue':
      return structToJson(v.structValue);
    case 'listValue':
      return (v.listValue?.values ?? []).map(valueToJson);
    case 'stringValue':
      return v.stringValue ?? '';
    case 'numberValue':
      return v.numberValue ?? 0;
    case 'boolValue':
      return v.boolValue ?? false;
    default:
      return null;
  }
}

export function structToJson(s: PbStruct | null | undefined): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(s?.fields ?? {})) out[k] = valueToJson(v);
  return out;
}

export function jsonToValue(v: unknown): PbValue {
  if (v === null || v === undefined) return { nullValue: 'NULL_VALUE' };
  if (typeof v === 'string') return { stringValue: v };
  if (typeof v === 'number') return { numberValue: v };
  if (typeof v === 'boolean') return { boolValue: v };
  if (Array.isArray(v)) return { listValue: { values: v.map(jsonToValue) } };
  return { structValue: jsonToStruct(v as Record<string, unknown>) };
}

export function jsonToStruct(o: Record<string, unknown>): PbStruct {
  const fields: Record<string, PbValue> = {};
  for (const [k, v] of Object.entries(o)) if (v !== undefined) fields[k] = jsonToValue(v);
  return { fields };
}
