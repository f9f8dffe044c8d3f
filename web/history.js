// backupd dashboard, the history page: health over time and backup performance per job (see core.js
// for how the pages are built). Charts are SVG built with DOM calls: the CSP allows no inline style.
"use strict";

const HISTORY_DAYS = [1, 7, 30, 90];
const txt = (t) => document.createTextNode(t);

// One row per check name, one cell per recorded health check (oldest left): the status over time.
function healthGrid(hist) {
  if (!hist.checks.length) return h("p", { class: "muted" }, "No health check recorded in this window (the health_check job records one hourly).");
  const n = hist.checks.length;
  const CW = 12, H = 16;
  const rows = hist.names.map((name) => {
    const svg = s("svg", { viewBox: `0 0 ${n * CW} ${H}`, preserveAspectRatio: "none", role: "img", class: "strip", "aria-label": name + " over " + n + " checks" });
    let last = null;
    hist.checks.forEach((run, i) => {
      const c = run.checks.find((x) => x.name === name);
      const status = c ? c.status : "none";
      if (c) last = c;
      const tip = when(run.checked_at) + " " + S.zone + ": " + (c ? c.status + " · " + c.reason : "not checked");
      svg.append(s("rect", { x: i * CW + 1, y: 0, width: CW - 2, height: H, class: "hc k-" + status, "data-status": status }, s("title", {}, txt(tip))));
    });
    return h("tr", { class: "health-row", "data-check": name },
      h("th", { scope: "row" }, name),
      h("td", { class: "strip-cell" }, svg),
      h("td", {}, last ? badge(last.status) : "–", " ", h("span", { class: "muted" }, last ? last.reason : "")));
  });
  return h("div", {},
    table(["Check", when(hist.checks[0].checked_at) + " → " + when(hist.checks[n - 1].checked_at) + " " + S.zone, "Latest"], rows, { class: "keep health-history" }),
    h("p", { class: "legend" }, h("span", { class: "key k-ok" }, "ok"), h("span", { class: "key k-warning" }, "warning"),
      h("span", { class: "key k-critical" }, "critical"), h("span", { class: "key k-none" }, "not checked"),
      " · " + n + " checks; hover a cell for its time and reason"));
}

// A scatter of `points` ({t, v, tip}) over time, y from 0 to the largest value, labelled with `unit`.
function scatter(label, points, fmt) {
  const W = 600, H = 120, L = 4, B = 18;
  const t0 = Math.min(...points.map((p) => p.t)), t1 = Math.max(...points.map((p) => p.t));
  const top = Math.max(...points.map((p) => p.v)) || 1;
  const x = (t) => L + (t1 === t0 ? (W - 2 * L) / 2 : ((t - t0) / (t1 - t0)) * (W - 2 * L));
  const y = (v) => 20 + (1 - v / top) * (H - 26); // the top 20 units hold the max label
  const svg = s("svg", { viewBox: `0 0 ${W} ${H + B}`, preserveAspectRatio: "xMinYMid meet", role: "img", class: "chart perf", "aria-label": label });
  svg.append(s("line", { x1: L, y1: y(0), x2: W - L, y2: y(0), class: "base" }), s("line", { x1: L, y1: y(top), x2: W - L, y2: y(top), class: "grid-line" }));
  if (points.length > 1) {
    svg.append(s("polyline", { points: points.map((p) => x(p.t).toFixed(1) + "," + y(p.v).toFixed(1)).join(" "), class: "trend" }));
  }
  for (const p of points) svg.append(s("circle", { cx: x(p.t).toFixed(1), cy: y(p.v).toFixed(1), r: 4, class: "pt" }, s("title", {}, txt(p.tip))));
  svg.append(s("text", { x: W - L, y: 13, class: "axis end" }, txt("max " + fmt(top))));
  svg.append(s("text", { x: L, y: H + B - 3, class: "axis" }, txt(when(new Date(t0).toISOString()))));
  if (t1 !== t0) svg.append(s("text", { x: W - L, y: H + B - 3, class: "axis end" }, txt(when(new Date(t1).toISOString()))));
  return h("figure", { class: "perf-chart" }, h("figcaption", {}, label), svg);
}

