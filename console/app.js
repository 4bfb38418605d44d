// The flowgate console: a page over the node's HTTP API (docs/openapi.yaml),
// with the API key the user enters (kept in this tab's sessionStorage only).
// Every value from the store is put in the page as text, never as markup.
"use strict";

const state = {
  key: sessionStorage.getItem("flowgate.key") || "",
  tenant: sessionStorage.getItem("flowgate.tenant") || "",
};

// -- DOM helpers ---------------------------------------------------------------

function h(tag, attrs, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k.startsWith("on")) el.addEventListener(k.slice(2), v);
    else if (k === "className") el.className = v;
    else if (k === "style") el.style.cssText = v; // CSSOM: allowed by the page's CSP
    else el.setAttribute(k, v === true ? "" : v);
  }
  for (const c of children.flat(Infinity)) {
    if (c === undefined || c === null || c === false) continue;
    el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return el;
}

function show(...nodes) {
  const main = document.getElementById("main");
  main.replaceChildren(...nodes.flat(Infinity).filter((n) => n !== null && n !== undefined));
}

function facts(pairs) {
  return h("dl", { className: "facts" },
    pairs.filter((p) => p).map(([k, v]) => [h("dt", {}, k), h("dd", {}, v)]));
}

function badge(text, cls) {
  return h("span", { className: "badge " + (cls || text) }, text);
}

function errorBox(r) {
  const e = r && r.data && r.data.error;
  const text = e && typeof e === "object" ? `${e.code}: ${e.message}` : `HTTP ${r.status}`;
  return h("div", { className: "error", role: "alert" }, text);
}

function when(t) {
  return !t || t === "-" ? "-" : t.replace("T", " ").replace("Z", " UTC");
}

function duration(ms) {
  if (ms < 0) return "now";
  const d = Math.floor(ms / 86400000);
  const hr = Math.floor((ms % 86400000) / 3600000);
  const min = Math.floor((ms % 3600000) / 60000);
  if (d > 0) return `${d} d ${hr} h`;
  if (hr > 0) return `${hr} h ${min} min`;
  return `${min} min`;
}

function json(v) {
  return typeof v === "string" ? v : JSON.stringify(v, null, 2);
}

// -- the API -------------------------------------------------------------------

/// Thrown once the node refused the key: the view stops, the sign-in shows.
class SignedOut extends Error {}

async function api(method, path, body) {
  const headers = { Authorization: "Bearer " + state.key };
  if (body !== undefined) headers["Content-Type"] = "application/json";
  let res;
  try {
    res = await fetch(path, {
      method, headers, body: body === undefined ? undefined : JSON.stringify(body),
    });
  } catch (err) {
    return { status: 0, ok: false, data: { error: { code: "unreachable", message: String(err) } } };
  }
  const text = await res.text();
  let data = null;
  try { data = text ? JSON.parse(text) : null; } catch (_) { data = text; }
  if (res.status === 401) {
    forget("The node refused the key: " + ((data && data.error && data.error.message) || "401"));
    throw new SignedOut();
  }
  return { status: res.status, ok: res.ok, data };
}

const quotaCache = new Map();
async function quotaOf(tenant) {
  if (!quotaCache.has(tenant)) {
    quotaCache.set(tenant, api("GET", `/v1/tenants/${encodeURIComponent(tenant)}/quota`));
  }
  return quotaCache.get(tenant);
}

// -- key -----------------------------------------------------------------------

let loginMessage = "";

function forget(message) {
  state.key = "";
  sessionStorage.removeItem("flowgate.key");
  loginMessage = message || "";
  route();
}

function login() {
  const key = h("input", { type: "password", name: "key", autocomplete: "off", required: true });
  const tenant = h("input", { type: "text", name: "tenant", value: state.tenant,
                              placeholder: "only for a tenant key" });
  show(h("section", { className: "card login" },
    h("h1", {}, "Sign in with an API key"),
    h("p", { className: "muted" },
      "An operator key sees every tenant; a tenant key sees its own tenant only. ",
      "Create one with 'flowgate key create'. The key stays in this browser tab."),
    loginMessage ? h("div", { className: "error", role: "alert" }, loginMessage) : null,
    h("form", {
      id: "login",
      onsubmit: (ev) => {
        ev.preventDefault();
        state.key = key.value.trim();
        state.tenant = tenant.value.trim();
        sessionStorage.setItem("flowgate.key", state.key);
        sessionStorage.setItem("flowgate.tenant", state.tenant);
        loginMessage = "";
        quotaCache.clear();
        route();
      },
    },
      h("label", {}, "API key", key),
      h("label", {}, "Tenant (for a tenant key)", tenant),
      h("button", { className: "primary", type: "submit" }, "Open console"))));
  key.focus();
}

