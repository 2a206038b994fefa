// paneherd's web view: the task list grouped as the dashboard groups it, a task's detail with
// its output or result, its actions; live by Server-Sent Events (/api/events), never by polling.
"use strict";

const TOKEN = document.querySelector('meta[name="paneherd-token"]').content;
const READ_ONLY = document.querySelector('meta[name="paneherd-read-only"]').content === "true";
const GLYPH = { pending: "…", running: "▶", completed: "✓", error: "✗", cancelled: "⊘", interrupted: "!" };
const ENDED = ["completed", "error", "cancelled", "interrupted"];
const tasks = new Map();
let selected = null;
let detailTimer = null;
// The open detail's output events (while it runs) and its worktree's diff.
let watched = null;
let diffOf = { id: null, open: false, text: null, status: null };

const $ = (id) => document.getElementById(id);
function el(tag, attrs, ...kids) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (k === "class") e.className = v;
    else if (k.startsWith("on")) e.addEventListener(k.slice(2), v);
    else e.setAttribute(k, v);
  }
  for (const k of kids) if (k !== null && k !== undefined) e.append(k);
  return e;
}

async function api(method, path, body) {
  const opts = { method, headers: { Authorization: "Bearer " + TOKEN } };
  if (body !== undefined) {
    opts.headers["Content-Type"] = "application/json";
    opts.body = JSON.stringify(body);
  }
  const r = await fetch(path, opts);
  const data = await r.json().catch(() => ({ error: r.statusText }));
  if (!r.ok) throw new Error(data.error || r.statusText);
  return data;
}

// A patch, its lines coloured as git colours them.
function patch(text) {
  const out = document.createDocumentFragment();
  for (const line of text.split("\n")) {
    const cls = line.startsWith("+++") || line.startsWith("---") || line.startsWith("diff ") || line.startsWith("index ") ? "d-file"
      : line.startsWith("@@") ? "d-hunk" : line.startsWith("+") ? "d-add" : line.startsWith("-") ? "d-del" : null;
    out.append(cls ? el("span", { class: cls }, line) : line, "\n");
  }
  return out;
}

function age(t) {
  const at = Date.parse(t.finished_at || t.started_at || t.created_at);
  if (!at) return "";
  const s = Math.max(0, Math.round((Date.now() - at) / 1000));
  if (s < 60) return s + "s";
  if (s < 3600) return Math.floor(s / 60) + "m";
  if (s < 86400) return Math.floor(s / 3600) + "h";
  return Math.floor(s / 86400) + "d";
}

function group(t) {
  if (t.status === "running" && t.needs_input) return "Needs input";
  if (t.status === "running") return "Running";
  if (t.status === "pending") return "Pending";
  return "Finished";
}

function render() {
  const groups = { "Needs input": [], Running: [], Pending: [], Finished: [] };
  for (const t of tasks.values()) groups[group(t)].push(t);
  const newest = (a, b) => (b.created_at || "").localeCompare(a.created_at || "");
  const list = $("list");
  list.replaceChildren();
  let any = false;
  for (const [name, ts] of Object.entries(groups)) {
    if (!ts.length) continue;
    any = true;
    ts.sort(newest);
    list.append(el("h2", {}, `${name} (${ts.length})`));
    for (const t of name === "Finished" ? ts.slice(0, 200) : ts) list.append(row(t));
  }
  if (!any) list.append(el("p", { class: "empty" }, "No tasks yet. Hand one off with New task or `paneherd run`."));
  const n = (g) => groups[g].length;
  $("counts").textContent = `${n("Running") + n("Needs input")} running · ${n("Needs input")} waiting · ${n("Pending")} pending · ${n("Finished")} finished`;
  document.title = n("Needs input") ? `(${n("Needs input")}) paneherd` : "paneherd";
}

function row(t) {
  const meta = [t.id, t.agent, t.host ? "@" + t.host : null, t.needs_input ? "? " + t.needs_input : t.summary]
    .filter(Boolean).join(" · ");
  return el("button", {
    type: "button", "data-id": t.id,
    class: `task s-${t.status}${t.needs_input ? " waiting" : ""}${t.id === selected ? " selected" : ""}`,
    onclick: () => select(t.id),
  }, el("span", { class: "glyph", "aria-label": t.status }, t.needs_input ? "?" : (GLYPH[t.status] || "·")),
  el("span", { class: "title" }, t.title || t.prompt || t.id), el("span", { class: "age" }, age(t)),
  el("span", { class: "meta" }, meta));
}

