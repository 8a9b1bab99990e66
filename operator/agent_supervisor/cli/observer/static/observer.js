// The Observer page: renders the snapshots the server pushes over Server-Sent Events (no polling), and
// fetches a pod's log tail and an agent's runtime summary when a node is selected or its detail changes.
// Every value is put in the page as text (textContent), never as HTML.
"use strict";

const RECENT_SECONDS = 120; // a node restarted by a timeline entry this recent is marked as restarted
let latest = null;
let selected = new URLSearchParams(location.hash.slice(1)).get("node");
let highlighted = new Set();
const fetched = { key: null, log: null, runtime: null };

function el(tag, attrs, ...children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs || {})) {
    if (value === null || value === undefined || value === false) continue;
    if (name === "class") node.className = value;
    else node.setAttribute(name, value === true ? "" : String(value));
  }
  for (const child of children.flat()) {
    if (child === null || child === undefined) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
}

function clip(text, length) {
  return text.length > length ? `${text.slice(0, length)}…` : text;
}

function seconds(stamp) {
  const at = Date.parse(stamp);
  return Number.isNaN(at) ? null : at / 1000;
}

function recentRestarts(snapshot) {
  // node id -> the newest timeline entry (within RECENT_SECONDS of the snapshot) that restarted it
  const now = seconds(snapshot.now);
  const by = new Map();
  for (const entry of snapshot.timeline) {
    const at = seconds(entry.time);
    if (now !== null && at !== null && now - at > RECENT_SECONDS) continue;
    for (const id of entry.restarted) if (!by.has(id)) by.set(id, entry);
  }
  return by;
}

function facts(node) {
  const parts = [];
  if (node.strategy) parts.push(node.strategy);
  if (node.ready) parts.push(`${node.ready[0]}/${node.ready[1]} ready`);
  if (node.restarts !== null) parts.push(`${node.restarts} restarts`);
  if (node.window) parts.push(`window ${node.window[0]}/${node.window[1]}`);
  if (node.lastExit) {
    const code = node.lastExit.code === null ? "" : ` ${node.lastExit.code}`;
    parts.push(`last exit ${node.lastExit.reason}${code}`);
  }
  return parts.join(" · ");
}

function renderNode(node, restarted) {
  const by = restarted.get(node.id);
  const phase = node.phase || "Unknown";
  const classes = ["node", `phase-${phase}`];
  if (by) classes.push("restarted");
  if (node.id === selected) classes.push("selected");
  if (highlighted.has(node.id)) classes.push("highlight");
  const row = el(
    "div",
    {
      class: classes.join(" "),
      "data-id": node.id,
      "data-phase": phase,
      "data-last-exit": node.lastExit ? node.lastExit.reason : null,
      "data-restarted-by": by ? by.id : null,
      tabindex: 0,
    },
    el("span", { class: "kind" }, node.kind),
    el("span", { class: "name" }, node.name),
    el("span", { class: "phase" }, phase),
    el("span", { class: "facts" }, facts(node)),
    el("span", { class: "badge", title: by ? by.message : null }, by ? `↻ ${by.reason}` : ""),
  );
  row.addEventListener("click", () => select(node.id));
  row.addEventListener("keydown", (event) => { if (event.key === "Enter") select(node.id); });
  const item = el("li", { "data-id": node.id }, row);
  if (node.children.length) item.append(el("ul", {}, node.children.map((child) => renderNode(child, restarted))));
  return item;
}

