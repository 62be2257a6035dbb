'use strict';
// The GPU check (test/gpu/run.sh runs it on a machine with an NVIDIA GPU; docs/tensorrt.md "On a real GPU"): the
// addon built against TensorRT MAJOR's headers, NVIDIA's real lean runtime from PyPI, the machine's real CUDA driver.
const path = require('node:path');
const addon = require(path.resolve(process.argv[2]));
const settle = (h) =>
  h.promise.then(
    (v) => ({ ok: true, v }),
    (e) => ({ ok: false, code: e.code, message: e.message }),
  );
(async () => {
  const out = {};
  out.status = addon.status();
  out.devices = addon.cudaDevices();
  const v = out.status.compiledVersion || [10, 16, 0];
  const plan = Buffer.alloc(4096, 0xab);
  plan.write('ftrt', 0, 'latin1');
  plan[8] = 240;
  [v[0], v[1], v[2]].forEach((x, i) => {
    plan[24 + i] = x;
  });
  const events = [];
  let t = Date.now();
  out.garbagePlan = await settle(addon.inspectEngine(plan, (e) => events.push(e)));
  out.garbagePlanMs = Date.now() - t;
  out.garbageLogs = events
    .filter((e) => e.type === 'log')
    .map((e) => `${e.severity}: ${e.message}`)
    .slice(0, 6);
  out.emptyPlan = await settle(addon.inspectEngine(new Uint8Array(0), () => {}));
  out.truncatedPlan = await settle(addon.inspectEngine(plan.subarray(0, 32), () => {}));
  t = Date.now();
  const many = await Promise.all(Array.from({ length: 32 }, () => settle(addon.inspectEngine(plan, () => {}))));
  out.concurrent32 = {
    ms: Date.now() - t,
    codes: Object.fromEntries(
      [...new Set(many.map((r) => r.code || 'ok'))].map((c) => [c, many.filter((r) => (r.code || 'ok') === c).length]),
    ),
  };
  const onnx = Buffer.from([0x08, 0x07]); // an ONNX ModelProto with ir_version 7 and no graph
  out.build = await settle(
    addon.buildEngine(
      {
        onnxBytes: onnx,
        profiles: [],
        precision: [],
        memoryPools: [],
        versionCompatible: false,
        hardwareCompatibility: 'none',
        optimizationLevel: 3,
        maxAuxStreams: 0,
      },
      () => {},
    ),
  );
  out.rssMiB = Math.round(process.memoryUsage().rss / 1048576);
  console.log(JSON.stringify(out, (_k, x) => (typeof x === 'bigint' ? String(x) : x), 1));
})().catch((e) => {
  console.log('CHECK FAILED', e?.stack);
  process.exit(1);
});