async function loadList() {
  try {
    const list = await api("GET", "/api/tasks");
    tasks.clear();
    for (const t of list) tasks.set(t.id, t);
    render();
    // When the list first showed (the benchmark reads it).
    if (!performance.getEntriesByName("list-shown").length) performance.mark("list-shown");
    if (selected) showDetail();
  } catch (e) {
    $("list").replaceChildren(el("p", { class: "error" }, "Cannot list the tasks: " + e.message));
  }
}

function select(id) {
  selected = id;
  history.replaceState(null, "", "#" + id);
  render();
  showDetail();
}

// The output events of the task whose detail is open and runs: a stream of its own, closed
// when it ends or the detail closes.
function watch(id) {
  if (watched && watched.id === id) return;
  unwatch();
  const source = new EventSource("/api/tasks/" + encodeURIComponent(id) + "/output");
  source.onmessage = () => { if (selected === id) refreshDetailSoon(); };
  watched = { id, source };
}
function unwatch() {
  if (watched) watched.source.close();
  watched = null;
}

async function loadDiff(id) {
  try {
    const r = await fetch("/api/tasks/" + encodeURIComponent(id) + "/diff", { headers: { Authorization: "Bearer " + TOKEN } });
    const body = await r.text();
    let text = body;
    if (!r.ok) { try { text = "(" + JSON.parse(body).error + ")"; } catch { text = "(" + r.statusText + ")"; } }
    if (diffOf.id === id) diffOf.text = text || "(no changes)";
  } catch (e) {
    if (diffOf.id === id) diffOf.text = "(" + e.message + ")";
  }
  if (selected === id) showDetail();
}

function closeDetail() {
  unwatch();
  selected = null;
  history.replaceState(null, "", "/");
  $("detail").hidden = true;
  render();
}

async function showDetail() {
  const id = selected;
  if (!id) return;
  let d;
  try {
    d = await api("GET", "/api/tasks/" + encodeURIComponent(id));
  } catch (e) {
    $("detail").hidden = false;
    $("detail").replaceChildren(el("p", { class: "error" }, e.message));
    return;
  }
  if (selected !== id) return;
  const t = d.task;
  tasks.set(t.id, t);
  const box = $("detail");
  box.hidden = false;
  const ended = ENDED.includes(t.status);
  const facts = el("dl", {});
  const fact = (k, v) => { if (v !== null && v !== undefined && v !== "") facts.append(el("dt", {}, k), el("dd", {}, String(v))); };
  fact("status", t.status + (t.reason ? ` (${t.reason})` : ""));
  fact("agent", t.agent + (t.model ? " · " + t.model : ""));
  fact("category", t.category);
  fact("host", t.host);
  fact("sandbox", t.sandbox);
  fact("directory", t.cwd);
  fact("worktree", t.worktree && [t.branch, t.worktree].filter(Boolean).join(" · "));
  fact("exit code", t.exit_code);
  fact("age", age(t));
  const actions = el("div", { class: "actions" });
  const act = (label, cls, fn) => actions.append(el("button", { type: "button", class: cls, onclick: fn }, label));
  const err = el("p", { class: "error", role: "alert" });
  const run = (fn) => async () => { err.textContent = ""; try { await fn(); } catch (e) { err.textContent = e.message; } };
  if (!READ_ONLY) {
    if (!ended) act("Cancel", "danger", run(() => api("POST", `/api/tasks/${t.id}/cancel`)));
    if (ended) act("Retry", "", run(async () => select((await api("POST", `/api/tasks/${t.id}/retry`)).id)));
  }
  const follow = el("form", { class: "follow", onsubmit: (e) => {
    e.preventDefault();
    const prompt = follow.querySelector("textarea").value;
    run(async () => select((await api("POST", `/api/tasks/${t.id}/continue`, { prompt })).id))();
  } }, el("label", {}, "Follow-up", el("textarea", { rows: "3", name: "prompt", required: "" })),
  el("div", { class: "buttons" }, el("button", { type: "submit" }, "Continue")));
  const output = ended ? d.result : d.tail;
  // An answer typed into its pane (a pane task that runs).
  const answerForm = el("form", { class: "follow", onsubmit: (e) => {
    e.preventDefault();
    const input = answerForm.querySelector("input");
    run(async () => { await api("POST", `/api/tasks/${t.id}/input`, { text: input.value }); input.value = ""; })();
  } }, el("label", {}, t.needs_input ? "Your answer" : "Type into its pane", el("input", { name: "text", autocomplete: "off", enterkeyhint: "send" })),
  el("div", { class: "buttons" }, el("button", { type: "submit" }, "Send")));
  const answerable = !READ_ONLY && t.status === "running" && t.pane_id && !t.host;
  if (ended) unwatch(); else watch(t.id);
  // Its worktree's changes, read when opened (again when its status changes).
  let changes = null;
  if (t.worktree && !t.host) {
    if (diffOf.id !== t.id) diffOf = { id: t.id, open: false, text: null, status: t.status };
    if (diffOf.open && (diffOf.text === null || diffOf.status !== t.status)) {
      diffOf.status = t.status;
      loadDiff(t.id);
    }
    changes = el("details", { class: "changes" }, el("summary", {}, "Changes in its worktree"),
      el("pre", { class: "diff" }, diffOf.text === null ? "(reading…)" : patch(diffOf.text)));
    if (diffOf.open) changes.open = true;
    changes.addEventListener("toggle", () => {
      diffOf.open = changes.open;
      if (changes.open && diffOf.text === null) loadDiff(t.id);
    });
  }
  box.replaceChildren(...[
    el("div", { class: "detail-head" }, el("button", { type: "button", class: "quiet back", onclick: closeDetail }, "‹ Back"),
      el("h3", {}, t.title || t.id), el("button", { type: "button", class: "quiet", onclick: closeDetail, "aria-label": "close" }, "✕")),
    t.needs_input ? el("div", { class: "question" }, "Waiting for an answer: " + t.needs_input) : null,
    answerable ? answerForm : null,
    facts, actions, err,
    el("h2", {}, ended ? "Result" : "Output so far"),
    // As a terminal left it (the daemon renders it: colours and cursor moves gone, a progress
    // bar's last state kept).
    el("pre", { class: "output" }, output && output.trim() ? output : (ended ? "(no output)" : "(nothing yet)")),
    changes,
    el("h2", {}, "Prompt"), el("pre", {}, t.prompt || ""),
    ended && !READ_ONLY ? follow : null,
  ].filter(Boolean));
}

