/**
 * Publishes a service's API in WSO2 API Manager, idempotently. What was last published is recorded
 * in the revision description (`mesh-apim def=<hash> cfg=<hash>`): a redelivered or unchanged event
 * finds a deployed revision with the same marker and changes nothing; a changed definition or
 * endpoint updates the API and creates + deploys a new revision.
 */
import { createHash } from 'node:crypto';
import { ApimError } from '../../apim/errors.ts';
import type { ApiInfo, ApiRevision, DeploymentTarget, PublisherClient } from '../../apim/publisher-client.ts';
import type { Logger } from '../../common/log.ts';
import type { ServiceDeleted, ServiceDeployed } from '../../events/service-lifecycle.ts';
import { AutoCreateError } from './errors.ts';
import type { OpenApiDefinition } from './openapi.ts';

/** Security of auto-created APIs: OAuth2 and API keys, mandatory (WSO2 scheme names). */
export const AUTO_SECURITY_SCHEMES = ['oauth2', 'api_key', 'oauth_basic_auth_api_key_mandatory'] as const;
/** WSO2's default API-key header; the adapter reads the same one. */
export const AUTO_API_KEY_HEADER = 'apikey';

export interface ApimTargetOptions {
  vhost: string;
  displayOnDevportal: boolean;
  /** Revisions APIM keeps per API (WSO2 default 5); at the limit the oldest undeployed one is deleted. */
  maxRevisions: number;
  onDelete: 'undeploy' | 'retire' | 'delete';
}

export type DeployOutcome = {
  action: 'created' | 'updated' | 'redeployed' | 'unchanged';
  apiId: string;
  revisionId: string | null;
  published: boolean;
};
export type DeleteOutcome = { action: 'absent' | 'undeployed' | 'retired' | 'deleted'; apiId: string | null };

const sha = (s: string) => createHash('sha256').update(s).digest('hex').slice(0, 16);

function marker(defHash: string, cfgHash: string): string {
  return `mesh-apim def=${defHash} cfg=${cfgHash}`;
}

function parseMarker(description: string | undefined): { def: string; cfg: string } | null {
  const m = /^mesh-apim def=([0-9a-f]+) cfg=([0-9a-f]+)$/.exec(description ?? '');
  return m ? { def: m[1]!, cfg: m[2]! } : null;
}

function endpointConfig(endpoint: string): Record<string, unknown> {
  return {
    endpoint_type: 'http',
    production_endpoints: { url: endpoint },
    sandbox_endpoints: { url: endpoint },
  };
}

export class ApimTarget {
  constructor(
    private readonly publisher: PublisherClient,
    private readonly options: ApimTargetOptions,
    private readonly log?: Logger,
  ) {}

  private targets(environments: string[]): DeploymentTarget[] {
    return environments.map((name) => ({
      name,
      vhost: this.options.vhost,
      displayOnDevportal: this.options.displayOnDevportal,
    }));
  }

  private async findOne(name: string, version: string): Promise<ApiInfo | null> {
    const found = await this.publisher.findApis(name, version);
    return found[0] ?? null;
  }

  async deploy(ev: ServiceDeployed, def: OpenApiDefinition): Promise<DeployOutcome> {
    const { api } = ev;
    const defHash = sha(def.json);
    const cfgHash = sha(JSON.stringify([api.context, api.endpoint, [...api.tiers].sort()]));
    const want = marker(defHash, cfgHash);
    const envs = [...new Set(api.environments)];

    let action: DeployOutcome['action'] = 'unchanged';
    let info = await this.findOne(api.name, api.version);
    let revisions: ApiRevision[] = [];
    if (!info) {
      info = await this.create(ev, def);
      action = 'created';
    } else {
      revisions = await this.publisher.listRevisions(info.id);
    }
    const apiId = info.id;

    let revision = revisions.find((r) => r.description === want) ?? null;
    if (!revision) {
      if (action !== 'created') {
        const last = latestMarked(revisions);
        if (!last || last.def !== defHash) await this.publisher.updateDefinition(apiId, def.json);
        if (!last || last.cfg !== cfgHash) await this.updateSettings(apiId, ev);
        action = 'updated';
      }
      revision = await this.createRevision(apiId, want, revisions);
    }

    const deployedTo = new Set((revision.deploymentInfo ?? []).map((d) => d.name));
    const missing = envs.filter((e) => !deployedTo.has(e));
    if (missing.length > 0) {
      await this.publisher.deployRevision(apiId, revision.id, this.targets(missing));
      if (action === 'unchanged') action = 'redeployed';
    }

    let published = info.lifeCycleStatus === 'PUBLISHED';
    if (!published) {
      await this.publisher.changeLifecycle(apiId, 'Publish');
      published = true;
    }
    this.log?.info(
      { apiId, action, revisionId: revision.id, name: api.name, version: api.version },
      'API in step',
    );
    return { action, apiId, revisionId: revision.id, published };
  }

