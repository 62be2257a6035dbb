/**
 * What Triton at one release, and a fleet of GPUs, can load: the rules of issue 24, in one place. Every function here
 * is pure: callers (store validate, publish, `msb config check`, the job worker and `msb serve`) read the facts (a
 * plan's header and msb's record of it, an ONNX model's opsets, a config's `cc_model_filenames`) and report what
 * comes back, so the commands cannot disagree.
 *
 * The TensorRT rules and their sources (docs/release.md has them with links):
 * - A plan is by default loadable only by the TensorRT version that built it: "By default, TensorRT engines are
 *   compatible only with the version of TensorRT used to build them" (TensorRT developer guide, Version
 *   Compatibility); the standard runtime compares major, minor, patch and build. The header holds major.minor.patch
 *   (bytes 24..26, see src/inspect/plan.ts), so those three are compared.
 * - A version-compatible plan (BuilderFlag::kVERSION_COMPATIBLE, TensorRT >= 8.6) is loadable by the same or a later
 *   TensorRT, through the lean runtime embedded in it (the runtime must allow engine host code); never by an earlier
 *   one. Across a major version the guide allows it but APIs removed at the boundary may be missing: a warning.
 *   Nothing in the header says a plan is version-compatible: only msb's record of the build does.
 * - A hardware-compatible plan (HardwareCompatibilityLevel::kAMPERE_PLUS) runs on any GPU of compute capability
 *   >= 8.0; any other plan only on the compute capability it was built for. The header does not say which: msb's
 *   record does (`computeCapability`, `buildOptions`).
 * Unknown (a null in the table, a plan whose header or record does not say) is a warning, never an error.
 */
import { ReleaseError } from './errors.js';
import { checkOnnxOpset, releases, type TritonRelease, tritonRelease } from './table.js';

/** One thing Triton at the release (or a GPU of the fleet) would refuse (`error`) or that cannot be told (`warning`). */
export interface ReleaseProblem {
  /** Stable id: `release-tensorrt`, `release-tensorrt-unknown`, `release-onnx-opset`, `gpu-plan`, … */
  rule: string;
  severity: 'error' | 'warning';
  message: string;
}

/** The environment variable naming the release when no flag does. */
// A template literal: test/errors.test.ts reads every quoted 'MSB_…' as an error code.
export const TRITON_RELEASE_ENV = `MSB_TRITON_RELEASE`;

/** The release named `name`, or `MSB_RELEASE_UNKNOWN` listing the ones the table holds. */
export function resolveRelease(name: string, from = '--triton'): TritonRelease {
  const found = tritonRelease(name.trim());
  if (found) return found;
  const known = releases().map((r) => r.release);
  throw new ReleaseError(
    'MSB_RELEASE_UNKNOWN',
    `${from} ${JSON.stringify(name)} is not a Triton release msb knows; known: ${known.join(', ')}`,
    { release: name, known },
  );
}

/** Where the release checked against came from. */
export type ReleaseOrigin = 'flag' | 'env' | 'store';

/**
 * The release to check against: the flag, else the environment variable `MSB_TRITON_RELEASE`, else the store's
 * recorded default; undefined when none names one (no release checks). An empty value counts as not given.
 */
export function chooseRelease(given: {
  flag?: string | undefined;
  env?: string | undefined;
  store?: string | undefined;
}): { release: TritonRelease; from: ReleaseOrigin } | undefined {
  if (given.flag) return { release: resolveRelease(given.flag, '--triton'), from: 'flag' };
  if (given.env) return { release: resolveRelease(given.env, TRITON_RELEASE_ENV), from: 'env' };
  if (given.store) return { release: resolveRelease(given.store, "the store's default release"), from: 'store' };
  return undefined;
}

/** `--gpus 8.0,8.6,8.9`: the fleet's compute capabilities, sorted, without repeats. */
export function parseComputeCapabilities(text: string): string[] {
  const items = text.split(',').map((s) => s.trim());
  const bad = items.filter((s) => !/^\d{1,2}\.\d$/.test(s));
  if (items.length === 0 || bad.length > 0) {
    throw new ReleaseError(
      'MSB_RELEASE_BAD_GPUS',
      `--gpus takes the fleet's compute capabilities, comma-separated (e.g. 8.0,8.6,8.9), got ${JSON.stringify(text)}`,
      { gpus: text },
    );
  }
  return [...new Set(items)].sort((a, b) => Number(a) - Number(b));
}

/** What is known of one plan: its header's TensorRT version and what msb's record says of its build. */
export interface PlanFacts {
  /** "major.minor.patch" from the header; undefined when it does not tell (before TensorRT 8.6, or not a plan). */
  tensorrt?: string;
  /** Compute capability it was built for (msb's record). */
  computeCapability?: string;
  /** Built with kVERSION_COMPATIBLE (msb's record); undefined: not recorded. */
  versionCompatible?: boolean;
  /** Built with kAMPERE_PLUS (msb's record); undefined: not recorded. */
  hardwareCompatible?: boolean;
}

