/**
 * The dashboard's script, run in the browser (compiled by tsconfig.dashboard.json to
 * dist/src/http/dashboard/app.js and served as /dashboard.js under `script-src 'self'`).
 * It only calls the gateway's own JSON routes (POST /v1/task/list, /v1/task/getbyid,
 * GET /v1/executors). Text from tasks is inserted with textContent, never as HTML.
 * The filters and the selected task live in the URL (shareable, and Back restores them).
 */

const STATUSES = ["Confirming", "Ready", "ToProcess", "Processing", "Finished", "Failed", "Rejected"] as const;

interface Report {
  asked: number;
  answered: number;
  failed?: { address: string; reason: string }[];
}

interface Reply<T> {
  code: string;
  message?: string;
  data: T;
  executors?: Report;
  holders?: string[];
}

interface DataSetJson {
  owner?: string;
  executor?: string;
  dataID?: string;
  address?: string;
  isTagPart?: boolean;
  confirmedAt?: string;
  rejectedAt?: string;
}

interface TaskJson {
  iD: string;
  name?: string;
  status?: string;
  requester?: string;
  publishTime?: string;
  startTime?: string;
  endTime?: string;
  errMessage?: string;
  algoParam?: { taskType?: string; algo?: string; modelTaskID?: string };
  dataSets?: DataSetJson[];
}

interface ExecutorJson {
  address: string;
  name: string | null;
  source: string;
  pubKey: string | null;
  healthy: boolean | null;
  lastLatencyMs: number | null;
  lastError: string | null;
  circuit: string | null;
  tasks: number | null;
}

interface ExecutorsData {
  executors: ExecutorJson[];
  cache?: { available: boolean; hitRatio: number | null };
}

/** The view: filters and the selected task, as in the URL's query. */
interface View {
  key: string;
  status: string;
  from: string;
  to: string;
  limit: string;
  task: string;
}

const VIEW_KEYS: (keyof View)[] = ["key", "status", "from", "to", "limit", "task"];
const DEFAULT_LIMIT = "200";
/** Below this width the page is one column and the task detail opens under its row. */
const NARROW = window.matchMedia("(max-width: 1000px)");

const params = new URLSearchParams(location.search);
const refreshSec = Math.max(1, Number(params.get("refresh")) || 5);
const state: { selected: string | null; timer?: number; busy: boolean; again: boolean } = {
  selected: null,
  busy: false,
  again: false,
};

function $<T extends HTMLElement = HTMLElement>(id: string): T {
  const e = document.getElementById(id);
  if (!e) throw new Error(`#${id} is missing`);
  return e as T;
}

function input(id: string): HTMLInputElement {
  return $<HTMLInputElement>(id);
}

function el(tag: string, attrs?: Record<string, string | undefined> | null, text?: unknown): HTMLElement {
  const e = document.createElement(tag);
  if (attrs) for (const [k, v] of Object.entries(attrs)) if (v !== undefined) e.setAttribute(k, v);
  if (text !== undefined && text !== null) e.textContent = String(text);
  return e;
}

const pad = (n: number): string => (n < 10 ? "0" : "") + n;