  private async create(ev: ServiceDeployed, def: OpenApiDefinition): Promise<ApiInfo> {
    const { api, service } = ev;
    try {
      return await this.publisher.importOpenApi(def.json, {
        name: api.name,
        version: api.version,
        context: api.context,
        endpointConfig: endpointConfig(api.endpoint),
        policies: api.tiers,
        // API Manager enables only oauth2 by default: enable API keys too and name their header, so
        // a key issued for this API in the Developer Portal works at the mesh (Publisher API v4 API).
        securityScheme: [...AUTO_SECURITY_SCHEMES],
        apiKeyHeader: AUTO_API_KEY_HEADER,
        additionalProperties: [
          {
            name: 'meshApimService',
            value: `${service.cluster}/${service.namespace}/${service.name}`,
            display: false,
          },
        ],
      });
    } catch (err) {
      // An earlier attempt may have created it with its answer lost: the search decides.
      if (err instanceof ApimError && err.status === 409) {
        const again = await this.findOne(api.name, api.version);
        if (again) return again;
      }
      throw err;
    }
  }

  private async updateSettings(apiId: string, ev: ServiceDeployed): Promise<void> {
    const current = await this.publisher.getApi(apiId);
    await this.publisher.updateApi(apiId, {
      ...current,
      context: ev.api.context,
      endpointConfig: endpointConfig(ev.api.endpoint),
      policies: ev.api.tiers,
      securityScheme: [...AUTO_SECURITY_SCHEMES],
      apiKeyHeader: AUTO_API_KEY_HEADER,
    });
  }

  private async createRevision(
    apiId: string,
    description: string,
    known: ApiRevision[],
  ): Promise<ApiRevision> {
    if (known.length >= this.options.maxRevisions) await this.deleteOldestUndeployed(apiId, known);
    try {
      return await this.publisher.createRevision(apiId, description);
    } catch (err) {
      // The server's limit may be lower than configured: free one slot and try once more.
      if (!(err instanceof ApimError) || !isRevisionLimit(err)) throw err;
      await this.deleteOldestUndeployed(apiId, await this.publisher.listRevisions(apiId));
      return await this.publisher.createRevision(apiId, description);
    }
  }

  private async deleteOldestUndeployed(apiId: string, revisions: ApiRevision[]): Promise<void> {
    const candidates = revisions
      .filter((r) => (r.deploymentInfo ?? []).length === 0)
      .sort((a, b) => revisionOrder(a) - revisionOrder(b));
    const oldest = candidates[0];
    if (!oldest)
      throw new AutoCreateError(
        'REVISION_LIMIT',
        `API ${apiId} is at its revision limit and every revision is deployed: nothing can be deleted`,
      );
    this.log?.info(
      { apiId, revisionId: oldest.id },
      'revision limit: deleting the oldest undeployed revision',
    );
    await this.publisher.deleteRevision(apiId, oldest.id);
  }

  async remove(ev: ServiceDeleted): Promise<DeleteOutcome> {
    const info = await this.findOne(ev.api.name, ev.api.version);
    if (!info) return { action: 'absent', apiId: null };
    const deployments = await this.publisher.listDeployments(info.id);
    const byRevision = new Map<string, string[]>();
    for (const d of deployments) {
      if (!d.revisionUuid) continue;
      byRevision.set(d.revisionUuid, [...(byRevision.get(d.revisionUuid) ?? []), d.name]);
    }
    for (const [revisionId, envs] of byRevision)
      await this.publisher.undeployRevision(info.id, revisionId, this.targets(envs));
    const mode = this.options.onDelete;
    if (mode === 'delete') {
      await this.publisher.deleteApi(info.id);
      return { action: 'deleted', apiId: info.id };
    }
    if (mode === 'retire') {
      // WSO2's lifecycle only retires a deprecated API.
      if (info.lifeCycleStatus === 'PUBLISHED') await this.publisher.changeLifecycle(info.id, 'Deprecate');
      if (info.lifeCycleStatus !== 'RETIRED') await this.publisher.changeLifecycle(info.id, 'Retire');
      return { action: 'retired', apiId: info.id };
    }
    return { action: byRevision.size > 0 ? 'undeployed' : 'absent', apiId: info.id };
  }
}

function latestMarked(revisions: ApiRevision[]): { def: string; cfg: string } | null {
  const sorted = [...revisions].sort((a, b) => revisionOrder(b) - revisionOrder(a));
  const deployed = sorted.find((r) => (r.deploymentInfo ?? []).length > 0 && parseMarker(r.description));
  const any = deployed ?? sorted.find((r) => parseMarker(r.description));
  return any ? parseMarker(any.description) : null;
}

/** "Revision 7" -> 7; falls back to creation time. */
function revisionOrder(r: ApiRevision): number {
  const n = /(\d+)\s*$/.exec(r.displayName ?? '');
  if (n) return Number(n[1]);
  return r.createdTime ? Date.parse(r.createdTime) || Number(r.createdTime) || 0 : 0;
}

function isRevisionLimit(err: ApimError): boolean {
  const body = err.body as { code?: number; message?: string; description?: string } | null;
  return (
    err.status >= 400 &&
    err.status < 500 &&
    (body?.code === 902010 || /maximum number of revisions/i.test(`${body?.message} ${body?.description}`))
  );
}