// -- tenants -------------------------------------------------------------------

async function tenantList() {
  const all = await api("GET", "/v1/tenants");
  if (all.ok) return { tenants: all.data };
  if (all.status === 403 && state.tenant) {
    const one = await api("GET", `/v1/tenants/${encodeURIComponent(state.tenant)}`);
    if (one.ok) return { tenants: [one.data] };
    return { error: one };
  }
  if (all.status === 403) {
    return { note: "This is a tenant key: sign in again and name its tenant to see it here." };
  }
  return { error: all };
}

function quotaPanel(q) {
  const unlimited = q.limit === "unlimited" || q.limit < 0;
  const pct = unlimited || q.limit === 0 ? 0 : Math.min(100, (100 * q.used) / q.limit);
  const cls = unlimited ? "" : q.remaining === 0 ? "full" : pct >= 80 ? "high" : "";
  const resets = Date.parse(q.period_end) - Date.now();
  return h("div", { className: "quota", "data-tenant": q.tenant },
    h("div", { className: "quota-used" },
      unlimited ? `${q.used} step attempts used (unlimited)`
                : `${q.used} of ${q.limit} step attempts used`),
    unlimited ? null : h("div", { className: "bar " + cls, role: "progressbar",
                                  "aria-valuenow": q.used, "aria-valuemin": 0,
                                  "aria-valuemax": q.limit },
                         h("div", { style: `width: ${pct.toFixed(1)}%` })),
    facts([
      ["Remaining", unlimited ? "unlimited" : String(q.remaining)],
      ["Period", `${when(q.period_start)} → ${when(q.period_end)}`],
      ["Resets", isNaN(resets) ? "-" : `in ${duration(resets)}`],
      ["Tier", q.tier || "-"],
      ["Period from", q.period_source || "-"],
      ["Limit from", q.limit_source || "-"],
    ]),
    q.warnings && q.warnings.length
      ? h("ul", { className: "warnings" }, q.warnings.map((w) => h("li", {}, w))) : null);
}

async function tenantsView() {
  show(h("h1", {}, "Tenants"), h("p", { className: "muted" }, "Loading…"));
  const list = await tenantList();
  if (list.error) return show(h("h1", {}, "Tenants"), errorBox(list.error));
  if (list.note) return show(h("h1", {}, "Tenants"), h("p", {}, list.note));
  const cards = await Promise.all(list.tenants.map(async (t) => {
    const [q, s] = await Promise.all([
      quotaOf(t.id),
      api("GET", `/v1/tenants/${encodeURIComponent(t.id)}/stats`),
    ]);
    const st = s.ok && s.data.length ? s.data[0] : null;
    const runsLink = (status, text) =>
      h("a", { href: `#/runs?tenant=${encodeURIComponent(t.id)}&status=${status}` }, text);
    return h("section", { className: "card tenant", "data-tenant": t.id },
      h("h3", {}, t.id, t.name && t.name !== t.id ? h("span", { className: "muted" }, t.name) : null,
        badge(t.tier || "no tier", "tier")),
      q.ok ? quotaPanel(q.data) : errorBox(q),
      st ? facts([
        ["Running", st.limit > 0 ? `${st.running} of ${st.limit} permits` : `${st.running} (no limit)`],
        ["Queued", runsLink("pending", String(st.queued))],
        ["Waiting", runsLink("waiting", String(st.waiting))],
        ["Paused on quota", h("span", { className: "paused-count" },
                              runsLink("waiting&paused=quota", String(st.paused_on_quota)))],
        ["Admission", st.admission],
        ["Refused", `${st.rejected.tenant_at_limit} at limit, ${st.rejected.soft_limit} soft, ` +
                    `${st.rejected.hard_limit} hard`],
      ]) : errorBox(s));
  }));
  show(h("h1", {}, "Tenants"), h("div", { className: "cards" }, cards));
}