/** 24-hour local date-time, as the CLI prints it. */
function localDateTime(d: Date): string {
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())} ${localClock(d)}`;
}

function localClock(d: Date): string {
  return `${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}`;
}

function nsToLocal(ns: string | undefined): string {
  if (!ns || ns === "0") return "–";
  return localDateTime(new Date(Number(BigInt(ns) / 1000000n)));
}

const LOCAL = /^(\d{4})-(\d{2})-(\d{2})(?:[ T](\d{2}):(\d{2})(?::(\d{2}))?)?$/;

/**
 * A local date-time as the CLI takes it ("2026-11-28", "2026-11-28 14:05",
 * "2026-11-28 14:05:09") in Unix ns; an end given as a date alone is the end of that day.
 */
function localInputToNs(v: string, field: string, end: boolean): string | null {
  const s = v.trim();
  if (!s) return null;
  const m = LOCAL.exec(s);
  if (!m) throw new Error(`${field}: expected a local date-time like 2026-11-28 14:05:09`);
  const [y, mo, d, h, mi, sec] = m.slice(1).map((x) => (x === undefined ? 0 : Number(x))) as number[];
  const date = new Date(y!, mo! - 1, d!, h!, mi!, sec!);
  if (date.getMonth() !== mo! - 1 || date.getDate() !== d!) throw new Error(`${field}: no such date: ${s}`);
  if (end && m[4] === undefined) return (BigInt(new Date(y!, mo! - 1, d! + 1).getTime()) * 1000000n - 1n).toString();
  return (BigInt(date.getTime()) * 1000000n).toString();
}

function b64ToHex(b64: string | undefined): string {
  if (!b64) return "";
  const bin = atob(b64);
  let out = "";
  for (let i = 0; i < bin.length; i++) out += (bin.charCodeAt(i) + 256).toString(16).slice(1);
  return out;
}

function short(hex: string | undefined, n = 12): string {
  return !hex ? "–" : hex.length > n ? `${hex.slice(0, n)}…` : hex;
}

function statusClass(status: string | undefined): string {
  return (STATUSES as readonly string[]).includes(status ?? "") ? `st-${status}` : "st-other";
}

function pill(status: string | undefined): HTMLElement {
  return el("span", { class: `pill ${statusClass(status)}` }, status || "–");
}

const taskType = (t: TaskJson): string => t.algoParam?.taskType || "LEARN";

function banner(text: string, isError: boolean): void {
  const b = $("banner");
  b.textContent = text;
  b.className = isError ? "error" : "";
  b.hidden = !text;
}

class ApiFailure extends Error {}

async function api<T>(method: string, path: string, body?: unknown): Promise<Reply<T>> {
  const init: RequestInit = { method, headers: {} };
  if (body !== undefined) {
    init.headers = { "content-type": "application/json" };
    init.body = JSON.stringify(body);
  }
  const res = await fetch(path, init);
  let j: Reply<T>;
  try {
    j = (await res.json()) as Reply<T>;
  } catch {
    throw new ApiFailure(`HTTP ${res.status} ${res.statusText}`);
  }
  if (j.code !== "0") throw new ApiFailure(j.message || j.code);
  return j;
}

// ---- the view <-> the form <-> the URL

function readForm(): View {
  return {
    key: input("f-key").value.trim(),
    status: $<HTMLSelectElement>("f-status").value,
    from: input("f-from").value,
    to: input("f-to").value,
    limit: input("f-limit").value.trim(),
    task: state.selected ?? "",
  };
}

function writeForm(v: View): void {
  input("f-key").value = v.key;
  $<HTMLSelectElement>("f-status").value = v.status;
  input("f-from").value = v.from;
  input("f-to").value = v.to;
  input("f-limit").value = v.limit || DEFAULT_LIMIT;
  state.selected = v.task || null;
}

function viewFromUrl(): View {
  const q = new URLSearchParams(location.search);
  const v = {} as View;
  for (const k of VIEW_KEYS) v[k] = q.get(k) ?? "";
  return v;
}

function urlFor(v: View): string {
  const q = new URLSearchParams();
  const refresh = params.get("refresh");
  if (refresh) q.set("refresh", refresh);
  for (const k of VIEW_KEYS) {
    const value = v[k];
    if (value && !(k === "limit" && value === DEFAULT_LIMIT)) q.set(k, value);
  }
  const s = q.toString();
  return location.pathname + (s ? `?${s}` : "");
}

/** Records the form's view in the history (a new entry when it changed) and reloads. */
function commit(): void {
  const url = urlFor(readForm());
  if (url !== location.pathname + location.search) history.pushState(null, "", url);
  void refresh();
}

// ---- tasks

interface Query {
  base: Record<string, string>;
  status: string;
}

function query(v: View): Query {
  if (v.key && !/^[0-9a-fA-F]{128}$/.test(v.key)) throw new Error("the key must be 128 hex characters");
  const q: Record<string, string> = {};
  if (v.key) q.pubKey = v.key.toLowerCase();
  const from = localInputToNs(v.from, "from", false);
  const to = localInputToNs(v.to, "to", true);
  if (from) q.timeStart = from;
  if (to) q.timeEnd = to;
  const limit = v.limit === "" ? Number(DEFAULT_LIMIT) : Number(v.limit);
  if (!Number.isInteger(limit) || limit < 0) throw new Error("limit must be a whole number, 0 (no cap) or more");
  q.limit = String(limit);
  return { base: q, status: v.status };
}

const SVG = "http://www.w3.org/2000/svg";

function svg(tag: string, attrs: Record<string, string>, text?: string): SVGElement {
  const e = document.createElementNS(SVG, tag);
  for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, v);
  if (text !== undefined) e.textContent = text;
  return e;
}

function drawChart(counts: Record<string, number>, total: number, selected: string): void {
  const chart = $("status-chart") as unknown as SVGSVGElement;
  chart.replaceChildren();
  const rows = STATUSES.filter((s) => counts[s]);
  const h = 20;
  const w = chart.clientWidth || 600;
  const labelW = 92;
  const numW = 40;
  chart.setAttribute("height", String(rows.length * h + 4));
  const max = Math.max(1, ...rows.map((s) => counts[s] ?? 0));
  rows.forEach((s, i) => {
    const n = counts[s] ?? 0;
    const y = i * h + 2;
    const on = selected === s;
    const g = svg("g", {
      "data-status": s,
      class: `bar-row ${statusClass(s)}${on ? " selected" : selected ? " dimmed" : ""}`,
      role: "button",
      "aria-pressed": String(on),
    });
    const bw = Math.max(2, Math.round(((w - labelW - numW) * n) / max));
    const bar = svg("rect", {
      class: "bar",
      x: String(labelW),
      y: String(y + 2),
      width: String(bw),
      height: String(h - 6),
      rx: "3",
    });
    bar.appendChild(
      svg("title", {}, `${s}: ${n} of ${total} (${on ? "click to show every status" : "click to filter"})`),
    );
    g.append(
      svg("text", { x: "0", y: String(y + 13) }, s),
      bar,
      svg("text", { x: String(labelW + bw + 6), y: String(y + 13) }, String(n)),
    );
    // A click on the selected bar clears the status filter; on another, filters by it.
    g.addEventListener("click", () => {
      $<HTMLSelectElement>("f-status").value = on ? "" : s;
      commit();
    });
    chart.appendChild(g);
  });
}

/** Moves the detail card back to the right-hand column before the table it may sit in is redrawn. */
function parkDetail(): void {
  const right = $("right");
  const card = $("detail-card");
  if (card.parentElement !== right) right.appendChild(card);
  document.getElementById("detail-row")?.remove();
}

function clearTasks(message: string): void {
  parkDetail();
  $("tasks-table").querySelector("tbody")!.replaceChildren();
  ($("status-chart") as unknown as SVGSVGElement).replaceChildren();
  $("status-chart").setAttribute("height", "0");
  $("t-tasks").textContent = "–";
  $("t-answered").textContent = "–";
  const empty = $("tasks-empty");
  empty.textContent = message;
  empty.className = "err";
  empty.hidden = false;
}

function renderTasks(tasks: TaskJson[]): void {
  parkDetail();
  const tbody = $("tasks-table").querySelector("tbody")!;
  tbody.replaceChildren();
  for (const t of tasks) {
    const tr = el("tr", {
      class: `clickable${t.iD === state.selected ? " selected" : ""}`,
      "data-task-id": t.iD,
      "data-status": t.status,
    });
    tr.appendChild(el("td", { class: "mono time" }, nsToLocal(t.publishTime)));
    tr.appendChild(el("td", { class: "mono", title: t.iD }, short(t.iD, 13)));
    tr.appendChild(el("td", null, t.name || "–"));
    const st = el("td");
    st.appendChild(pill(t.status));
    tr.appendChild(st);
    tr.appendChild(el("td", null, taskType(t)));
    const req = b64ToHex(t.requester);
    tr.appendChild(el("td", { class: "mono", title: req }, short(req)));
    tr.appendChild(el("td", null, (t.dataSets ?? []).length));
    tr.addEventListener("click", () => {
      state.selected = t.iD;
      commit();
    });
    tbody.appendChild(tr);
  }
  const empty = $("tasks-empty");
  empty.textContent = "No task matches these filters.";
  empty.className = "muted";
  empty.hidden = tasks.length > 0;
  $("t-tasks").textContent = String(tasks.length);
}

function partialNote(ex: Report | undefined): string {
  if (!ex || !ex.failed || !ex.failed.length) return "";
  return (
    `Partial answer: ${ex.answered} of ${ex.asked} Executors answered; failed: ` +
    ex.failed.map((f) => `${f.address} (${f.reason})`).join(", ")
  );
}

async function loadTasks(v: View): Promise<string> {
  let q: Query;
  try {
    q = query(v);
    $("filter-error").textContent = "";
  } catch (e) {
    $("filter-error").textContent = (e as Error).message;
    clearTasks(`Fix the filter: ${(e as Error).message}.`);
    return "";
  }
  const main = api<{ fLTasks?: TaskJson[] }>(
    "POST",
    "/v1/task/list",
    q.status ? { ...q.base, status: q.status } : q.base,
  );
  // The chart counts statuses over the same key/time window without the status filter.
  const every = q.status ? api<{ fLTasks?: TaskJson[] }>("POST", "/v1/task/list", q.base) : main;
  let r: [Reply<{ fLTasks?: TaskJson[] }>, Reply<{ fLTasks?: TaskJson[] }>];
  try {
    r = await Promise.all([main, every]);
  } catch (e) {
    // The old rows would pass for this view's answer: show none, and say why.
    clearTasks(`Could not list tasks: ${(e as Error).message}`);
    throw e;
  }
  const tasks = r[0].data.fLTasks ?? [];
  const all = r[1].data.fLTasks ?? [];
  renderTasks(tasks);
  const counts: Record<string, number> = {};
  for (const t of all) counts[t.status ?? ""] = (counts[t.status ?? ""] ?? 0) + 1;
  drawChart(counts, all.length, q.status);
  const ex = r[0].executors;
  $("t-answered").textContent = ex ? `${ex.answered} of ${ex.asked}` : "–";
  return partialNote(ex);
}

// ---- Executors

function healthOf(e: ExecutorJson): "up" | "down" | "unknown" {
  return e.healthy === null ? "unknown" : e.healthy ? "up" : "down";
}

async function loadExecutors(): Promise<void> {
  const d = (await api<ExecutorsData>("GET", "/v1/executors")).data;
  const tbody = $("executors-table").querySelector("tbody")!;
  tbody.replaceChildren();
  let up = 0;
  for (const e of d.executors) {
    const h = healthOf(e);
    if (h === "up") up++;
    const tr = el("tr", { "data-address": e.address, "data-health": h });
    const who = el("td", {
      title: `${e.source === "seed" ? "seed" : "discovered"}${e.pubKey ? `\nkey ${e.pubKey}` : ""}`,
    });
    who.appendChild(el("div", { class: "mono" }, e.address));
    who.appendChild(el("div", { class: "muted small" }, `${e.name ?? e.source} · ${short(e.pubKey ?? "", 12)}`));
    tr.appendChild(who);
    const hc = el("td", { class: h, title: e.lastError ?? "" });
    hc.appendChild(el("span", { class: `dot dot-${h}` }));
    hc.appendChild(document.createTextNode(h === "down" ? `down${e.lastError ? ` · ${e.lastError}` : ""}` : h));
    tr.appendChild(hc);
    tr.appendChild(el("td", null, e.lastLatencyMs === null ? "–" : `${e.lastLatencyMs} ms`));
    tr.appendChild(el("td", { class: e.circuit ? "" : "muted" }, e.circuit || "n/a"));
    tr.appendChild(el("td", null, e.tasks === null ? "–" : e.tasks));
    tbody.appendChild(tr);
  }
  $("t-exec").textContent = `${up} / ${d.executors.length}`;
  const ratio = d.cache?.hitRatio;
  $("cache-ratio").textContent = ratio === null || ratio === undefined ? "n/a" : `${(ratio * 100).toFixed(1)} %`;
  $("cache-ratio").title = d.cache?.available ? "" : "no cache configured";
}

// ---- task detail

/** Puts the detail card where it belongs: the right column, or (narrow) right under the selected row. */
function placeDetail(): void {
  const card = $("detail-card");
  const row = state.selected
    ? document.querySelector<HTMLTableRowElement>(`#tasks-table tbody tr[data-task-id="${CSS.escape(state.selected)}"]`)
    : null;
  parkDetail();
  if (NARROW.matches && row) {
    const holder = el("tr", { id: "detail-row" });
    const td = el("td", { colspan: "7" });
    holder.appendChild(td);
    td.appendChild(card);
    row.after(holder);
  }
}

