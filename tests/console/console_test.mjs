// Drives the web console of a live `flowgate serve --http` node in Debian's
// Chromium (headless, through playwright-core), against data it seeds over
// the HTTP API. Started by tests/tools/http_test.cpp (suite `console`),
// which starts the node and makes the keys:
//
//   FLOWGATE_URL         the node's API, e.g. http://127.0.0.1:41234
//   FLOWGATE_KEY         an operator key
//   FLOWGATE_TENANT_KEY  a key of tenant 'acme'
//   SCREENSHOTS          where the screenshots go (kept as test artifacts)
//
// Exits 0 when every check held; otherwise prints what failed and exits 1.
import { chromium } from "playwright-core";
import fs from "node:fs";
import path from "node:path";

const url = process.env.FLOWGATE_URL;
const key = process.env.FLOWGATE_KEY;
const tenantKey = process.env.FLOWGATE_TENANT_KEY;
const shots = process.env.SCREENSHOTS;
if (!url || !key || !tenantKey || !shots) {
  console.error("FLOWGATE_URL, FLOWGATE_KEY, FLOWGATE_TENANT_KEY and SCREENSHOTS are required");
  process.exit(2);
}
fs.mkdirSync(shots, { recursive: true });

let failures = 0;
function check(ok, what) {
  console.log(`${ok ? "ok  " : "FAIL"} ${what}`);
  if (!ok) failures += 1;
}