function renderTimeline(snapshot) {
  const list = document.getElementById("timeline");
  const names = new Map();
  const collect = (node) => { names.set(node.id, node.name); node.children.forEach(collect); };
  snapshot.trees.forEach(collect);
  const label = (id) => names.get(id) || id.split("/").pop();
  list.replaceChildren(
    ...snapshot.timeline.map((entry) =>
      el(
        "li",
        { class: entry.type, "data-reason": entry.reason, "data-subject": entry.subject, "data-restarted": entry.restarted.join(" ") },
        el("span", { class: "when" }, entry.time.replace("T", " ").replace("Z", "")),
        el("span", { class: "reason" }, entry.reason),
        el("span", { class: "subject" }, label(entry.subject)),
        entry.restarted.length
          ? el("span", { class: "children" }, entry.restarted.map((id) =>
              el("span", { class: id === entry.failed ? "child failed" : "child", "data-id": id }, label(id))))
          : el("span", { class: "message" }, ` ${entry.message}`),
      ),
    ),
  );
  list.querySelectorAll("li").forEach((item, index) => {
    item.title = snapshot.timeline[index].message;
    item.addEventListener("click", () => {
      const entry = snapshot.timeline[index];
      highlighted = new Set(entry.restarted.length ? entry.restarted : [entry.subject]);
      render();
    });
  });
}

function table(headers, rows) {
  return el("table", {}, el("tr", {}, headers.map((h) => el("th", {}, h))), rows.map((row) => el("tr", {}, row.map((cell) => el("td", {}, cell ?? "")))));
}

function renderDetail() {
  const pane = document.getElementById("detail");
  const detail = latest && selected ? latest.details[selected] : null;
  if (!detail) {
    pane.replaceChildren(el("p", { class: "empty" }, selected ? "No details for this node." : "Select a node."));
    return;
  }
  const parts = [
    el("dl", {},
      el("dt", {}, "Kind"), el("dd", {}, detail.kind),
      el("dt", {}, "Name"), el("dd", { "data-field": "name" }, `${detail.namespace}/${detail.name}`),
      detail.phase ? [el("dt", {}, "Phase"), el("dd", { "data-field": "phase" }, detail.phase)] : null,
      detail.supervisor ? [el("dt", {}, "Supervisor"), el("dd", {}, detail.supervisor)] : null,
      detail.totalRestarts !== undefined && detail.totalRestarts !== null ? [el("dt", {}, "Restarts"), el("dd", {}, detail.totalRestarts)] : null,
    ),
  ];
  if (detail.conditions && detail.conditions.length) {
    parts.push(el("h3", {}, "Conditions"), table(["Type", "Status", "Reason", "Message"],
      detail.conditions.map((c) => [c.type, c.status, c.reason, c.message])));
  }
  if (detail.restartWindow) {
    const w = detail.restartWindow;
    parts.push(el("h3", {}, `Restarts in the window: ${w.times.length} of ${w.max} in ${w.periodSeconds}s`),
      w.times.length ? el("ul", {}, w.times.map((t) => el("li", {}, t))) : null);
  }
  if (detail.runtime) {
    const r = detail.runtime;
    const live = fetched.key === selected && fetched.runtime ? fetched.runtime : null;
    const summary = live && live.summary ? live.summary : null;
    parts.push(el("h3", {}, "Runtime"), el("dl", { class: "runtime" },
      el("dt", {}, "Pod"), el("dd", {}, r.podName ?? "—"),
      el("dt", {}, "Attempt"), el("dd", {}, r.attempt ?? "—"),
      el("dt", {}, "Config revision"), el("dd", {}, `${r.configRevision ?? "—"} (applied ${r.appliedConfigRevision ?? "—"})`),
      summary ? [
        el("dt", {}, "Task"), el("dd", { "data-field": "task" }, summary.currentTask ? `${summary.currentTask.id} (${summary.currentTask.outcome ?? "running"})` : "none"),
        el("dt", {}, "Step"), el("dd", { "data-field": "step" }, `${summary.step} (${summary.stepsTotal} in all)`),
        el("dt", {}, "Tokens"), el("dd", { "data-field": "tokens" }, `${summary.tokensIn} in, ${summary.tokensOut} out`),
        el("dt", {}, "Tasks done"), el("dd", {}, summary.tasksCompleted),
      ] : [el("dt", {}, "Summary"), el("dd", {}, live && live.error ? live.error : "loading…")],
    ));
  }
  if (detail.lastExit) {
    const x = detail.lastExit;
    parts.push(el("h3", {}, "Last exit"), el("p", {}, `${x.reason} (${x.classification ?? ""}${x.code !== null ? `, code ${x.code}` : ""}) at ${x.time ?? "?"} ${clip(x.message ?? "", 240)}`));
  }
  if (detail.exits && detail.exits.length) {
    parts.push(el("h3", {}, "Ended pods"), table(["Pod", "Attempt", "Reason", "Code", "Finished"],
      detail.exits.map((x) => [x.pod, x.attempt, x.reason, x.code, x.finishedAt])));
  }
  if (detail.logPod) {
    const log = fetched.key === selected ? fetched.log : null;
    parts.push(el("h3", {}, `Log tail of ${detail.logPod}`),
      el("pre", { class: "log", "data-pod": detail.logPod }, log ? (log.log ?? log.error ?? "") : "loading…"));
  }
  if (detail.events && detail.events.length) {
    parts.push(el("h3", {}, "Events"), table(["Time", "Reason", "Message"], detail.events.map((e) => [e.time, e.reason, e.message])));
  }
  pane.replaceChildren(...parts);
}

