// Docker HEALTHCHECK for the adapter image: GET /healthz on the admin address (Kubernetes uses its own
// probes and ignores this). Exit 0 = healthy, 1 = not.
const addr = process.env.MESH_APIM_ADAPTER_ADMIN_ADDRESS ?? '127.0.0.1:9192';
const i = addr.lastIndexOf(':');
let host = addr.slice(0, i);
if (host === '0.0.0.0' || host === '' || host === '[::]') host = '127.0.0.1';
const url = `http://${host}:${addr.slice(i + 1)}/healthz`;
try {
  const res = await fetch(url, { signal: AbortSignal.timeout(2000) });
  process.exit(res.ok ? 0 : 1);
} catch {
  process.exit(1);
}
