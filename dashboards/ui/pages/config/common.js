// What the tabs of the Gateway config page share: the page's hash sub-routes
// (`#/config?tab=clients&id=acme&view=edit`), entity lists, saving with If-Match, the API's
// field errors matched to form fields, the shown-once secret dialog, the confirm dialog and
// an entity's history with its diffs.
import { html, useState, useEffect } from '../../vendor/preact-htm.module.js';
import { get } from '../../api.js';
import { t, fmtTime } from '../../i18n.js';
import {
  Card, Button, Alert, Empty, Loading, Modal, CopyField, DiffView, Badge, Field, TextArea,
} from '../../components.js';

/** The page's sub-route from the hash: { tab, id, view }. */
export function readRoute() {
  const q = new URLSearchParams(location.hash.split('?')[1] || '');
  return { tab: q.get('tab') || 'apis', id: q.get('id') || '', view: q.get('view') || '' };
}

/** Goes to a sub-route of the page (a new history entry, so Back works). */
export function go(route) {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(route)) if (v) q.set(k, v);
  location.hash = `#/config?${q}`;
}

export function useRoute() {
  const [route, setRoute] = useState(readRoute());
  useEffect(() => {
    const f = () => setRoute(readRoute());
    window.addEventListener('hashchange', f);
    return () => window.removeEventListener('hashchange', f);
  }, []);
  return route;
}

/** Every entity of a kind (`seg`: apis, clients, api-keys, groups, products), reloaded when
 *  `tick` changes. The list API pages by 1000; a gateway's configuration fits one page. */
export function useEntities(seg, tick) {
  const [state, setState] = useState({ loading: true, items: [] });
  useEffect(() => {
    let live = true;
    get(`/api/v1/${seg}?limit=1000`)
      .then((d) => live && setState({ items: d.items || [] }))
      .catch((e) => live && setState({ items: [], error: e }));
    return () => { live = false; };
  }, [seg, tick]);
  return state;
}

/** A save refused because someone else saved first (412): say so, and offer the new version. */
export function Stale({ err }) {
  if (!err || err.status !== 412) return null;
  return html`<div class="alert alert-warn stale" role="alert" id="stale-alert">
    <span>${t('config.stale')}</span>
    <${Button} onClick=${() => location.reload()}>${t('config.reload')}<//>
  </div>`;
}

/** The API's message when its `field` is `name` or under it (`upstreams` for `upstreams[1].url`). */
export function errorAt(err, ...names) {
  if (!err || !err.field) return null;
  const f = err.field;
  return names.some((n) => f === n || f.startsWith(`${n}.`) || f.startsWith(`${n}[`)) ? err.message : null;
}

/** The ID field: typed for a new entity, shown (not editable) for an existing one. */
export function IdField({ name, isNew, value, onInput, err, hint }) {
  if (!isNew) {
    return html`<div class="field"><span class="label">${t('config.field_id')}</span>
      <div class="static mono" id=${`f-${name}`}>${value}</div>
      <div class="field-hint">${t('config.id_fixed')}</div></div>`;
  }
  return html`<${Field} name=${name} label=${t('config.field_id')} value=${value} onInput=${onInput}
    error=${errorAt(err, 'id')} hint=${hint} />`;
}

/** Brings the first field error (or the form's own) into view after a refused save. */
export function revealError() {
  requestAnimationFrame(() => {
    const el = document.querySelector('.editor .field-error, .editor .alert-error, .editor .stale');
    if (el) el.scrollIntoView({ block: 'center' });
  });
}

/** An error no form field shows: above the form. */
export function formError(err, shown) {
  if (!err || err.status === 412) return null;
  if (err.field && shown.some((n) => errorAt(err, n))) return null;
  return err.field ? `${err.field}: ${err.message}` : err.message;
}

/** A typed number: '' → absent; digits → a number; anything else is sent as typed, so the
 *  API names the field. */
export function num(s) {
  const v = String(s ?? '').trim();
  if (v === '') return undefined;
  return /^-?\d+$/.test(v) ? Number(v) : v;
}

export const str = (v) => (v === undefined || v === null ? '' : String(v));

/** Non-empty trimmed lines (lists edited one item per line). */
export function lines(s) {
  return String(s || '').split(/\r?\n|,/).map((x) => x.trim()).filter(Boolean);
}

/** OAuth 2.0 scopes as typed: one per line or space-separated (the way a token's `scope`
 *  claim writes them). A scope has no spaces, so nothing is lost; anything else is sent as
 *  typed, for the API to name. */
