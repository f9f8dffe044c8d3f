// backupd dashboard: plain JavaScript, no build step, no dependency. Every figure comes from the
// public API under /api/backup, called with the token kept in sessionStorage (this tab only).
// The DOM is built with createElement/textContent only: nothing the API returns is parsed as HTML.
"use strict";

const API = "/api/backup";
const S = { token: sessionStorage.getItem("backupd.token") || "", me: null, zone: "UTC", timer: null, watch: {} };

// ---------- small helpers ----------
function h(tag, attrs, ...kids) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === null || v === undefined || v === false) continue;
    if (k.startsWith("on")) el.addEventListener(k.slice(2), v);
    else if (k === "text") el.textContent = v;
    else el.setAttribute(k, v === true ? "" : v);
  }
  for (const kid of kids.flat()) {
    if (kid === null || kid === undefined || kid === false) continue;
    el.append(kid instanceof Node ? kid : document.createTextNode(String(kid)));
  }
  return el;
}
const SVG = "http:" + "//www.w3.org/2000/svg"; // the SVG namespace (a name, never fetched)
function s(tag, attrs, ...kids) {
  const el = document.createElementNS(SVG, tag);
  for (const [k, v] of Object.entries(attrs || {})) el.setAttribute(k, v);
  for (const kid of kids) el.append(kid);
  return el;
}
const $ = (sel) => document.querySelector(sel);
// replaceChildren without the null/false placeholders of optional parts.
function fill(el, ...kids) {
  el.replaceChildren(...kids.flat().filter((k) => k !== null && k !== undefined && k !== false));
}

function bytes(n) {
  if (n === null || n === undefined) return "–";
  const units = ["B", "KiB", "MiB", "GiB", "TiB"];
  let i = 0;
  let v = Number(n);
  while (v >= 1024 && i < units.length - 1) { v /= 1024; i++; }
  return (i === 0 ? v : v.toFixed(v < 10 ? 2 : 1)) + " " + units[i];
}
function duration(ms) {
  if (ms === null || ms === undefined) return "–";
  if (ms < 1000) return ms + " ms";
  const sec = ms / 1000;
  if (sec < 60) return sec.toFixed(1) + " s";
  if (sec < 3600) return Math.floor(sec / 60) + " min " + Math.round(sec % 60) + " s";
  return Math.floor(sec / 3600) + " h " + Math.round((sec % 3600) / 60) + " min";
}
function pct(x) { return x === null || x === undefined ? "–" : (x * 100).toFixed(1) + " %"; }
let fmtCache = null;
function when(t) {
  if (!t) return "–";
  const d = new Date(t);
  if (isNaN(d)) return String(t);
  if (!fmtCache || fmtCache.zone !== S.zone) {
    fmtCache = { zone: S.zone, f: new Intl.DateTimeFormat("en-CA", { timeZone: S.zone, year: "numeric", month: "2-digit", day: "2-digit", hour: "2-digit", minute: "2-digit", second: "2-digit", hour12: false }) };
  }
  return fmtCache.f.format(d).replace(",", "");
}
function toast(msg, bad) {
  const t = $("#toast");
  t.textContent = msg;
  t.className = "toast show" + (bad ? " bad" : "");
  clearTimeout(toast.t);
  toast.t = setTimeout(() => { t.className = "toast"; }, 5000);
}

class ApiError extends Error {
  constructor(status, body) {
    super((body && body.error && body.error.message) || "HTTP " + status);
    this.status = status;
    this.body = body;
  }
}
async function api(method, path, body, extra) {
  const headers = Object.assign({}, extra || {});
  if (S.token) headers["Authorization"] = "Bearer " + S.token;
  const init = { method, headers };
  if (body !== undefined) {
    headers["Content-Type"] = "application/json";
    init.body = JSON.stringify(body);
  }
  const res = await fetch(API + path, init);
  const type = res.headers.get("Content-Type") || "";
  const data = type.includes("json") ? await res.json() : await res.text();
  if (!res.ok) {
    if (res.status === 401) { logout(data && data.error && data.error.message); }
    throw new ApiError(res.status, data);
  }
  return data;
}
// Run an action from a control; report the outcome, refresh the page.
async function act(label, fn) {
  try {
    await fn();
    toast(label + ": done");
  } catch (e) {
    toast(label + ": " + e.message + (e.body && e.body.error && e.body.error.field ? " (" + e.body.error.field + ")" : ""), true);
  }
  route();
}
const can = (scope) => !!S.me && (S.me.scopes.includes(scope) || S.me.scopes.includes("admin"));

// A button shown only where the token's scope allows it.
function btn(label, scope, onclick, attrs) {
  if (scope && !can(scope)) return null;
  return h("button", Object.assign({ type: "button", onclick }, attrs || {}), label);
}
function table(head, rows, attrs) {
  return h("div", { class: "scroll" },
    h("table", attrs || {}, h("thead", {}, h("tr", {}, head.map((c) => h("th", { scope: "col" }, c)))),
      h("tbody", {}, rows)));
}
function badge(status) { return h("span", { class: "badge " + status }, status); }
function field(label, input) {
  const id = input.id || "f-" + Math.random().toString(36).slice(2);
  input.id = id;
  return h("div", { class: "field" }, h("label", { for: id }, label), input);
}

