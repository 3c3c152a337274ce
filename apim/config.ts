import { z } from 'zod';

/** WSO2 API Manager connection (control plane, Publisher, auto-creator): the `apim` section of the configuration (docs/configuration.md). */
export const ApimConfigSchema = z
  .object({
    url: z
      .string()
      .default('')
      .describe('WSO2 API Manager base URL, e.g. https://apim:9443 (empty = not used).'),
    username: z.string().default('').describe('Basic-auth user for the internal data API / DCR.'),
    password: z.string().default('').describe('Basic-auth password for the internal data API / DCR.'),
    secretArn: z
      .string()
      .default('')
      .describe(
        'Secrets Manager ARN of the API Manager credentials, JSON {"username","password"}; read at Lambda cold start into apim.username/password (empty = not used).',
      ),
    tenant: z.string().default('carbon.super').describe('Tenant domain sent as xWSO2Tenant.'),
    publisher: z
      .object({
        url: z
          .string()
          .default('')
          .describe(
            "Base URL of the Publisher REST API v4, DCR and /oauth2/token, where mutual-TLS APIs' client certificates are read (scope apim:client_certificates_view; empty = apim.url).",
          ),
        username: z
          .string()
          .default('')
          .describe(
            'User the Publisher token is requested for (password grant; needs apim:client_certificates_view; empty = apim.username).',
          ),
        password: z
          .string()
          .default('')
          .describe('Password of apim.publisher.username (empty = apim.password).'),
      })
      .prefault({})
      .describe('Publisher REST API v4 (client certificates of mutual-TLS APIs).'),
    caFile: z
      .string()
      .default('')
      .describe('PEM CA bundle to trust for API Manager TLS (empty = system CAs).'),
    certFile: z.string().default('').describe('Client certificate (PEM) for mutual TLS (empty = none).'),
    keyFile: z.string().default('').describe('Client key (PEM) for mutual TLS (empty = none).'),
    refreshIntervalMs: z
      .number()
      .int()
      .positive()
      .default(30_000)
      .describe('Period of the full control-plane pull.'),
    requestTimeoutMs: z
      .number()
      .int()
      .positive()
      .default(10_000)
      .describe('Timeout of one API Manager request.'),
    gatewayLabel: z
      .string()
      .default('')
      .describe('Pull only the APIs deployed to this gateway environment label (empty = all APIs).'),
    apiKeyCertificateFile: z
      .string()
      .default('')
      .describe(
        'PEM certificate of the key API Manager signs API keys with (control plane apim; empty = API keys not accepted).',
      ),
    apiKeyKid: z
      .string()
      .default('gateway_certificate_alias')
      .describe('`kid` of API Manager-issued API keys (WSO2 uses the certificate alias).'),
  })
  .prefault({});
