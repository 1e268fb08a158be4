import type { FastifyInstance } from 'fastify'

/**
 * `GET /`: one self-contained page (no build step, no assets) that shows the cluster view and
 * refreshes every second. It polls with fetch rather than EventSource, because EventSource cannot
 * send the bearer token a protected peer needs.
 */
const PAGE = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>harombe-peer</title>
<style>
  body { font: 14px/1.4 system-ui, sans-serif; margin: 2rem; color: #1b1b1b; }
  h1 { font-size: 1.3rem; margin: 0 0 .2rem; }
  .sub { color: #666; margin-bottom: 1rem; }
  table { border-collapse: collapse; min-width: 60rem; }
  th, td { text-align: left; padding: .35rem .7rem; border-bottom: 1px solid #e3e3e3; }
  th { font-weight: 600; color: #555; }
  tr.gone td { color: #aaa; }
  .alive { color: #137333; } .suspect { color: #b06000; } .dead, .left { color: #999; }
  #error { color: #b3261e; margin: 1rem 0; }
  form { margin: 1rem 0; }
</style>
</head>
<body>
<h1>harombe-peer</h1>
<div class="sub" id="sub">loading…</div>
<div id="error"></div>
<form id="auth" hidden><label>Bearer token <input id="token" type="password" size="30"></label> <button>Use</button></form>
<table>
  <thead><tr><th>Name</th><th>Peer</th><th>Models</th><th>Tier</th><th>State</th><th>Load</th><th>Latency</th><th>Last seen</th><th>Why</th></tr></thead>
  <tbody id="peers"></tbody>
</table>
<script>
const $ = id => document.getElementById(id)
const esc = s => String(s).replace(/[&<>"]/g, c => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;' })[c])
$('auth').addEventListener('submit', e => { e.preventDefault(); localStorage.setItem('harombe-token', $('token').value); refresh() })
async function refresh () {
  const token = localStorage.getItem('harombe-token')
  try {
    const res = await fetch('/api/cluster', { headers: token ? { authorization: 'Bearer ' + token } : {} })
    if (res.status === 401) { $('auth').hidden = false; $('error').textContent = 'This peer needs its bearer token.'; return }
    const view = await res.json()
    $('auth').hidden = true
    $('error').textContent = ''
    const alive = view.peers.filter(p => p.state === 'alive').length
    $('sub').textContent = alive + '/' + view.peers.length + ' alive · view of ' + view.self.name + ' · ' + new Date(view.generated_at).toLocaleTimeString()
    $('peers').innerHTML = view.peers.map(p => '<tr class="' + (p.state === 'dead' || p.state === 'left' ? 'gone' : '') + '">' +
      '<td>' + esc(p.name) + (p.self ? ' ★' : '') + '</td><td title="' + esc(p.peer_id) + '">' + esc(p.peer_id.slice(0, 4) + '…' + p.peer_id.slice(-6)) + '</td>' +
      '<td>' + esc(p.models.join(', ') || '–') + '</td><td>' + p.tier + '</td><td class="' + p.state + '">' + p.state + (p.enabled ? '' : ' (disabled)') + '</td>' +
      '<td>' + (p.load.active + p.load.queued) + '/' + p.load.capacity + '</td><td>' + (p.latency_ms == null ? '–' : p.latency_ms + ' ms') + '</td>' +
      '<td>' + (p.self ? 'now' : (p.last_seen_ms / 1000).toFixed(1) + ' s ago') + '</td><td>' + esc(p.reason) + '</td></tr>').join('')
  } catch (err) {
    $('error').textContent = 'Cannot reach this peer: ' + err.message
  }
}
refresh()
setInterval(refresh, 1000)
</script>
</body>
</html>
`

export function registerDashboard (app: FastifyInstance): void {
  app.get('/', async (_request, reply) => {
    await reply.header('content-type', 'text/html; charset=utf-8').send(PAGE)
  })
}