// -- runs ----------------------------------------------------------------------

const statuses = ["", "pending", "running", "waiting", "completed", "failed", "canceled"];

function params() {
  const i = location.hash.indexOf("?");
  return new URLSearchParams(i < 0 ? "" : location.hash.slice(i + 1));
}

function pauseNote(run, q) {
  if (!q || !q.ok) return "paused on quota";
  const d = q.data;
  return `paused on quota: ${d.used} of ${d.limit} used, period ${when(d.period_start)} → ` +
         `${when(d.period_end)}`;
}

async function runsView() {
  const p = params();
  const tenant = p.get("tenant") || "";
  const status = (p.get("status") || "").toLowerCase();
  const onlyPaused = p.get("paused") === "quota";
  const after = p.get("after") || "";
  const tenantIn = h("input", { name: "tenant", value: tenant, placeholder: "any" });
  const statusIn = h("select", { name: "status" },
    statuses.map((s) => h("option", { value: s, selected: s === status }, s || "any")));
  const pausedIn = h("input", { type: "checkbox", name: "paused", checked: onlyPaused });
  const form = h("form", {
    className: "filters",
    onsubmit: (ev) => {
      ev.preventDefault();
      const q = new URLSearchParams();
      if (tenantIn.value.trim()) q.set("tenant", tenantIn.value.trim());
      if (pausedIn.checked) { q.set("status", "waiting"); q.set("paused", "quota"); }
      else if (statusIn.value) q.set("status", statusIn.value);
      location.hash = "#/runs" + (q.toString() ? "?" + q : "");
    },
  },
    h("label", {}, "Tenant", tenantIn),
    h("label", {}, "Status", statusIn),
    h("label", { className: "inline" }, "Paused on quota", pausedIn),
    h("button", { className: "primary", type: "submit" }, "Filter"));
  show(h("h1", {}, "Runs"), form, h("p", { className: "muted" }, "Loading…"));
  const q = new URLSearchParams({ limit: "50" });
  if (tenant) q.set("tenant", tenant);
  if (status) q.set("status", status);
  if (after) q.set("after", after);
  const r = await api("GET", "/v1/runs?" + q);
  if (!r.ok) return show(h("h1", {}, "Runs"), form, errorBox(r));
  let runs = r.data;
  const fullPage = runs.length === 50;
  const last = runs.length ? runs[runs.length - 1].run : 0;
  if (onlyPaused) runs = runs.filter((x) => x.wait_reason === "quota");
  const rows = await Promise.all(runs.map(async (x) => {
    const paused = x.status === "WAITING" && x.wait_reason === "quota";
    const note = paused ? pauseNote(x, await quotaOf(x.tenant)) : "";
    return h("tr", { className: paused ? "quota-paused" : "", "data-run": x.run },
      h("td", {}, h("a", { href: `#/runs/${x.run}` }, String(x.run))),
      h("td", {}, x.tenant),
      h("td", {}, x.queue, h("span", { className: "muted" }, ` v${x.config_version}`)),
      h("td", {}, badge(x.status)),
      h("td", {}, paused ? [badge("quota"), " ", h("span", { className: "pause-note" }, note)]
                         : x.wait_reason !== "none" ? x.wait_reason : ""),
      h("td", {}, when(x.created_at)),
      h("td", {}, when(x.updated_at)));
  }));
  const next = new URLSearchParams(p);
  next.set("after", String(last));
  show(h("h1", {}, "Runs"), form,
    rows.length
      ? h("table", { id: "runs" },
          h("thead", {}, h("tr", {}, ["Run", "Tenant", "Queue", "Status", "Waiting on", "Created",
                                      "Updated"].map((c) => h("th", {}, c)))),
          h("tbody", {}, rows))
      : h("p", { className: "muted" }, "No runs match."),
    fullPage ? h("p", {}, h("a", { href: "#/runs?" + next }, "Next page →")) : null);
}

// -- one run -------------------------------------------------------------------

function eventClass(type) {
  if (/fail|cut_off|canceled|nondetermin/.test(type)) return "failed";
  if (/quota/.test(type)) return "quota";
  return "";
}

