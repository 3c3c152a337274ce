import { describe, expect, it } from 'vitest';
import { authorizationService } from '../../adapter/proto.ts';
import { readRequestContextMetadata } from '../../adapter/response.ts';
import { toStruct } from '../../adapter/struct.ts';

describe('readRequestContextMetadata', () => {
  const context = { requestId: 'r1', api: { id: 'a' } };

  it('reads the JSON string the adapter writes, after a protobuf round trip', () => {
    const svc = authorizationService().service.Check!;
    const buf = svc.responseSerialize({
      status: { code: 0 },
      dynamic_metadata: toStruct({ mesh_apim: JSON.stringify(context) }),
    });
    const decoded = svc.responseDeserialize(buf) as { dynamic_metadata: never };
    expect(readRequestContextMetadata(decoded.dynamic_metadata)).toEqual(context);
  });

  it('accepts plain JSON and a nested Struct value, and null for absent or garbage', () => {
    expect(readRequestContextMetadata({ mesh_apim: JSON.stringify(context) })).toEqual(context);
    expect(readRequestContextMetadata(toStruct({ mesh_apim: context }))).toEqual(context);
    expect(readRequestContextMetadata(null)).toBeNull();
    expect(readRequestContextMetadata({ mesh_apim: '{not json' })).toBeNull();
    expect(readRequestContextMetadata({ other: 1 })).toBeNull();
  });
});
