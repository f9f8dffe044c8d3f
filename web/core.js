// backupd dashboard: plain JavaScript, no build step, no dependency. Every figure comes from the
// public API under /api/backup, called with the token kept in sessionStorage (this tab only).
// The DOM is built with createElement/textContent only: nothing the API returns is parsed as HTML.
// Classic scripts sharing one global scope, loaded in order (index.html): core.js (helpers, the
// API client, login), one file per group of pages, app.js (the routing table and the start).
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
