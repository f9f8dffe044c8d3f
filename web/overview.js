// backupd dashboard, the overview (see core.js for how the pages are built).
"use strict";

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
