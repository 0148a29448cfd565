// A captured body as the gateway stored it (masked there, cut at the capture limit): JSON
// indented and coloured through classes, anything else as text, with notes for a cut or a
// binary body. Masked values (`****`) are marked so they read as masked, not as data.
import { html } from '../../vendor/preact-htm.module.js';
import { t, fmtNumber } from '../../i18n.js';
import { Empty } from '../../components.js';

const CUT = /\u2026\[truncated: ([^\]]*)\]\s*$/;
const BINARY = /^\[binary body not captured: (\d+) bytes(?:, ([^\]]*))?\]$/;
const TOKEN = /("(?:\\.|[^"\\])*")(\s*:)?|\b(true|false)\b|\b(null)\b|(-?\d+(?:\.\d+)?(?:[eE][+-]?\d+)?)/g;

/** The body's text split into coloured spans (JSON), or one text node. */
function colour(text) {
  const out = [];
  let last = 0;
  let m;
  TOKEN.lastIndex = 0;
  while ((m = TOKEN.exec(text)) !== null) {
    if (m.index > last) out.push(text.slice(last, m.index));
    let cls;
    if (m[1] && m[2]) cls = 'j-key';
    else if (m[1]) cls = m[1].includes('*') && /\*{3,}/.test(m[1]) ? 'j-str j-masked' : 'j-str';
    else if (m[3]) cls = 'j-bool';
    else if (m[4]) cls = 'j-null';
    else cls = 'j-num';
    if (m[1] && m[2]) {
      out.push(html`<span class=${cls}>${m[1]}</span>`, m[2]);
    } else {
      out.push(html`<span class=${cls}>${m[0]}</span>`);
    }
    last = m.index + m[0].length;
  }
  if (last < text.length) out.push(text.slice(last));
  return out;
}

/** The note for a cut body: "first N of M bytes" in the user's words where it says so. */
function cutNote(detail) {
  const m = /first (\d+) of (\d+) bytes/.exec(detail);
  if (m) return t('calls.body_cut', { shown: fmtNumber(+m[1]), total: fmtNumber(+m[2]) });
  return t('calls.body_cut_other', { detail });
}

export function Body({ text, bytes, id }) {
  const size = t('calls.body_size', { n: fmtNumber(bytes || 0) });
  if (!text) {
    return html`<div id=${id}><${Empty} title=${bytes ? t('calls.body_not_captured') : t('calls.body_empty')}
      hint=${bytes ? t('calls.body_not_captured_hint', { size }) : undefined} /></div>`;
  }
  const bin = BINARY.exec(text.trim());
  if (bin) {
    return html`<div id=${id}><div class="calls-note">${t('calls.body_binary', {
      size: t('calls.body_size', { n: fmtNumber(+bin[1]) }), type: bin[2] || '?',
    })}</div></div>`;
  }
  const cut = CUT.exec(text);
  const shown = cut ? text.slice(0, cut.index) : text;
  const head = shown.trimStart();
  const json = head.startsWith('{') || head.startsWith('[');
  return html`<div id=${id}>
    <div class="calls-body-meta muted">
      <span>${size}</span>
      <span>${json ? t('calls.body_json') : t('calls.body_text')}</span>
      ${cut && html`<span class="calls-cut">${cutNote(cut[1])}</span>`}
    </div>
    <pre class=${json ? 'code json' : 'code'}>${json ? colour(shown) : shown}${cut ? html`<span class="j-cut">…</span>` : null}</pre>
  </div>`;
}
