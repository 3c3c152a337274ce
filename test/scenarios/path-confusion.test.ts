/**
 * Issue 19 items 1 and 2 end to end over gRPC: the path an upstream resolves is the path matched,
 * what stays ambiguous is denied 400 900906, and no spelling of the credential travels upstream.
 */
import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestAdapter, type TestAdapter } from '../support/adapter.ts';

const FIXTURE = readFileSync(new URL('../adapter/fixtures/every-decision.yaml', import.meta.url), 'utf8');

describe('path confusion and credential spellings', () => {
  let t: TestAdapter;
  let key: string;
  beforeAll(async () => {
    t = await startTestAdapter({ yaml: FIXTURE });
    key = await t.apiKey('demo-app');
  });
  afterAll(async () => {
    await t?.close();
  });
  const get = (path: string, headers: Record<string, string> = {}, extra: Record<string, unknown> = {}) =>
    t.client.check({ path, headers: { apikey: key, ...headers }, ...extra });

  it.each([
    ['/petstore/v1/pets/..%2f..%2f..%2fadmin%2fv1%2fsecret', 'ENCODED_SLASH'],
    ['/files/v1/..;/..;/admin/v1/secret', 'PATH_PARAMETER'],
    ['/files/v1/report;jsessionid=1', 'PATH_PARAMETER'],
    ['/files/v1/a%3bb', 'PATH_PARAMETER'],
    ['/files/v1/a/%2e%2e/b', 'ENCODED_DOT_SEGMENT'],
    ['/files/v1/a/.%2E/b', 'ENCODED_DOT_SEGMENT'],
    ['/files/v1/%2e%2e/%2e%2e/petstore/v1/admin', 'CONTEXT_MISMATCH'],
    ['/files/v1/..%5c..%5cpetstore', 'BACKSLASH'],
    ['/files/v1/a\\b', 'BACKSLASH'],
    ['/files/v1/%252e%252e/x', 'DOUBLE_ENCODING'],
    ['/files/v1/%zz', 'BAD_ENCODING'],
    ['/files/v1/a%00', 'CONTROL_CHARACTER'],
    ['/petstore/v1//admin', 'EMPTY_SEGMENT'],
  ])('%s: 400 900906 AMBIGUOUS_PATH_%s', async (path, ambiguity) => {
    const res = await get(path);
    expect(res.allowed).toBe(false);
    expect(res.httpStatus).toBe(400);
    expect(res.body?.code).toBe('900906');
    expect(res.body?.description).toMatch(/ambiguous/);
    expect((res.raw.status as { message: string }).message).toBe(`AMBIGUOUS_PATH_${ambiguity}`);
  });

  it('dot segments are resolved before matching: the resource the upstream reaches is the one checked', async () => {
    // /petstore/v1/pets/../admin is /petstore/v1/admin: the admin resource is the one matched (API keys
    // get no scope check, as in WSO2, so the matched template is what shows it).
    const template = (r: { requestContext: unknown }) =>
      (r.requestContext as { resource: { template: string } | null } | null)?.resource?.template;
    expect(template(await get('/petstore/v1/pets/../admin'))).toBe('/admin');
    // Unreserved escapes are decoded: %61dmin is admin.
    expect(template(await get('/petstore/v1/%61dmin'))).toBe('/admin');
    expect((await get('/petstore/v1/./pets')).allowed).toBe(true);
    expect((await get('/petstore/v1/%70ets')).allowed).toBe(true);
  });

  it('dot segments that lead into another API than the raw path names are denied (Envoy routed on the raw path)', async () => {
    for (const path of ['/files/v1/../../petstore/v1/pets', '/%70etstore/v1/pets']) {
      const res = await get(path);
      expect({
        path,
        status: res.httpStatus,
        reason: (res.raw.status as { message: string }).message,
      }).toEqual({
        path,
        status: 400,
        reason: 'AMBIGUOUS_PATH_CONTEXT_MISMATCH',
      });
    }
  });

  it('an API with allowAmbiguousPaths matches such paths instead (opt-out), still never across APIs', async () => {
    expect((await get('/legacy/v1/a%2fb;v=1')).allowed).toBe(true);
    expect((await get('/legacy/v1/a//b')).allowed).toBe(true);
    expect(((await get('/legacy/v1/../../petstore/v1/pets')).raw.status as { message: string }).message).toBe(
      'AMBIGUOUS_PATH_CONTEXT_MISMATCH',
    );
    // The opt-out is per API: the same path under another API is still denied.
    expect((await get('/files/v1/a%2fb')).httpStatus).toBe(400);
  });

  it('the key in a query parameter spelled with escapes is removed under every raw spelling', async () => {
    const res = await t.client.check({ path: `/petstore/v1/pets?%61pikey=${key}&x=1` });
    expect(res.allowed).toBe(true);
    expect(res.queryParamsToRemove).toEqual(['%61pikey']);
    const both = await t.client.check({
      path: `/petstore/v1/pets?apikey=${key}&api%6Bey=${key}&%61%70ikey=x`,
    });
    expect(both.allowed).toBe(true);
    expect(both.queryParamsToRemove.sort()).toEqual(['%61%70ikey', 'api%6Bey', 'apikey']);
  });

  it('an empty first apikey value does not leave a second one for the upstream', async () => {
    const res = await t.client.check({ path: `/petstore/v1/public?apikey=&apikey=${key}` });
    expect(res.allowed).toBe(true);
    expect(res.queryParamsToRemove).toEqual(['apikey']);
  });

  it('header names are lower-cased in ASCII only: a Kelvin-sign "apiKey" is not the apikey header', async () => {
    const res = await t.client.check({ path: '/petstore/v1/pets', headers: { 'api\u212Aey': key } });
    expect(res.allowed).toBe(false);
    expect(res.body?.code).toBe('900902');
  });
});
