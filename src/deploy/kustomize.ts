/**
 * A small kustomize: enough of it to render deploy/kubernetes in tests without a kubectl binary. It implements
 * `resources` (files, multi-document, and directories holding a kustomization), `namespace`, `namePrefix` /
 * `nameSuffix`, `labels` (and `commonLabels`, which is `labels` with includeSelectors), strategic-merge `patches`
 * (a file or inline, matched by kind + metadata.name), `images` and `replicas`, with kustomize's meaning
 * (https://kubectl.docs.kubernetes.io/references/kustomize/kustomization/). Any other field is refused with
 * MSB_DEPLOY_UNSUPPORTED rather than silently ignored, so a manifest never renders differently here than under
 * `kubectl kustomize` without the test saying so.
 *
 * Order within one kustomization, as kustomize applies it: its resources are rendered (each sub-kustomization
 * fully), then patches, images and replicas (matched by the names the resources had before this kustomization's
 * prefix/suffix), then namePrefix/nameSuffix, labels and namespace.
 * Strategic merge: maps merge; a list whose items all carry `name` merges item by item on `name` (containers, env,
 * volumes, ports...), any other list is replaced, as kustomize does for custom resources whose merge keys it
 * does not know.
 */
import { readFile, stat } from 'node:fs/promises';
import path from 'node:path';
import { parseAllDocuments } from 'yaml';
import { DeployError } from './errors.js';

/** One rendered Kubernetes object (plain JSON). */
export type KubeObject = Record<string, unknown> & {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace?: string; labels?: Record<string, string>; [k: string]: unknown };
};

const IMPLEMENTED = new Set([
  'apiVersion',
  'kind',
  'resources',
  'namespace',
  'namePrefix',
  'nameSuffix',
  'labels',
  'commonLabels',
  'patches',
  'images',
  'replicas',
]);

/** Cluster-scoped kinds among those msb's manifests use: `namespace` leaves them alone. */
const CLUSTER_SCOPED = new Set(['Namespace', 'ClusterRole', 'ClusterRoleBinding', 'ClusterTriggerAuthentication']);

type Json = Record<string, unknown>;
const isMap = (v: unknown): v is Json => typeof v === 'object' && v !== null && !Array.isArray(v);

async function loadYaml(file: string): Promise<unknown[]> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (err) {
    throw new DeployError(
      'MSB_DEPLOY_READ',
      `cannot read ${file}: ${(err as Error).message}`,
      { file },
      { cause: err },
    );
  }
  const docs = parseAllDocuments(text);
  const out: unknown[] = [];
  for (const doc of docs) {
    if (doc.errors.length > 0)
      throw new DeployError('MSB_DEPLOY_READ', `${file}: not YAML: ${doc.errors[0]?.message}`, { file });
    const value = doc.toJS();
    if (value !== null && value !== undefined) out.push(value);
  }
  return out;
}

interface Rendered {
  object: KubeObject;
  /** the name before any prefix/suffix: what patches and replicas of enclosing kustomizations may also match */
  originalName: string;
}

function asObject(value: unknown, file: string): KubeObject {
  if (!isMap(value) || typeof value.kind !== 'string' || typeof value.apiVersion !== 'string')
    throw new DeployError('MSB_DEPLOY_INVALID', `${file}: a resource needs apiVersion and kind`, { file });
  const meta = value.metadata;
  if (!isMap(meta) || typeof meta.name !== 'string' || meta.name === '')
    throw new DeployError('MSB_DEPLOY_INVALID', `${file}: a ${value.kind} without metadata.name`, { file });
  return value as KubeObject;
}

/** Strategic merge of `patch` into `base` (both plain JSON), returning a new value. */
export function strategicMerge(base: unknown, patch: unknown): unknown {
  if (isMap(base) && isMap(patch)) {
    const out: Json = { ...base };
    for (const [k, v] of Object.entries(patch)) out[k] = v === null ? undefined : strategicMerge(base[k], v);
    for (const k of Object.keys(out)) if (out[k] === undefined) delete out[k];
    return out;
  }
  const named = (xs: unknown[]) => xs.every((x) => isMap(x) && typeof x.name === 'string');
  if (Array.isArray(base) && Array.isArray(patch) && named(base) && named(patch)) {
    const out = [...base] as Json[];
    for (const p of patch as Json[]) {
      const i = out.findIndex((b) => b.name === p.name);
      if (i >= 0) out[i] = strategicMerge(out[i], p) as Json;
      else out.push(p);
    }
    return out;
  }
  return structuredClone(patch);
}

function matches(r: Rendered, kind: string, name: string): boolean {
  return r.object.kind === kind && (r.object.metadata.name === name || r.originalName === name);
}