// ---------- login ----------
async function login(token) {
  S.token = token;
  // Both at once: the zone is needed for the first page's times.
  const status = api("GET", "/scheduler/status").catch(() => null);
  try {
    S.me = await api("GET", "/whoami");
  } catch (e) {
    S.token = "";
    S.me = null;
    return e.message;
  }
  if (token) sessionStorage.setItem("backupd.token", token);
  const st = await status;
  S.zone = (st && st.timezone) || "UTC";
  S.status = st;
  S.statusAt = Date.now();
  return null;
}
function logout(why) {
  sessionStorage.removeItem("backupd.token");
  S.token = "";
  S.me = null;
  showLogin(why || "");
}
function showLogin(why) {
  clearInterval(S.timer);
  $("#nav").hidden = true;
  $("#logout").hidden = true;
  $("#who").textContent = "";
  $("#page").replaceChildren();
  $("#login").hidden = false;
  $("#login-error").textContent = why || "";
  $("#token").focus();
}
function showApp() {
  $("#login").hidden = true;
  $("#nav").hidden = false;
  $("#logout").hidden = !S.token;
  const name = S.me.anonymous ? "no token (loopback)" : S.me.name;
  $("#who").textContent = name + " · " + S.me.scopes.join(", ") + " · " + S.zone;
  // Set without a hashchange: one render, not two.
  if (!location.hash) history.replaceState(null, "", "#/overview");
  route();
}

