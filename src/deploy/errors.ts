import { MsbError, type MsbErrorOptions } from '../errors.js';

/** Stable codes of {@link DeployError}; none is retryable (they are all about the manifests themselves). */
export const DEPLOY_ERROR_RETRYABLE = {
  /** A kustomization.yaml or resource file is missing, unreadable or not YAML. */
  MSB_DEPLOY_READ: false,
  /** A kustomization uses a field the renderer does not implement (it refuses rather than ignore it). */
  MSB_DEPLOY_UNSUPPORTED: false,
  /** A field has the wrong shape (a patch without kind or name, images without name, ...). */
  MSB_DEPLOY_INVALID: false,
  /** A patch or replicas entry names an object no resource of the kustomization has. */
  MSB_DEPLOY_NO_TARGET: false,
  /** Two resources with the same kind, namespace and name. */
  MSB_DEPLOY_DUPLICATE: false,
} as const satisfies Record<`MSB_DEPLOY_${string}`, boolean>;

export type DeployErrorCode = keyof typeof DEPLOY_ERROR_RETRYABLE;

/** Rendering a kustomization failed; `details.file` names the kustomization or resource concerned. */
export class DeployError extends MsbError {
  declare readonly code: DeployErrorCode;

  constructor(
    code: DeployErrorCode,
    message: string,
    details: Record<string, unknown> = {},
    options?: MsbErrorOptions,
  ) {
    super(code, message, details, { retryable: DEPLOY_ERROR_RETRYABLE[code], ...options });
  }
}