/** Containers of a workload's pod template (Deployment, StatefulSet, DaemonSet, Job) or of a Pod. */
function podSpecOf(o: KubeObject): Json | undefined {
  const spec = o.spec;
  if (!isMap(spec)) return undefined;
  if (o.kind === 'Pod') return spec;
  const template = spec.template;
  return isMap(template) && isMap(template.spec) ? template.spec : undefined;
}

function setLabels(o: KubeObject, pairs: Record<string, string>, includeSelectors: boolean): void {
  o.metadata.labels = { ...(o.metadata.labels ?? {}), ...pairs };
  if (!includeSelectors) return;
  const spec = o.spec;
  if (!isMap(spec)) return;
  if (o.kind === 'Service') {
    spec.selector = { ...(isMap(spec.selector) ? spec.selector : {}), ...pairs };
    return;
  }
  if (isMap(spec.selector)) {
    const sel = spec.selector;
    sel.matchLabels = { ...(isMap(sel.matchLabels) ? sel.matchLabels : {}), ...pairs };
  }
  if (isMap(spec.template)) {
    const tpl = spec.template;
    const meta = isMap(tpl.metadata) ? tpl.metadata : {};
    meta.labels = { ...(isMap(meta.labels) ? meta.labels : {}), ...pairs };
    tpl.metadata = meta;
  }
}

function stringMap(value: unknown, what: string, file: string): Record<string, string> {
  if (!isMap(value) || !Object.values(value).every((v) => typeof v === 'string'))
    throw new DeployError('MSB_DEPLOY_INVALID', `${file}: ${what} must map names to strings`, { file });
  return value as Record<string, string>;
}

