// The dashboard's browser script, plain ES2020 with no dependencies. Everything that came over
// the network reaches the DOM through text nodes and attributes only (never innerHTML), so a
// hostile peer name, model or completion cannot inject markup. String.raw keeps the script's
// own backslashes intact; it must contain no backticks and no `${`.
export const DASHBOARD_SCRIPT = String.raw`
'use strict'
const $ = id => document.getElementById(id)
const TOKEN_KEY = 'harombe-token'
const TIER_WORDS = ['fast', 'medium', 'powerful']
// The SSE stream brings state changes at once; snapshots still refresh latency and last-seen,
// which change with every probe without being view changes.
const SNAPSHOT_EVERY_LIVE_MS = 3000
const SNAPSHOT_EVERY_POLLING_MS = 1000
const REQUESTS_EVERY_MS = 2000
const RECONNECT_MAX_MS = 15000

let token = localStorage.getItem(TOKEN_KEY) || ''
let generation = 0
let events = null
let live = false
const timers = { cluster: 0, requests: 0 }
const view = { self: null, peers: new Map(), nodes: [] }
const log = { available: null, requests: [], cache: new Map() }

function h (tag, props, ...children) {
  const el = document.createElement(tag)
  for (const [key, value] of Object.entries(props || {})) {
    if (value == null || value === false) continue
    if (key === 'class') el.className = value
    else if (key === 'data') for (const [k, v] of Object.entries(value)) el.dataset[k] = String(v)
    else if (key === 'style') Object.assign(el.style, value)
    else el.setAttribute(key, String(value))
  }
  for (const child of children.flat()) {
    if (child != null && child !== false) el.append(child instanceof Node ? child : String(child))
  }
  return el
}

const isNum = v => typeof v === 'number' && Number.isFinite(v)
const str = v => (v == null ? '' : String(v))
function ms (v) {
  if (!isNum(v)) return '–'
  return v < 1000 ? Math.round(v) + ' ms' : (v / 1000).toFixed(v < 10000 ? 2 : 1) + ' s'
}
function ago (msAgo) {
  if (!isNum(msAgo) || msAgo < 1500) return 'just now'
  const s = Math.round(msAgo / 1000)
  return s < 120 ? s + ' s ago' : Math.round(s / 60) + ' min ago'
}
function shortId (id) {
  id = str(id)
  return id.length > 16 ? id.slice(0, 4) + '…' + id.slice(-6) : id
}
const tierText = t => (isNum(t) ? t + ' ' + (TIER_WORDS[t] || '') : '–')
const authHeaders = (extra) => Object.assign(token ? { authorization: 'Bearer ' + token } : {}, extra)
const sleep = delay => new Promise(resolve => setTimeout(resolve, delay))

function setConn (mode, text) {
  live = mode === 'live'
  const el = $('conn')
  el.className = 'conn ' + mode
  el.textContent = text
}
function setBanner (text) {
  $('banner').hidden = !text
  $('banner').textContent = text || ''
}

// ---- auth ----
function askToken (wrong) {
  stopAll()
  setConn('locked', 'token needed')
  $('auth').hidden = false
  $('auth-note').textContent = wrong ? 'That token was refused. Enter the token this peer was started with.' : 'This peer requires a bearer token. It is kept in this browser only (localStorage).'
  $('token').focus()
}
$('auth').addEventListener('submit', e => {
  e.preventDefault()
  token = $('token').value.trim()
  if (token) localStorage.setItem(TOKEN_KEY, token)
  else localStorage.removeItem(TOKEN_KEY)
  $('auth').hidden = true
  startAll()
})
$('token-toggle').addEventListener('click', () => { $('auth').hidden = !$('auth').hidden })

// ---- cluster view ----
function keep (peer, now, old) {
  peer.seenAt = now - (isNum(peer.last_seen_ms) ? peer.last_seen_ms : 0)
  if (peer.latency_ms == null && old != null && peer.state === 'alive') peer.latency_ms = old.latency_ms
  return peer
}
function setSnapshot (snapshot) {
  const now = Date.now()
  view.self = snapshot.self || null
  const peers = new Map()
  for (const p of Array.isArray(snapshot.peers) ? snapshot.peers : []) peers.set(p.peer_id, keep(p, now, view.peers.get(p.peer_id)))
  view.peers = peers
  // Cluster-file nodes change state through HTTP checks, not view events: each snapshot brings them.
  view.nodes = Array.isArray(snapshot.nodes) ? snapshot.nodes : []
  renderPeers()
}
function applyChange (change) {
  if (change.kind === 'removed') view.peers.delete(change.peer_id)
  else if (change.peer != null) view.peers.set(change.peer_id, keep(change.peer, Date.now(), view.peers.get(change.peer_id)))
  renderPeers()
}

function onEvent (block, my) {
  let type = 'message'
  const data = []
  for (const line of block.split('\n')) {
    if (line.startsWith(':')) continue
    const colon = line.indexOf(':')
    const field = colon < 0 ? line : line.slice(0, colon)
    const value = colon < 0 ? '' : line.slice(colon + 1).replace(/^ /, '')
    if (field === 'event') type = value
    else if (field === 'data') data.push(value)
  }
  if (data.length === 0 || my !== generation) return
  let payload
  try { payload = JSON.parse(data.join('\n')) } catch { return }
  if (type === 'snapshot') setSnapshot(payload)
  else if (type === 'change') applyChange(payload)
}

// fetch + a stream reader instead of EventSource: EventSource cannot send the bearer token.
async function followEvents (my) {
  let backoff = 500
  while (my === generation) {
    const controller = new AbortController()
    events = controller
    try {
      const res = await fetch('/api/cluster/events', { headers: authHeaders(), signal: controller.signal, cache: 'no-store' })
      if (res.status === 401) { askToken(token !== ''); return }
      if (!res.ok || res.body == null) throw new Error('HTTP ' + res.status)
      setConn('live', 'live')
      setBanner('')
      backoff = 500
      const reader = res.body.getReader()
      const decoder = new TextDecoder()
      let buffered = ''
      for (;;) {
        const { value, done } = await reader.read()
        if (done) break
        buffered += decoder.decode(value, { stream: true })
        let end
        while ((end = buffered.indexOf('\n\n')) >= 0) {
          onEvent(buffered.slice(0, end), my)
          buffered = buffered.slice(end + 2)
        }
      }
    } catch {}
    if (my !== generation) return
    setConn('polling', 'reconnecting · polling')
    await sleep(backoff)
    backoff = Math.min(backoff * 2, RECONNECT_MAX_MS)
  }
}

async function pollCluster (my) {
  if (my !== generation) return
  try {
    const res = await fetch('/api/cluster', { headers: authHeaders(), cache: 'no-store', signal: AbortSignal.timeout(5000) })
    if (res.status === 401) { askToken(token !== ''); return }
    if (!res.ok) throw new Error('HTTP ' + res.status)
    const snapshot = await res.json()
    if (my !== generation) return
    setSnapshot(snapshot)
    if (!live) setBanner('')
  } catch (err) {
    if (my !== generation) return
    setConn('offline', 'offline')
    setBanner('Cannot reach this peer (' + str(err && err.message) + '). Retrying…')
  }
  timers.cluster = setTimeout(() => { void pollCluster(my) }, live ? SNAPSHOT_EVERY_LIVE_MS : SNAPSHOT_EVERY_POLLING_MS)
}

function loadBar (load) {
  if (load == null || !isNum(load.capacity) || load.capacity <= 0) return h('span', { class: 'muted small' }, 'no backend')
  const used = (isNum(load.active) ? load.active : 0) + (isNum(load.queued) ? load.queued : 0)
  const ratio = Math.min(1, used / load.capacity)
  const level = ratio >= 0.9 ? 'hot' : ratio >= 0.6 ? 'warm' : ''
  return h('div', { class: 'load', title: str(load.active) + ' active, ' + str(load.queued) + ' queued, capacity ' + str(load.capacity) },
    h('div', { class: 'bar' }, h('div', { class: 'fill ' + level, style: { width: (ratio * 100).toFixed(0) + '%' } })),
    h('span', { class: 'num small' }, used + ' / ' + load.capacity))
}

// A peer's prompt-cache hit rate: the share of prompt tokens its backend took from its cache, over
// the recent requests through this peer whose backend reported a figure (GET /api/requests).
function cacheCell (peerId) {
  const c = log.cache.get(str(peerId))
  const known = c != null && isNum(c.prompt_tokens) && c.prompt_tokens > 0 && isNum(c.cached_tokens)
  return h('td', {
    class: 'num',
    data: { field: 'cache' },
    title: known ? c.cached_tokens + ' of ' + c.prompt_tokens + ' prompt tokens from cache; ' + str(c.hits) + ' of ' + str(c.requests) + ' recent requests hit' : 'no cached figure reported in recent requests'
  }, known ? Math.round(100 * c.cached_tokens / c.prompt_tokens) + ' %' : '–')
}

function renderCache () {
  for (const cell of document.querySelectorAll('#peers [data-field="cache"]')) cell.replaceWith(cacheCell(cell.parentElement.dataset.peerId))
}

function seenText (p) {
  if (p.self) return 'this peer'
  return ago(Date.now() - p.seenAt)
}

// A cluster-file node the mesh does not hold: its row says what the file lists and why it is not in the mesh.
function nodeRow (n) {
  const s = ['reachable', 'unreachable', 'checking', 'disabled', 'alive'].includes(n.state) ? n.state : 'unknown'
  const models = Array.isArray(n.models) ? n.models : []
  return h('tr', { class: s === 'unreachable' || s === 'disabled' ? 'gone' : '', data: { peer: str(n.name), node: str(n.name), state: s } },
    h('td', {}, h('span', { class: 'name' }, str(n.name)), h('span', { class: 'tag', title: 'listed in the cluster file; not in the mesh' }, 'cluster file')),
    h('td', { class: 'mono muted', title: str(n.host) + ':' + str(n.port) }, n.peer_id ? shortId(n.peer_id) : str(n.host) + ':' + str(n.port)),
    h('td', {}, models.map(m => h('span', { class: 'chip muted' }, str(m)))),
    h('td', { class: 'num' }, tierText(n.tier)),
    h('td', { data: { field: 'state' }, title: str(n.reason) },
      h('span', { class: 'pill ' + s }, s),
      s !== 'alive' && n.reason && s !== 'disabled' ? h('span', { class: 'reason' }, str(n.reason)) : null),
    h('td', {}, h('span', { class: 'muted small' }, '–')),
    h('td', { class: 'num muted' }, '–'),
    h('td', { class: 'num' }, ms(n.latency_ms)),
    h('td', { class: 'num' }, n.since ? ago(Date.now() - Date.parse(n.since)) : '–'))
}

function renderPeers () {
  const peers = [...view.peers.values()].sort((a, b) => str(a.name).localeCompare(str(b.name)) || str(a.peer_id).localeCompare(str(b.peer_id)))
  const listed = new Set(view.nodes.map(n => str(n.name)))
  const inMesh = new Set(peers.map(p => str(p.name)))
  const fileOnly = view.nodes.filter(n => !inMesh.has(str(n.name)))
  const state = s => (['alive', 'suspect', 'dead', 'left'].includes(s) ? s : 'unknown')
  $('peers').replaceChildren(...peers.map(p => {
    const s = state(p.state)
    const gone = s === 'dead' || s === 'left'
    const models = Array.isArray(p.models) ? p.models : []
    return h('tr', { class: gone ? 'gone' : '', data: { peer: str(p.name), peerId: str(p.peer_id), state: s } },
      h('td', {}, h('span', { class: 'name' }, str(p.name)), p.self ? h('span', { class: 'tag' }, 'this peer') : null,
        listed.has(str(p.name)) ? h('span', { class: 'tag', title: 'listed in the cluster file and found in the mesh' }, 'cluster file') : null),
      h('td', { class: 'mono muted', title: str(p.peer_id) }, shortId(p.peer_id)),
      h('td', {}, models.length > 0 ? models.map(m => h('span', { class: 'chip' }, str(m))) : h('span', { class: 'muted small' }, 'routing only')),
      h('td', { class: 'num' }, tierText(p.tier)),
      h('td', { data: { field: 'state' }, title: str(p.reason) },
        h('span', { class: 'pill ' + s }, s),
        p.enabled === false ? h('span', { class: 'tag' }, 'disabled') : null,
        s !== 'alive' && p.reason ? h('span', { class: 'reason' }, str(p.reason)) : null),
      h('td', {}, gone ? h('span', { class: 'muted small' }, '–') : loadBar(p.load)),
      cacheCell(p.peer_id),
      h('td', { class: 'num' }, p.self ? 'local' : gone ? '–' : ms(p.latency_ms)),
      h('td', { class: 'num', data: { field: 'seen' } }, seenText(p)))
  }), ...fileOnly.map(nodeRow))
  const total = peers.length + fileOnly.length
  $('peers-empty').hidden = total > 0
  const alive = peers.filter(p => p.state === 'alive')
  $('stat-alive').replaceChildren(String(alive.length), h('small', {}, ' / ' + total))
  const models = new Set(alive.flatMap(p => (Array.isArray(p.models) ? p.models.map(str) : [])))
  $('stat-models').textContent = String(models.size)
  $('self').textContent = view.self ? 'view of ' + str(view.self.name) : ''
  const down = fileOnly.filter(n => n.state === 'unreachable').length
  const notes = []
  if (peers.length - alive.length > 0) notes.push((peers.length - alive.length) + ' not alive')
  if (down > 0) notes.push(down + ' listed node' + (down === 1 ? '' : 's') + ' unreachable')
  $('peers-note').textContent = notes.join(' · ')
  fillSelect($('model'), 'auto', 'auto', [...models].sort())
  fillSelect($('peer'), '', 'routed', alive.map(p => str(p.name)))
}

function fillSelect (select, firstValue, firstLabel, values) {
  const key = values.join('\n')
  if (select.dataset.key === key) return
  const chosen = select.value
  select.replaceChildren(h('option', { value: firstValue }, firstLabel), ...values.map(v => h('option', { value: v }, v)))
  select.value = values.includes(chosen) ? chosen : firstValue
  select.dataset.key = key
}

function tickSeen () {
  for (const cell of document.querySelectorAll('#peers [data-field="seen"]')) {
    const p = [...view.peers.values()].find(x => x.peer_id === cell.parentElement.dataset.peerId)
    if (p != null) cell.textContent = seenText(p)
  }
}

// ---- recent requests ----
async function pollRequests (my) {
  if (my !== generation) return
  clearTimeout(timers.requests)
  try {
    const res = await fetch('/api/requests?limit=12', { headers: authHeaders(), cache: 'no-store', signal: AbortSignal.timeout(5000) })
    if (my !== generation) return
    // A peer without a request log answers 404 for as long as it runs: stop asking.
    if (res.status === 404) { log.available = false; renderRequests(); return }
    if (res.status === 401) { askToken(token !== ''); return }
    if (res.ok) {
      const body = await res.json()
      log.available = true
      log.requests = Array.isArray(body && body.requests) ? body.requests : []
      const cache = Array.isArray(body && body.prompt_cache) ? body.prompt_cache : []
      log.cache = new Map(cache.filter(c => c && c.served_by).map(c => [str(c.served_by.peer_id), c]))
      renderRequests()
      renderCache()
    }
  } catch {}
  if (my === generation) timers.requests = setTimeout(() => { void pollRequests(my) }, REQUESTS_EVERY_MS)
}

function renderRequests () {
  const rows = log.available ? log.requests : []
  $('requests').replaceChildren(...rows.map(r => {
    const outcome = ['ok', 'error', 'aborted'].includes(r.outcome) ? r.outcome : 'error'
    const by = r.served_by
    const started = new Date(r.started_at)
    return h('tr', { data: { requestId: str(r.id), outcome } },
      h('td', { class: 'num muted', title: str(r.started_at) }, Number.isNaN(started.getTime()) ? '–' : started.toLocaleTimeString([], { hour12: false })),
      h('td', { class: 'nowrap' }, str(r.model), h('span', { class: 'tag' }, str(r.api) + (r.stream ? ' · stream' : ''))),
      h('td', { class: 'nowrap', data: { field: 'served-by' }, title: by != null ? 'tier ' + str(by.tier) + ', ' + str(by.peer_id) : null },
        by != null ? h('span', { class: 'name' }, str(by.name)) : h('span', { class: 'muted' }, '–'),
        isNum(r.attempts) && r.attempts > 1 ? h('span', { class: 'tag', title: 'attempts before one succeeded or all failed' }, r.attempts + ' attempts') : null,
        r.route_reason ? h('span', { class: 'reason', data: { field: 'route-reason' }, title: str(r.route_reason) }, str(r.route_reason)) : null),
      h('td', { title: str(r.error) }, h('span', { class: 'pill ' + outcome }, outcome)),
      h('td', { class: 'num' }, ms(r.ttft_ms)),
      h('td', { class: 'num' }, isNum(r.tokens_per_s) ? r.tokens_per_s.toFixed(1) : '–'),
      h('td', { class: 'num' }, ms(r.duration_ms)))
  }))
  $('requests-empty').hidden = rows.length > 0
  if (log.available === false) $('requests-empty').textContent = 'This peer keeps no request log (GET /api/requests is not available).'
  else $('requests-empty').textContent = 'No requests yet. Send one with the form.'
  $('stat-requests').textContent = log.available ? String(rows.length) : '–'
  const ttfts = rows.filter(r => r.outcome === 'ok' && isNum(r.ttft_ms)).map(r => r.ttft_ms).sort((a, b) => a - b)
  $('stat-ttft').textContent = ttfts.length > 0 ? ms(ttfts[Math.floor((ttfts.length - 1) / 2)]) : '–'
}

// ---- test completion ----
$('try').addEventListener('submit', e => {
  e.preventDefault()
  void sendCompletion()
})

async function sendCompletion () {
  const body = { messages: [{ role: 'user', content: $('prompt').value }], stream: true }
  if ($('model').value !== 'auto') body.model = $('model').value
  if ($('tier').value !== '') body.tier = Number($('tier').value)
  if ($('peer').value !== '') body.peer = $('peer').value
  const meta = $('result-meta')
  const out = $('result-text')
  $('send').disabled = true
  $('result').hidden = false
  out.textContent = ''
  out.classList.remove('error')
  meta.textContent = 'waiting for the first token…'
  const started = performance.now()
  let firstAt = null
  try {
    const res = await fetch('/api/complete', {
      method: 'POST',
      headers: authHeaders({ 'content-type': 'application/json' }),
      body: JSON.stringify(body),
      signal: AbortSignal.timeout(120000)
    })
    if (res.status === 401) { askToken(token !== ''); throw new Error('this peer needs its bearer token') }
    if (!res.ok) {
      const err = await res.json().catch(() => null)
      throw new Error((err && err.error && err.error.message) || 'HTTP ' + res.status)
    }
    const reader = res.body.getReader()
    const decoder = new TextDecoder()
    let buffered = ''
    let done = null
    for (;;) {
      const chunk = await reader.read()
      if (chunk.done) break
      buffered += decoder.decode(chunk.value, { stream: true })
      let end
      while ((end = buffered.indexOf('\n')) >= 0) {
        const line = buffered.slice(0, end).trim()
        buffered = buffered.slice(end + 1)
        if (line === '') continue
        const msg = JSON.parse(line)
        if (msg.type === 'delta') {
          if (firstAt == null) firstAt = performance.now()
          out.textContent += str(msg.content)
          meta.textContent = 'streaming from ' + str(res.headers.get('x-harombe-node')) + '…'
        } else if (msg.type === 'error') {
          throw new Error(str(msg.error && msg.error.message) || 'the stream failed')
        } else if (msg.type === 'done') {
          done = msg
        }
      }
    }
    if (done == null) throw new Error('the stream ended without an answer')
    if (out.textContent === '') out.textContent = str(done.message && done.message.content)
    showServed(done, res.headers.get('x-harombe-node'), started, firstAt)
  } catch (err) {
    out.classList.add('error')
    out.textContent = (out.textContent ? out.textContent + '\n\n' : '') + 'Failed: ' + str(err && err.message)
    meta.textContent = ''
  } finally {
    $('send').disabled = false
    void pollRequests(generation)
  }
}

function showServed (done, header, started, firstAt) {
  const node = done.node || {}
  const now = performance.now()
  const tokens = done.usage && isNum(done.usage.completion_tokens) ? done.usage.completion_tokens : null
  const rate = tokens != null && firstAt != null && now - firstAt > 0 ? tokens / ((now - firstAt) / 1000) : null
  $('result-meta').replaceChildren(
    'served by ', h('strong', { id: 'result-node' }, str(node.name || header)),
    h('span', { class: 'muted' },
      ' · tier ' + str(node.tier) + ' · ' + str(done.model) +
      ' · TTFT ' + ms(firstAt == null ? null : firstAt - started) +
      (tokens != null ? ' · ' + tokens + ' tokens' : '') +
      (rate != null && tokens > 1 ? ' · ' + rate.toFixed(0) + ' tok/s' : '')))
}

// ---- lifecycle ----
function stopAll () {
  generation++
  if (events != null) events.abort()
  clearTimeout(timers.cluster)
  clearTimeout(timers.requests)
}
function startAll () {
  stopAll()
  const my = generation
  setConn('polling', 'connecting')
  void followEvents(my)
  void pollCluster(my)
  void pollRequests(my)
}
setInterval(tickSeen, 1000)
startAll()
`