// ---------- routing ----------
const PAGES = { overview, jobs, runs, backups, backup, audit, reports, report };
function route() {
  if (!S.me) return;
  clearInterval(S.timer);
  const [name, ...args] = location.hash.replace(/^#\//, "").split("/").map(decodeURIComponent);
  const page = PAGES[name] ? name : "overview";
  for (const a of document.querySelectorAll("#nav a")) {
    if (a.dataset.page === page || (page === "backup" && a.dataset.page === "backups") || (page === "report" && a.dataset.page === "reports")) a.setAttribute("aria-current", "page");
    else a.removeAttribute("aria-current");
  }
  const root = $("#page");
  Promise.resolve(PAGES[page](root, args)).catch((e) => {
    fill(root, h("p", { class: "error", role: "alert" }, "Could not load: " + e.message));
  });
}
// Refresh a page's live part every `ms` while it is shown.
function every(ms, fn) {
  clearInterval(S.timer);
  S.timer = setInterval(fn, ms);
}

// ---------- overview ----------
function progressBar(run) {
  const p = run.progress || {};
  const done = run.status === "succeeded";
  const max = done ? 1 : (p.bytes_total || p.files_total || 0);
  const value = done ? 1 : (p.bytes_total ? p.bytes_done : p.files_done || 0);
  const bar = h("progress", { max: max || 1, value: max ? Math.min(value, max) : null, "aria-label": "progress of " + run.run_id, "data-run": run.run_id, "data-status": run.status });
  const text = done ? "done · " + bytes(run.bytes) + " · " + run.files + " files"
    : run.status !== "running" ? run.status
    : (p.phase || "starting") + " · " + bytes(p.bytes_done || 0) + (p.bytes_total ? " of " + bytes(p.bytes_total) : "") + " · " + (p.files_done || 0) + (p.files_total ? "/" + p.files_total : "") + " files";
  return h("div", { class: "progress" }, bar, h("span", {}, text));
}

function storageChart(points) {
  if (!points.length) return h("p", { class: "muted" }, "No storage recorded yet.");
  const kinds = [["full", "Full"], ["incremental", "Incremental"], ["archive", "Archive"], ["reports", "Reports"]];
  const W = 600, H = 160, pad = 4;
  const total = (p) => kinds.reduce((a, [k]) => a + p[k], 0);
  const top = Math.max(1, ...points.map(total));
  const bw = Math.min(40, (W - pad * 2) / points.length);
  const svg = s("svg", { viewBox: `0 0 ${W} ${H + 20}`, preserveAspectRatio: "xMinYMid meet", role: "img", "aria-label": "storage by kind per day, newest " + bytes(total(points[points.length - 1])), class: "chart" });
  points.forEach((p, i) => {
    let y = H;
    for (const [k] of kinds) {
      const hgt = (p[k] / top) * (H - pad);
      if (hgt > 0) {
        y -= hgt;
        const r = s("rect", { x: pad + i * bw + 1, y, width: Math.max(1, bw - 2), height: hgt, class: "k-" + k });
        r.append(s("title", {}, document.createTextNode(new Date(p.day * 86400000).toISOString().slice(0, 10) + " " + k + ": " + bytes(p[k]))));
        svg.append(r);
      }
    }
  });
  const t = s("text", { x: pad, y: H + 16, class: "axis" }, document.createTextNode("max " + bytes(top)));
  svg.append(t);
  const legend = h("p", { class: "legend" }, kinds.map(([k, n]) => h("span", { class: "key k-" + k }, n)));
  return h("div", {}, svg, legend);
}

async function overview(root) {
  // First render: the scheduler's status (the one fetched at login while it is fresh); the other
  // cards fill in as their answers arrive (a live health check may take seconds).
  const fresh = S.status && Date.now() - S.statusAt < 3000;
  const st = fresh ? S.status : await api("GET", "/scheduler/status");
  S.status = null;
  const loading = () => h("p", { class: "muted" }, "Loading…");
  const sched = h("section", { class: "card" }, h("h2", {}, "Scheduler"),
    h("p", { id: "scheduler-state", class: st.running ? "ok" : "bad" }, st.running ? "Running" : "Stopped"),
    h("p", { id: "stopped-by" }),
    h("p", {}, "Next run: " + when(st.next_run_time) + " · " + st.jobs + " jobs, " + st.paused_jobs + " paused"),
    h("p", { class: "muted" }, "Times in " + st.timezone + " · log position " + st.event_position),
    st.running ? btn("Stop scheduler", "operate", () => act("Stop", () => api("POST", "/scheduler/stop")))
      : btn("Start scheduler", "operate", () => act("Start", () => api("POST", "/scheduler/start"))));
  const rates = h("section", { class: "card" }, h("h2", {}, "Success rate"),
    h("dl", { class: "figures" },
      h("dt", {}, "24 h"), h("dd", { id: "rate-24h" }, pct(st.stats.success_rate_24h)),
      h("dt", {}, "7 d"), h("dd", { id: "rate-7d" }, pct(st.stats.success_rate_7d)),
      h("dt", {}, "All runs"), h("dd", {}, pct(st.success_rate) + " of " + st.runs.total),
      h("dt", {}, "Storage"), h("dd", {}, bytes(st.storage.bytes) + " in " + st.storage.backups + " backups")));
  const hc = h("section", { class: "card", id: "health" }, h("h2", {}, "Health"), loading());
  const inFlight = h("section", { class: "card wide", id: "in-flight" }, h("h2", {}, "Runs in flight"), loading());
  const nextRuns = h("section", { class: "card wide", id: "next-runs" }, h("h2", {}, "Next runs"), loading());
  const storage = h("section", { class: "card wide", id: "storage" }, h("h2", {}, "Storage by kind"), loading());
  fill(root, h("h1", {}, "Overview"), h("div", { class: "grid" }, sched, rates, hc, inFlight, nextRuns, storage));
  // For the time to first render (the browser test reads it).
  if (!performance.getEntriesByName("overview-rendered").length) performance.mark("overview-rendered");

  const renderFlying = (list) => {
    fill(inFlight, h("h2", {}, "Runs in flight"),
      list.length ? h("ul", { class: "flying" }, list.map((r) => h("li", {}, h("strong", {}, r.job_name || r.job_id || r.kind), " ", r.run_id, progressBar(r))))
        : h("p", { class: "muted" }, "No run in flight."));
  };
  const parts = [
    api("GET", "/runs?status=running&limit=50").then((f) => renderFlying(f.runs)),
    api("GET", "/scheduler/jobs").then((jobsList) => {
      const next = jobsList.jobs.filter((j) => j.next_run_time).sort((a, b) => new Date(a.next_run_time) - new Date(b.next_run_time)).slice(0, 8);
      fill(nextRuns, h("h2", {}, "Next runs"),
        next.length ? table(["Job", "When"], next.map((j) => h("tr", {}, h("td", {}, j.name), h("td", {}, when(j.next_run_time))))) : h("p", { class: "muted" }, "Nothing scheduled."));
    }),
    api("GET", "/state").then((state) => {
      const stopped = state.now.stopped;
      if (stopped) $("#stopped-by").textContent = "Stopped by " + stopped.actor + " at " + when(stopped.at) + (stopped.reason ? " (" + stopped.reason + ")" : "");
      fill(storage, h("h2", {}, "Storage by kind"), storageChart(state.now.storage_by_day || []));
    }),
    api("GET", "/health").catch(() => null).then((health) => {
      fill(hc, h("h2", {}, "Health"), ...(health ? [h("p", {}, badge(health.status), " checked " + when(health.checked_at) + (health.recorded ? "" : " (live)")),
        h("ul", { class: "checks" }, (health.checks || []).map((c) => h("li", {}, badge(c.status), " " + (c.name || c.check || "") + ": " + (c.reason || c.message || ""))))]
        : [h("p", { class: "muted" }, "No health check yet.")]));
    }),
  ];
  await Promise.all(parts);
  if (!performance.getEntriesByName("overview-complete").length) performance.mark("overview-complete");
  every(1000, async () => {
    try { renderFlying((await api("GET", "/runs?status=running&limit=50")).runs); } catch (_) { /* next tick */ }
  });
}

// ---------- jobs ----------
const CRON_FIELDS = ["minute", "hour", "day", "month", "day_of_week"];
function cronText(cfg) {
  if (cfg.cron) return cfg.cron;
  return CRON_FIELDS.map((f) => (cfg[f] === undefined ? (f === "minute" && cfg.hour !== undefined ? "0" : "*") : String(cfg[f]))).join(" ");
}
async function previewInto(box, jobId) {
  try {
    const p = await api("GET", "/scheduler/jobs/" + encodeURIComponent(jobId) + "/preview?count=5");
    const times = p.times || p.fire_times || p.next || [];
    fill(box, h("h3", {}, "Next fire times (" + (p.timezone || S.zone) + ")"),
      h("ol", { class: "fire-times", "data-job": jobId }, times.map((t) => h("li", {}, when(typeof t === "string" ? t : t.at)))),
      p.paused ? h("p", { class: "muted" }, "The job is paused: nothing fires until it is resumed.") : null,
      p.scheduler_running === false ? h("p", { class: "muted" }, "The scheduler is stopped.") : null);
  } catch (e) {
    fill(box, h("p", { class: "error" }, e.message));
  }
}

async function jobForm(root, job) {
  const sources = (await api("GET", "/sources").catch(() => ({ sources: [] }))).sources;
  const cfg = (job && job.backup_config) || { type: "files", options: {} };
  const opts = cfg.options || {};
  const tt = (job && job.trigger_type) || "cron";
  const tc = (job && job.trigger_config) || {};
  const name = h("input", { id: "job-name", required: true, value: job ? job.name : "" });
  if (job) name.disabled = true;
  const trigType = h("select", { id: "job-trigger-type" }, ["cron", "interval"].map((t) => h("option", { value: t, selected: t === tt }, t)));
  const cron = h("input", { id: "job-cron", value: tt === "cron" ? cronText(tc) : "0 3 * * *", spellcheck: "false", "aria-describedby": "cron-help" });
  const every_ = h("input", { id: "job-interval", type: "number", min: "1", value: tt === "interval" ? (tc.minutes || tc.hours || tc.days || tc.seconds || 1) : 60 });
  const unit = h("select", { id: "job-interval-unit" }, ["seconds", "minutes", "hours", "days"].map((u) => h("option", { value: u, selected: tt === "interval" ? tc[u] !== undefined : u === "minutes" }, u)));
  const type = h("select", { id: "job-type" }, ["files", "database", "full"].map((t) => h("option", { value: t, selected: t === cfg.type }, t)));
  const mode = h("select", { id: "job-mode" }, ["full", "incremental"].map((t) => h("option", { value: t, selected: t === (cfg.mode || "full") }, t)));
  const compression = h("select", { id: "job-compression" }, ["", "zstd", "xz", "gzip", "none"].map((t) => h("option", { value: t, selected: t === (opts.compression || "") }, t || "(default)")));
  const chosen = new Set(opts.sources || []);
  const srcBoxes = sources.map((src) => h("label", { class: "check" }, h("input", { type: "checkbox", value: src.name, checked: chosen.has(src.name), "data-source": src.name }), " " + src.name + " (" + src.kind + ")"));
  const hooks = (job && job.hooks) || {};
  const hook = (k) => h("input", { id: "job-hook-" + k, value: hooks[k] ? JSON.stringify(hooks[k]) : "", placeholder: '["cmd","arg"]', spellcheck: "false" });
  const hb = hook("before"), ha = hook("after"), hf = hook("on_failure");
  const preview = h("div", { id: "job-preview", "aria-live": "polite" });
  const live = h("div", { id: "job-live-preview", "aria-live": "polite" });
  const err = h("p", { class: "error", role: "alert" });
  const trigRows = h("div", {});
  const showTrig = () => {
    const t = trigType.value;
    fill(trigRows, t === "cron" ? field("Cron expression (min hour day month weekday)", cron)
      : h("div", { class: "row" }, field("Every", every_), field("Unit", unit)));
  };
  // The next five fire times as the operator types (the trigger parsed by the server, unsaved).
  let typing = null;
  const livePreview = () => {
    clearTimeout(typing);
    typing = setTimeout(async () => {
      const t = trigType.value;
      const cfg = t === "cron" ? { cron: cron.value.trim() } : { [unit.value]: Number(every_.value) };
      try {
        const p = await api("GET", "/scheduler/preview?" + new URLSearchParams({ trigger_type: t, trigger_config: JSON.stringify(cfg), count: "5" }));
        fill(live, h("h3", {}, "Would fire at (" + p.timezone + ")"),
          p.fire_times.length ? h("ol", { class: "fire-times live" }, p.fire_times.map((x) => h("li", {}, when(x)))) : h("p", { class: "muted" }, "Never."));
      } catch (e) {
        fill(live, h("p", { class: "error" }, e.message));
      }
    }, 250);
  };
  trigType.addEventListener("change", () => { showTrig(); livePreview(); });
  for (const el of [cron, every_, unit]) el.addEventListener("input", livePreview);
  showTrig();
  livePreview();
  const body = () => {
    const t = trigType.value;
    const trigger_config = t === "cron" ? { cron: cron.value.trim() } : { [unit.value]: Number(every_.value) };
    const options = {};
    const picked = srcBoxes.map((l) => l.querySelector("input")).filter((i) => i.checked).map((i) => i.value);
    if (picked.length) options.sources = picked;
    if (compression.value) options.compression = compression.value;
    const b = { trigger_type: t, trigger_config, backup_config: { type: type.value, mode: mode.value, options } };
    const hk = {};
    for (const [k, el] of [["before", hb], ["after", ha], ["on_failure", hf]]) {
      if (el.value.trim()) hk[k] = JSON.parse(el.value);
    }
    if (Object.keys(hk).length) b.hooks = hk;
    if (!job) b.name = name.value.trim();
    return b;
  };
  const form = h("form", { id: "job-form", class: "card" },
    h("h2", {}, job ? "Edit " + job.name : "New job"),
    field("Name", name), field("Trigger", trigType), trigRows,
    h("p", { id: "cron-help", class: "muted" }, "Times are in the scheduler's zone, " + S.zone + "."), live,
    h("div", { class: "row" }, field("What", type), field("Mode", mode), field("Compression", compression)),
    srcBoxes.length ? h("fieldset", {}, h("legend", {}, "Sources (none ticked: by category)"), srcBoxes) : null,
    h("fieldset", {}, h("legend", {}, "Hooks (argv as JSON arrays)"), field("Before", hb), field("After", ha), field("On failure", hf)),
    h("button", { type: "submit", id: "job-save" }, job ? "Save" : "Create"), err, preview);
  form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    err.textContent = "";
    try {
      const b = body();
      const saved = job
        ? await api("PUT", "/scheduler/jobs/" + encodeURIComponent(job.id), b, { "If-Match": '"' + job.version + '"' })
        : await api("POST", "/scheduler/jobs", b);
      const id = (saved.job && saved.job.id) || saved.id || (job && job.id);
      toast((job ? "Saved " : "Created ") + id);
      await previewInto(preview, id);
      if (!job) { form.querySelector("#job-save").disabled = true; }
      refreshJobList();
    } catch (e) {
      err.textContent = e.message + (e.body && e.body.error && e.body.error.field ? " (" + e.body.error.field + ")" : "");
    }
  });
  if (job) previewInto(preview, job.id);
  fill(root, form);
  name.focus();
}

