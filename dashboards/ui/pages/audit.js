// Audit log (admin): GET /api/v1/audit newest first — time in the user's zone, user, action,
// entity, outcome, address — filtered by range, user and action, paged keyset-wise with the
// API's `next_cursor` ("Load older"). A row opens to its change: for a configuration change,
// the diff of that version from the entity's history; otherwise the row's details.
import { html, useState, useEffect, useRef } from '../vendor/preact-htm.module.js';
import { get } from '../api.js';
import { t, fmtTime, fmtNumber, zoneName } from '../i18n.js';
import { PageHeader, Card, Segmented, Alert, Empty, Loading, Badge, Button, Field, Select, DiffView } from '../components.js';

const PAGE = 50;

// Literal keys: the catalogue test finds keys by scanning for literal calls of t.
const RANGES = [
  ['1h', 3600, () => t('audit.range_1h')],
  ['24h', 86400, () => t('audit.range_24h')],
  ['7d', 7 * 86400, () => t('audit.range_7d')],
  ['30d', 30 * 86400, () => t('audit.range_30d')],
];

const ACTIONS = [
  ['', () => t('audit.action_all')],
  ['create', () => t('audit.action_create')],
  ['update', () => t('audit.action_update')],
  ['delete', () => t('audit.action_delete')],
  ['login', () => t('audit.action_login')],
  ['login.failed', () => t('audit.action_login_failed')],
  ['login.locked', () => t('audit.action_login_locked')],
  ['logout', () => t('audit.action_logout')],
];

/** An action as people say it (the raw name for actions without a text). */
function actionLabel(a) {
  const known = ACTIONS.find(([v]) => v && v === a);
  return known ? known[1]() : a;
}

/** The URL segment of each entity kind (as the audit rows name them). */
const SEGMENTS = {
  api: 'apis',
  client: 'clients',
  api_key: 'api-keys',
  group: 'groups',
  product: 'products',
  user: 'users',
  alert_rule: 'alert-rules',
  channel: 'channels',
  silence: 'silences',
  report_subscription: 'report-subscriptions',
};

// Stored hashes by the name people set them under; the session counter is bookkeeping.
const FIELD_NAMES = { password_hash: 'password', secret_hash: 'secret', hash: 'key' };
const shownFields = (fs) => fs.filter((f) => f !== 'session_epoch').map((f) => FIELD_NAMES[f] || f).join(', ');

function outcome(r) {
  const a = r.action || '';
  if (a.endsWith('.failed') || a.endsWith('.locked') || (r.detail && r.detail.error)) {
    return html`<${Badge} tone="bad">${t('audit.failed')}<//>`;
  }
  return html`<${Badge} tone="good">${t('audit.ok')}<//>`;
}

function actionTone(a) {
  if (a === 'delete' || a.startsWith('login.')) return 'bad';
  if (a === 'create') return 'good';
  if (a === 'update') return 'warn';
  return 'neutral';
}

/** What one row changed: the version's diff from the entity's history, else the row's detail. */
function RowDetail({ row }) {
  const seg = SEGMENTS[row.entity];
  const version = row.detail && row.detail.version;
  const [state, setState] = useState({});
  useEffect(() => {
    if (!seg || !row.id || !version) return;
    get(`/api/v1/${seg}/${encodeURIComponent(row.id)}/history`)
      .then((h) => setState({ v: (h.versions || []).find((v) => v.version === version) || null }))
      .catch((e) => setState({ error: e }));
  }, [row]);
  const facts = html`<dl class="facts">
    <dt>${t('audit.d_time')}</dt><dd>${fmtTime(row.ts, { dateStyle: 'full', timeStyle: 'long' })}</dd>
    <dt>${t('audit.d_ip')}</dt><dd>${row.client_ip || '—'}</dd>
    ${row.change_id && html`<dt>${t('audit.d_change')}</dt><dd><code>${row.change_id}</code></dd>`}
    ${version && html`<dt>${t('audit.d_version')}</dt><dd>${version}</dd>`}
    ${row.detail && row.detail.comment && html`<dt>${t('audit.d_comment')}</dt><dd>${row.detail.comment}</dd>`}
  </dl>`;
  let body;
  if (seg && row.id && version) {
    if (state.error) body = html`<${Alert} kind="warn">${state.error.status === 404 ? t('audit.gone') : state.error.message}<//>`;
    else if (state.v === undefined) body = html`<${Loading} />`;
    else if (state.v === null) body = html`<${Alert} kind="info">${t('audit.no_version')}<//>`;
    else body = html`<${DiffView} changes=${state.v.changes} empty=${t('audit.no_changes')} />`;
  } else {
    body = html`<pre class="json">${JSON.stringify(row.detail, null, 2)}</pre>`;
  }
  return html`<div class="audit-detail">${facts}${body}</div>`;
}

