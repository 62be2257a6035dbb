/**
 * Deployment manifests (deploy/kubernetes): a small kustomize renderer, so the manifests can be rendered and
 * checked without a kubectl binary.
 */
export { DEPLOY_ERROR_RETRYABLE, DeployError, type DeployErrorCode } from './errors.js';
export { type KubeObject, renderKustomization, strategicMerge } from './kustomize.js';
