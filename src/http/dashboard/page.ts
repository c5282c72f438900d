/**
 * The dashboard's HTML and CSS. The page carries no inline script or style: its script
 * is src/http/dashboard/app.ts (served as /dashboard.js), its style this DASHBOARD_CSS
 * (served as /dashboard.css), so the Content-Security-Policy can be strict
 * (`script-src 'self'; style-src 'self'`). Status colours are classes (`st-<Status>`).
 */
export const DASHBOARD_CSS = `
:root { --bg:#f4f6f8; --card:#fff; --ink:#1d2733; --muted:#5f6b7a; --line:#dde3ea; --accent:#2563eb;
        --ok:#15803d; --bad:#b91c1c; --warn:#b45309; font-family: system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; }
* { box-sizing: border-box; }
[hidden] { display: none !important; }
body { margin:0; background:var(--bg); color:var(--ink); font-size:14px; }
header { display:flex; align-items:center; gap:16px; padding:10px 20px; background:#111827; color:#fff; flex-wrap:wrap; }
header h1 { font-size:17px; margin:0; font-weight:600; }
header .sp { flex:1; }
header label { font-size:13px; color:#cbd5e1; }
header button { background:#374151; color:#fff; border:0; border-radius:4px; padding:5px 10px; cursor:pointer; }
#updated { font-size:12px; color:#9ca3af; font-variant-numeric: tabular-nums; }
#banner { margin:10px 20px 0; padding:8px 12px; border-radius:6px; background:#fef3c7; color:#78350f; border:1px solid #fcd34d; }
#banner.error { background:#fee2e2; color:#7f1d1d; border-color:#fca5a5; }
main { display:grid; grid-template-columns: minmax(0, 3fr) minmax(340px, 2fr); gap:16px; padding:14px 20px 24px; }
.card { background:var(--card); border:1px solid var(--line); border-radius:8px; padding:12px 14px; min-width:0; }
.card h2 { font-size:14px; margin:0 0 10px; text-transform:uppercase; letter-spacing:.04em; color:var(--muted); }
.card h3 { font-size:13px; margin:12px 0 6px; text-transform:uppercase; letter-spacing:.04em; color:var(--muted); }
.card h2 .note { text-transform:none; letter-spacing:0; font-weight:400; }
.tiles { grid-column: 1 / -1; display:grid; grid-template-columns: repeat(4, 1fr); gap:16px; }
.tile .v { font-size:24px; font-weight:600; }
.tile .k { color:var(--muted); font-size:12px; text-transform:uppercase; letter-spacing:.04em; }
form.filters { display:flex; flex-wrap:wrap; gap:8px; align-items:flex-end; margin-bottom:10px; }
form.filters label { display:flex; flex-direction:column; font-size:12px; color:var(--muted); gap:2px; }
input, select { font:inherit; padding:4px 6px; border:1px solid var(--line); border-radius:4px; background:#fff; }
#f-key { width:220px; font-family: ui-monospace, Menlo, monospace; font-size:12px; }
#f-limit { width:70px; }
input.time-in { width:160px; font-variant-numeric: tabular-nums; }
#executors-table td { white-space:nowrap; }
#executors-table td.down { white-space:normal; }
button.primary { background:var(--accent); color:#fff; border:0; border-radius:4px; padding:6px 12px; cursor:pointer; font:inherit; }
button.link { background:none; border:0; color:var(--accent); cursor:pointer; padding:0; font:inherit; }
table { width:100%; border-collapse:collapse; }
th { text-align:left; font-size:12px; color:var(--muted); font-weight:600; border-bottom:1px solid var(--line); padding:5px 6px; white-space:nowrap; }
td { border-bottom:1px solid #eef1f4; padding:5px 6px; vertical-align:top; }
td.time { white-space:nowrap; }
tbody tr.clickable { cursor:pointer; }
tbody tr.clickable:hover { background:#f1f5ff; }
tbody tr.selected { background:#e0e9ff; }
#tasks-table > tbody > tr[data-task-id] > td { white-space:nowrap; }
#detail-row > td { white-space:normal; background:#f8faff; padding:8px; border-bottom:2px solid var(--accent); }
#detail-row .card { border-color:#c7d5fb; }
.mono { font-family: ui-monospace, Menlo, monospace; font-size:12px; }
.small { font-size:11px; }
.muted { color:var(--muted); }
.pill { display:inline-block; padding:1px 7px; border-radius:10px; font-size:12px; color:#fff; white-space:nowrap; background:#475569; }
.st-Confirming { --st:#64748b; } .st-Ready { --st:#0891b2; } .st-ToProcess { --st:#7c3aed; } .st-Processing { --st:#2563eb; }
.st-Finished { --st:#15803d; } .st-Failed { --st:#b91c1c; } .st-Rejected { --st:#b45309; } .st-other { --st:#475569; }
.pill[class*="st-"] { background:var(--st); }
.dot { display:inline-block; width:9px; height:9px; border-radius:50%; margin-right:6px; vertical-align:middle; background:#9ca3af; }
.dot-up { background:#15803d; } .dot-down { background:#b91c1c; }
.up { color:var(--ok); } .down { color:var(--bad); font-weight:600; } .unknown { color:var(--muted); }
#tasks-wrap { max-height: 52vh; overflow:auto; }
#tasks-wrap thead th { position:sticky; top:0; background:#fff; z-index:1; }
#detail { overflow-x:auto; }
#datasets-table td, #datasets-table th { padding:4px 4px; }
#chart-wrap { margin: 4px 0 10px; }
#status-chart text { font-size:12px; fill:var(--ink); }
#status-chart g.bar-row { cursor:pointer; }
#status-chart rect.bar { fill:var(--st); }
#status-chart g.dimmed { opacity:.35; }
#status-chart g.selected rect.bar { stroke:#111827; stroke-width:2px; }
#status-chart g.selected text { font-weight:700; }
dl.kv { display:grid; grid-template-columns: 110px minmax(0,1fr); gap:3px 10px; margin:0 0 10px; }
dl.kv dt { color:var(--muted); } dl.kv dd { margin:0; overflow-wrap:anywhere; }
.err { color:var(--bad); font-size:12px; }
#detail-empty { color:var(--muted); }
.right { display:flex; flex-direction:column; gap:16px; min-width:0; }
@media (max-width: 1000px) {
  main { grid-template-columns: 1fr; }
  .tiles { grid-template-columns: repeat(2, 1fr); }
  #tasks-wrap { max-height:none; }
}
`;