let refreshJobList = () => {};
async function jobs(root, args) {
  const list = h("div", { id: "job-list" });
  const formBox = h("div", {});
  const runsBox = h("div", { id: "job-runs" });
  fill(root, h("h1", {}, "Jobs"), btn("New job", "manage", () => jobForm(formBox, null), { id: "new-job" }), formBox, runsBox, list);
  const watch = async () => {
    const ids = Object.keys(S.watch);
    if (!ids.length) return;
    const rows = [];
    for (const id of ids) {
      try {
        const r = await api("GET", "/runs/" + encodeURIComponent(id));
        rows.push(h("li", {}, h("strong", {}, r.job_name || r.job_id), " ", badge(r.status), " ", progressBar(r)));
        if (r.status !== "running" && r.status !== "queued") S.watch[id] = "done";
      } catch (_) { /* gone */ }
    }
    fill(runsBox, h("section", { class: "card" }, h("h2", {}, "Runs started here"), h("ul", { class: "flying" }, rows)));
  };
  refreshJobList = async () => {
    const data = await api("GET", "/scheduler/jobs");
    fill(list, table(["Job", "Trigger", "Next run", "Last run", "State", "Actions"], data.jobs.map((j) => h("tr", { "data-job": j.id },
      h("td", {}, h("strong", {}, j.name), h("br"), h("small", { class: "muted" }, j.id + " · " + (j.backup_mode || j.action))),
      h("td", {}, j.trigger_type + " " + (j.trigger_type === "cron" ? cronText(j.trigger_config) : JSON.stringify(j.trigger_config))),
      h("td", {}, when(j.next_run_time)),
      h("td", {}, j.last_run ? [badge(j.last_run.status), " " + when(j.last_run.started_at)] : "–"),
      h("td", {}, j.paused ? badge("paused") : j.running ? badge("running") : "active"),
      h("td", { class: "actions" },
        btn("Run now", "operate", () => act("Run " + j.name, async () => {
          const r = await api("POST", "/scheduler/jobs/" + encodeURIComponent(j.id) + "/run");
          const id = r.run_id || (r.run && r.run.run_id);
          if (id) S.watch[id] = "watch";
        }), { class: "run", "data-run-job": j.id }),
        j.running ? btn("Cancel", "operate", () => act("Cancel", () => api("POST", "/runs/" + encodeURIComponent(j.running) + "/cancel"))) : null,
        j.paused ? btn("Resume", "operate", () => act("Resume", () => api("POST", "/scheduler/jobs/" + encodeURIComponent(j.id) + "/resume")))
          : btn("Pause", "operate", () => act("Pause", () => api("POST", "/scheduler/jobs/" + encodeURIComponent(j.id) + "/pause"))),
        btn("Edit", "manage", () => jobForm(formBox, j)),
        btn("Preview", null, () => { const box = h("div", {}); fill(formBox, h("section", { class: "card" }, box)); previewInto(box, j.id); }),
        btn("Delete", "manage", () => { if (confirm("Delete job " + j.name + "?")) act("Delete", () => api("DELETE", "/scheduler/jobs/" + encodeURIComponent(j.id))); }))))));
  };
  await refreshJobList();
  await watch();
  every(1000, () => { watch(); });
  if (args[0] === "new" && can("manage")) jobForm(formBox, null);
}