export function scopeList(s) {
  return String(s || '').split(/\s+/).filter(Boolean);
}

/** The scopes of a client, an API or a product as a box, one per line; the API's error for
 *  `scopes[i]` beside it, naming the i-th scope typed. */
export function ScopesField({ name, value, onInput, err, hint, rows }) {
  const message = errorAt(err, 'scopes');
  const m = message && /^scopes\[(\d+)\]/.exec(err.field);
  const error = m ? t('config.scopes_item', { n: Number(m[1]) + 1, message }) : message;
  return html`<${TextArea} name=${name} mono rows=${rows || 3} label=${t('config.field_scopes')} value=${value}
    onInput=${onInput} error=${error} hint=${hint} placeholder="orders.read" />`;
}

/** Scopes in a list or a detail: mono chips, or a dash when there are none. */
export function ScopeChips({ scopes, id }) {
  if (!scopes || !scopes.length) return html`<span class="muted">—</span>`;
  return html`<span class="scopes" id=${id}>${scopes.map((s) => html`<code class="scope">${s}</code> `)}</span>`;
}

/** Drops absent values, so the API sees only what was set. */
export function compact(o) {
  const out = {};
  for (const [k, v] of Object.entries(o)) {
    if (v === undefined || v === null || v === '') continue;
    if (Array.isArray(v) && v.length === 0) continue;
    if (typeof v === 'object' && !Array.isArray(v) && Object.keys(v).length === 0) continue;
    out[k] = v;
  }
  return out;
}

/** A secret shown once (a new API key, a client secret) with its copy button. */
export function ShownOnce({ title, secret, hint, onClose }) {
  return html`<${Modal} id="secret-dialog" title=${title} onClose=${onClose} closeLabel=${t('config.close')}
    actions=${html`<${Button} kind="primary" id="secret-done" onClick=${onClose}>${t('config.secret_stored')}<//>`}>
    <${Alert} kind="warn">${t('config.secret_once')}<//>
    <${CopyField} id="secret-value" value=${secret} copyLabel=${t('config.copy')} copiedLabel=${t('config.copied')} />
    ${hint && html`<p class="muted small">${t('config.secret_hint', { hint })}</p>`}
  <//>`;
}

/** Every version of an entity, newest first, and what each changed (old → new per path). */
export function History({ seg, id, title, onBack }) {
  const [data, setData] = useState(null);
  const [err, setErr] = useState(null);
  const [pick, setPick] = useState(null);
  useEffect(() => {
    get(`/api/v1/${seg}/${encodeURIComponent(id)}/history`)
      .then((d) => {
        const vs = [...(d.versions || [])].reverse();
        setData(vs);
        setPick(vs.length ? vs[0].version : null);
      })
      .catch(setErr);
  }, [seg, id]);
  const back = html`<${Button} id="history-back" onClick=${onBack}>${t('config.back')}<//>`;
  if (err) return html`<${Card} title=${title} actions=${back}><${Alert}>${err.message}<//><//>`;
  if (!data) return html`<${Card} title=${title} actions=${back}><${Loading} /><//>`;
  const shown = data.find((v) => v.version === pick);
  return html`<${Card} title=${title} actions=${back} id="history-card">
    <div class="history">
      <ol class="versions" id="history-versions">
        ${data.map((v) => html`<li key=${v.version}>
          <button type="button" class=${v.version === pick ? 'version on' : 'version'} data-version=${v.version}
            onClick=${() => setPick(v.version)}>
            <span class="version-head">
              <span class="strong">${t('config.version', { n: v.version })}</span>
              ${v.deleted ? html`<${Badge} tone="bad">${t('config.deleted')}<//>`
                : v.version === data[data.length - 1].version ? html`<${Badge} tone="neutral">${t('config.created')}<//>` : null}
            </span>
            <span class="muted small">${fmtTime(v.changed_at, { dateStyle: 'medium', timeStyle: 'short' })}</span>
            <span class="muted small">${t('config.changed_by', { who: v.changed_by || '—', n: v.changes.length })}</span>
          </button>
        </li>`)}
      </ol>
      <div class="version-diff">
        ${shown ? html`
          <div class="version-meta">
            <div class="strong">${t('config.version', { n: shown.version })} · ${fmtTime(shown.changed_at)}</div>
            ${shown.comment && html`<div class="muted">${shown.comment}</div>`}
          </div>
          <${DiffView} id="history-diff" changes=${shown.changes} />`
          : html`<${Empty} title=${t('diff.none')} />`}
      </div>
    </div>
  <//>`;
}
