/** API Manager changed something adapters cache (API, application, subscription, ...): refresh now. */
import { z } from 'zod';
import { envelope } from './common.ts';

export const ControlPlaneChanged = z.object({
  ...envelope('control-plane-changed'),
  entity: z.enum(['api', 'application', 'subscription', 'key-mapping', 'policy', 'other']),
  action: z.string().describe('WSO2 notification type, e.g. API_UPDATE, SUBSCRIPTIONS_CREATE'),
  tenantDomain: z.string(),
  details: z.record(z.string(), z.unknown()).describe('The notification payload as API Manager sent it'),
});
export type ControlPlaneChanged = z.infer<typeof ControlPlaneChanged>;