async function resumeButton(run, area) {
  const button = h("button", { className: "primary", id: "resume", type: "button" }, "Resume run");
  button.addEventListener("click", async () => {
    button.disabled = true;
    const r = await api("POST", `/v1/runs/${run.run}/resume`);
    quotaCache.delete(run.tenant);
    if (r.ok && r.data.resumed) {
      area.replaceChildren(h("div", { className: "notice", id: "resume-result" },
        "Resumed: the run continues with the quota now available."));
      setTimeout(route, 1500);
      return;
    }
    button.disabled = false;
    if (r.status === 409 && r.data && r.data.resumed === false) {
      const d = r.data;
      area.replaceChildren(button, h("div", { className: "error", id: "resume-result", role: "alert" },
        `Not resumed: the quota is used up (${d.error}). ${d.used} of ${d.limit} step attempts ` +
        `used in the period ${when(d.period_start)} → ${when(d.period_end)}. ` +
        "Raise the tenant's limit (a subscription) or wait for the next period."));
      return;
    }
    area.replaceChildren(button, errorBox(r));
  });
  return button;
}

async function runView(id) {
  show(h("h1", {}, `Run ${id}`), h("p", { className: "muted" }, "Loading…"));
  const [r, hist, att] = await Promise.all([
    api("GET", `/v1/runs/${id}`),
    api("GET", `/v1/runs/${id}/history`),
    api("GET", `/v1/runs/${id}/attempts`),
  ]);
  if (!r.ok) return show(h("h1", {}, `Run ${id}`), errorBox(r));
  const x = r.data;
  const paused = x.status === "WAITING" && x.wait_reason === "quota";
  let pausePanel = null;
  if (paused) {
    const q = await quotaOf(x.tenant);
    const area = h("div", { id: "resume-area" });
    area.append(await resumeButton(x, area));
    pausePanel = h("section", { className: "card pause", id: "quota-pause" },
      h("h2", {}, "Paused on quota"),
      h("p", {}, `The run stopped before step '${x.node_path || "-"}' because tenant ` +
                 `'${x.tenant}' used its step attempts for the period. A scanner resumes it when ` +
                 "quota is available again; an operator can resume it now."),
      q.ok ? quotaPanel(q.data) : errorBox(q),
      area);
  }
  const timeline = hist.ok
    ? h("ol", { className: "timeline", id: "history" }, hist.data.map((e) =>
        h("li", { className: eventClass(e.type) },
          h("span", { className: "type" }, e.type), " ",
          e.node_path ? h("code", {}, e.node_path) : null,
          e.attempt ? h("span", { className: "muted" }, ` attempt ${e.attempt}`) : null,
          h("span", { className: "muted" }, ` · #${e.seq} · ${when(e.at)}`),
          e.payload && JSON.stringify(e.payload) !== "{}"
            ? h("details", {}, h("summary", {}, "payload"), h("pre", {}, json(e.payload)))
            : null)))
    : errorBox(hist);
  const attempts = att.ok
    ? att.data.length
      ? h("table", { id: "attempts" },
          h("thead", {}, h("tr", {}, ["Step", "Attempt", "Status", "Node", "Lease epoch", "Started",
                                      "Finished", "Billing period", "Error"].map((c) => h("th", {}, c)))),
          h("tbody", {}, att.data.map((a) => h("tr", {},
            h("td", {}, h("code", {}, a.step)), h("td", {}, String(a.attempt)),
            h("td", {}, badge(a.status, a.status === "completed" ? "COMPLETED"
                                        : a.status === "started" ? "RUNNING" : "FAILED")),
            h("td", {}, a.node_id || "-"), h("td", {}, String(a.lease_epoch)),
            h("td", {}, when(a.started_at)), h("td", {}, when(a.finished_at)),
            h("td", {}, `${when(a.period_start)} → ${when(a.period_end)}`),
            h("td", {}, a.error_type ? `${a.error_type}: ${a.error_message}` : "")))))
      : h("p", { className: "muted" }, "No step attempt was counted for this run.")
    : errorBox(att);
  show(
    h("h1", {}, `Run ${x.run} `, badge(x.status)),
    pausePanel,
    h("section", { className: "card", id: "run-facts" }, facts([
      ["Tenant", h("a", { href: `#/runs?tenant=${encodeURIComponent(x.tenant)}` }, x.tenant)],
      ["Pipeline", `${x.queue} version ${x.config_version}` +
                   (x.config_tenant !== x.tenant ? ` (of tenant ${x.config_tenant})` : "")],
      ["Checksum", x.config_checksum],
      x.status === "WAITING" ? ["Waiting on", x.wait_reason] : null,
      ["At step", x.node_path || "-"],
      ["Lease owner", x.lease_owner || "none"],
      ["Lease epoch", String(x.lease_epoch)],
      ["Lease expires", when(x.lease_expires_at)],
      ["Created", when(x.created_at)],
      ["Started", when(x.started_at)],
      ["Finished", when(x.finished_at)],
      x.idempotency_key ? ["Idempotency key", x.idempotency_key] : null,
      x.error_type ? ["Error", `${x.error_type}: ${x.error_message}`] : null,
    ]),
      h("h2", {}, "Input"), h("pre", {}, json(x.input)),
      x.output !== null && x.output !== "" ? [h("h2", {}, "Output"), h("pre", {}, json(x.output))]
                                           : null),
    h("h2", {}, "Step attempts (usage ledger)"), attempts,
    h("h2", {}, "History"), timeline);
}