function rate(bps) { return bps === null ? "–" : bytes(Math.round(bps)) + "/s"; }

// Each finished backup run of one job: its duration and its throughput (bytes ÷ duration).
function jobPerformance(jobId, runs) {
  const pts = runs.map((r) => {
    const bps = r.bytes !== null && r.duration_ms > 0 ? (r.bytes * 1000) / r.duration_ms : null;
    const at = when(r.started_at) + " " + S.zone;
    return { t: Date.parse(r.started_at), ms: r.duration_ms, bps, at, r };
  }).sort((a, b) => a.t - b.t);
  const withRate = pts.filter((p) => p.bps !== null);
  const total = pts.reduce((a, p) => a + p.ms, 0);
  return h("section", { class: "card perf-job", "data-job": jobId },
    h("h3", {}, jobId),
    h("p", { class: "muted" }, pts.length + " finished runs · average " + duration(Math.round(total / pts.length)) +
      (withRate.length ? " · median " + rate(median(withRate.map((p) => p.bps))) : "")),
    h("div", { class: "perf-pair" },
      scatter("Duration (s)", pts.map((p) => ({ t: p.t, v: p.ms / 1000, tip: p.at + ": " + duration(p.ms) + " · " + p.r.status + " · " + p.r.run_id })), (v) => duration(Math.round(v * 1000))),
      withRate.length ? scatter("Throughput (bytes ÷ duration)", withRate.map((p) => ({ t: p.t, v: p.bps, tip: p.at + ": " + rate(p.bps) + " · " + bytes(p.r.bytes) + " in " + duration(p.ms) })), rate)
        : h("p", { class: "muted" }, "No run recorded its size.")));
}

function median(xs) {
  const v = [...xs].sort((a, b) => a - b);
  const m = Math.floor(v.length / 2);
  return v.length % 2 ? v[m] : (v[m - 1] + v[m]) / 2;
}

// Not `history`: a global of that name would hide `window.history` (core.js replaces the hash with it).
async function historyPage(root, args) {
  const days = HISTORY_DAYS.includes(Number(args[0])) ? Number(args[0]) : 7;
  const [hist, recent, jobs] = await Promise.all([api("GET", "/health/history?days=" + days), api("GET", "/runs?kind=backup&limit=1000"), api("GET", "/scheduler/jobs")]);
  // Jobs that copy data (a health check or a report has no throughput); a run of a deleted job
  // still counts if it made a backup.
  const copying = new Set(jobs.jobs.filter((j) => j.action === "backup" || j.action === "archive").map((j) => j.id));
  const since = Date.parse(hist.since);
  // Finished runs with a duration; a run in flight or one that never started has none to draw.
  const byJob = new Map();
  for (const r of recent.runs) {
    if (r.status === "running" || r.status === "queued" || r.duration_ms === null || r.duration_ms === undefined || !r.started_at) continue;
    if (Date.parse(r.started_at) < since || !(copying.has(r.job_id) || r.backup_id)) continue;
    if (!byJob.has(r.job_id)) byJob.set(r.job_id, []);
    byJob.get(r.job_id).push(r);
  }
  const pick = h("div", { class: "filters window", role: "group", "aria-label": "Window" }, h("span", { class: "muted" }, "Last"),
    HISTORY_DAYS.map((d) => h("a", { href: "#/history/" + d, "aria-current": d === days ? "page" : null }, d === 1 ? "24 h" : d + " days")));
  fill(root, h("h1", {}, "History"), pick,
    h("p", { class: "muted" }, "Times in " + S.zone + " · since " + when(hist.since)),
    h("section", { class: "card" }, h("h2", {}, "Health over time"), healthGrid(hist)),
    h("section", { class: "card" }, h("h2", {}, "Backup performance per job"),
      h("p", {}, h("a", { href: "#/performance/" + (days === 1 ? 7 : days) }, "Phases, ratios, backup window, storage growth and regressions: Performance")),
      byJob.size ? [...byJob.entries()].sort().map(([job, runs]) => jobPerformance(job, runs))
        : h("p", { class: "muted" }, "No finished backup run in this window.")));
}
