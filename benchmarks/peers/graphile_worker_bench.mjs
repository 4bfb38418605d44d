// The peer measurement of the PostgreSQL issue: graphile-worker draining N
// no-op jobs on the same server flowgate-bench uses. The jobs are added
// first (1000 per call), then a worker drains them: end to end is first add
// to last completion, processing is worker start to last completion.
//
//   npm install graphile-worker@0.18.0 pg      (in an empty directory)
//   node benchmarks/peers/graphile_worker_bench.mjs URL [N=20000] [batched|default]
//
// URL: an empty PostgreSQL database. `batched` (the default) uses
// graphile-worker's local queue and batched completion; `default` its
// out-of-the-box settings.
import { createRequire } from "node:module";
import path from "node:path";

const require = createRequire(path.join(process.cwd(), "noop.js"));
const { run, makeWorkerUtils } = require("graphile-worker");

const url = process.argv[2];
const n = Number(process.argv[3] ?? 20000);
const mode = process.argv[4] ?? "batched";
if (!url || !(n > 0) || !["batched", "default"].includes(mode)) {
  console.error("usage: node graphile_worker_bench.mjs URL [N] [batched|default]");
  process.exit(2);
}

const utils = await makeWorkerUtils({ connectionString: url });
await utils.migrate();
const t0 = performance.now();
for (let i = 0; i < n; i += 1000) {
  const specs = [];
  for (let k = i; k < Math.min(n, i + 1000); ++k) {
    specs.push({ identifier: "noop", payload: { k } });
  }
  await utils.addJobs(specs);
}
let done = 0;
let finish;
const finished = new Promise((resolve) => (finish = resolve));
const worker =
  mode === "batched"
    ? { concurrentJobs: 24, localQueue: { size: 500 }, completeJobBatchDelay: 0, failJobBatchDelay: 0 }
    : {};
const started = performance.now();
const runner = await run({
  connectionString: url,
  noHandleSignals: true,
  pollInterval: 200,
  preset: { worker },
  taskList: {
    noop: async () => {
      done += 1;
      if (done === n) finish();
    },
  },
});
await finished;
const t1 = performance.now();
await runner.stop();
await utils.release();
const s = (ms) => ms / 1000;
console.log(`graphile-worker ${mode}: ${n} jobs`);
console.log(`  end to end   ${(n / s(t1 - t0)).toFixed(0)} jobs/s (${s(t1 - t0).toFixed(2)} s)`);
console.log(`  processing   ${(n / s(t1 - started)).toFixed(0)} jobs/s (${s(t1 - started).toFixed(2)} s)`);
console.log(`  peak RSS     ${(process.resourceUsage().maxRSS / 1024).toFixed(1)} MB`);