async function loadDetail(id: string): Promise<void> {
  for (const tr of document.querySelectorAll("#tasks-table tbody tr[data-task-id]"))
    tr.classList.toggle("selected", tr.getAttribute("data-task-id") === id);
  try {
    const j = await api<TaskJson>("POST", "/v1/task/getbyid", { taskID: id });
    renderDetail(j.data, j.holders, j.executors);
  } catch (e) {
    const d = $("detail");
    d.replaceChildren(el("p", { class: "err" }, `Could not load task ${id}: ${(e as Error).message}`));
    d.removeAttribute("data-task-id");
    d.hidden = false;
    $("detail-empty").hidden = true;
  }
}

function renderDetail(t: TaskJson, holders: string[] | undefined, ex: Report | undefined): void {
  const d = $("detail");
  d.replaceChildren();
  d.setAttribute("data-task-id", t.iD);
  $("detail-empty").hidden = true;
  d.hidden = false;
  const dl = el("dl", { class: "kv" });
  const row = (k: string, v: string | Node, cls?: string): void => {
    dl.appendChild(el("dt", null, k));
    const dd = el("dd", cls ? { class: cls } : null);
    if (v instanceof Node) dd.appendChild(v);
    else dd.textContent = v;
    dl.appendChild(dd);
  };
  row("Task ID", t.iD, "mono");
  row("Name", t.name || "–");
  row("Status", pill(t.status));
  row("Type", taskType(t) + (t.algoParam?.algo ? ` · ${t.algoParam.algo}` : ""));
  if (t.algoParam?.modelTaskID) row("Model task", t.algoParam.modelTaskID, "mono");
  row("Requester", b64ToHex(t.requester) || "–", "mono");
  row("Published", nsToLocal(t.publishTime));
  row("Started", nsToLocal(t.startTime));
  row("Ended", nsToLocal(t.endTime));
  if (t.errMessage) row("Error", t.errMessage);
  d.appendChild(dl);

  const hs = holders ?? [];
  d.appendChild(el("h3", null, `Held by ${holders ? hs.length : "?"} Executor(s)${ex ? ` of ${ex.asked} asked` : ""}`));
  const ul = el("ul", { id: "holders", class: "mono" });
  for (const a of hs) ul.appendChild(el("li", { "data-address": a }, a));
  if (!holders) ul.appendChild(el("li", { class: "muted" }, "not known (answer came from the cache)"));
  d.appendChild(ul);

  d.appendChild(el("h3", null, `Data sets (${(t.dataSets ?? []).length})`));
  const table = el("table", { id: "datasets-table" });
  const head = el("tr");
  for (const h of ["Executor", "Address", "Labels", "Confirmed", "Rejected", "Copy"])
    head.appendChild(el("th", null, h));
  const thead = el("thead");
  thead.appendChild(head);
  table.appendChild(thead);
  const tb = el("tbody");
  for (const ds of t.dataSets ?? []) {
    const tr = el("tr", { "data-address": ds.address ?? "" });
    const ek = b64ToHex(ds.executor);
    tr.appendChild(el("td", { class: "mono", title: ek }, short(ek, 8)));
    tr.appendChild(el("td", { class: "mono" }, ds.address || "–"));
    tr.appendChild(el("td", null, ds.isTagPart ? "yes" : "no"));
    tr.appendChild(el("td", { class: "time" }, nsToLocal(ds.confirmedAt)));
    tr.appendChild(el("td", { class: "time" }, nsToLocal(ds.rejectedAt)));
    tr.appendChild(el("td", null, holders ? (hs.includes(ds.address ?? "") ? "yes" : "no") : "?"));
    tb.appendChild(tr);
  }
  table.appendChild(tb);
  d.appendChild(table);
}

