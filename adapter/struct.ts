/**
 * google.protobuf.Struct <-> plain JSON, in the shape @grpc/proto-loader uses with keepCase
 * (`fields`, `string_value`, ...). The access-log side uses fromStruct to read the metadata back.
 */

export interface ProtoValue {
  null_value?: 'NULL_VALUE' | 0;
  number_value?: number;
  string_value?: string;
  bool_value?: boolean;
  struct_value?: ProtoStruct;
  list_value?: { values: ProtoValue[] };
  kind?: string;
}

export interface ProtoStruct {
  fields: Record<string, ProtoValue>;
}

export function toValue(v: unknown): ProtoValue {
  if (v === null || v === undefined) return { null_value: 'NULL_VALUE' };
  if (typeof v === 'number') return { number_value: v };
  if (typeof v === 'string') return { string_value: v };
  if (typeof v === 'boolean') return { bool_value: v };
  if (Array.isArray(v)) return { list_value: { values: v.map(toValue) } };
  if (typeof v === 'object') return { struct_value: toStruct(v as Record<string, unknown>) };
  return { string_value: String(v) };
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
    (
      ['struct_value', 'list_value', 'string_value', 'number_value', 'bool_value', 'null_value'] as const
    ).find((k) => v[k] !== undefined && v[k] !== null);
  switch (kind) {
    case 'struct_value':
      return fromStruct(v.struct_value);
    case 'list_value':
      return (v.list_value?.values ?? []).map(fromValue);
    case 'string_value':
      return v.string_value;
    case 'number_value':
      return v.number_value;
    case 'bool_value':
      return v.bool_value;
    default:
      return null;
  }
}

export function fromStruct(s: ProtoStruct | null | undefined): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(s?.fields ?? {})) out[k] = fromValue(v);
  return out;
}
