/** Errors of the Kubernetes controller. */
import { MeshApimError } from '../common/errors.ts';

/** The API server said the resourceVersion we watch from is gone (410): list again. */
export class ResourceVersionExpired extends MeshApimError {
  constructor(message: string) {
    super('K8S_RESOURCE_VERSION_EXPIRED', message, { retriable: true });
  }
}

/** A list/watch/read/create against the API server failed. */
export class KubeApiError extends MeshApimError {
  readonly status: number;
  constructor(operation: string, status: number, options: { cause?: unknown } = {}) {
    super('K8S_API', `${operation}: ${status ? `HTTP ${status}` : 'no response'}`, {
      ...options,
      retriable: status === 0 || status === 429 || status >= 500,
    });
    this.status = status;
  }
}
