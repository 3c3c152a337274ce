/**
 * Client certificates of mutual-TLS APIs, read from the WSO2 Publisher REST API v4 (the internal
 * data API has none): `GET /apis/{apiId}/client-certificates` then `.../{alias}/content` per alias,
 * with the shared Publisher client (apim/), which owns DCR, the token and retries. Only APIs
 * whose securityScheme names mutualssl are asked about. A failure for one API is logged and counted
 * and leaves that API without certificates (fail closed: 900911), never failing the pull.
 */
import { X509Certificate } from 'node:crypto';
import type { ApimData } from '../../../apim/internal-data-types.ts';
import { CLIENT_CERTIFICATES_VIEW_SCOPE, PublisherClient } from '../../../apim/publisher-client.ts';
import { apimTlsFiles, tlsAgent } from '../../../apim/tls.ts';
import type { Config } from '../../../common/config/index.ts';
import { errorMessage } from '../../../common/errors.ts';
import { createLogger, type Logger } from '../../../common/log.ts';
import { compileClientCertificate } from '../../credentials/mtls.ts';

const defaultLog = createLogger('apim-client-certificates');

const FETCH_CONCURRENCY = 4;

type Certificate = ApimData['clientCertificates'][string][number];

export interface ClientCertificateReader {
  listClientCertificates: PublisherClient['listClientCertificates'];
  getClientCertificateContent: PublisherClient['getClientCertificateContent'];
}

/** True when API Manager's securityScheme list enables mutual TLS in any mode. */
export function usesMutualTls(securityScheme: unknown): boolean {
  return (
    Array.isArray(securityScheme) &&
    securityScheme.some((s) => typeof s === 'string' && s.startsWith('mutualssl'))
  );
}

/** The uploaded file (PEM as WSO2 stores it, or DER) as one PEM certificate; throws if it is neither. */
export function certificatePem(content: Buffer): string {
  const text = content.toString('utf8');
  if (text.includes('-----BEGIN CERTIFICATE-----')) return text.trim();
  return new X509Certificate(content).toString().trim();
}

export class ClientCertificateFetcher {
  /** Failed fetches (one per API per pull); the `mesh_apim_client_certificate_fetch_failures_total` source. */
  onFailure: (reason: string) => void = () => {};

  constructor(
    private readonly reader: ClientCertificateReader,
    private readonly log: Pick<Logger, 'error'> = defaultLog,
  ) {}

  /** Certificates by API uuid, for the APIs that need them; failed APIs are left out. */
  async fetch(apis: ApimData['apis']): Promise<ApimData['clientCertificates']> {
    const out: ApimData['clientCertificates'] = {};
    const wanted = apis.filter((a) => usesMutualTls((a as { securityScheme?: unknown }).securityScheme));
    // A few APIs at a time: hundreds of mTLS APIs must not open hundreds of Publisher requests.
    let next = 0;
    const worker = async () => {
      while (next < wanted.length) {
        const a = wanted[next++]!;
        if (!a.uuid) {
          this.fail('no_uuid', a, new Error('API has no uuid; the Publisher API addresses APIs by uuid'));
          continue;
        }
        try {
          out[a.uuid] = await this.forApi(a.uuid);
        } catch (err) {
          this.fail('request', a, err);
        }
      }
    };
    await Promise.all(Array.from({ length: Math.min(FETCH_CONCURRENCY, wanted.length) }, worker));
    return out;
  }

  private async forApi(apiId: string): Promise<Certificate[]> {
    const list = await this.reader.listClientCertificates(apiId);
    const certs: Certificate[] = [];
    const seen = new Set<string>();
    for (const m of list) {
      if (!m.alias || seen.has(m.alias)) continue;
      seen.add(m.alias);
      const content = await this.reader.getClientCertificateContent(apiId, m.alias);
      let pem: string;
      try {
        pem = certificatePem(content);
        compileClientCertificate(m.alias, m.tier || 'Unlimited', pem);
      } catch (err) {
        // One unreadable upload costs that certificate only; the API keeps the others.
        this.onFailure('bad_certificate');
        this.log.error(
          { apiId, alias: m.alias, err: errorMessage(err) },
          'client certificate from API Manager unusable; left out',
        );
        continue;
      }
      certs.push({ alias: m.alias, tier: m.tier || 'Unlimited', certificate: pem });
    }
    return certs;
  }

  private fail(reason: string, a: ApimData['apis'][number], err: unknown): void {
    this.onFailure(reason);
    this.log.error(
      { api: `${a.name}:${a.version}`, apiId: a.uuid, err: errorMessage(err) },
      'cannot fetch the client certificates of a mutual-TLS API; it refuses every call (900911) until a pull succeeds',
    );
  }
}

/** The fetcher of the `apim` settings (Publisher URL and credentials default to the internal data API's). */
export function clientCertificateFetcherFor(apim: Config['apim']): ClientCertificateFetcher {
  const client = new PublisherClient({
    baseUrl: apim.publisher.url || apim.url,
    username: apim.publisher.username || apim.username,
    password: apim.publisher.password || apim.password,
    clientName: 'mesh-apim-adapter',
    scopes: [CLIENT_CERTIFICATES_VIEW_SCOPE],
    timeoutMs: apim.requestTimeoutMs,
    maxAttempts: 2,
    retryBaseMs: 200,
    httpsAgent: tlsAgent(apimTlsFiles(apim)),
    log: createLogger('apim-publisher'),
  });
  return new ClientCertificateFetcher(client);
}
