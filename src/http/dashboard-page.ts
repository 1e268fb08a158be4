// The dashboard's markup and styles. Kept as strings so the page ships inside the compiled
// module: nothing to copy at build time, nothing to fetch from a CDN on an offline LAN.
import { DASHBOARD_SCRIPT as CORE_SCRIPT } from './dashboard-script.js'
import { MODELS_CARD, MODELS_SCRIPT } from './dashboard-models.js'

/** One script (the CSP allows exactly its hash): the core dashboard, then the model files card. */
const DASHBOARD_SCRIPT = CORE_SCRIPT + MODELS_SCRIPT

export const DASHBOARD_STYLE = `
:root {
  color-scheme: light dark;
  --bg: #f5f6f8; --card: #ffffff; --text: #1d2127; --muted: #6b7280; --line: #e6e8ec; --soft: #f0f2f5;
  --accent: #4f46e5; --accent-text: #ffffff;
  --ok: #15803d; --ok-bg: #dcfce7; --warn: #b45309; --warn-bg: #fef3c7; --bad: #b91c1c; --bad-bg: #fee2e2;
  --gone: #6b7280; --gone-bg: #eceef1;
  --bar: #e8eaee; --fill-ok: #22c55e; --fill-warm: #f59e0b; --fill-hot: #ef4444;
}
@media (prefers-color-scheme: dark) {
  :root {
    --bg: #0e1116; --card: #161a21; --text: #e6e9ee; --muted: #8b94a3; --line: #252b35; --soft: #1d222b;
    --accent: #818cf8; --accent-text: #0e1116;
    --ok: #4ade80; --ok-bg: #12301f; --warn: #fbbf24; --warn-bg: #33270c; --bad: #f87171; --bad-bg: #3a1618;
    --gone: #8b94a3; --gone-bg: #20252e;
    --bar: #262c36;
  }
}
* { box-sizing: border-box; }
[hidden] { display: none !important; }
body { margin: 0; background: var(--bg); color: var(--text); font: 14px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; }
main { max-width: 1280px; margin: 0 auto; padding: 20px 24px 32px; }
header { display: flex; align-items: center; justify-content: space-between; gap: 16px; margin-bottom: 16px; }
.brand { display: flex; align-items: baseline; gap: 10px; font-size: 20px; font-weight: 650; letter-spacing: -.01em; }
.brand .logo { color: var(--accent); }
.brand .self { font-size: 14px; font-weight: 400; color: var(--muted); }
.right { display: flex; align-items: center; gap: 10px; }
.conn { display: inline-flex; align-items: center; gap: 6px; font-size: 12.5px; color: var(--muted); }
.conn::before { content: ""; width: 8px; height: 8px; border-radius: 50%; background: var(--gone); }
.conn.live::before { background: var(--fill-ok); box-shadow: 0 0 0 3px color-mix(in srgb, var(--fill-ok) 25%, transparent); }
.conn.polling::before { background: var(--fill-warm); }
.conn.offline::before, .conn.locked::before { background: var(--fill-hot); }
button, input, select, textarea { font: inherit; color: inherit; }
button { border: 1px solid var(--line); background: var(--card); border-radius: 8px; padding: 6px 12px; cursor: pointer; }
button.primary { background: var(--accent); color: var(--accent-text); border-color: var(--accent); font-weight: 600; }
button:disabled { opacity: .6; cursor: progress; }
input, select, textarea { background: var(--soft); border: 1px solid var(--line); border-radius: 8px; padding: 6px 9px; }
textarea { width: 100%; resize: vertical; min-height: 64px; }
.card { background: var(--card); border: 1px solid var(--line); border-radius: 12px; padding: 16px 18px; margin-bottom: 16px; }
.card h2 { font-size: 14px; margin: 0 0 10px; font-weight: 650; display: flex; justify-content: space-between; align-items: baseline; }
.card h2 small { font-weight: 400; color: var(--muted); }
.banner { border-radius: 10px; padding: 10px 14px; margin-bottom: 16px; background: var(--bad-bg); color: var(--bad); }
.auth { display: flex; gap: 10px; align-items: center; flex-wrap: wrap; }
.auth label { display: flex; gap: 10px; align-items: center; }
.stats { display: grid; grid-template-columns: repeat(4, 1fr); gap: 16px; margin-bottom: 16px; }
.stat { background: var(--card); border: 1px solid var(--line); border-radius: 12px; padding: 12px 16px; }
.stat .label { font-size: 12px; color: var(--muted); text-transform: uppercase; letter-spacing: .05em; }
.stat .value { font-size: 24px; font-weight: 650; font-variant-numeric: tabular-nums; }
.stat .value small { font-size: 14px; font-weight: 400; color: var(--muted); }
table { width: 100%; border-collapse: collapse; }
th { white-space: nowrap; text-align: left; font-size: 12px; font-weight: 600; color: var(--muted); text-transform: uppercase; letter-spacing: .04em; padding: 6px 10px; border-bottom: 1px solid var(--line); }
td { padding: 9px 10px; border-bottom: 1px solid var(--line); vertical-align: middle; }
tbody tr:last-child td { border-bottom: 0; }
tr.gone td { color: var(--muted); }
tr.gone .chip, tr.gone .fill { opacity: .5; }
.num { font-variant-numeric: tabular-nums; white-space: nowrap; }
.nowrap { white-space: nowrap; }
.mono { white-space: nowrap; font-family: ui-monospace, SFMono-Regular, Menlo, Consolas, monospace; font-size: 12.5px; }
.muted { color: var(--muted); }
.small { font-size: 12px; }
.name { font-weight: 600; }
.tag { display: inline-block; margin-left: 6px; padding: 0 6px; border-radius: 6px; font-size: 11px; font-weight: 500; background: var(--soft); color: var(--muted); border: 1px solid var(--line); vertical-align: 1px; }
.chip { display: inline-block; margin: 1px 4px 1px 0; padding: 1px 8px; border-radius: 999px; background: var(--soft); border: 1px solid var(--line); font-size: 12.5px; }
.pill { display: inline-flex; align-items: center; gap: 6px; padding: 1px 9px; border-radius: 999px; font-size: 12.5px; font-weight: 600; }
.pill::before { content: ""; width: 7px; height: 7px; border-radius: 50%; background: currentColor; }
.pill.alive, .pill.ok { color: var(--ok); background: var(--ok-bg); }
.pill.suspect, .pill.aborted, .pill.reachable { color: var(--warn); background: var(--warn-bg); }
.pill.dead, .pill.error, .pill.unreachable { color: var(--bad); background: var(--bad-bg); }
.pill.left, .pill.checking, .pill.disabled { color: var(--gone); background: var(--gone-bg); }
.reason { display: block; font-size: 12px; color: var(--muted); margin-top: 2px; max-width: 260px; white-space: nowrap; overflow: hidden; text-overflow: ellipsis; }
.load { display: flex; align-items: center; gap: 8px; min-width: 130px; }
.bar { flex: 1; height: 8px; border-radius: 999px; background: var(--bar); overflow: hidden; }
.fill { height: 100%; border-radius: 999px; background: var(--fill-ok); transition: width .4s ease; }
.fill.warm { background: var(--fill-warm); } .fill.hot { background: var(--fill-hot); }
.grid { display: grid; grid-template-columns: minmax(0, 1.75fr) minmax(0, 1fr); gap: 16px; align-items: start; }
.grid .card { margin-bottom: 0; }
.grid td, .grid th { padding-left: 7px; padding-right: 7px; }
.empty { color: var(--muted); padding: 14px 10px 4px; margin: 0; }
form.try { display: grid; gap: 10px; }
.row { display: flex; gap: 8px; flex-wrap: wrap; align-items: center; }
.row label { display: flex; flex-direction: column; font-size: 12px; color: var(--muted); gap: 3px; flex: 1; min-width: 90px; }
.row .actions { flex: 0; align-self: flex-end; }
.result { margin-top: 12px; border-top: 1px solid var(--line); padding-top: 12px; }
.result pre { white-space: pre-wrap; word-break: break-word; margin: 8px 0 0; padding: 10px 12px; border-radius: 8px; background: var(--soft); font: 13px/1.5 ui-monospace, SFMono-Regular, Menlo, Consolas, monospace; max-height: 260px; overflow: auto; }
.result .error { color: var(--bad); }
@media (max-width: 900px) { .grid, .stats { grid-template-columns: 1fr; } }
`