// ---------- runs ----------
async function runs(root) {
  const q = new URLSearchParams(location.hash.split("?")[1] || "");
  const jobSel = h("input", { id: "runs-job", value: q.get("job_id") || "", placeholder: "job id" });
  const statusSel = h("select", { id: "runs-status" }, ["", "running", "queued", "succeeded", "failed", "interrupted", "cancelled"].map((v) => h("option", { value: v, selected: v === (q.get("status") || "") }, v || "any")));
  const kindSel = h("select", { id: "runs-kind" }, ["", "backup", "restore"].map((v) => h("option", { value: v, selected: v === (q.get("kind") || "") }, v || "any")));
  const box = h("div", {});
  const load = async () => {
    const p = new URLSearchParams();
    if (jobSel.value) p.set("job_id", jobSel.value);
    if (statusSel.value) p.set("status", statusSel.value);
    if (kindSel.value) p.set("kind", kindSel.value);
    p.set("limit", "200");
    const data = await api("GET", "/runs?" + p);
    fill(box, table(["Run", "Job", "Status", "Started", "Took", "Size", "Problems"], data.runs.map((r) => h("tr", {},
      h("td", {}, h("small", {}, r.run_id), h("br"), h("small", { class: "muted" }, r.kind + " · " + (r.reason || "") + " · " + (r.actor || ""))),
      h("td", {}, r.job_name || r.job_id || (r.paths ? "restore " + (r.target || "in place") : "")),
      h("td", {}, badge(r.status), r.status === "running" ? progressBar(r) : null),
      h("td", {}, when(r.started_at)),
      h("td", {}, duration(r.duration_ms)),
      h("td", {}, bytes(r.bytes) + " · " + r.files + " files", r.backup_id ? [h("br"), h("a", { href: "#/backup/" + encodeURIComponent(r.backup_id) }, r.backup_id)] : null),
      h("td", {}, r.error ? h("span", { class: "error" }, r.error) : null,
        r.warnings_total ? h("details", {}, h("summary", {}, r.warnings_total + " warnings"), h("ul", {}, r.warnings.map((w) => h("li", {}, w.path + ": " + w.reason)))) : null,
        r.note ? h("small", { class: "muted" }, r.note) : null,
        r.status === "running" ? btn("Cancel", "operate", () => act("Cancel", () => api("POST", "/runs/" + encodeURIComponent(r.run_id) + "/cancel"))) : null)))));
  };
  const form = h("form", { class: "filters" }, field("Job", jobSel), field("Status", statusSel), field("Kind", kindSel), h("button", { type: "submit" }, "Filter"));
  form.addEventListener("submit", (e) => { e.preventDefault(); load(); });
  fill(root, h("h1", {}, "Runs"), form, box);
  await load();
  every(2000, () => { if (box.querySelector("progress")) load(); });
}

// ---------- backups ----------
async function backups(root) {
  const data = await api("GET", "/backups?limit=500");
  fill(root, h("h1", {}, "Backups"), table(["Backup", "Job", "Kind", "Created", "Size", "Expires", "Verified", "Actions"], data.backups.map((b) => h("tr", { "data-backup": b.id },
    h("td", {}, h("a", { href: "#/backup/" + encodeURIComponent(b.id) }, b.id)),
    h("td", {}, b.job_id), h("td", {}, b.kind), h("td", {}, when(b.created_at)),
    h("td", {}, bytes(b.size)), h("td", {}, b.expires_at ? when(b.expires_at) : "never"),
    h("td", {}, b.last_verified ? badge(b.last_verified.ok ? "ok" : "failed") : "–"),
    h("td", { class: "actions" },
      btn("Verify", "operate", () => act("Verify " + b.id, () => api("POST", "/backups/" + encodeURIComponent(b.id) + "/verify"))),
      btn("Forget", "manage", () => forget(b.id)))))));
}