function Rows({ items, open, setOpen }) {
  return html`<div class="table-wrap">
    <table class="audit-table" id="audit-table">
      <thead><tr>
        <th class="expander-col"></th>
        <th>${t('audit.col_time')}</th><th>${t('audit.col_user')}</th><th>${t('audit.col_action')}</th>
        <th>${t('audit.col_entity')}</th><th>${t('audit.col_outcome')}</th><th>${t('audit.col_ip')}</th>
      </tr></thead>
      <tbody>${items.map((r) => {
        const key = r.key;
        const isOpen = open === key;
        const toggle = () => setOpen(isOpen ? null : key);
        return html`
          <tr class=${isOpen ? 'audit-row open' : 'audit-row'} key=${key} data-action=${r.action} data-actor=${r.actor}>
            <td class="expander-col a-exp"><button type="button" class="expander" aria-expanded=${isOpen ? 'true' : 'false'}
              aria-label=${t('audit.expand')} onClick=${toggle}>${isOpen ? '▾' : '▸'}</button></td>
            <td class="nowrap a-time">${fmtTime(r.ts, { dateStyle: 'medium', timeStyle: 'medium' })}</td>
            <td class="strong nowrap a-user">${r.actor}</td>
            <td class="a-action"><${Badge} tone=${actionTone(r.action)}>${actionLabel(r.action)}<//></td>
            <td class="a-entity">${r.entity ? html`<span class="muted">${r.entity}</span> ${r.id}` : html`<span class="muted">—</span>`}
              ${r.detail && Array.isArray(r.detail.fields) && shownFields(r.detail.fields)
                && html`<div class="muted small">${t('audit.fields', { fields: shownFields(r.detail.fields) })}</div>`}</td>
            <td class="a-outcome">${outcome(r)}</td>
            <td class="muted a-ip">${r.client_ip}</td>
          </tr>
          ${isOpen && html`<tr class="audit-open" key=${`${key}-d`}><td colspan="7"><${RowDetail} row=${r} /></td></tr>`}`;
      })}</tbody>
    </table>
  </div>`;
}

export default function AuditPage() {
  const [range, setRange] = useState('24h');
  const [user, setUser] = useState('');
  const [typed, setTyped] = useState('');
  const [action, setAction] = useState('');
  const [items, setItems] = useState(null);
  const [cursor, setCursor] = useState(null);
  const [err, setErr] = useState(null);
  const [open, setOpen] = useState(null);
  const [loading, setLoading] = useState(false);
  const [users, setUsers] = useState([]);
  // Bumped on each new query, so an older page arriving late is not appended to a newer list.
  const generation = useRef(0);

  // The user filter applies a moment after typing stops.
  useEffect(() => {
    const id = setTimeout(() => setUser(typed.trim()), 400);
    return () => clearTimeout(id);
  }, [typed]);

  useEffect(() => {
    get('/api/v1/users?limit=1000').then((d) => setUsers((d.items || []).map((u) => u.id))).catch(() => {});
  }, []);

  const query = (after) => {
    const secs = RANGES.find((r) => r[0] === range)[1];
    const from = new Date(Date.now() - secs * 1000).toISOString();
    const p = new URLSearchParams({ from, limit: String(PAGE) });
    if (user) p.set('user', user);
    if (action) p.set('action', action);
    if (after) p.set('cursor', after);
    return `/api/v1/audit?${p}`;
  };
  // Rows have no id of their own; their place in the log is one.
  const keyed = (rows, base) => rows.map((r, i) => ({ ...r, key: `${base + i}:${r.ts}:${r.actor}:${r.action}:${r.id}` }));

  useEffect(() => {
    let live = true;
    generation.current += 1;
    setLoading(true);
    setOpen(null);
    get(query(null)).then((d) => {
      if (!live) return;
      setItems(keyed(d.items || [], 0));
      setCursor(d.next_cursor || null);
      setErr(null);
    }).catch((e) => live && setErr(e)).finally(() => live && setLoading(false));
    return () => { live = false; };
  }, [range, user, action]);

  const more = () => {
    const gen = generation.current;
    setLoading(true);
    get(query(cursor)).then((d) => {
      if (gen !== generation.current) return;
      setItems((xs) => [...xs, ...keyed(d.items || [], xs.length)]);
      setCursor(d.next_cursor || null);
    }).catch((e) => setErr(e)).finally(() => setLoading(false));
  };

  const ranges = RANGES.map(([value, , label]) => ({ value, label: label() }));
  const actions = ACTIONS.map(([value, label]) => ({ value, label: label() }));
  return html`<div class="page" data-page="audit">
    <${PageHeader} title=${t('audit.title')} subtitle=${`${t('audit.subtitle')} ${t('audit.zone_note', { zone: zoneName() })}`}
      actions=${html`<${Segmented} id="audit-range" label=${t('audit.range')} value=${range} options=${ranges} onChange=${setRange} />`} />
    <${Card} id="card-audit">
      <div class="filters" id="audit-filters">
        <${Field} label=${t('audit.f_user')} name="audit-user" value=${typed} onInput=${setTyped}
          hint=${users.length ? t('audit.f_user_hint', { users: users.slice(0, 4).join(', ') }) : undefined} />
        <${Select} label=${t('audit.f_action')} name="audit-action" value=${action} options=${actions} onChange=${setAction} />
      </div>
      <${Alert} id="audit-error">${err && err.message}<//>
      ${items === null ? !err && html`<${Loading} />`
        : items.length === 0 ? html`<${Empty} title=${t('audit.none')} hint=${t('audit.none_hint')} />`
          : html`<${Rows} items=${items} open=${open} setOpen=${setOpen} />
            <div class="pager">
              <span class="muted" id="audit-count">${cursor ? t('audit.shown_more', { n: fmtNumber(items.length) }) : t('audit.shown_all', { n: fmtNumber(items.length) })}</span>
              <${Button} id="audit-more" onClick=${more} disabled=${!cursor || loading}>${t('audit.more')}<//>
            </div>`}
    <//>
  </div>`;
}