// A task's detail again, at most once a second, while its output comes.
function refreshDetailSoon() {
  if (detailTimer) return;
  detailTimer = setTimeout(() => { detailTimer = null; showDetail(); }, 1000);
}

function notifyEnd(before, t) {
  if (!before || ENDED.includes(before.status) || !ENDED.includes(t.status)) return;
  if (window.Notification && Notification.permission === "granted" && document.hidden) {
    new Notification(`${t.status}: ${t.title || t.id}`, { body: t.summary || t.reason || "", tag: t.id });
  }
}

function listen() {
  const source = new EventSource("/api/events");
  source.onopen = () => { $("link").classList.add("up"); loadList(); };
  source.onerror = () => $("link").classList.remove("up");
  source.onmessage = (m) => {
    let ev;
    try { ev = JSON.parse(m.data); } catch { return; }
    if (ev.kind === "task_created" || ev.kind === "task_changed") {
      notifyEnd(tasks.get(ev.task.id), ev.task);
      tasks.set(ev.task.id, ev.task);
      render();
      if (ev.task.id === selected) showDetail();
    } else if (ev.kind === "output" && ev.id === selected) {
      refreshDetailSoon();
    } else if (ev.kind === "lagged") {
      loadList();
    }
  };
}

function newTask() {
  const d = $("newdialog");
  $("newerror").textContent = "";
  const agents = new Set(), cats = new Set();
  for (const t of tasks.values()) { agents.add(t.agent); if (t.category) cats.add(t.category); }
  $("agents").replaceChildren(...[...agents].map((a) => el("option", { value: a })));
  $("categories").replaceChildren(...[...cats].map((c) => el("option", { value: c })));
  d.showModal();
}

async function submitNew(e) {
  e.preventDefault();
  const f = $("newform");
  const body = { prompt: f.prompt.value };
  for (const k of ["agent", "category", "cwd"]) if (f[k].value.trim()) body[k] = f[k].value.trim();
  $("newsubmit").disabled = true;
  try {
    const t = await api("POST", "/api/tasks", body);
    f.reset();
    $("newdialog").close();
    select(t.id);
  } catch (err) {
    $("newerror").textContent = err.message;
  } finally {
    $("newsubmit").disabled = false;
  }
}

document.addEventListener("DOMContentLoaded", () => {
  if (READ_ONLY) $("new").hidden = true;
  $("new").addEventListener("click", newTask);
  $("newcancel").addEventListener("click", () => $("newdialog").close());
  $("newform").addEventListener("submit", submitNew);
  if (window.Notification && Notification.permission === "default") {
    $("notify").hidden = false;
    $("notify").addEventListener("click", async () => {
      await Notification.requestPermission();
      $("notify").hidden = true;
    });
  }
  selected = location.hash ? decodeURIComponent(location.hash.slice(1)) : null;
  // A link to a task's detail (#ID) followed while the page is open.
  window.addEventListener("hashchange", () => {
    const id = location.hash ? decodeURIComponent(location.hash.slice(1)) : null;
    if (id === selected) return;
    if (id) select(id); else closeDetail();
  });
  setInterval(render, 30000); // ages
  listen();
});
