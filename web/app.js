// backupd dashboard, routing and start: loaded last, after every page (see core.js for how the pages are built).
"use strict";

// ---------- routing ----------
const PAGES = { overview, jobs, runs, backups, backup, audit, reports, report, history: historyPage };
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