const BODY = `
<main>
<header>
  <div class="brand"><span class="logo">&#9670;</span> harombe-peer <span class="self" id="self"></span></div>
  <div class="right"><span class="conn" id="conn">connecting</span><button type="button" id="token-toggle">Token</button></div>
</header>
<div class="banner" id="banner" hidden></div>
<form class="card auth" id="auth" hidden>
  <label>Bearer token <input id="token" type="password" size="32" autocomplete="off" spellcheck="false"></label>
  <button class="primary">Use token</button>
  <span class="muted small" id="auth-note">Kept in this browser only (localStorage).</span>
</form>
<section class="stats">
  <div class="stat"><div class="label">Peers alive</div><div class="value" id="stat-alive">–</div></div>
  <div class="stat"><div class="label">Models</div><div class="value" id="stat-models">–</div></div>
  <div class="stat"><div class="label">Recent requests</div><div class="value" id="stat-requests">–</div></div>
  <div class="stat"><div class="label">Median TTFT</div><div class="value" id="stat-ttft">–</div></div>
</section>
<section class="card">
  <h2>Peers <small id="peers-note"></small></h2>
  <table>
    <thead><tr><th>Name</th><th>Peer id</th><th>Models</th><th>Tier</th><th>State</th><th>Load</th><th title="Share of prompt tokens the peer's backend took from its prompt cache, over the recent requests through this peer">Prompt cache</th><th>Latency</th><th>Last seen</th></tr></thead>
    <tbody id="peers"></tbody>
  </table>
  <p class="empty" id="peers-empty">Waiting for the cluster view…</p>
</section>
${MODELS_CARD}<div class="grid">
  <section class="card">
    <h2>Recent requests <small>through this peer</small></h2>
    <table>
      <thead><tr><th>Time</th><th>Model</th><th>Served by</th><th>Result</th><th>TTFT</th><th>Tok/s</th><th>Duration</th></tr></thead>
      <tbody id="requests"></tbody>
    </table>
    <p class="empty" id="requests-empty">No requests yet.</p>
  </section>
  <section class="card">
    <h2>Try a completion <small>through the mesh</small></h2>
    <form class="try" id="try">
      <textarea id="prompt" rows="3" spellcheck="false">Say hello from the mesh.</textarea>
      <div class="row">
        <label>Model<select id="model"><option value="auto">auto</option></select></label>
        <label>Tier<select id="tier"><option value="">any</option><option value="0">0 fast</option><option value="1">1 medium</option><option value="2">2 powerful</option></select></label>
        <label>Peer<select id="peer"><option value="">routed</option></select></label>
        <div class="actions"><button class="primary" id="send">Send</button></div>
      </div>
    </form>
    <div class="result" id="result" hidden>
      <div class="small" id="result-meta"></div>
      <pre id="result-text"></pre>
    </div>
  </section>
</div>
</main>
`

/** The whole page; the CSP in dashboard.ts allows exactly this script and this style block. */
export const DASHBOARD_HTML = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<link rel="icon" href="data:,">
<title>harombe-peer</title>
<style>${DASHBOARD_STYLE}</style>
</head>
<body>${BODY}<script>${DASHBOARD_SCRIPT}</script>
</body>
</html>
`

export { DASHBOARD_SCRIPT }