// Forget a backup after a confirmation; a refusal that `force` would lift (the job's newest good
// full, say) is shown and asked again, never forced silently.
function forget(id, then) {
  if (!confirm("Forget backup " + id + " and delete its files?")) return;
  act("Forget " + id, async () => {
    const path = "/backups/" + encodeURIComponent(id);
    try {
      await api("DELETE", path);
    } catch (e) {
      if (!(e.status === 409 || e.status === 422) || !/force/.test(e.message) || !confirm(e.message + "\n\nForget it anyway?")) throw e;
      await api("DELETE", path, { force: true, reason: "forgotten from the dashboard, forced" });
    }
    if (then) then();
  });
}

async function backup(root, args) {
  const id = args[0];
  const b = await api("GET", "/backups/" + encodeURIComponent(id));
  const selected = new Set();
  const count = h("span", { id: "selected-count" }, "0 selected");
  const tree = h("ul", { class: "tree", id: "tree", role: "tree" });
  const node = (e) => {
    // Ticking is for restoring: no box for a token that may not restore.
    const box = !can("restore") ? "" : h("input", { type: "checkbox", "aria-label": "select " + e.path, "data-path": e.path, onchange: (ev) => { ev.target.checked ? selected.add(e.path) : selected.delete(e.path); count.textContent = selected.size + " selected"; } });
    const li = h("li", { role: "treeitem", "data-entry": e.path });
    if (e.kind === "dir") {
      const kids = h("ul", { role: "group" });
      const open = h("button", { type: "button", class: "twisty", "aria-expanded": "false", "data-open": e.path }, "▸ " + e.name);
      open.addEventListener("click", async () => {
        if (open.getAttribute("aria-expanded") === "true") { fill(kids); open.setAttribute("aria-expanded", "false"); open.textContent = "▸ " + e.name; return; }
        open.setAttribute("aria-expanded", "true");
        open.textContent = "▾ " + e.name;
        await listInto(kids, e.path);
      });
      li.append(box, " ", open, kids);
    } else {
      li.append(box, " ", h("span", {}, e.name), h("small", { class: "muted" }, " " + e.kind + " · " + bytes(e.size) + " · " + when(e.mtime)));
    }
    return li;
  };
  const listInto = async (ul, path) => {
    let after = null;
    const items = [];
    do {
      const p = new URLSearchParams({ limit: "1000" });
      if (path) p.set("path", path);
      if (after) p.set("after", after);
      const page = await api("GET", "/backups/" + encodeURIComponent(id) + "/files?" + p);
      items.push(...page.entries);
      after = page.next;
    } while (after && items.length < 5000);
    fill(ul, ...items.map(node));
  };
  const target = h("input", { id: "restore-target", placeholder: "/absolute/directory/on/the/server", spellcheck: "false" });
  const out = h("p", { id: "restore-result", role: "status" });
  const restoreForm = can("restore") ? h("form", { class: "card", id: "restore-form" }, h("h2", {}, "Restore"),
    h("p", {}, "Restores the selected paths (none selected: everything) into a directory on the server."),
    field("Target directory", target), count, " ", h("button", { type: "submit", id: "restore-go" }, "Restore"), out) : null;
  if (restoreForm) {
    restoreForm.addEventListener("submit", async (ev) => {
      ev.preventDefault();
      out.textContent = "Restoring…";
      try {
        const body = { target: target.value.trim() };
        if (selected.size) body.paths = [...selected];
        const r = await api("POST", "/backups/" + encodeURIComponent(id) + "/restore", body);
        out.textContent = "Restored " + (r.files ?? "") + " files, " + bytes(r.bytes) + " to " + (r.target || body.target) + (r.run_id ? " (run " + r.run_id + ")" : "");
        out.className = "ok";
      } catch (e) {
        out.textContent = e.message + (e.body && e.body.error && e.body.error.field ? " (" + e.body.error.field + ")" : "");
        out.className = "error";
      }
    });
  }
  fill(root, h("h1", {}, "Backup " + id),
    h("p", {}, b.kind + " of " + b.job_id + " · " + when(b.created_at) + " · " + bytes(b.size) + (b.parent ? " · based on " + b.parent : "")),
    h("p", { class: "actions" }, btn("Verify", "operate", () => act("Verify", () => api("POST", "/backups/" + encodeURIComponent(id) + "/verify"))),
      btn("Forget", "manage", () => forget(id, () => { location.hash = "#/backups"; }))),
    h("div", { class: "grid" }, h("section", { class: "card wide" }, h("h2", {}, "Files"), tree), restoreForm));
  await listInto(tree, "");
}