/**
 * The facts msb's plan record (`<plan>.msb.json`, parsed JSON of any shape) gives: the built-for compute capability
 * and the compatibility flags of the build (`buildOptions.versionCompatible`; `buildOptions.hardwareCompatibility`
 * of `msb tensorrt build`, or a job's `buildOptions.target.gpu` "ampere+"). Fields it lacks stay undefined.
 */
export function planRecordFacts(record: unknown): Omit<PlanFacts, 'tensorrt'> {
  if (!record || typeof record !== 'object') return {};
  const r = record as { computeCapability?: unknown; buildOptions?: Record<string, unknown> };
  const facts: Omit<PlanFacts, 'tensorrt'> = {};
  const opts = r.buildOptions && typeof r.buildOptions === 'object' ? r.buildOptions : undefined;
  const target = opts?.target as { gpu?: unknown } | undefined;
  const hardware = opts?.hardwareCompatibility === 'ampere+' || target?.gpu === 'ampere+';
  if (hardware) facts.hardwareCompatible = true;
  else if (opts) facts.hardwareCompatible = false;
  if (typeof r.computeCapability === 'string' && /^\d{1,2}\.\d$/.test(r.computeCapability) && !hardware)
    facts.computeCapability = r.computeCapability;
  if (opts && typeof opts.versionCompatible === 'boolean') facts.versionCompatible = opts.versionCompatible;
  else if (opts) facts.versionCompatible = false;
  return facts;
}

/** A plan's facts from its header's TensorRT version (`readPlanHeader`) and msb's record of it (parsed JSON, if any). */
export function planFacts(headerTensorrt: string | undefined, record: unknown): PlanFacts {
  return { ...(headerTensorrt !== undefined ? { tensorrt: headerTensorrt } : {}), ...planRecordFacts(record) };
}

const triple = (v: string) => v.split('.').slice(0, 3).map(Number);
function compare(a: number[], b: number[]): number {
  for (let i = 0; i < 3; i++) {
    const d = (a[i] ?? 0) - (b[i] ?? 0);
    if (d !== 0) return d;
  }
  return 0;
}

/** Whether the TensorRT Triton ships at `release` deserializes the plan (see the module comment for the rule). */
export function checkPlanForRelease(release: TritonRelease, plan: PlanFacts): ReleaseProblem[] {
  const at = `Triton ${release.release}`;
  if (release.tensorrt === null) {
    return [
      {
        rule: 'release-tensorrt-unknown',
        severity: 'warning',
        message: `the TensorRT version of ${at} is unknown (no source read gives it): plan built by TensorRT ${plan.tensorrt ?? '(unknown)'} not checked`,
      },
    ];
  }
  if (plan.tensorrt === undefined) {
    return [
      {
        rule: 'release-tensorrt-unknown',
        severity: 'warning',
        message: `the plan's header does not say which TensorRT built it (before 8.6?); ${at} ships TensorRT ${release.tensorrt}`,
      },
    ];
  }
  const built = triple(plan.tensorrt);
  const runtime = triple(release.tensorrt);
  const order = compare(built, runtime);
  if (order === 0) return [];
  const ships = `${at} ships TensorRT ${release.tensorrt}`;
  if (plan.versionCompatible) {
    if (order > 0) {
      return [
        {
          rule: 'release-tensorrt',
          severity: 'error',
          message: `plan built by TensorRT ${plan.tensorrt} (version-compatible) cannot be loaded by an earlier TensorRT: ${ships}`,
        },
      ];
    }
    if (built[0] !== runtime[0]) {
      return [
        {
          rule: 'release-tensorrt-major',
          severity: 'warning',
          message: `plan built by TensorRT ${plan.tensorrt} (version-compatible) under TensorRT ${release.tensorrt} (${at}): across a major version, APIs removed at the boundary may be missing`,
        },
      ];
    }
    return [];
  }
  return [
    {
      rule: 'release-tensorrt',
      severity: 'error',
      message: `plan built by TensorRT ${plan.tensorrt}, but ${ships}: a plan loads only in the TensorRT that built it (unless built version-compatible, which msb's record does not say); rebuild it for ${release.tensorrt}`,
    },
  ];
}

/** The ai.onnx opset of an ONNX signature's `opsets` metadata ("ai.onnx:17,com.microsoft:1"), if it names one. */
export function onnxOpsetOf(opsets: string | undefined): number | undefined {
  for (const item of (opsets ?? '').split(',')) {
    const [domain, version] = item.split(':');
    if ((domain === 'ai.onnx' || domain === '') && version !== undefined && /^\d+$/.test(version))
      return Number(version);
  }
  return undefined;
}

