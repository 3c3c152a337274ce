/**
 * google.protobuf.Struct <-> plain JSON. protobufjs supplies the google.protobuf well-known types
 * itself, so their fields are camelCase (`stringValue`, `structValue`) even with keepCase: true.
 * The access-log side uses fromStruct to read the metadata back.
 */

export interface ProtoValue {
  nullValue?: 'NULL_VALUE' | 0;
  numberValue?: number;
  stringValue?: string;
  boolValue?: boolean;
  structValue?: ProtoStruct;
  listValue?: { values: ProtoValue[] };
  kind?: string;
}

export interface ProtoStruct {
  fields: Record<string, ProtoValue>;
}

export function toValue(v: unknown): ProtoValue {
  if (v === null || v === undefined) return { nullValue: 'NULL_VALUE' };
  if (typeof v === 'number') return { numberValue: v };
  if (typeof v === 'string') return { stringValue: v };
  if (typeof v === 'boolean') return { boolValue: v };
  if (Array.isArray(v)) return { listValue: { values: v.map(toValue) } };
  if (typeof v === 'object') return { structValue: toStruct(v as Record<string, unknown>) };
  return { stringValue: String(v) };
}

export function toStruct(obj: Record<string, unknown>): ProtoStruct {
  const fields: Record<string, ProtoValue> = {};
  for (const [k, v] of Object.entries(obj)) if (v !== undefined) fields[k] = toValue(v);
  return { fields };
}

export function fromValue(v: ProtoValue | undefined): unknown {
  if (!v) return null;
  const kind =
    v.kind ??
    (['structValue', 'listValue', 'stringValue', 'numberValue', 'boolValue', 'nullValue'] as const).find(
      (k) => v[k] !== undefined && v[k] !== null,
    );
  switch (kind) {
    case 'structValue':
      return fromStruct(v.structValue);
    case 'listValue':
      return (v.listValue?.values ?? []).map(fromValue);
    case 'stringValue':
      return v.stringValue;
    case 'numberValue':
      return v.numberValue;
    case 'boolValue':
      return v.boolValue;
    default:
      return null;
  }
}

export function fromStruct(s: ProtoStruct | null | undefined): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(s?.fields ?? {})) out[k] = fromValue(v);
  return out;
}