// ---------- audit ----------
async function audit(root) {
  const head = await api("GET", "/events?after=0&limit=1");
  const last = head.last_position;
  const loaded = [];
  let from = Math.max(0, last - 500);
  const fJob = h("input", { id: "audit-job", placeholder: "job id" });
  const fActor = h("input", { id: "audit-actor", placeholder: "actor" });
  const fType = h("input", { id: "audit-type", placeholder: "event type", list: "event-types" });
  const fSince = h("input", { id: "audit-since", type: "datetime-local", "aria-label": "since" });
  const types = h("datalist", { id: "event-types" });
  const listBox = h("div", { id: "timeline" });
  const stateBox = h("section", { class: "card wide", id: "state-view", "aria-live": "polite" }, h("h2", {}, "The state at an event"), h("p", { class: "muted" }, "Pick an event: the schedule and catalog as they were then, next to now."));
  const more = h("button", { type: "button", id: "audit-older" }, "Load older");
  const fetchRange = async (after, upto) => {
    const out = [];
    let a = after;
    while (a < upto) {
      const page = await api("GET", "/events?after=" + a + "&limit=1000");
      if (!page.events.length) break;
      out.push(...page.events.filter((e) => e.position <= upto));
      a = page.next_after;
    }
    return out;
  };
  const jobOf = (e) => {
    const d = e.data || {};
    return d.job_id || (d.job && d.job.id) || (d.backup && d.backup.job_id) || "";
  };
  const draw = () => {
    const since = fSince.value ? new Date(fSince.value).getTime() : 0;
    const rows = loaded.filter((e) => (!fJob.value || jobOf(e).includes(fJob.value)) && (!fActor.value || (e.actor || "").includes(fActor.value))
      && (!fType.value || e.type.includes(fType.value)) && (!since || new Date(e.recorded_at).getTime() >= since)).slice().reverse().slice(0, 500);
    fill(types, ...[...new Set(loaded.map((e) => e.type))].sort().map((t) => h("option", { value: t })));
    fill(listBox, h("ol", { class: "timeline", reversed: true }, rows.map((e) => h("li", { "data-position": e.position, "data-type": e.type },
      h("span", { class: "pos" }, "#" + e.position), " ", h("strong", {}, e.type), " ", h("small", { class: "muted" }, when(e.recorded_at) + " · " + e.actor + (jobOf(e) ? " · " + jobOf(e) : "")),
      " ", h("button", { type: "button", class: "state-at", "data-state-at": e.position, onclick: () => showState(e.position) }, "State here"),
      e.data !== null ? h("details", {}, h("summary", {}, "data"), h("pre", {}, JSON.stringify(e.data, null, 1))) : null))),
      ...(from > 0 ? [more] : []));
  };
  const showState = async (pos) => {
    fill(stateBox, h("h2", {}, "The state at #" + pos), h("p", {}, "Loading…"));
    const st = await api("GET", "/state?position=" + pos);
    const nav = h("p", { class: "actions" },
      h("button", { type: "button", id: "state-prev", disabled: pos <= 0, onclick: () => showState(pos - 1) }, "◀ One event back"),
      h("button", { type: "button", id: "state-next", disabled: pos >= st.last_position, onclick: () => showState(pos + 1) }, "One event on ▶"),
      h("span", { class: "muted" }, " recorded " + when(st.recorded_at) + " · log ends at #" + st.last_position));
    fill(stateBox, h("h2", {}, "The state at #" + pos + " and now"), nav, compare(st.at, st.now));
    stateBox.scrollIntoView({ block: "nearest" });
  };
  more.addEventListener("click", async () => {
    const upto = from;
    from = Math.max(0, from - 500);
    loaded.unshift(...await fetchRange(from, upto));
    draw();
  });
  const filters = h("form", { class: "filters" }, field("Job", fJob), field("Actor", fActor), field("Type", fType), field("Since (your browser's local time)", fSince), types);
  for (const el of [fJob, fActor, fType, fSince]) el.addEventListener("input", draw);
  filters.addEventListener("submit", (e) => e.preventDefault());
  fill(root, h("h1", {}, "Audit"), h("p", { class: "muted" }, "Every change is an event in the log; the state at any position is the fold of the events up to it."),
    filters, h("div", { class: "grid audit" }, h("section", { class: "card" }, h("h2", {}, "Timeline"), listBox), stateBox));
  loaded.push(...await fetchRange(from, last));
  draw();
}

// Side by side: the state at a position and now; rows that differ are marked.
function compare(at, now) {
  const jobRow = (j) => j ? j.name + " · " + j.trigger_type + " " + (j.trigger_type === "cron" ? cronText(j.trigger_config) : JSON.stringify(j.trigger_config)) + " · v" + j.version + (j.paused ? " · paused" : "") : "—";
  const backupRow = (b) => b ? b.kind + " · " + b.job_id + " · " + bytes(b.bytes) : "—";
  const section = (title, key, a, n, show) => {
    const ids = [...new Set([...a.map((x) => x[key]), ...n.map((x) => x[key])])].sort();
    const rows = ids.map((id) => {
      const x = a.find((v) => v[key] === id), y = n.find((v) => v[key] === id);
      const l = show(x), r = show(y);
      const diff = l !== r;
      return h("tr", { class: diff ? "diff" : null, "data-id": id, "data-side-at": x ? "present" : "absent" }, h("th", { scope: "row" }, id), h("td", { class: "at" }, l), h("td", { class: "now" }, r), h("td", {}, diff ? (x ? (y ? "changed" : "gone now") : "new since") : ""));
    });
    return h("div", { "data-section": title }, h("h3", {}, title + " (" + a.length + " then, " + n.length + " now)"),
      rows.length ? table(["", "Then", "Now", ""], rows, { class: "keep" }) : h("p", { class: "muted" }, "None."));
  };
  const scalar = (label, l, r) => h("tr", { class: l !== r ? "diff" : null }, h("th", { scope: "row" }, label), h("td", { class: "at" }, l), h("td", { class: "now" }, r), h("td", {}, l !== r ? "changed" : ""));
  const runs = (m) => Object.entries(m || {}).map(([k, v]) => k + " " + v).join(", ") || "none";
  const kinds = (m) => Object.entries(m || {}).map(([k, v]) => k + " " + bytes(v)).join(", ");
  return h("div", { class: "compare" },
    table(["", "Then", "Now", ""], [
      scalar("Position", "#" + at.position, "#" + now.position),
      scalar("Scheduler", at.scheduler_running ? "running" : "stopped", now.scheduler_running ? "running" : "stopped"),
      scalar("Runs", runs(at.runs), runs(now.runs)),
      scalar("Storage", kinds(at.bytes_by_kind), kinds(now.bytes_by_kind)),
      scalar("Tokens", at.tokens.join(", ") || "none", now.tokens.join(", ") || "none"),
    ], { id: "state-summary", class: "keep" }),
    section("Jobs", "id", at.jobs, now.jobs, jobRow),
    section("Backups", "id", at.backups, now.backups, backupRow));
}