function clearDetail(): void {
  $("detail").hidden = true;
  $("detail").removeAttribute("data-task-id");
  $("detail-empty").hidden = false;
}

// ---- refresh loop

async function refresh(): Promise<void> {
  // A refresh asked for while one runs (a filter changed) runs right after it.
  if (state.busy) {
    state.again = true;
    return;
  }
  state.busy = true;
  const v = readForm();
  const notes: string[] = [];
  const errors: string[] = [];
  try {
    await Promise.all([
      loadExecutors().catch((e: Error) => errors.push(`Executors: ${e.message}`)),
      loadTasks(v).then(
        (n) => n && notes.push(n),
        (e: Error) => errors.push(`Tasks: ${e.message}`),
      ),
    ]);
    placeDetail();
    if (state.selected) {
      await loadDetail(state.selected);
      placeDetail();
      scrollSelectedIntoView();
    } else clearDetail();
    banner([...errors, ...notes].join(" · "), errors.length > 0);
    $("updated").textContent = `updated ${localClock(new Date())}`;
    document.body.setAttribute("data-refreshed", String(Date.now()));
    document.body.removeAttribute("aria-busy");
  } finally {
    state.busy = false;
    if (state.again) {
      state.again = false;
      void refresh();
    } else schedule();
  }
}

/** After a click (not on every timed refresh), the detail is brought into view near its row. */
let scrollPending = false;
function scrollSelectedIntoView(): void {
  if (!scrollPending) return;
  scrollPending = false;
  const target = NARROW.matches ? document.getElementById("detail-row") : $("detail-card");
  target?.scrollIntoView({ block: "nearest" });
}

function schedule(): void {
  clearTimeout(state.timer);
  if (input("auto").checked) state.timer = window.setTimeout(() => void refresh(), refreshSec * 1000);
}

$("filters").addEventListener("submit", (ev) => {
  ev.preventDefault();
  commit();
});
$("f-status").addEventListener("change", commit);
$("clear").addEventListener("click", () => {
  writeForm({ key: "", status: "", from: "", to: "", limit: "", task: "" });
  commit();
});
$("tasks-table").addEventListener("click", () => {
  scrollPending = true;
});
$("refresh").addEventListener("click", () => void refresh());
input("auto").addEventListener("change", schedule);
NARROW.addEventListener("change", placeDetail);
window.addEventListener("popstate", () => {
  writeForm(viewFromUrl());
  void refresh();
});

writeForm(viewFromUrl());
// A shared link to a task opens with the task in view.
scrollPending = state.selected !== null;
void refresh();