export const DASHBOARD_HTML = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>dai-gateway · cluster dashboard</title>
<link rel="icon" href="data:,">
<link rel="stylesheet" href="/dashboard.css">
<script type="module" src="/dashboard.js"></script>
</head>
<body aria-busy="true">
<header>
  <h1>dai-gateway · cluster dashboard</h1>
  <span class="sp"></span>
  <span id="updated">loading…</span>
  <label><input type="checkbox" id="auto" checked> auto-refresh</label>
  <button id="refresh" type="button">Refresh now</button>
</header>
<div id="banner" role="status" hidden></div>
<main>
  <section class="tiles">
    <div class="card tile"><div class="k">Tasks shown</div><div class="v" id="t-tasks">–</div></div>
    <div class="card tile"><div class="k">Executors up</div><div class="v" id="t-exec">–</div></div>
    <div class="card tile"><div class="k">Cache hit ratio</div><div class="v" id="cache-ratio">–</div></div>
    <div class="card tile"><div class="k">Last list answered by</div><div class="v" id="t-answered">–</div></div>
  </section>

  <section class="card" id="tasks-card">
    <h2>Tasks across the cluster <span class="muted note">(newest first)</span></h2>
    <form class="filters" id="filters">
      <label>Requester or Executor key (hex)<input id="f-key" placeholder="any (whole cluster)" autocomplete="off" spellcheck="false"></label>
      <label>Status<select id="f-status">
        <option value="">any</option><option>Confirming</option><option>Ready</option><option>ToProcess</option>
        <option>Processing</option><option>Finished</option><option>Failed</option><option>Rejected</option>
      </select></label>
      <label>Published from<input id="f-from" class="time-in" placeholder="2026-11-28 09:00" autocomplete="off" spellcheck="false"></label>
      <label>to (a date: the whole day)<input id="f-to" class="time-in" placeholder="2026-11-28 18:00" autocomplete="off" spellcheck="false"></label>
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
      <p class="muted" id="tasks-empty" hidden>No task matches these filters.</p>
    </div>
  </section>

  <div class="right" id="right">
    <section class="card" id="executors-card">
      <h2>Executors</h2>
      <table id="executors-table">
        <thead><tr><th>Executor</th><th>Health</th><th>Latency</th><th>Circuit</th><th>Tasks</th></tr></thead>
        <tbody></tbody>
      </table>
    </section>
    <section class="card" id="detail-card">
      <h2>Task detail</h2>
      <p id="detail-empty">Click a task to see its data sets and which Executors hold it.</p>
      <div id="detail" hidden></div>
    </section>
  </div>
</main>
</body>
</html>
`;
