/**
 * The dashboard: one self-contained HTML page (inline CSS, vanilla JS, inline SVG),
 * kept as a string so `npm run build` ships it with no copy step and no network.
 * It only calls the gateway's own JSON routes (POST /v1/task/list, /v1/task/getbyid,
 * GET /v1/executors). Text from tasks is inserted with textContent, never as HTML.
 * The script avoids backticks and "${" so it can live in this template literal.
 */
export const DASHBOARD_HTML = String.raw`<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>dai-gateway · cluster dashboard</title>
<link rel="icon" href="data:,">
<style>
  :root { --bg:#f4f6f8; --card:#fff; --ink:#1d2733; --muted:#5f6b7a; --line:#dde3ea; --accent:#2563eb;
          --ok:#15803d; --bad:#b91c1c; --warn:#b45309; font-family: system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; }
  * { box-sizing: border-box; }
  body { margin:0; background:var(--bg); color:var(--ink); font-size:14px; }
  header { display:flex; align-items:center; gap:16px; padding:10px 20px; background:#111827; color:#fff; }
  header h1 { font-size:17px; margin:0; font-weight:600; }
  header .sp { flex:1; }
  header label { font-size:13px; color:#cbd5e1; }
  header button { background:#374151; color:#fff; border:0; border-radius:4px; padding:5px 10px; cursor:pointer; }
  #updated { font-size:12px; color:#9ca3af; }
  #banner { display:none; margin:10px 20px 0; padding:8px 12px; border-radius:6px; background:#fef3c7; color:#78350f; border:1px solid #fcd34d; }
  #banner.error { background:#fee2e2; color:#7f1d1d; border-color:#fca5a5; }
  main { display:grid; grid-template-columns: minmax(0, 3fr) minmax(340px, 2fr); gap:16px; padding:14px 20px 24px; }
  .card { background:var(--card); border:1px solid var(--line); border-radius:8px; padding:12px 14px; min-width:0; }
  .card h2 { font-size:14px; margin:0 0 10px; text-transform:uppercase; letter-spacing:.04em; color:var(--muted); }
  .tiles { grid-column: 1 / -1; display:grid; grid-template-columns: repeat(4, 1fr); gap:16px; }
  .tile .v { font-size:24px; font-weight:600; }
  .tile .k { color:var(--muted); font-size:12px; text-transform:uppercase; letter-spacing:.04em; }
  form.filters { display:flex; flex-wrap:wrap; gap:8px; align-items:flex-end; margin-bottom:10px; }
  form.filters label { display:flex; flex-direction:column; font-size:12px; color:var(--muted); gap:2px; }
  input, select { font:inherit; padding:4px 6px; border:1px solid var(--line); border-radius:4px; background:#fff; }
  #f-key { width:220px; font-family: ui-monospace, Menlo, monospace; font-size:12px; }
  #f-limit { width:70px; }
  button.primary { background:var(--accent); color:#fff; border:0; border-radius:4px; padding:6px 12px; cursor:pointer; font:inherit; }
  button.link { background:none; border:0; color:var(--accent); cursor:pointer; padding:0; font:inherit; }
  table { width:100%; border-collapse:collapse; }
  th { text-align:left; font-size:12px; color:var(--muted); font-weight:600; border-bottom:1px solid var(--line); padding:5px 6px; white-space:nowrap; }
  td { border-bottom:1px solid #eef1f4; padding:5px 6px; vertical-align:top; }
  td.time { white-space:nowrap; }
  tbody tr.clickable { cursor:pointer; }
  tbody tr.clickable:hover { background:#f1f5ff; }
  tbody tr.selected { background:#e0e9ff; }
  .mono { font-family: ui-monospace, Menlo, monospace; font-size:12px; }
  .muted { color:var(--muted); }
  .pill { display:inline-block; padding:1px 7px; border-radius:10px; font-size:12px; color:#fff; white-space:nowrap; }
  .dot { display:inline-block; width:9px; height:9px; border-radius:50%; margin-right:6px; vertical-align:middle; }
  .up { color:var(--ok); } .down { color:var(--bad); font-weight:600; } .unknown { color:var(--muted); }
  #tasks-wrap { max-height: 52vh; overflow:auto; }
  #tasks-wrap thead th { position:sticky; top:0; background:#fff; z-index:1; }
  #detail { overflow-x:auto; }
  #datasets-table td, #datasets-table th { padding:4px 4px; }
  #chart-wrap { margin: 4px 0 10px; }
  #status-chart text { font-size:12px; fill:var(--ink); }
  #status-chart rect.bar { cursor:pointer; }
  dl.kv { display:grid; grid-template-columns: 110px minmax(0,1fr); gap:3px 10px; margin:0 0 10px; }
  dl.kv dt { color:var(--muted); } dl.kv dd { margin:0; overflow-wrap:anywhere; }
  .err { color:var(--bad); font-size:12px; }
  #detail-empty { color:var(--muted); }
  .right { display:flex; flex-direction:column; gap:16px; min-width:0; }
  @media (max-width: 1000px) { main { grid-template-columns: 1fr; } .tiles { grid-template-columns: repeat(2, 1fr); } }
</style>
</head>
<body>
<header>
  <h1>dai-gateway · cluster dashboard</h1>
  <span class="sp"></span>
  <span id="updated">loading…</span>
  <label><input type="checkbox" id="auto" checked> auto-refresh</label>
  <button id="refresh" type="button">Refresh now</button>
</header>
<div id="banner" role="status"></div>
<main>
  <section class="tiles">
    <div class="card tile"><div class="k">Tasks shown</div><div class="v" id="t-tasks">–</div></div>
    <div class="card tile"><div class="k">Executors up</div><div class="v" id="t-exec">–</div></div>
    <div class="card tile"><div class="k">Cache hit ratio</div><div class="v" id="cache-ratio">–</div></div>
    <div class="card tile"><div class="k">Last list answered by</div><div class="v" id="t-answered">–</div></div>
  </section>

  <section class="card" id="tasks-card">
    <h2>Tasks across the cluster <span class="muted" style="text-transform:none">(newest first)</span></h2>
    <form class="filters" id="filters">
      <label>Requester or Executor key (hex)<input id="f-key" placeholder="any (whole cluster)" autocomplete="off" spellcheck="false"></label>
      <label>Status<select id="f-status">
        <option value="">any</option><option>Confirming</option><option>Ready</option><option>ToProcess</option>
        <option>Processing</option><option>Finished</option><option>Failed</option><option>Rejected</option>
      </select></label>
      <label>Published from<input type="datetime-local" id="f-from" step="1"></label>
      <label>to<input type="datetime-local" id="f-to" step="1"></label>
      <label>Limit<input type="number" id="f-limit" min="0" value="200"></label>
      <button class="primary" id="apply" type="submit">Apply</button>
      <button class="link" id="clear" type="button">clear</button>
      <span class="err" id="filter-error"></span>
    </form>
    <div id="chart-wrap"><svg id="status-chart" width="100%" height="0" role="img" aria-label="tasks by status"></svg></div>
    <div id="tasks-wrap">
      <table id="tasks-table">
        <thead><tr><th>Published</th><th>Task ID</th><th>Name</th><th>Status</th><th>Type</th><th>Requester</th><th>Data sets</th></tr></thead>
        <tbody></tbody>
      </table>
      <p class="muted" id="tasks-empty" style="display:none">No task matches these filters.</p>
    </div>
  </section>

  <div class="right">
    <section class="card" id="executors-card">
      <h2>Executors</h2>
      <table id="executors-table">
        <thead><tr><th>Address</th><th>Health</th><th>Latency</th><th>Circuit</th><th>Tasks</th></tr></thead>
        <tbody></tbody>
      </table>
    </section>
    <section class="card" id="detail-card">
      <h2>Task detail</h2>
      <p id="detail-empty">Click a task to see its data sets and which Executors hold it.</p>
      <div id="detail" style="display:none"></div>
    </section>
  </div>
</main>
<script>
"use strict";
(function () {
  var STATUSES = ["Confirming", "Ready", "ToProcess", "Processing", "Finished", "Failed", "Rejected"];
  var COLORS = { Confirming: "#64748b", Ready: "#0891b2", ToProcess: "#7c3aed", Processing: "#2563eb",
                 Finished: "#15803d", Failed: "#b91c1c", Rejected: "#b45309" };
  var params = new URLSearchParams(location.search);
  var refreshSec = Math.max(1, Number(params.get("refresh")) || 5);
  var state = { selected: null, timer: null, busy: false, again: false };

  function $(id) { return document.getElementById(id); }
  function el(tag, attrs, text) {
    var e = document.createElement(tag);
    if (attrs) for (var k in attrs) { if (attrs[k] !== undefined && attrs[k] !== null) e.setAttribute(k, attrs[k]); }
    if (text !== undefined && text !== null) e.textContent = String(text);
    return e;
  }
  function pad(n) { return (n < 10 ? "0" : "") + n; }
  function nsToLocal(ns) {
    if (!ns || ns === "0") return "–";
    var d = new Date(Number(BigInt(ns) / 1000000n));
    return d.getFullYear() + "-" + pad(d.getMonth() + 1) + "-" + pad(d.getDate()) + " " +
      pad(d.getHours()) + ":" + pad(d.getMinutes()) + ":" + pad(d.getSeconds());
  }
  function localInputToNs(v) {
    if (!v) return null;
    var ms = new Date(v).getTime();
    if (!isFinite(ms)) return null;
    return (BigInt(ms) * 1000000n).toString();
  }
  function b64ToHex(b64) {
    if (!b64) return "";
    var bin = atob(b64), out = "";
    for (var i = 0; i < bin.length; i++) out += (bin.charCodeAt(i) + 256).toString(16).slice(1);
    return out;
  }
  function short(hex, n) { n = n || 12; return !hex ? "–" : hex.length > n ? hex.slice(0, n) + "…" : hex; }
  function pill(status) {
    return el("span", { "class": "pill", style: "background:" + (COLORS[status] || "#475569") }, status || "–");
  }
  function taskType(t) { return (t.algoParam && t.algoParam.taskType) || "LEARN"; }

  function banner(text, isError) {
    var b = $("banner");
    b.textContent = text || "";
    b.className = isError ? "error" : "";
    b.style.display = text ? "block" : "none";
  }

  function api(method, path, body) {
    var init = { method: method, headers: {} };
    if (body) { init.headers["content-type"] = "application/json"; init.body = JSON.stringify(body); }
    return fetch(path, init).then(function (res) {
      return res.json().catch(function () { return { code: "HTTP" + res.status, message: res.statusText }; });
    }).then(function (j) {
      if (j.code !== "0") { var e = new Error(j.message || j.code); e.body = j; throw e; }
      return j;
    });
  }

  function filters() {
    var key = $("f-key").value.trim();
    if (key && !/^[0-9a-fA-F]{128}$/.test(key)) throw new Error("the key must be 128 hex characters");
    var q = {};
    if (key) q.pubKey = key.toLowerCase();
    var from = localInputToNs($("f-from").value), to = localInputToNs($("f-to").value);
    if (from) q.timeStart = from;
    if (to) q.timeEnd = to;
    var limit = Number($("f-limit").value);
    if (!(limit >= 0)) throw new Error("limit must be 0 (no cap) or more");
    q.limit = String(Math.floor(limit));
    var status = $("f-status").value;
    return { base: q, status: status };
  }

  function drawChart(counts, total) {
    var svg = $("status-chart");
    while (svg.firstChild) svg.removeChild(svg.firstChild);
    var rows = STATUSES.filter(function (s) { return counts[s]; });
    var h = 20, w = svg.clientWidth || 600, labelW = 92, numW = 40;
    svg.setAttribute("height", String(rows.length * h + 4));
    var max = Math.max.apply(null, rows.map(function (s) { return counts[s]; }).concat([1]));
    var ns = "http://www.w3.org/2000/svg";
    rows.forEach(function (s, i) {
      var y = i * h + 2;
      var g = document.createElementNS(ns, "g");
      g.setAttribute("data-status", s);
      var label = document.createElementNS(ns, "text");
      label.setAttribute("x", "0"); label.setAttribute("y", String(y + 13)); label.textContent = s;
      var bar = document.createElementNS(ns, "rect");
      var bw = Math.max(2, Math.round((w - labelW - numW) * counts[s] / max));
      bar.setAttribute("class", "bar"); bar.setAttribute("x", String(labelW)); bar.setAttribute("y", String(y + 2));
      bar.setAttribute("width", String(bw)); bar.setAttribute("height", String(h - 6)); bar.setAttribute("rx", "3");
      bar.setAttribute("fill", COLORS[s]);
      var title = document.createElementNS(ns, "title");
      title.textContent = s + ": " + counts[s] + " of " + total + " (click to filter)";
      bar.appendChild(title);
      bar.addEventListener("click", function () { $("f-status").value = s; refresh(); });
      var num = document.createElementNS(ns, "text");
      num.setAttribute("x", String(labelW + bw + 6)); num.setAttribute("y", String(y + 13)); num.textContent = String(counts[s]);
      g.appendChild(label); g.appendChild(bar); g.appendChild(num);
      svg.appendChild(g);
    });
  }

  function renderTasks(tasks) {
    var tbody = $("tasks-table").querySelector("tbody");
    tbody.textContent = "";
    tasks.forEach(function (t) {
      var tr = el("tr", { "class": "clickable" + (t.iD === state.selected ? " selected" : ""), "data-task-id": t.iD, "data-status": t.status });
      tr.appendChild(el("td", { "class": "mono" }, nsToLocal(t.publishTime)));
      tr.appendChild(el("td", { "class": "mono", title: t.iD }, short(t.iD, 13)));
      tr.appendChild(el("td", null, t.name || "–"));
      var st = el("td"); st.appendChild(pill(t.status)); tr.appendChild(st);
      tr.appendChild(el("td", null, taskType(t)));
      var req = b64ToHex(t.requester);
      tr.appendChild(el("td", { "class": "mono", title: req }, short(req)));
      tr.appendChild(el("td", null, (t.dataSets || []).length));
      tr.addEventListener("click", function () { showDetail(t.iD); });
      tbody.appendChild(tr);
    });
    $("tasks-empty").style.display = tasks.length ? "none" : "block";
    $("t-tasks").textContent = String(tasks.length);
  }

  function reportText(ex) {
    if (!ex) return "";
    var s = ex.answered + " of " + ex.asked;
    return s;
  }

  function partialNote(ex) {
    if (!ex || !ex.failed || !ex.failed.length) return "";
    return "Partial answer: " + ex.answered + " of " + ex.asked + " Executors answered; failed: " +
      ex.failed.map(function (f) { return f.address + " (" + f.reason + ")"; }).join(", ");
  }

  function loadTasks() {
    var f;
    try { f = filters(); $("filter-error").textContent = ""; }
    catch (e) { $("filter-error").textContent = e.message; return Promise.resolve(); }
    var q = Object.assign({}, f.base);
    if (f.status) q.status = f.status;
    var main = api("POST", "/v1/task/list", q);
    // The chart counts statuses over the same key/time window without the status filter.
    var all = f.status ? api("POST", "/v1/task/list", f.base) : main;
    return Promise.all([main, all]).then(function (r) {
      var tasks = r[0].data.fLTasks || [], every = r[1].data.fLTasks || [];
      renderTasks(tasks);
      var counts = {};
      every.forEach(function (t) { counts[t.status] = (counts[t.status] || 0) + 1; });
      drawChart(counts, every.length);
      $("t-answered").textContent = reportText(r[0].executors);
      return partialNote(r[0].executors);
    });
  }

  function healthOf(e) { return e.healthy === null ? "unknown" : e.healthy ? "up" : "down"; }

  function loadExecutors() {
    return api("GET", "/v1/executors").then(function (j) {
      var d = j.data, tbody = $("executors-table").querySelector("tbody");
      tbody.textContent = "";
      var up = 0;
      d.executors.forEach(function (e) {
        var h = healthOf(e); if (h === "up") up++;
        var tr = el("tr", { "data-address": e.address, "data-health": h });
        var a = el("td", { "class": "mono", title: (e.source === "seed" ? "seed" : "discovered") + (e.pubKey ? "\nkey " + e.pubKey : "") }, e.address);
        tr.appendChild(a);
        var hc = el("td", { "class": h, title: e.lastError || "" });
        hc.appendChild(el("span", { "class": "dot", style: "background:" + (h === "up" ? "#15803d" : h === "down" ? "#b91c1c" : "#9ca3af") }));
        hc.appendChild(document.createTextNode(h === "down" ? "down" + (e.lastError ? " · " + e.lastError : "") : h));
        tr.appendChild(hc);
        tr.appendChild(el("td", null, e.lastLatencyMs === null ? "–" : e.lastLatencyMs + " ms"));
        tr.appendChild(el("td", { "class": e.circuit ? "" : "muted" }, e.circuit || "n/a"));
        tr.appendChild(el("td", null, e.tasks === null ? "–" : e.tasks));
        tbody.appendChild(tr);
      });
      $("t-exec").textContent = up + " / " + d.executors.length;
      var ratio = d.cache && d.cache.hitRatio;
      $("cache-ratio").textContent = ratio === null || ratio === undefined ? "n/a" : (ratio * 100).toFixed(1) + " %";
      $("cache-ratio").title = d.cache && d.cache.available ? "" : "no cache configured";
    });
  }

  function showDetail(id) {
    state.selected = id;
    Array.prototype.forEach.call(document.querySelectorAll("#tasks-table tbody tr"), function (tr) {
      tr.classList.toggle("selected", tr.getAttribute("data-task-id") === id);
    });
    return api("POST", "/v1/task/getbyid", { taskID: id }).then(function (j) {
      renderDetail(j.data, j.holders, j.executors);
    }, function (e) {
      var d = $("detail"); d.textContent = ""; d.style.display = "block"; $("detail-empty").style.display = "none";
      d.appendChild(el("p", { "class": "err" }, "Could not load task " + id + ": " + e.message));
    });
  }

  function renderDetail(t, holders, ex) {
    var d = $("detail");
    d.textContent = "";
    d.setAttribute("data-task-id", t.iD);
    $("detail-empty").style.display = "none";
    d.style.display = "block";
    var dl = el("dl", { "class": "kv" });
    function row(k, v, cls) { dl.appendChild(el("dt", null, k)); var dd = el("dd", cls ? { "class": cls } : null); if (v instanceof Node) dd.appendChild(v); else dd.textContent = v; dl.appendChild(dd); }
    row("Task ID", t.iD, "mono");
    row("Name", t.name || "–");
    row("Status", pill(t.status));
    row("Type", taskType(t) + (t.algoParam && t.algoParam.algo ? " · " + t.algoParam.algo : ""));
    if (t.algoParam && t.algoParam.modelTaskID) row("Model task", t.algoParam.modelTaskID, "mono");
    row("Requester", b64ToHex(t.requester) || "–", "mono");
    row("Published", nsToLocal(t.publishTime));
    row("Started", nsToLocal(t.startTime));
    row("Ended", nsToLocal(t.endTime));
    if (t.errMessage) row("Error", t.errMessage);
    d.appendChild(dl);

    var hs = holders || [];
    d.appendChild(el("h2", null, "Held by " + (holders ? hs.length : "?") + " Executor(s)" + (ex ? " of " + ex.asked + " asked" : "")));
    var ul = el("ul", { id: "holders", "class": "mono" });
    hs.forEach(function (a) { ul.appendChild(el("li", { "data-address": a }, a)); });
    if (!holders) ul.appendChild(el("li", { "class": "muted" }, "not known (answer came from the cache)"));
    d.appendChild(ul);

    d.appendChild(el("h2", null, "Data sets (" + (t.dataSets || []).length + ")"));
    var table = el("table", { id: "datasets-table" });
    var head = el("tr");
    ["Executor", "Address", "Labels", "Confirmed", "Rejected", "Copy"].forEach(function (h) { head.appendChild(el("th", null, h)); });
    var thead = el("thead"); thead.appendChild(head); table.appendChild(thead);
    var tb = el("tbody");
    (t.dataSets || []).forEach(function (ds) {
      var tr = el("tr", { "data-address": ds.address || "" });
      var ek = b64ToHex(ds.executor);
      tr.appendChild(el("td", { "class": "mono", title: ek }, short(ek, 8)));
      tr.appendChild(el("td", { "class": "mono" }, ds.address || "–"));
      tr.appendChild(el("td", null, ds.isTagPart ? "yes" : "no"));
      tr.appendChild(el("td", { "class": "time" }, nsToLocal(ds.confirmedAt)));
      tr.appendChild(el("td", { "class": "time" }, nsToLocal(ds.rejectedAt)));
      tr.appendChild(el("td", null, holders ? (hs.indexOf(ds.address) >= 0 ? "yes" : "no") : "?"));
      tb.appendChild(tr);
    });
    table.appendChild(tb);
    d.appendChild(table);
  }

  function refresh() {
    // A refresh asked for while one runs (a filter changed) runs right after it.
    if (state.busy) { state.again = true; return Promise.resolve(); }
    state.busy = true;
    var notes = [];
    var jobs = [
      loadExecutors().catch(function (e) { notes.push("Executors: " + e.message); }),
      loadTasks().then(function (n) { if (n) notes.push(n); }, function (e) { notes.push("Tasks: " + e.message); }),
    ];
    if (state.selected) jobs.push(showDetail(state.selected));
    return Promise.all(jobs).then(function () {
      var errors = notes.filter(function (n) { return n.indexOf("Partial answer") !== 0; });
      banner(notes.join(" · "), errors.length > 0);
      $("updated").textContent = "updated " + new Date().toLocaleTimeString();
      document.body.setAttribute("data-refreshed", String(Date.now()));
    }).finally(function () {
      state.busy = false;
      if (state.again) { state.again = false; refresh(); } else schedule();
    });
  }

  function schedule() {
    clearTimeout(state.timer);
    if ($("auto").checked) state.timer = setTimeout(refresh, refreshSec * 1000);
  }

  $("filters").addEventListener("submit", function (ev) { ev.preventDefault(); refresh(); });
  $("f-status").addEventListener("change", function () { refresh(); });
  $("clear").addEventListener("click", function () {
    $("f-key").value = ""; $("f-status").value = ""; $("f-from").value = ""; $("f-to").value = ""; refresh();
  });
  $("refresh").addEventListener("click", function () { refresh(); });
  $("auto").addEventListener("change", schedule);
  refresh();
})();
</script>
</body>
</html>
`;