async function getJSON(url) {
  const response = await fetch(url, { headers: { Accept: "application/json" } });
  if (!response.ok) return { error: `${response.status} ${await response.text()}` };
  return response.json();
}

async function refreshExtras() {
  // Fetched once per selection and again only when what they depend on changed (a new ended pod, a new
  // incarnation or configuration): the snapshot pushed by the server says when.
  const detail = latest && selected ? latest.details[selected] : null;
  if (!detail) return;
  const runtime = detail.runtime || {};
  const key = [selected, detail.logPod, runtime.podName, runtime.attempt, runtime.appliedConfigRevision, detail.phase].join("|");
  if (fetched.key === selected && fetched.stamp === key) return;
  fetched.key = selected;
  fetched.stamp = key;
  const query = (extra) => new URLSearchParams({ namespace: detail.namespace, ...extra }).toString();
  const [log, summary] = await Promise.all([
    detail.logPod ? getJSON(`api/log?${query({ pod: detail.logPod })}`) : null,
    detail.kind === "Agent" ? getJSON(`api/runtime?${query({ agent: detail.name })}`) : null,
  ]);
  if (fetched.stamp !== key) return; // another selection or snapshot came meanwhile
  fetched.log = log;
  fetched.runtime = summary;
  // A failed read (the agent between incarnations, no Ready endpoint) is tried again with the next snapshot.
  if ((log && log.error) || (summary && summary.error)) fetched.stamp = null;
  renderDetail();
}

function select(id) {
  selected = id;
  highlighted = new Set();
  history.replaceState(null, "", `#node=${encodeURIComponent(id)}`);
  fetched.key = null;
  render();
}

function render() {
  if (!latest) return;
  const restarted = recentRestarts(latest);
  document.getElementById("trees").replaceChildren(...latest.trees.map((tree) => renderNode(tree, restarted)));
  document.getElementById("empty").hidden = latest.trees.length > 0;
  const problems = document.getElementById("problems");
  problems.hidden = !latest.problems || latest.problems.length === 0;
  problems.replaceChildren(
    ...(problems.hidden ? [] : ["The observer cannot read everything; what it shows may be incomplete:",
      el("ul", {}, latest.problems.map((problem) => el("li", {}, problem)))]),
  );
  renderTimeline(latest);
  renderDetail();
  refreshExtras();
}

function connect() {
  const status = document.getElementById("connection");
  const source = new EventSource("events");
  source.addEventListener("open", () => { status.dataset.state = "live"; status.textContent = "live"; });
  source.addEventListener("error", () => { status.dataset.state = "lost"; status.textContent = "reconnecting"; });
  source.addEventListener("snapshot", (event) => {
    latest = JSON.parse(event.data);
    document.body.dataset.snapshot = event.lastEventId;
    document.getElementById("updated").textContent = `updated ${latest.now.replace("T", " ").replace("Z", " UTC")}`;
    render();
  });
}

connect();
