import { defineErrors, retryableOf } from '../errors.js';

/**
 * Rendering a kustomization failed; `details.file` names the kustomization or resource concerned. No code is
 * retryable: they are all about the manifests themselves.
 */
export class DeployError extends defineErrors('MSB_DEPLOY_', {
  /** A kustomization.yaml or resource file is missing, unreadable or not YAML. */
  MSB_DEPLOY_READ: { retryable: false },
  /** A kustomization uses a field the renderer does not implement (it refuses rather than ignore it). */
  MSB_DEPLOY_UNSUPPORTED: { retryable: false },
  /** A field has the wrong shape (a patch without kind or name, images without name, ...). */
  MSB_DEPLOY_INVALID: { retryable: false },
  /** A patch or replicas entry names an object no resource of the kustomization has. */
  MSB_DEPLOY_NO_TARGET: { retryable: false },
  /** Two resources with the same kind, namespace and name. */
  MSB_DEPLOY_DUPLICATE: { retryable: false },
}) {}

export type DeployErrorCode = keyof typeof DeployError.codes;

/** Code → whether retrying can help (the shape of 0.1; the table with statuses is `DeployError.codes`). */
export const DEPLOY_ERROR_RETRYABLE = retryableOf(DeployError.codes);