async function renderDir(dir: string, seen: Set<string>): Promise<Rendered[]> {
  const file = path.join(dir, 'kustomization.yaml');
  if (seen.has(file))
    throw new DeployError('MSB_DEPLOY_INVALID', `${file} includes itself (a resources cycle)`, { file });
  seen.add(file);
  const [k] = await loadYaml(file);
  if (!isMap(k)) throw new DeployError('MSB_DEPLOY_INVALID', `${file}: not a kustomization`, { file });
  for (const field of Object.keys(k))
    if (!IMPLEMENTED.has(field))
      throw new DeployError(
        'MSB_DEPLOY_UNSUPPORTED',
        `${file}: kustomization field '${field}' is not implemented by msb's renderer (it implements ${[...IMPLEMENTED].slice(2).join(', ')})`,
        { file, field },
      );

  // resources
  const items: Rendered[] = [];
  const resources = k.resources ?? [];
  if (!Array.isArray(resources) || !resources.every((r) => typeof r === 'string'))
    throw new DeployError('MSB_DEPLOY_INVALID', `${file}: resources must be a list of paths`, { file });
  for (const entry of resources as string[]) {
    const target = path.resolve(dir, entry);
    if (/^[a-z]+:\/\//.test(entry))
      throw new DeployError('MSB_DEPLOY_UNSUPPORTED', `${file}: remote resource ${entry} is not supported`, { file });
    const st = await stat(target).catch((err) => {
      throw new DeployError('MSB_DEPLOY_READ', `${file}: resource ${entry} not found`, { file, entry }, { cause: err });
    });
    if (st.isDirectory()) items.push(...(await renderDir(target, new Set(seen))));
    else
      for (const doc of await loadYaml(target)) {
        const object = asObject(doc, target);
        items.push({ object, originalName: object.metadata.name });
      }
  }

  // patches (strategic merge, by kind + name)
  const patches = k.patches ?? [];
  if (!Array.isArray(patches)) throw new DeployError('MSB_DEPLOY_INVALID', `${file}: patches must be a list`, { file });
  for (const p of patches) {
    if (!isMap(p)) throw new DeployError('MSB_DEPLOY_INVALID', `${file}: a patch must be a map`, { file });
    const extra = Object.keys(p).filter((f) => f !== 'path' && f !== 'patch');
    if (extra.length > 0)
      throw new DeployError(
        'MSB_DEPLOY_UNSUPPORTED',
        `${file}: patch field(s) ${extra.join(', ')} not implemented (only strategic-merge patches by kind + name: path or patch)`,
        { file },
      );
    const docs =
      typeof p.path === 'string'
        ? await loadYaml(path.resolve(dir, p.path))
        : typeof p.patch === 'string'
          ? parseAllDocuments(p.patch).map((d) => d.toJS())
          : undefined;
    if (!docs) throw new DeployError('MSB_DEPLOY_INVALID', `${file}: a patch needs path or patch`, { file });
    for (const doc of docs) {
      const patch = asObject(doc, file);
      const hits = items.filter((r) => matches(r, patch.kind, patch.metadata.name));
      if (hits.length === 0)
        throw new DeployError(
          'MSB_DEPLOY_NO_TARGET',
          `${file}: patch for ${patch.kind} ${patch.metadata.name} matches no resource`,
          { file, kind: patch.kind, name: patch.metadata.name },
        );
      for (const r of hits) {
        const { name } = r.object.metadata;
        r.object = strategicMerge(r.object, patch) as KubeObject;
        r.object.metadata.name = name;
      }
    }
  }

  // images
  const images = k.images ?? [];
  if (!Array.isArray(images)) throw new DeployError('MSB_DEPLOY_INVALID', `${file}: images must be a list`, { file });
  for (const img of images) {
    if (!isMap(img) || typeof img.name !== 'string')
      throw new DeployError('MSB_DEPLOY_INVALID', `${file}: an images entry needs name`, { file });
    for (const r of items) {
      const pod = podSpecOf(r.object);
      for (const list of [pod?.containers, pod?.initContainers])
        for (const c of Array.isArray(list) ? (list as Json[]) : []) {
          const image = String(c.image ?? '');
          const at = image.indexOf('@');
          const colon = image.lastIndexOf(':');
          const bare = at >= 0 ? image.slice(0, at) : colon > image.lastIndexOf('/') ? image.slice(0, colon) : image;
          if (bare !== img.name) continue;
          const tag = at >= 0 ? image.slice(at) : colon > image.lastIndexOf('/') ? image.slice(colon) : '';
          const name = typeof img.newName === 'string' ? img.newName : bare;
          c.image =
            typeof img.digest === 'string'
              ? `${name}@${img.digest}`
              : typeof img.newTag === 'string'
                ? `${name}:${img.newTag}`
                : `${name}${tag}`;
        }
    }
  }

  // replicas
  const replicas = k.replicas ?? [];
  if (!Array.isArray(replicas))
    throw new DeployError('MSB_DEPLOY_INVALID', `${file}: replicas must be a list`, { file });
  for (const rep of replicas) {
    if (!isMap(rep) || typeof rep.name !== 'string' || !Number.isInteger(rep.count))
      throw new DeployError('MSB_DEPLOY_INVALID', `${file}: a replicas entry needs name and an integer count`, {
        file,
      });
    const hits = items.filter((r) => r.object.metadata.name === rep.name || r.originalName === rep.name);
    if (hits.length === 0)
      throw new DeployError('MSB_DEPLOY_NO_TARGET', `${file}: replicas for ${rep.name} matches no resource`, { file });
    for (const r of hits) if (isMap(r.object.spec)) r.object.spec.replicas = rep.count;
  }

  // names, labels, namespace
  const prefix = k.namePrefix ?? '';
  const suffix = k.nameSuffix ?? '';
  if (typeof prefix !== 'string' || typeof suffix !== 'string')
    throw new DeployError('MSB_DEPLOY_INVALID', `${file}: namePrefix and nameSuffix must be strings`, { file });
  const labelSets: { pairs: Record<string, string>; includeSelectors: boolean }[] = [];
  if (k.commonLabels !== undefined)
    labelSets.push({ pairs: stringMap(k.commonLabels, 'commonLabels', file), includeSelectors: true });
  for (const l of Array.isArray(k.labels) ? k.labels : k.labels === undefined ? [] : [null]) {
    if (!isMap(l)) throw new DeployError('MSB_DEPLOY_INVALID', `${file}: labels must be a list of {pairs}`, { file });
    const unknown = Object.keys(l).filter((f) => f !== 'pairs' && f !== 'includeSelectors');
    if (unknown.length > 0)
      throw new DeployError(
        'MSB_DEPLOY_UNSUPPORTED',
        `${file}: labels field(s) ${unknown.join(', ')} not implemented`,
        {
          file,
        },
      );
    labelSets.push({ pairs: stringMap(l.pairs, 'labels.pairs', file), includeSelectors: l.includeSelectors === true });
  }
  const namespace = k.namespace;
  if (namespace !== undefined && typeof namespace !== 'string')
    throw new DeployError('MSB_DEPLOY_INVALID', `${file}: namespace must be a string`, { file });
  for (const r of items) {
    const o = r.object;
    // kustomize leaves a Namespace's own name alone
    if (o.kind !== 'Namespace') o.metadata.name = `${prefix}${o.metadata.name}${suffix}`;
    for (const set of labelSets) setLabels(o, set.pairs, set.includeSelectors);
    if (namespace && !CLUSTER_SCOPED.has(o.kind)) o.metadata.namespace = namespace;
  }

  const ids = new Set<string>();
  for (const { object: o } of items) {
    const id = `${o.kind}/${o.metadata.namespace ?? ''}/${o.metadata.name}`;
    if (ids.has(id))
      throw new DeployError('MSB_DEPLOY_DUPLICATE', `${file}: two resources are ${o.kind} ${o.metadata.name}`, {
        file,
      });
    ids.add(id);
  }
  return items;
}

/** Renders the kustomization in `dir` (a directory holding kustomization.yaml) into its objects. */
export async function renderKustomization(dir: string): Promise<KubeObject[]> {
  return (await renderDir(path.resolve(dir), new Set())).map((r) => r.object);
}