/** Whether the ONNX Runtime Triton ships at `release` reads the model's ai.onnx opset (`checkOnnxOpset`). */
export function checkOnnxForRelease(release: TritonRelease, opset: number | undefined): ReleaseProblem[] {
  if (opset === undefined) return [];
  const found = checkOnnxOpset(release, opset);
  if (found.level === 'ok') return [];
  return [
    {
      rule: found.level === 'error' ? 'release-onnx-opset' : 'release-onnx-opset-unknown',
      severity: found.level,
      message: found.message,
    },
  ];
}

/**
 * Whether each GPU of the fleet has a plan it can load in one version of a TensorRT model. Triton's TensorRT backend
 * opens `cc_model_filenames[<the GPU's compute capability>]` when the config has that key, else the default model
 * file; `facts(file)` says what is known of a file of the version (undefined: no such file, which other rules report).
 */
export function checkPlansForGpus(
  gpus: readonly string[],
  defaultFile: string | undefined,
  ccModelFilenames: Readonly<Record<string, string>>,
  facts: (file: string) => PlanFacts | undefined,
): ReleaseProblem[] {
  const problems: ReleaseProblem[] = [];
  for (const cc of gpus) {
    const file = ccModelFilenames[cc] ?? defaultFile;
    const f = file === undefined ? undefined : facts(file);
    if (file === undefined || f === undefined) {
      problems.push({
        rule: 'gpu-plan',
        severity: 'error',
        message: `no plan for GPUs of compute capability ${cc}: cc_model_filenames has no "${cc}" and ${file ?? 'no default model file'} is not there`,
      });
      continue;
    }
    if (f.hardwareCompatible) {
      if (Number(cc) < 8) {
        problems.push({
          rule: 'gpu-plan',
          severity: 'error',
          message: `${file} is hardware-compatible (Ampere and later, compute capability >= 8.0): GPUs of compute capability ${cc} cannot load it`,
        });
      }
      continue;
    }
    if (f.computeCapability === undefined) {
      problems.push({
        rule: 'gpu-plan-unknown',
        severity: 'warning',
        message: `${file}: which compute capability it was built for is unknown (a plan's header does not say; msb's record is missing): GPUs of compute capability ${cc} not checked`,
      });
    } else if (f.computeCapability !== cc && f.hardwareCompatible === undefined) {
      // A record without build options (an inspect job's) names the GPU that read the plan, not how it was built:
      // it may be hardware-compatible.
      problems.push({
        rule: 'gpu-plan-unknown',
        severity: 'warning',
        message: `${file} loads on compute capability ${f.computeCapability}; msb's record does not say whether it is hardware-compatible: GPUs of compute capability ${cc} not checked`,
      });
    } else if (f.computeCapability !== cc) {
      problems.push({
        rule: 'gpu-plan',
        severity: 'error',
        message: `${file} was built for compute capability ${f.computeCapability}; GPUs of compute capability ${cc} cannot load it (add cc_model_filenames { key: "${cc}" … } or build it hardware-compatible)`,
      });
    }
  }
  return problems;
}

/** TensorRT "major.minor" of a release, for job targets; `MSB_RELEASE_TENSORRT_UNKNOWN` when no source gives it. */
export function releaseTensorrt(release: TritonRelease): string {
  if (release.tensorrt === null) {
    throw new ReleaseError(
      'MSB_RELEASE_TENSORRT_UNKNOWN',
      `the TensorRT version of Triton ${release.release} is unknown (no source read gives it): name the target as TENSORRT/GPU, e.g. 10.8/8.6`,
      { release: release.release },
    );
  }
  return release.tensorrt.split('.').slice(0, 2).join('.');
}

/**
 * A build job's TensorRT target against the release checked: equal major.minor, or `MSB_RELEASE_TARGET_MISMATCH`.
 * An unknown release TensorRT is a warning (returned), never an error.
 */
export function checkBuildTarget(release: TritonRelease, tensorrt: string): ReleaseProblem[] {
  if (release.tensorrt === null) {
    return [
      {
        rule: 'release-tensorrt-unknown',
        severity: 'warning',
        message: `the TensorRT version of Triton ${release.release} is unknown: build target TensorRT ${tensorrt} not checked`,
      },
    ];
  }
  const want = releaseTensorrt(release);
  if (want !== tensorrt) {
    throw new ReleaseError(
      'MSB_RELEASE_TARGET_MISMATCH',
      `build target TensorRT ${tensorrt} is not the TensorRT of Triton ${release.release} (${release.tensorrt}): use --target triton:${release.release}/GPU or ${want}/GPU`,
      { release: release.release, target: tensorrt, tensorrt: release.tensorrt },
    );
  }
  return [];
}
