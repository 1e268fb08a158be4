// The dashboard's "Model files" card (issue 16): which peer holds which shared GGUF file, from
// GET /api/models/holders. Appended to the dashboard script, so it uses its helpers ($, h, str,
// authHeaders); same rules: text nodes only, no backticks, no `${`.
export const MODELS_CARD = `
<section class="card" id="model-files-card" hidden>
  <h2>Model files <small>shared in the mesh · harombe-peer pull &lt;name&gt;</small></h2>
  <table>
    <thead><tr><th>File</th><th>Size</th><th>sha256</th><th>Held by</th></tr></thead>
    <tbody id="model-files"></tbody>
  </table>
  <p class="empty" id="model-files-empty">No peer shares a model file yet.</p>
</section>
`

export const MODELS_SCRIPT = String.raw`
// ---- model files (who holds what) ----
const MODEL_FILES_EVERY_MS = 5000
function sizeText (n) {
  if (typeof n !== 'number') return '–'
  const units = ['B', 'KB', 'MB', 'GB', 'TB']
  let i = 0
  while (n >= 1000 && i < units.length - 1) { n /= 1000; i++ }
  return (i === 0 ? n.toFixed(0) : n.toFixed(1)) + ' ' + units[i]
}
async function pollModelFiles () {
  try {
    const res = await fetch('/api/models/holders', { headers: authHeaders(), cache: 'no-store', signal: AbortSignal.timeout(10000) })
    if (res.ok) {
      const body = await res.json()
      const card = $('model-files-card')
      card.hidden = body.sharing !== true
      const files = Array.isArray(body.files) ? body.files : []
      $('model-files').replaceChildren(...files.map(f => h('tr', { data: { sha256: str(f.sha256) } },
        h('td', {}, h('span', { class: 'name' }, str(f.name))),
        h('td', { class: 'num' }, sizeText(f.size)),
        h('td', { class: 'muted', title: str(f.sha256) }, str(f.sha256).slice(0, 12) + '…'),
        h('td', { data: { field: 'holders' } }, ...(Array.isArray(f.holders) ? f.holders : []).map(p => h('span', { class: 'tag', title: str(p.peer_id) }, str(p.name)))))))
      $('model-files-empty').hidden = files.length > 0
    }
  } catch {}
  setTimeout(() => { void pollModelFiles() }, MODEL_FILES_EVERY_MS)
}
void pollModelFiles()
`