// -- nodes ---------------------------------------------------------------------

async function nodesView() {
  show(h("h1", {}, "Nodes"), h("p", { className: "muted" }, "Loading…"));
  const r = await api("GET", "/v1/nodes");
  if (r.status === 403) {
    return show(h("h1", {}, "Nodes"), h("p", {}, "Nodes are shown to operator keys only."));
  }
  if (!r.ok) return show(h("h1", {}, "Nodes"), errorBox(r));
  show(h("h1", {}, "Nodes"), h("table", { id: "nodes" },
    h("thead", {}, h("tr", {}, ["Node", "State", "Incarnation", "Host", "Pid", "Address",
                                "Held runs", "Tenants held", "Tenants owned", "Heartbeat",
                                "Link"]
                                .map((c) => h("th", {}, c)))),
    h("tbody", {}, r.data.nodes.map((n) => h("tr", { "data-node": n.node_id },
      h("td", {}, n.node_id), h("td", {}, badge(n.state)), h("td", {}, String(n.incarnation)),
      h("td", {}, n.host), h("td", {}, String(n.pid)), h("td", {}, n.address || "-"),
      h("td", {}, n.held_runs > 0
        ? h("a", { href: `#/runs?status=running` }, String(n.held_runs)) : "0"),
      h("td", {}, n.held_tenants.length
        ? n.held_tenants.map((t, i) => [i ? ", " : "",
            h("a", { href: `#/runs?tenant=${encodeURIComponent(t)}&status=running` }, t)])
        : "-"),
      h("td", {}, n.owned_tenants.length ? n.owned_tenants.join(", ") : "-"),
      h("td", {}, n.state === "stopped" ? `stopped ${when(n.stopped_at)}`
                                         : `${Math.round(n.heartbeat_age_ms / 1000)} s ago`),
      h("td", {}, n.link || "-"))))));
}

// -- routing -------------------------------------------------------------------

async function route() {
  document.getElementById("signout").hidden = !state.key;
  document.getElementById("who").textContent =
    state.key ? (state.tenant ? `tenant key · ${state.tenant}` : "API key") : "";
  if (!state.key) return login();
  const hash = location.hash || "#/tenants";
  const path = hash.slice(1).split("?")[0];
  const view = path.split("/")[1] || "tenants";
  for (const a of document.querySelectorAll("#nav a")) {
    a.classList.toggle("active", a.dataset.view === view);
  }
  quotaCache.clear();
  const m = path.match(/^\/runs\/(\d+)$/);
  try {
    if (m) return await runView(m[1]);
    if (view === "runs") return await runsView();
    if (view === "nodes") return await nodesView();
    return await tenantsView();
  } catch (err) {
    if (!(err instanceof SignedOut)) throw err;
  }
}

window.addEventListener("hashchange", route);
window.addEventListener("DOMContentLoaded", () => {
  document.getElementById("signout").addEventListener("click", () => forget(""));
  route();
});