// ---------- reports ----------
// Runs per day (the scheduler's zone), succeeded above failed: the performance history.
function runsChart(runs) {
  const days = new Map();
  const dayOf = new Intl.DateTimeFormat("en-CA", { timeZone: S.zone, year: "numeric", month: "2-digit", day: "2-digit" });
  for (const r of runs) {
    if (r.status === "running" || r.status === "queued") continue;
    const d = dayOf.format(new Date(r.started_at));
    const e = days.get(d) || { ok: 0, bad: 0, ms: 0 };
    if (r.status === "succeeded") e.ok++; else e.bad++;
    e.ms += r.duration_ms || 0;
    days.set(d, e);
  }
  const list = [...days.entries()].sort().slice(-30);
  if (!list.length) return h("p", { class: "muted" }, "No finished run yet.");
  const W = 600, H = 140;
  const top = Math.max(1, ...list.map(([, e]) => e.ok + e.bad));
  const bw = Math.min(40, W / list.length);
  const svg = s("svg", { viewBox: `0 0 ${W} ${H + 20}`, preserveAspectRatio: "xMinYMid meet", role: "img", "aria-label": "runs per day, succeeded and failed", class: "chart" });
  list.forEach(([d, e], i) => {
    const okH = (e.ok / top) * H, badH = (e.bad / top) * H;
    const title = d + ": " + e.ok + " succeeded, " + e.bad + " failed, average " + duration(Math.round(e.ms / (e.ok + e.bad)));
    const g = s("g", {}, s("title", {}, document.createTextNode(title)));
    if (okH) g.append(s("rect", { x: i * bw + 1, y: H - okH, width: Math.max(1, bw - 2), height: okH, class: "k-ok" }));
    if (badH) g.append(s("rect", { x: i * bw + 1, y: H - okH - badH, width: Math.max(1, bw - 2), height: badH, class: "k-bad" }));
    svg.append(g);
  });
  svg.append(s("text", { x: 0, y: H + 16, class: "axis" }, document.createTextNode(list[0][0] + " – " + list[list.length - 1][0] + " · max " + top + " runs/day")));
  return h("div", {}, svg, h("p", { class: "legend" }, h("span", { class: "key k-ok" }, "Succeeded"), h("span", { class: "key k-bad" }, "Failed, interrupted, cancelled")));
}

async function reports(root) {
  const [list, st, recent] = await Promise.all([api("GET", "/reports?limit=100"), api("GET", "/scheduler/status"), api("GET", "/runs?kind=backup&limit=1000")]);
  const f = st.stats || {};
  fill(root, h("h1", {}, "Reports"),
    h("section", { class: "card" }, h("h2", {}, "Runs per day (last 1000 runs)"), runsChart(recent.runs)),
    h("section", { class: "card" }, h("h2", {}, "Performance"), h("dl", { class: "figures" },
      h("dt", {}, "Average run"), h("dd", {}, duration(f.average_duration_ms)),
      h("dt", {}, "Last backup"), h("dd", {}, bytes(f.last_backup_bytes)),
      h("dt", {}, "Success 24 h / 7 d"), h("dd", {}, pct(f.success_rate_24h) + " / " + pct(f.success_rate_7d)))),
    list.reports.length ? table(["Report", "Created", "Size", "Expires"], list.reports.map((r) => h("tr", {},
      h("td", {}, h("a", { href: "#/report/" + encodeURIComponent(r.id) }, r.id)), h("td", {}, when(r.created_at)), h("td", {}, bytes(r.bytes)), h("td", {}, r.expires_at ? when(r.expires_at) : "never"))))
      : h("p", { class: "muted" }, "No report yet: the daily report job writes one a day."));
}
// A report opened in place: its figures, from its JSON (its HTML page is a file of its own).
async function report(root, args) {
  const r = await api("GET", "/reports/" + encodeURIComponent(args[0]));
  const show = (k, v, path) => v === null ? "–" : typeof v === "boolean" ? (v ? "yes" : "no")
    : /bytes|^storage\./.test(path + k) && typeof v === "number" ? bytes(v)
    : /_ms$/.test(k) ? duration(v) : /success_rate/.test(k) ? pct(v)
    : /(_at|^at|^from|^to|time)$/.test(k) ? when(v) : String(v);
  // An array of objects is a table of its own, folded: the report's lists (runs per job, ...).
  const list = (k, v) => {
    if (!v.length) return "none";
    if (typeof v[0] !== "object") return v.join(", ");
    const cols = Object.keys(v[0]);
    return h("details", {}, h("summary", {}, v.length + " items"),
      table(cols, v.map((o) => h("tr", {}, cols.map((c) => h("td", {}, o[c] !== null && typeof o[c] === "object" ? JSON.stringify(o[c]) : show(c, o[c], k + ".")))))));
  };
  const rows = (obj, prefix) => Object.entries(obj || {}).flatMap(([k, v]) => v && typeof v === "object" && !Array.isArray(v) ? rows(v, prefix + k + ".")
    : [h("tr", {}, h("th", { scope: "row" }, prefix + k), h("td", {}, Array.isArray(v) ? list(k, v) : show(k, v, prefix)))]);
  fill(root, h("h1", {}, "Report " + args[0]), h("p", {}, h("a", { href: "#/reports" }, "All reports")), table(["Figure", "Value"], rows(r, "")));
}

// ---------- start ----------
document.addEventListener("DOMContentLoaded", async () => {
  $("#login-form").addEventListener("submit", async (ev) => {
    ev.preventDefault();
    const why = await login($("#token").value.trim());
    if (why) { $("#login-error").textContent = why; return; }
    $("#token").value = "";
    showApp();
  });
  $("#logout").addEventListener("click", () => logout(""));
  window.addEventListener("hashchange", route);
  // A token from earlier in this tab, or none at all while the server needs none (loopback).
  const why = await login(S.token);
  if (why) showLogin(S.token ? why : "");
  else showApp();
});
