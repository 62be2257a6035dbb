/**
 * deploy/kubernetes renders (src/deploy's kustomize subset) and every object validates against the Kubernetes and
 * KEDA schemas (kubernetes-models, @kubernetes-models/keda), and the fleet makes sense as a whole: each pool's
 * pod outlives its worker's --grace, each ScaledObject scales an existing Deployment on a queue some worker serves,
 * images are pinned, probes name declared ports. A temp copy with one thing broken at a time must fail.
 */
import assert from 'node:assert/strict';
import { cp, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { test } from 'node:test';
import { ScaledObject } from '@kubernetes-models/keda/keda.sh/v1alpha1';
import { Deployment } from 'kubernetes-models/apps/v1';
import { ConfigMap, Namespace, PersistentVolumeClaim, Secret, Service } from 'kubernetes-models/v1';
import { type KubeObject, renderKustomization } from '../../src/deploy/index.js';
import { isMsbError } from '../../src/errors.js';
import { targetQueue } from '../../src/jobs/index.js';
import { tempDir } from '../helpers/tmp.js';

const ROOT = path.resolve(import.meta.dirname, '../../deploy/kubernetes');
const OVERLAYS = ['base', 'overlays/two-pools'];

/** The schema class of each kind the manifests use; any other kind is a test failure (add it here). */
const MODELS: Record<string, new (data: never) => { validate(): void }> = {
  'apps/v1/Deployment': Deployment,
  'v1/Service': Service,
  'v1/ConfigMap': ConfigMap,
  'v1/Secret': Secret,
  'v1/PersistentVolumeClaim': PersistentVolumeClaim,
  'v1/Namespace': Namespace,
  'keda.sh/v1alpha1/ScaledObject': ScaledObject,
};

/**
 * Compute capability of the GPUs the overlays name by their GPU feature discovery product label
 * (https://developer.nvidia.com/cuda-gpus: A100 8.0, L4 8.9, H100 9.0): the worker's build queue follows from it.
 */
const COMPUTE_CAPABILITY: Record<string, string> = {
  'NVIDIA-A100-SXM4-80GB': '8.0',
  'NVIDIA-A100-SXM4-40GB': '8.0',
  'NVIDIA-A100-PCIE-40GB': '8.0',
  'NVIDIA-L4': '8.9',
  'NVIDIA-H100-80GB-HBM3': '9.0',
};

// biome-ignore lint/suspicious/noExplicitAny: rendered manifests are YAML walked by path; schemaProblems checks their shape
type Json = Record<string, any>;

function schemaProblems(objects: KubeObject[]): string[] {
  const problems: string[] = [];
  for (const o of objects) {
    const Model = MODELS[`${o.apiVersion}/${o.kind}`];
    if (!Model) {
      problems.push(`${o.kind} ${o.metadata.name}: no schema for ${o.apiVersion} ${o.kind}`);
      continue;
    }
    try {
      new Model(structuredClone(o) as never).validate();
    } catch (err) {
      problems.push(`${o.kind} ${o.metadata.name}: ${(err as Error).message}`);
    }
  }
  return problems;
}

function flag(args: string[], name: string): string | undefined {
  for (const [i, a] of args.entries()) {
    if (a.startsWith(`${name}=`)) return a.slice(name.length + 1);
    if (a === name) return args[i + 1];
  }
  return undefined;
}

/** The fleet-level checks; returns what is wrong, empty when nothing is. */
function fleetProblems(objects: KubeObject[]): string[] {
  const problems: string[] = [];
  const byKind = (kind: string) => objects.filter((o) => o.kind === kind) as Json[];
  const deployments = byKind('Deployment');
  const names = (kind: string) => new Set(byKind(kind).map((o) => o.metadata.name));

  for (const d of deployments) {
    const pod = d.spec.template.spec;
    for (const c of pod.containers as Json[]) {
      const where = `${d.metadata.name}/${c.name}`;
      const image = String(c.image);
      const tag = image.includes('@') ? 'digest' : /:([^/:]+)$/.exec(image)?.[1];
      if (!tag || tag === 'latest') problems.push(`${where}: image ${image} is not pinned (no tag or latest)`);
      const ports = (c.ports ?? []) as Json[];
      for (const probe of ['readinessProbe', 'livenessProbe']) {
        const port = c[probe]?.httpGet?.port;
        if (port === undefined) continue;
        if (!ports.some((p) => p.name === port || p.containerPort === port))
          problems.push(`${where}: ${probe} port ${port} is not a declared container port`);
      }
      for (const ref of (c.envFrom ?? []) as Json[]) {
        if (ref.secretRef && !names('Secret').has(ref.secretRef.name))
          problems.push(`${where}: envFrom Secret ${ref.secretRef.name} does not exist`);
        if (ref.configMapRef && !names('ConfigMap').has(ref.configMapRef.name))
          problems.push(`${where}: envFrom ConfigMap ${ref.configMapRef.name} does not exist`);
      }
    }
    for (const v of (pod.volumes ?? []) as Json[]) {
      if (v.secret && !names('Secret').has(v.secret.secretName))
        problems.push(`${d.metadata.name}: volume Secret ${v.secret.secretName} does not exist`);
      if (v.persistentVolumeClaim && !names('PersistentVolumeClaim').has(v.persistentVolumeClaim.claimName))
        problems.push(`${d.metadata.name}: claim ${v.persistentVolumeClaim.claimName} does not exist`);
    }
  }

  // GPU pools: the Deployments running `msb worker`
  const served = new Map<string, string>(); // queue -> deployment
  const workers = deployments.filter((d) => (d.spec.template.spec.containers as Json[])[0]?.args?.[0] === 'worker');
  for (const d of workers) {
    const name = d.metadata.name as string;
    const pod = d.spec.template.spec;
    const c = pod.containers[0] as Json;
    const grace = Number(flag(c.args, '--grace') ?? 30);
    if (!(pod.terminationGracePeriodSeconds > grace))
      problems.push(
        `${name}: terminationGracePeriodSeconds ${pod.terminationGracePeriodSeconds} is not longer than --grace ${grace}`,
      );
    if (String(c.resources?.limits?.['nvidia.com/gpu']) !== '1')
      problems.push(`${name}: limits nvidia.com/gpu is not 1`);
    if (c.readinessProbe?.httpGet?.path !== '/healthz')
      problems.push(`${name}: readiness is not the worker's /healthz`);
    const metricsPort = Number(flag(c.args, '--metrics-port') ?? 0);
    if (!(c.ports ?? []).some((p: Json) => p.containerPort === metricsPort))
      problems.push(`${name}: --metrics-port ${metricsPort} is not a container port`);
    const product = pod.nodeSelector?.['nvidia.com/gpu.product'];
    const cc = COMPUTE_CAPABILITY[product];
    const trt = /-trt(\d+\.\d+)/.exec(String(c.image))?.[1];
    if (!cc) problems.push(`${name}: nodeSelector nvidia.com/gpu.product ${product} is not a known GPU`);
    if (!trt) problems.push(`${name}: image ${c.image} does not say its TensorRT (-trtX.Y tag)`);
    const queue = d.metadata.annotations?.['msb.dev/queue'];
    if (cc && trt) {
      const expected = targetQueue({ tensorrt: trt, gpu: cc });
      if (queue !== expected)
        problems.push(`${name}: annotation msb.dev/queue ${queue}, but this pool serves ${expected}`);
    }
    if (queue) served.set(queue, name);
  }

  for (const so of byKind('ScaledObject')) {
    const name = so.metadata.name as string;
    const target = so.spec.scaleTargetRef?.name;
    const targetDeployment = deployments.find((d) => d.metadata.name === target);
    if (!targetDeployment) problems.push(`${name}: scaleTargetRef ${target} is not a Deployment here`);
    if (so.spec.minReplicaCount !== 0) problems.push(`${name}: minReplicaCount is not 0 (pools scale to zero)`);
    for (const t of so.spec.triggers as Json[]) {
      if (t.type !== 'prometheus') {
        problems.push(`${name}: trigger ${t.type}; pools scale on msb_queue_backlog through the prometheus scaler`);
        continue;
      }
      const query = String(t.metadata?.query);
      if (!query.includes('msb_queue_backlog')) problems.push(`${name}: query does not read msb_queue_backlog`);
      const queues = [...query.matchAll(/queue="([^"]+)"/g)].map((m) => m[1] as string);
      if (queues.length === 0) problems.push(`${name}: query names no queue`);
      for (const q of queues) {
        if (!served.has(q)) problems.push(`${name}: query reads queue ${q}, which no worker serves`);
        else if (targetDeployment && served.get(q) !== target)
          problems.push(`${name}: query reads queue ${q} of ${served.get(q)}, but scales ${target}`);
      }
    }
  }

  for (const svc of byKind('Service')) {
    const sel = svc.spec.selector as Record<string, string>;
    const pods = deployments.filter((d) =>
      Object.entries(sel).every(([k, v]) => d.spec.template.metadata?.labels?.[k] === v),
    );
    if (pods.length === 0) problems.push(`Service ${svc.metadata.name}: selects no Deployment's pods`);
    for (const p of svc.spec.ports as Json[])
      if (
        typeof p.targetPort === 'string' &&
        !pods.some((d) =>
          (d.spec.template.spec.containers as Json[]).some((c) =>
            (c.ports ?? []).some((cp: Json) => cp.name === p.targetPort),
          ),
        )
      )
        problems.push(`Service ${svc.metadata.name}: targetPort ${p.targetPort} is no container port`);
  }

  // Triton reads the store msb writes: the same MSB_STORE, an s3:// URI
  const config = byKind('ConfigMap').find((c) => c.data?.MSB_STORE);
  if (!config || !String(config.data.MSB_STORE).startsWith('s3://'))
    problems.push('no ConfigMap with an s3:// MSB_STORE');
  for (const d of deployments) {
    const c = (d.spec.template.spec.containers as Json[])[0] as Json;
    if (c.command?.[0] !== 'tritonserver') continue;
    const args = c.args as string[];
    if (flag(args, '--model-repository') !== '$(MSB_STORE)')
      problems.push(`${d.metadata.name}: --model-repository is not the store msb writes ($(MSB_STORE))`);
    if (!['poll', 'explicit'].includes(String(flag(args, '--model-control-mode'))))
      problems.push(`${d.metadata.name}: --model-control-mode is neither poll nor explicit`);
  }
  return problems;
}

async function problemsOf(dir: string): Promise<string[]> {
  const objects = await renderKustomization(dir);
  return [...schemaProblems(objects), ...fleetProblems(objects)];
}

for (const overlay of OVERLAYS) {
  test(`${overlay} renders and every object validates`, async () => {
    const objects = await renderKustomization(path.join(ROOT, overlay));
    assert.ok(objects.length >= 6, `${overlay} renders ${objects.length} objects`);
    assert.deepEqual(await problemsOf(path.join(ROOT, overlay)), []);
  });
}

test('two-pools: an A100 and an L4 pool, each scaled by its own ScaledObject on its own queue', async () => {
  const objects = (await renderKustomization(path.join(ROOT, 'overlays/two-pools'))) as Json[];
  const workers = objects.filter((o) => o.kind === 'Deployment' && o.metadata.name.startsWith('msb-worker-'));
  assert.deepEqual(
    workers.map((w) => [w.metadata.name, w.metadata.annotations['msb.dev/queue'], w.spec.template.spec.nodeSelector]),
    [
      ['msb-worker-a100', 'msb-trt10.8-sm80', { 'nvidia.com/gpu.product': 'NVIDIA-A100-SXM4-80GB' }],
      ['msb-worker-l4', 'msb-trt10.8-sm89', { 'nvidia.com/gpu.product': 'NVIDIA-L4' }],
    ],
  );
  // pool labels reach the selector, so the two pools' pods are never one Deployment's
  assert.deepEqual(
    workers.map((w) => w.spec.selector.matchLabels['msb.dev/pool']),
    ['a100', 'l4'],
  );
  const scaled = objects.filter((o) => o.kind === 'ScaledObject');
  assert.deepEqual(
    scaled.map((s) => [s.metadata.name, s.spec.scaleTargetRef.name, s.metadata.namespace]),
    [
      ['msb-worker-a100', 'msb-worker-a100', 'msb'],
      ['msb-worker-l4', 'msb-worker-l4', 'msb'],
    ],
  );
  assert.match(scaled[1]?.spec.triggers[0].metadata.query, /msb_queue_backlog\{queue="msb-trt10\.8-sm89"\}/);
});

/** A temp copy of deploy/kubernetes with `file` edited by `edit`, rendered and checked. */
async function brokenCopy(file: string, edit: (text: string) => string): Promise<() => Promise<string[]>> {
  const dir = await tempDir('msb-deploy-');
  await cp(ROOT, dir, { recursive: true });
  const target = path.join(dir, file);
  const before = await readFile(target, 'utf8');
  const after = edit(before);
  assert.notEqual(after, before, `the edit of ${file} changed nothing`);
  await writeFile(target, after);
  return () => problemsOf(path.join(dir, 'overlays/two-pools'));
}

test('a broken overlay fails: each check catches its own breakage', async (t) => {
  const cases: [string, string, (s: string) => string, RegExp][] = [
    [
      'grace longer than the pod',
      'pool/worker.yaml',
      (s) => s.replace('--grace=900', '--grace=1200'),
      /not longer than --grace 1200/,
    ],
    [
      'a ScaledObject on a queue no worker serves',
      'overlays/two-pools/l4/scaledobject.yaml',
      (s) => s.replaceAll('msb-trt10.8-sm89', 'msb-trt10.8-sm86'),
      /queue msb-trt10\.8-sm86, which no worker serves/,
    ],
    [
      'a ScaledObject on a missing Deployment',
      'overlays/two-pools/a100/scaledobject.yaml',
      (s) => s.replace('name: msb-worker-a100', 'name: msb-worker-a10'),
      /scaleTargetRef msb-worker-a10 is not a Deployment/,
    ],
    [
      'the wrong GPU for the queue',
      'overlays/two-pools/l4/worker.yaml',
      (s) => s.replace('NVIDIA-L4', 'NVIDIA-H100-80GB-HBM3'),
      /annotation msb.dev\/queue msb-trt10\.8-sm89, but this pool serves msb-trt10\.8-sm90/,
    ],
    [
      'a latest image',
      'pool/kustomization.yaml',
      (s) => s.replace('newTag: 0.1.0-trt10.8', 'newTag: latest'),
      /not pinned/,
    ],
    [
      'a readiness probe on an undeclared port',
      'pool/worker.yaml',
      (s) =>
        s.replace(/readinessProbe:\n(\s+)httpGet:\n(\s+)path: \/healthz\n(\s+)port: ops/, (m) =>
          m.replace('port: ops', 'port: metrics'),
        ),
      /readinessProbe port metrics is not a declared container port/,
    ],
    [
      'a schema error',
      'pool/worker.yaml',
      (s) => s.replace('containerPort: 9400', 'containerPort: "ops"'),
      /containerPort must be integer/,
    ],
    [
      'a KEDA schema error',
      'pool/scaledobject.yaml',
      (s) => s.replace('minReplicaCount: 0', 'minReplicaCount: none'),
      /minReplicaCount/,
    ],
  ];
  for (const [name, file, edit, expected] of cases)
    await t.test(name, async () => {
      const problems = await (await brokenCopy(file, edit))();
      assert.ok(
        problems.some((p) => expected.test(p)),
        `expected a problem matching ${expected}, got: ${problems.join('; ') || 'none'}`,
      );
    });
});

test('the renderer refuses what it does not implement, and patches that hit nothing', async (t) => {
  const cases: [string, string, (s: string) => string, string, RegExp][] = [
    [
      'a configMapGenerator',
      'overlays/two-pools/kustomization.yaml',
      (s) => `${s}configMapGenerator:\n  - name: x\n    literals: [a=b]\n`,
      'MSB_DEPLOY_UNSUPPORTED',
      /configMapGenerator' is not implemented/,
    ],
    [
      'a JSON6902 patch with a target',
      'overlays/two-pools/l4/kustomization.yaml',
      (s) => s.replace('  - path: worker.yaml', '  - path: worker.yaml\n    target:\n      kind: Deployment'),
      'MSB_DEPLOY_UNSUPPORTED',
      /patch field\(s\) target not implemented/,
    ],
    [
      'a patch for a missing object',
      'overlays/two-pools/a100/worker.yaml',
      (s) => s.replace('name: msb-worker\n', 'name: msb-wroker\n'),
      'MSB_DEPLOY_NO_TARGET',
      /patch for Deployment msb-wroker matches no resource/,
    ],
    [
      'a missing resource',
      'overlays/two-pools/kustomization.yaml',
      (s) => s.replace('  - l4\n', '  - l40\n'),
      'MSB_DEPLOY_READ',
      /resource l40 not found/,
    ],
  ];
  for (const [name, file, edit, code, message] of cases)
    await t.test(name, async () => {
      const check = await brokenCopy(file, edit);
      await assert.rejects(check, (err) => isMsbError(err, code) && message.test((err as Error).message));
    });
});