async function call(method, p, body, k = key) {
  const res = await fetch(url + p, {
    method,
    headers: { Authorization: "Bearer " + k, "Content-Type": "application/json" },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await res.text();
  let data = null;
  try { data = JSON.parse(text); } catch (_) { data = text; }
  if (res.status >= 400 && res.status !== 409) {
    throw new Error(`${method} ${p}: ${res.status} ${text}`);
  }
  return data;
}

function month() {
  const now = new Date();
  const start = new Date(Date.UTC(now.getUTCFullYear(), now.getUTCMonth(), 1));
  const end = new Date(Date.UTC(now.getUTCFullYear(), now.getUTCMonth() + 1, 1));
  const iso = (d) => d.toISOString().replace(".000Z", "Z");
  return [iso(start), iso(end)];
}

async function subscribe(limit) {
  const [start, end] = month();
  await call("POST", "/v1/tenants/acme/subscriptions", {
    id: "sub_console", status: "active", current_period_start: start, current_period_end: end,
    price_metadata: { workflow_step_limit: String(limit) },
  });
}

async function waitFor(run, until) {
  const r = await call("GET", `/v1/runs/${run}/wait?timeout_ms=30000&until=${until}`);
  return r;
}

// -- seed: acme (quota 2 per month) and beta (unlimited) -------------------------

const oneStep = { name: "one", root: { sequence: [{ id: "work", activity: "echo",
                                                    input: { $ref: "/input" } }] } };
await call("PUT", "/v1/tenants/acme/queues/q/versions/1", oneStep);
await call("PUT", "/v1/tenants/beta/queues/q/versions/1", oneStep);
await call("PUT", "/v1/tenants/beta/queues/bad/versions/1",
           { name: "bad", root: { sequence: [{ id: "boom", activity: "fail", input: { times: 5 },
                                               retry: { max_attempts: 2, initial_interval_ms: 10 } }] } });
await subscribe(2);
const done = [];
for (let i = 0; i < 2; i += 1) {
  const r = await call("POST", "/v1/runs", { tenant: "acme", queue: "q", input: { n: i } });
  done.push(r.run);
  check((await waitFor(r.run, "finished")).status === "COMPLETED", `acme run ${r.run} completed`);
}
const pausedRun = (await call("POST", "/v1/runs", {
  tenant: "acme", queue: "q", input: { note: "<img src=x id=injected onerror=alert(1)>" },
})).run;
const paused = await waitFor(pausedRun, "waiting");
check(paused.status === "WAITING" && paused.wait_reason === "quota",
      `run ${pausedRun} paused on quota (${paused.status}/${paused.wait_reason})`);
const betaRun = (await call("POST", "/v1/runs", { tenant: "beta", queue: "q", input: {} })).run;
await waitFor(betaRun, "finished");
const failedRun = (await call("POST", "/v1/runs", { tenant: "beta", queue: "bad", input: {} })).run;
check((await waitFor(failedRun, "finished")).status === "FAILED", `beta run ${failedRun} failed`);

// -- the browser ---------------------------------------------------------------

const browser = await chromium.launch({
  executablePath: "/usr/bin/chromium",
  args: ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync"],
  timeout: 60000,
});
const pageErrors = [];
async function newPage() {
  const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
  const page = await context.newPage();
  page.setDefaultTimeout(20000);
  page.on("pageerror", (e) => pageErrors.push(String(e)));
  // Chromium reports every 4xx answer as a console error; the refusals the
  // pages show (401, 403, 404, 409) are expected. Anything else (a script
  // error, a blocked resource, a CSP violation) fails the test.
  page.on("console", (m) => {
    if (m.type() === "error" && !/the server responded with a status of 4\d\d/.test(m.text())) {
      pageErrors.push(m.text());
    }
  });
  page.on("dialog", (d) => { pageErrors.push("dialog opened: " + d.message()); d.dismiss(); });
  return page;
}
async function shot(page, name) {
  await page.screenshot({ path: path.join(shots, name), fullPage: true });
  console.log(`screenshot ${path.join(shots, name)}`);
}
async function signIn(page, k, tenant = "") {
  await page.goto(url + "/");
  await page.fill("input[name=key]", k);
  await page.fill("input[name=tenant]", tenant);
  await page.click("#login button[type=submit]");
}

try {
  const page = await newPage();
  await page.goto(url + "/");
  await page.waitForSelector("#login");
  await shot(page, "01-sign-in.png");

  // A wrong key is refused with the node's answer.
  await signIn(page, "fgk_wrong_key");
  await page.waitForSelector(".login .error");
  check((await page.textContent(".login .error")).includes("refused"), "a wrong key is refused");

  // Tenants: acme's quota is used up.
  await signIn(page, key);
  const acme = page.locator(".tenant[data-tenant=acme]");
  await acme.waitFor();
  await page.locator(".tenant[data-tenant=beta]").waitFor();
  const used = await acme.locator(".quota-used").textContent();
  check(used.includes("2 of 2 step attempts used"), `acme quota shows '${used}'`);
  check(await acme.locator("[role=progressbar]").getAttribute("aria-valuenow") === "2",
        "acme's bar is at 2");
  const acmeText = await acme.textContent();
  check(/Remaining\s*0/.test(acmeText), "acme has 0 remaining");
  check(/Resets\s*in /.test(acmeText), "acme shows when its period resets");
  check(/Period from\s*subscription sub_console/.test(acmeText), "acme's period is its subscription's");
  check(/Limit from\s*price metadata/.test(acmeText), "acme's limit comes from the price metadata");
  check(acmeText.includes(month()[0].slice(0, 10).replace("T", " ")),
        "acme's period starts at the month's start");
  check((await acme.locator(".paused-count").textContent()).trim() === "1",
        "acme has one run paused on quota");
  const beta = await page.locator(".tenant[data-tenant=beta]").textContent();
  check(beta.includes("(unlimited)") || beta.includes("step attempts used"), "beta's quota renders");
  await shot(page, "02-tenants.png");

  // Runs: the paused run is marked with its quota.
  await acme.locator(".paused-count a").click();
  const row = page.locator(`#runs tr[data-run="${pausedRun}"]`);
  await row.waitFor();
  check(await page.locator("#runs tbody tr").count() === 1, "the paused filter lists one run");
  const note = await row.locator(".pause-note").textContent();
  check(note.includes("2 of 2 used"), `the paused run is marked: '${note}'`);
  await shot(page, "03-runs-paused-on-quota.png");
  await page.goto(url + "/#/runs?tenant=beta");
  await page.locator(`#runs tr[data-run="${failedRun}"]`).waitFor();
  check((await page.locator(`#runs tr[data-run="${failedRun}"]`).textContent()).includes("FAILED"),
        "beta's failed run is listed as FAILED");
  await page.goto(url + "/#/runs");
  await page.locator("#runs").waitFor();
  check(await page.locator("#runs tbody tr").count() === 5, "all five runs are listed");
  await shot(page, "04-runs.png");

  // The paused run: its quota pause, and a resume refused with the answer.
  await page.goto(url + `/#/runs/${pausedRun}`);
  await page.locator("#quota-pause").waitFor();
  check(await page.locator("#injected").count() === 0, "a run's input is shown as text");
  check((await page.locator("#run-facts pre").first().textContent()).includes("<img"),
        "the input's markup is visible as text");
  await page.click("#resume");
  await page.locator("#resume-result").waitFor();
  const refused = await page.textContent("#resume-result");
  check(refused.includes("Not resumed") && refused.includes("2 of 2"),
        `resume refused while the quota is used up: '${refused}'`);
  check((await call("GET", `/v1/runs/${pausedRun}`)).status === "WAITING", "the run still waits");
  await shot(page, "05-run-resume-refused.png");

  // Quota raised: the resume goes through and the run completes.
  await subscribe(10);
  await page.click("#resume");
  await page.waitForFunction(
    () => (document.querySelector("#resume-result") || {}).textContent?.includes("Resumed"));
  check(true, "resume accepted once the quota is raised");
  const finished = await waitFor(pausedRun, "finished");
  check(finished.status === "COMPLETED", `the resumed run completed (${finished.status})`);
  await page.goto(url + `/#/runs/${done[0]}`);
  await page.goto(url + `/#/runs/${pausedRun}`);
  await page.locator("#attempts").waitFor();
  check((await page.textContent("h1")).includes("COMPLETED"), "the run page shows COMPLETED");
  check(await page.locator("#quota-pause").count() === 0, "no quota pause once completed");
  const attempts = await page.locator("#attempts tbody tr").count();
  check(attempts === 1, `its ledger shows ${attempts} attempt(s)`);
  check((await page.textContent("#attempts")).includes("completed"), "the attempt completed");
  const events = await page.locator("#history li").count();
  check(events >= 4, `its history timeline has ${events} events`);
  const timeline = await page.textContent("#history");
  check(timeline.includes("step_completed") && timeline.includes("run_completed"),
        "the timeline shows the step and the run completing");
  check(!(await page.textContent("main")).includes("null"), "no 'null' on the page");
  await shot(page, "06-run-completed.png");

  // A failed run's attempts carry their errors.
  await page.goto(url + `/#/runs/${failedRun}`);
  await page.locator("#attempts").waitFor();
  check(await page.locator("#attempts tbody tr").count() === 2, "the failed run had 2 attempts");
  await shot(page, "07-run-failed.png");

  // Nodes: this node, live, with its incarnation.
  await page.goto(url + "/#/nodes");
  await page.locator("#nodes tr[data-node=console]").waitFor();
  check((await page.textContent("#nodes tr[data-node=console]")).includes("live"),
        "the serving node is live");
  await shot(page, "08-nodes.png");

  // Tenants after the raise: 3 of 10.
  await page.goto(url + "/#/tenants");
  await acme.waitFor();
  check((await acme.locator(".quota-used").textContent()).includes("3 of 10"),
        "acme's quota shows 3 of 10 after the raise");

  // A tenant key: its own tenant only.
  const mine = await newPage();
  await signIn(mine, tenantKey, "acme");
  await mine.locator(".tenant[data-tenant=acme]").waitFor();
  check(await mine.locator(".tenant").count() === 1, "a tenant key sees one tenant");
  await mine.goto(url + "/#/runs");
  await mine.locator("#runs").waitFor();
  const rows = await mine.locator("#runs tbody tr").count();
  check(rows === 3, `a tenant key lists its own 3 runs (${rows})`);
  await mine.goto(url + `/#/runs/${betaRun}`);
  await mine.locator(".error").waitFor();
  check((await mine.textContent(".error")).includes(`run ${betaRun} does not exist`),
        "another tenant's run is not found");
  await mine.goto(url + "/#/nodes");
  await mine.getByText("operator keys only").waitFor();
  await shot(mine, "09-tenant-key.png");
} catch (err) {
  check(false, "browser session: " + (err && err.stack ? err.stack : err));
} finally {
  await browser.close();
}
check(pageErrors.length === 0, `no page errors (${pageErrors.join(" | ")})`);
if (failures > 0) {
  console.error(`${failures} check(s) failed`);
  process.exit(1);
}
console.log("console: every check held");
