/**
 * TLS to API Manager: the configured CA is trusted (and only with it does the pull succeed), and the
 * optional client certificate is presented for mutual TLS. Certificates are made with openssl.
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer, type Server } from 'node:https';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TLSSocket } from 'node:tls';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { InternalDataClient } from '../../apim/internal-data-client.ts';
import { PublisherClient } from '../../apim/publisher-client.ts';
import { apimTlsFiles, tlsAgent } from '../../apim/tls.ts';
import { sampleApimData } from '../support/fakes/fake-apim-internal-data.ts';
import { hasOpenssl, selfSigned } from '../support/openssl.ts';

describe.skipIf(!hasOpenssl)('API Manager over TLS', () => {
  let dir: string;
  let server: Server;
  let url: string;
  const clientSubjects: (string | null)[] = [];

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'apim-tls-'));
    selfSigned(dir, 'server', 'apim.test', { subjectAltName: 'IP:127.0.0.1' });
    selfSigned(dir, 'client', 'gateway-client', { subjectAltName: 'IP:127.0.0.1' });
    const data = sampleApimData();
    server = createServer(
      {
        key: readFileSync(join(dir, 'server.key')),
        cert: readFileSync(join(dir, 'server.crt')),
        ca: readFileSync(join(dir, 'client.crt')),
        requestCert: true,
        rejectUnauthorized: false,
      },
      (req, res) => {
        const peer = (req.socket as TLSSocket).getPeerCertificate();
        const cn = peer?.subject?.CN;
        clientSubjects.push(typeof cn === 'string' ? cn : null);
        const path = new URL(req.url ?? '/', 'https://x').pathname.replace('/internal/data/v1', '');
        const lists: Record<string, unknown[]> = {
          '/apis': data.apis,
          '/applications': data.applications,
          '/subscriptions': data.subscriptions,
          '/application-key-mappings': data.keyMappings,
          '/subscription-policies': data.subscriptionPolicies,
          '/application-policies': data.applicationPolicies,
          '/api-policies': data.apiPolicies,
        };
        res.writeHead(200, { 'content-type': 'application/json' });
        const list = lists[path];
        res.end(JSON.stringify(list ? { count: list.length, list } : data.revoked));
      },
    );
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    url = `https://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  afterAll(async () => {
    await new Promise((r) => server.close(r));
    rmSync(dir, { recursive: true, force: true });
  });

  const client = (tls: { caFile?: string; certFile?: string; keyFile?: string }) =>
    new InternalDataClient({
      url,
      username: 'admin',
      password: 'admin',
      tenant: 'carbon.super',
      timeoutMs: 5_000,
      ...tls,
    });

  it('without the CA the server is not trusted', async () => {
    await expect(client({}).fetchAll()).rejects.toThrow(/self.signed|certificate/i);
  });

  it('with the configured CA the pull succeeds; the client certificate is presented when configured', async () => {
    clientSubjects.length = 0;
    const data = await client({ caFile: join(dir, 'server.crt') }).fetchAll();
    expect(data.apis).toHaveLength(1);
    expect(clientSubjects.every((s) => s === null || s === undefined)).toBe(true);
    clientSubjects.length = 0;
    await client({
      caFile: join(dir, 'server.crt'),
      certFile: join(dir, 'client.crt'),
      keyFile: join(dir, 'client.key'),
    }).fetchAll();
    expect(clientSubjects.length).toBeGreaterThan(0);
    expect(clientSubjects.every((s) => s === 'gateway-client')).toBe(true);
  });

  // The Publisher client (adapter's client-certificate reader, api-auto-creator) takes the same agent.
  const publisher = (tls: { caFile: string; certFile: string; keyFile: string }) =>
    new PublisherClient({
      baseUrl: url,
      username: 'admin',
      password: 'admin',
      timeoutMs: 5_000,
      maxAttempts: 1,
      retryBaseMs: 200,
      clientName: 'mesh-apim-test',
      httpsAgent: tlsAgent(apimTlsFiles(tls)),
    });

  it('the Publisher client goes through the same TLS path: CA trusted, client certificate presented', async () => {
    clientSubjects.length = 0;
    // Untrusted: no request reaches the server.
    await expect(
      publisher({ caFile: '', certFile: '', keyFile: '' }).listClientCertificates('api-1'),
    ).rejects.toThrow();
    expect(clientSubjects).toEqual([]);
    // Trusted, with the client certificate: the DCR request arrives over mutual TLS (this server is
    // no Publisher, so the call itself fails after the handshake).
    await publisher({
      caFile: join(dir, 'server.crt'),
      certFile: join(dir, 'client.crt'),
      keyFile: join(dir, 'client.key'),
    })
      .listClientCertificates('api-1')
      .catch(() => {});
    expect(clientSubjects.length).toBeGreaterThan(0);
    expect(clientSubjects.every((s) => s === 'gateway-client')).toBe(true);
  });
});
