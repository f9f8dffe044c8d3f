// backupd dashboard, routing and start: loaded last, after every page (see core.js for how the pages are built).
"use strict";

// ---------- routing ----------
const PAGES = { overview, jobs, runs, backups, backup, audit, reports, report, history: historyPage };
// Pages whose script is fetched on their first visit (the overview does not carry it): page name →
// [script, the function it defines].
const LAZY = { performance: ["/perf.js", "perfPage"], run: ["/perf.js", "runPage"] };
const loaded = {};
function script(src) {
  loaded[src] = loaded[src] || new Promise((ok, no) => {
    document.head.append(h("script", { src, onload: ok, onerror: () => { delete loaded[src]; no(new Error("could not load " + src)); } }));
  });
  return loaded[src];
}
function route() {
  if (!S.me) return;
  clearInterval(S.timer);
  const [name, ...args] = location.hash.replace(/^#\//, "").split("/").map(decodeURIComponent);
  const page = PAGES[name] || LAZY[name] ? name : "overview";
  for (const a of document.querySelectorAll("#nav a")) {
    if (a.dataset.page === page || (page === "backup" && a.dataset.page === "backups") || (page === "report" && a.dataset.page === "reports") || (page === "run" && a.dataset.page === "runs")) a.setAttribute("aria-current", "page");
    else a.removeAttribute("aria-current");
  }
  const root = $("#page");
  const show = PAGES[page] ? Promise.resolve(PAGES[page](root, args))
    : script(LAZY[page][0]).then(() => { if (location.hash.replace(/^#\//, "").split("/")[0] === page) return window[LAZY[page][1]](root, args); });
  show.catch((e) => {
    fill(root, h("p", { class: "error", role: "alert" }, "Could not load: " + e.message));
  });
}
// Refresh a page's live part every `ms` while it is shown.
function every(ms, fn) {
  clearInterval(S.timer);
  S.timer = setInterval(fn, ms);
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
