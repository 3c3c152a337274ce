import { describe, expect, it } from 'vitest';
import { parseMultipart, validateRequest } from './wso2-contract.ts';

const auth = { authorization: 'Bearer x' };

describe('WSO2 contract helper', () => {
  it('accepts a spec-valid Publisher search and names the operation', async () => {
    const r = await validateRequest('publisher', {
      method: 'GET',
      url: '/api/am/publisher/v4/apis?query=name:"petstore" version:"v1"&limit=10',
      headers: auth,
    });
    expect(r.errors).toEqual([]);
    expect(r.operationId).toBe('getAllAPIs');
  });

  it('rejects an unknown path, a wrong method and a bad parameter type', async () => {
    expect(
      (await validateRequest('publisher', { method: 'GET', url: '/api/am/publisher/v4/nope', headers: auth }))
        .valid,
    ).toBe(false);
    expect(
      (
        await validateRequest('publisher', {
          method: 'PATCH',
          url: '/api/am/publisher/v4/apis',
          headers: auth,
        })
      ).valid,
    ).toBe(false);
    const r = await validateRequest('publisher', {
      method: 'GET',
      url: '/api/am/publisher/v4/apis?limit=many',
      headers: auth,
    });
    expect(r.valid).toBe(false);
  });

  it('validates a JSON body against the schema and the content type', async () => {
    const url = '/api/am/publisher/v4/apis/abc/deploy-revision?revisionId=r1';
    const ok = await validateRequest('publisher', {
      method: 'POST',
      url,
      headers: { ...auth, 'content-type': 'application/json' },
      body: [{ name: 'Default', vhost: 'localhost', displayOnDevportal: true }],
    });
    expect(ok.errors).toEqual([]);
    const badBody = await validateRequest('publisher', {
      method: 'POST',
      url,
      headers: { ...auth, 'content-type': 'application/json' },
      body: [{ name: 12 }],
    });
    expect(badBody.valid).toBe(false);
    const badType = await validateRequest('publisher', {
      method: 'POST',
      url,
      headers: { ...auth, 'content-type': 'text/plain' },
      body: [{ name: 'Default' }],
    });
    expect(badType.errors.join()).toMatch(/content-type/);
  });

  it('validates multipart import-openapi fields', async () => {
    const form = new FormData();
    form.set('inlineAPIDefinition', '{"openapi":"3.0.1"}');
    form.set('additionalProperties', JSON.stringify({ name: 'a', version: 'v1', context: '/a' }));
    const res = new Response(form);
    const contentType = res.headers.get('content-type')!;
    const fields = await parseMultipart(Buffer.from(await res.arrayBuffer()), contentType);
    expect(fields.inlineAPIDefinition).toBe('{"openapi":"3.0.1"}');
    const r = await validateRequest('publisher', {
      method: 'POST',
      url: '/api/am/publisher/v4/apis/import-openapi',
      headers: { ...auth, 'content-type': contentType },
      body: fields,
    });
    expect(r.errors).toEqual([]);
  });

  it('converts and validates the Swagger 2.0 internal data API', async () => {
    const ok = await validateRequest('internal-data', {
      method: 'GET',
      url: '/internal/data/v1/subscriptions',
      headers: { authorization: 'Basic YTpi', xwso2tenant: 'carbon.super' },
    });
    expect(ok.errors).toEqual([]);
    const bad = await validateRequest('internal-data', {
      method: 'DELETE',
      url: '/internal/data/v1/apis',
      headers: {},
    });
    expect(bad.valid).toBe(false);
  });
});
