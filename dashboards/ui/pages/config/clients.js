// The Clients tab: every client with its status and limits; an editor for a ClientSpec
// (status, validity, zone, service hours, IP allow list, TPS, quotas, priority, groups, OAuth
// 2.0 scopes); the client's keys: generate (shown once), rotate with an overlap, revoke, product
// grants and their approval, and a new client secret (shown once); and its effective scopes
// (its own and those of its approved products), as the token endpoint grants them; its deny
// list and request-signing keys and secret (issue 17, `client_signing.js`).
import { html, useState, useEffect } from '../../vendor/preact-htm.module.js';
import { get, post, saveEntity, deleteEntity } from '../../api.js';
import { t, fmtNumber, fmtTime } from '../../i18n.js';
import {
  Card, Button, Alert, Empty, Loading, Badge, Field, Select, TextArea, CheckGroup, Table, Modal, toast, Confirm, KeyValues,
} from '../../components.js';
import {
  useEntities, errorAt, formError, revealError, num, str, lines, compact, go, ShownOnce, IdField, Stale,
  scopeList, ScopesField, ScopeChips,
} from './common.js';
import { keyRows, keysBody, SigningCard } from './client_signing.js';
import { lineError } from './policies.js';

const DAYS = ['mon', 'tue', 'wed', 'thu', 'fri', 'sat', 'sun'];
const dayLabel = (d) => ({
  mon: t('config.day_mon'), tue: t('config.day_tue'), wed: t('config.day_wed'), thu: t('config.day_thu'),
  fri: t('config.day_fri'), sat: t('config.day_sat'), sun: t('config.day_sun'),
}[d]);

export function statusBadge(b) {
  return b.status === 'suspended'
    ? html`<${Badge} tone="bad">${t('config.status_suspended')}<//>`
    : html`<${Badge} tone="good">${t('config.status_active')}<//>`;
}

function limits(b) {
  const out = [];
  if (b.tps) out.push(t('config.tps_short', { n: fmtNumber(b.tps.per_second) }));
  const q = b.quota || {};
  if (q.per_minute) out.push(t('config.quota_minute_short', { n: fmtNumber(q.per_minute) }));
  if (q.per_hour) out.push(t('config.quota_hour_short', { n: fmtNumber(q.per_hour) }));
  if (q.per_day) out.push(t('config.quota_day_short', { n: fmtNumber(q.per_day) }));
  if (q.per_month) out.push(t('config.quota_month_short', { n: fmtNumber(q.per_month) }));
  return out.length ? out.join(' · ') : t('config.unlimited');
}

export function ClientList({ tick }) {
  const list = useEntities('clients', tick);
  const keys = useEntities('api-keys', tick);
  if (list.error) return html`<${Alert}>${list.error.message}<//>`;
  if (list.loading) return html`<${Loading} />`;
  const keyCount = (id) => keys.items.filter((k) => k.body.client_id === id && !k.body.revoked).length;
  const link = (e, view) => `#/config?tab=clients&id=${encodeURIComponent(e.id)}&view=${view}`;
  const columns = [
    {
      key: 'id', label: t('config.col_client'),
      render: (e) => html`<a class="strong" href=${link(e, 'edit')}>${e.body.name}</a><div class="muted small mono">${e.id}</div>`,
    },
    { key: 'status', label: t('config.col_status'), render: (e) => statusBadge(e.body) },
    { key: 'limits', label: t('config.col_limits'), render: (e) => html`<span class="small">${limits(e.body)}</span>` },
    { key: 'priority', label: t('config.col_priority'), align: 'right', render: (e) => fmtNumber(e.body.priority || 0) },
    { key: 'groups', label: t('config.col_groups'), render: (e) => (e.body.groups || []).join(', ') || html`<span class="muted">—</span>` },
    { key: 'scopes', label: t('config.col_scopes'), render: (e) => html`<span class="small"><${ScopeChips} scopes=${e.body.scopes} /></span>` },
    { key: 'keys', label: t('config.col_keys'), align: 'right', render: (e) => fmtNumber(keyCount(e.id)) },
    {
      key: 'actions', label: '', align: 'right',
      render: (e) => html`<div class="row-actions">
        <a class="btn btn-secondary btn-small" href=${link(e, 'edit')}>${t('config.edit')}</a>
        <a class="btn btn-secondary btn-small" href=${link(e, 'history')}>${t('config.history')}</a>
      </div>`,
    },
  ];
  return html`<${Card} title=${t('config.clients')} id="client-list"
    actions=${html`<${Button} kind="primary" id="client-new" onClick=${() => go({ tab: 'clients', view: 'new' })}>${t('config.client_new')}<//>`}>
    ${list.items.length === 0
      ? html`<${Empty} title=${t('config.clients_none')} hint=${t('config.clients_none_hint')} />`
      : html`<${Table} id="client-table" columns=${columns} rows=${list.items} pageSize=${25} />`}
  <//>`;
}

/** Fields the form edits, and those the API adds to answers; every other stored field (a
 *  client's `jwks`, its sealed `signing_secret`) is sent back as it came, so a save keeps it. */
const EDITED = ['name', 'description', 'status', 'valid_from', 'valid_until', 'timezone', 'service_hours', 'ip_allow',
  'certificates', 'tps', 'quota', 'priority', 'groups', 'scopes', 'ip_deny', 'signing_keys', 'has_secret', 'has_signing_secret'];

function formOf(id, b) {
  b = b || {};
  const kept = {};
  for (const [k, v] of Object.entries(b)) if (!EDITED.includes(k)) kept[k] = v;
  const q = b.quota || {};
  const h = b.service_hours || null;
  return {
    id: id || '',
    name: str(b.name),
    description: str(b.description),
    status: b.status || 'active',
    valid_from: str(b.valid_from),
    valid_until: str(b.valid_until),
    timezone: str(b.timezone),
    hoursOn: !!h,
    hoursFrom: h ? h.from : '08:00',
    hoursUntil: h ? h.until : '18:00',
    hoursDays: h ? h.days || [] : ['mon', 'tue', 'wed', 'thu', 'fri'],
    ip_allow: (b.ip_allow || []).join('\n'),
    certificates: (b.certificates || []).join('\n'),
    tps: str(b.tps && b.tps.per_second),
    burst: str(b.tps && b.tps.burst),
    per_minute: str(q.per_minute),
    per_hour: str(q.per_hour),
    per_day: str(q.per_day),
    per_month: str(q.per_month),
    scope: q.scope || 'node',
    priority: str(b.priority ?? 0),
    groups: b.groups || [],
    scopes: (b.scopes || []).join('\n'),
    ip_deny: (b.ip_deny || []).join('\n'),
    signingKeys: keyRows(b),
    kept,
  };
}

/** The quota as the API takes it, from the four window fields and the scope. */
export function quotaOf(f) {
  const q = compact({
    per_minute: num(f.per_minute), per_hour: num(f.per_hour), per_day: num(f.per_day), per_month: num(f.per_month),
  });
  return Object.keys(q).length ? { ...q, scope: f.scope } : undefined;
}

/** The four quota windows and where they are counted; errors under `quota.`. */
export function QuotaFields({ f, set, err, prefix }) {
  return html`<div class="form-grid five">
    <${Field} name=${`${prefix}-per-minute`} label=${t('config.quota_minute')} value=${f.per_minute} onInput=${set('per_minute')} error=${errorAt(err, 'quota.per_minute')} />
    <${Field} name=${`${prefix}-per-hour`} label=${t('config.quota_hour')} value=${f.per_hour} onInput=${set('per_hour')} error=${errorAt(err, 'quota.per_hour')} />
    <${Field} name=${`${prefix}-per-day`} label=${t('config.quota_day')} value=${f.per_day} onInput=${set('per_day')} error=${errorAt(err, 'quota.per_day')} />
    <${Field} name=${`${prefix}-per-month`} label=${t('config.quota_month')} value=${f.per_month} onInput=${set('per_month')} error=${errorAt(err, 'quota.per_month')} />
    <${Select} name=${`${prefix}-scope`} label=${t('config.quota_scope')} value=${f.scope} onChange=${set('scope')} error=${errorAt(err, 'quota.scope')}
      options=${[{ value: 'node', label: t('config.scope_node') }, { value: 'shared', label: t('config.scope_shared') }]} />
  </div>`;
}

/**
 * One certificate line as the API takes it: `sha256:<hex>`. What `sha256sum` prints (`<hex>  -`)
 * and openssl's `-fingerprint -sha256` form (`AB:CD:…`) are taken too; anything else is sent as
 * typed, for the API to name.
 */
export function fingerprintOf(line) {
  let x = line.replace(/\s+-$/, '').replace(/^sha256 fingerprint=/i, '');
  if (/^([0-9a-f]{2}:){31}[0-9a-f]{2}$/i.test(x)) x = x.replace(/:/g, '');
  return /^[0-9a-f]{64}$/i.test(x) ? `sha256:${x}` : x;
}

/** A certificate's error, with its line (the API names `certificates[i]`). */
function certificateError(err) {
  const message = errorAt(err, 'certificates');
  const m = message && /^certificates\[(\d+)\]/.exec(err.field);
  return m ? t('config.certificates_line', { n: Number(m[1]) + 1, message }) : message;
}

function bodyOf(f) {
  return {
    ...f.kept,
    ...clientFields(f),
  };
}

function clientFields(f) {
  return compact({
    name: f.name,
    description: f.description,
    status: f.status,
    valid_from: f.valid_from,
    valid_until: f.valid_until,
    timezone: f.timezone.trim(),
    service_hours: f.hoursOn ? compact({ from: f.hoursFrom.trim(), until: f.hoursUntil.trim(), days: f.hoursDays }) : undefined,
    ip_allow: lines(f.ip_allow),
    certificates: lines(f.certificates).map(fingerprintOf),
    tps: num(f.tps) !== undefined ? compact({ per_second: num(f.tps), burst: num(f.burst) }) : undefined,
    quota: quotaOf(f),
    priority: num(f.priority) ?? 0,
    groups: f.groups,
    scopes: scopeList(f.scopes),
    ip_deny: lines(f.ip_deny),
    signing_keys: keysBody(f.signingKeys),
  });
}

export function ClientEditor({ id, onDone, tick, setTick }) {
  const isNew = !id;
  const [entity, setEntity] = useState(isNew ? { body: null } : null);
  const [f, setF] = useState(isNew ? formOf('', null) : null);
  const [err, setErr] = useState(null);
  const [busy, setBusy] = useState(false);
  const [confirm, setConfirm] = useState(false);
  const groups = useEntities('groups', tick);
  useEffect(() => {
    if (isNew) return;
    get(`/api/v1/clients/${encodeURIComponent(id)}`)
      .then((e) => { setEntity(e); setF(formOf(e.id, e.body)); })
      .catch(setErr);
  }, [id, tick]);
  if (!f) return html`<${Card}>${err ? html`<${Alert}>${err.message}<//>` : html`<${Loading} />`}<//>`;
  const set = (k) => (v) => setF({ ...f, [k]: v });

  const submit = async (ev) => {
    ev.preventDefault();
    setBusy(true);
    setErr(null);
    try {
      const saved = await saveEntity('clients', isNew ? f.id.trim() : id, bodyOf(f), entity.version);
      toast(isNew ? t('config.created_toast', { id: saved.id }) : t('config.saved_toast', { id: saved.id, n: saved.version }), 'success');
      if (isNew) go({ tab: 'clients', id: saved.id, view: 'edit' });
      else { setEntity(saved); setF(formOf(saved.id, saved.body)); setBusy(false); }
    } catch (x) {
      setErr(x);
      setBusy(false);
      revealError();
    }
  };
  const shown = ['id', 'name', 'description', 'status', 'valid_from', 'valid_until', 'timezone', 'service_hours',
    'ip_allow', 'certificates', 'tps', 'quota', 'priority', 'groups', 'scopes', 'ip_deny', 'signing_keys'];
  const groupOptions = [...new Set([...groups.items.map((g) => g.id), ...f.groups])]
    .map((g) => ({ value: g, label: (groups.items.find((x) => x.id === g) || { body: { name: g } }).body.name }));

  // An existing client's keys come first: they are what is most often done here.
  return html`<div class="stack">
  ${!isNew && html`<nav class="crumbs" aria-label=${t('config.clients')}>
    <a href="#/config?tab=clients">${t('config.clients')}</a><span aria-hidden="true">/</span>
    <span class="strong" id="client-crumb">${entity.body.name}</span>${statusBadge(entity.body)}
  </nav>`}
  ${!isNew && html`<${KeysPanel} client=${entity} tick=${tick} setTick=${setTick} />`}
  <form class="form editor" id="client-form" onSubmit=${submit} novalidate>
    <${Card} title=${isNew ? t('config.client_new') : t('config.client_edit', { name: entity.body.name })}
      actions=${!isNew && html`${statusBadge(entity.body)}<span class="muted small">${t('config.version', { n: entity.version })}</span>`}>
      <${Stale} err=${err} />
      <${Alert} id="client-form-error">${formError(err, shown)}<//>
      <div class="form-grid">
        <${IdField} name="client-id" isNew=${isNew} value=${f.id} onInput=${set('id')} err=${err} hint=${t('config.client_id_hint')} />
        <${Field} name="client-name" label=${t('config.field_name')} value=${f.name} onInput=${set('name')} error=${errorAt(err, 'name')} />
      </div>
      <${Field} name="client-description" label=${t('config.field_description')} value=${f.description}
        onInput=${set('description')} error=${errorAt(err, 'description')} />
      <div class="form-grid four">
        <${Select} name="client-status" label=${t('config.field_status')} value=${f.status} onChange=${set('status')} error=${errorAt(err, 'status')}
          options=${[{ value: 'active', label: t('config.status_active') }, { value: 'suspended', label: t('config.status_suspended') }]} />
        <${Field} name="client-valid-from" type="date" label=${t('config.field_valid_from')} value=${f.valid_from}
          onInput=${set('valid_from')} error=${errorAt(err, 'valid_from')} />
        <${Field} name="client-valid-until" type="date" label=${t('config.field_valid_until')} value=${f.valid_until}
          onInput=${set('valid_until')} error=${errorAt(err, 'valid_until')} />
        <${Field} name="client-timezone" label=${t('config.field_timezone')} value=${f.timezone}
          onInput=${set('timezone')} error=${errorAt(err, 'timezone')} hint=${t('config.timezone_hint')} />
      </div>
    <//>

    <${Card} title=${t('config.when_where')}>
      <label class="check switch">
        <input type="checkbox" id="client-hours-on" checked=${f.hoursOn} onChange=${(e) => setF({ ...f, hoursOn: e.currentTarget.checked })} />
        <span>${t('config.hours_on')}</span>
      </label>
      ${f.hoursOn && html`<div class="form-grid hours">
        <${Field} name="hours-from" label=${t('config.hours_from')} value=${f.hoursFrom} onInput=${set('hoursFrom')}
          error=${errorAt(err, 'service_hours.from')} hint=${t('config.hours_hint')} />
        <${Field} name="hours-until" label=${t('config.hours_until')} value=${f.hoursUntil} onInput=${set('hoursUntil')}
          error=${errorAt(err, 'service_hours.until')} />
        <${CheckGroup} name="hours-days" label=${t('config.hours_days')} value=${f.hoursDays} onChange=${set('hoursDays')}
          options=${DAYS.map((d) => ({ value: d, label: dayLabel(d) }))} error=${errorAt(err, 'service_hours.days')} hint=${t('config.days_hint')} />
      </div>`}
      ${errorAt(err, 'service_hours') && !/^service_hours\.(from|until|days)/.test(err.field) && html`<div class="field-message" role="alert">${err.message}</div>`}
      <${TextArea} name="client-ip-allow" mono rows=${3} label=${t('config.field_ip_allow')} value=${f.ip_allow}
        onInput=${set('ip_allow')} error=${errorAt(err, 'ip_allow')} hint=${t('config.ip_allow_hint')} placeholder="10.0.0.0/8" />
      <${TextArea} name="client-ip-deny" mono rows=${3} label=${t('policy.field_ip_deny')} value=${f.ip_deny}
        onInput=${set('ip_deny')} error=${lineError(err, 'ip_deny')} hint=${t('policy.client_ip_deny_hint')} placeholder="203.0.113.7" />
      <${TextArea} name="client-certificates" mono rows=${3} label=${t('config.field_certificates')} value=${f.certificates}
        onInput=${set('certificates')} error=${certificateError(err)} hint=${t('config.certificates_hint')}
        placeholder="sha256:9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08" />
    <//>

    <${Card} title=${t('config.limits')}>
      <div class="form-grid four">
        <${Field} name="client-tps" label=${t('config.field_tps')} value=${f.tps} onInput=${set('tps')}
          error=${errorAt(err, 'tps.per_second') || (err && err.field === 'tps' ? err.message : null)} hint=${t('config.tps_hint')} />
        <${Field} name="client-burst" label=${t('config.field_burst')} value=${f.burst} onInput=${set('burst')}
          error=${errorAt(err, 'tps.burst')} hint=${t('config.burst_hint')} />
        <${Field} name="client-priority" label=${t('config.field_priority')} value=${f.priority} onInput=${set('priority')}
          error=${errorAt(err, 'priority')} hint=${t('config.priority_hint')} />
      </div>
      <${QuotaFields} f=${f} set=${set} err=${err} prefix="client" />
      ${groupOptions.length ? html`<${CheckGroup} name="client-groups" label=${t('config.field_groups')} value=${f.groups}
        onChange=${set('groups')} options=${groupOptions} error=${errorAt(err, 'groups')} hint=${t('config.groups_hint')} />`
        : html`<p class="muted small">${t('config.groups_none_hint')}</p>`}
    <//>

    <${SigningCard} client=${isNew ? null : entity} rows=${f.signingKeys} setRows=${set('signingKeys')} err=${err}
      onSecret=${() => setTick((x) => x + 1)} />

    <${Card} title=${t('config.oauth')} id="client-oauth">
      <${ScopesField} name="client-scopes" value=${f.scopes} onInput=${set('scopes')} err=${err} hint=${t('config.scopes_hint_client')} />
      ${!isNew && html`<${EffectiveScopes} client=${entity} tick=${tick} />`}
    <//>

    <div class="form-actions sticky-actions">
      <${Button} kind="primary" type="submit" id="client-save" disabled=${busy}>${isNew ? t('config.create') : t('config.save')}<//>
      <${Button} onClick=${() => onDone(null)}>${isNew ? t('config.cancel') : t('config.back')}<//>
      ${!isNew && html`<span class="spacer"></span><${Button} kind="danger" id="client-delete" onClick=${() => setConfirm(true)}>${t('config.delete')}<//>`}
    </div>
    ${confirm && html`<${Confirm} id="confirm-dialog" title=${t('config.delete_title', { id })} message=${t('config.delete_client_text')}
      confirmLabel=${t('config.delete')} onClose=${() => setConfirm(false)}
      onConfirm=${async () => { await deleteEntity('clients', id, entity.version); toast(t('config.deleted_toast', { id }), 'success'); onDone(null); }} />`}
  </form>
  </div>`;
}

/** What the token endpoint may grant the client, as saved (`GET /api/v1/clients/{id}/scopes`):
 *  its own scopes and those of the products approved for its active keys. Read-only. */
function EffectiveScopes({ client, tick }) {
  const [s, setS] = useState(null);
  const [err, setErr] = useState(null);
  useEffect(() => {
    get(`/api/v1/clients/${encodeURIComponent(client.id)}/scopes`).then(setS).catch(setErr);
  }, [client.id, client.version, tick]);
  if (err) return html`<${Alert}>${err.message}<//>`;
  if (!s) return html`<${Loading} />`;
  return html`<div class="field" id="client-effective-scopes">
    <span class="field-label">${t('config.scopes_effective')}</span>
    <div><${ScopeChips} scopes=${s.effective} id="client-effective" /></div>
    <div class="field-hint">${t('config.scopes_effective_hint')}</div>
    ${s.products.length > 0 && html`<div class="subhead">${t('config.scopes_from_products')}</div>
      <${KeyValues} id="client-scope-products" items=${s.products.map((p) => [p.product, html`<${ScopeChips} scopes=${p.scopes} />`])} />`}
  </div>`;
}

export function keyState(b) {
  if (b.revoked) return { tone: 'bad', label: t('config.key_revoked') };
  if (b.expires_at && new Date(b.expires_at) <= new Date()) return { tone: 'neutral', label: t('config.key_expired') };
  if (b.expires_at) return { tone: 'warn', label: t('config.key_expires', { time: fmtTime(b.expires_at, { dateStyle: 'medium', timeStyle: 'short' }) }) };
  return { tone: 'good', label: t('config.key_active') };
}

/** Live keys first, then those running out (a rotation's old key), then the dead. */
function keyRank(b) {
  if (b.revoked || (b.expires_at && new Date(b.expires_at) <= new Date())) return 2;
  return b.expires_at ? 1 : 0;
}

export function grantBadge(g) {
  const tone = { approved: 'good', pending: 'warn', revoked: 'neutral' }[g.status];
  const label = { approved: t('config.grant_approved'), pending: t('config.grant_pending'), revoked: t('config.grant_revoked') }[g.status];
  return html`<${Badge} tone=${tone}>${g.product} · ${label}<//>`;
}

/** The keys of a client and what can be done with them. */
function KeysPanel({ client, tick, setTick }) {
  const keys = useEntities('api-keys', tick);
  const products = useEntities('products', tick);
  const [dialog, setDialog] = useState(null);
  const [err, setErr] = useState(null);
  const mine = keys.items.filter((k) => k.body.client_id === client.id)
    .sort((a, b) => keyRank(a.body) - keyRank(b.body) || b.changed_at.localeCompare(a.changed_at));
  const act = async (f, done) => {
    setErr(null);
    try {
      const r = await f();
      if (done) done(r);
      setTick((x) => x + 1);
    } catch (e) {
      setErr(e);
    }
  };
  const approve = (k, p) => act(() => post(`/api/v1/api-keys/${k.id}/products/${encodeURIComponent(p)}/approve`),
    () => toast(t('config.grant_approved_toast', { product: p }), 'success'));
  const revokeGrant = (k, p) => act(() => post(`/api/v1/api-keys/${k.id}/products/${encodeURIComponent(p)}/revoke`));

  const columns = [
    {
      key: 'id', label: t('config.col_key'),
      render: (k) => html`<span class="mono strong">${k.body.hint}…</span><div class="muted small mono">${k.id}</div>
        ${k.body.replaces && html`<div class="muted small">${t('config.key_replaces', { id: k.body.replaces })}</div>`}`,
    },
    { key: 'state', label: t('config.col_status'), render: (k) => { const s = keyState(k.body); return html`<${Badge} tone=${s.tone}>${s.label}<//>`; } },
    {
      key: 'products', label: t('config.col_products'),
      render: (k) => html`<div class="grants">${(k.body.products || []).length === 0 ? html`<span class="muted small">${t('config.no_products')}</span>` : null}
        ${(k.body.products || []).map((g) => html`<span class="grant" data-product=${g.product} data-status=${g.status}>
          ${grantBadge(g)}
          ${!k.body.revoked && g.status === 'pending' && html`<button type="button" class="link-btn approve" onClick=${() => approve(k, g.product)}>${t('config.approve')}</button>`}
          ${!k.body.revoked && g.status !== 'revoked' && html`<button type="button" class="link-btn muted" onClick=${() => revokeGrant(k, g.product)}>${t('config.grant_remove')}</button>`}
        </span>`)}</div>`,
    },
    {
      key: 'actions', label: '', align: 'right',
      render: (k) => (k.body.revoked ? null : html`<div class="row-actions">
        <${Button} onClick=${() => setDialog({ kind: 'grant', key: k })}>${t('config.grant')}<//>
        <${Button} onClick=${() => setDialog({ kind: 'rotate', key: k })}>${t('config.rotate')}<//>
        <${Button} kind="danger" onClick=${() => setDialog({ kind: 'revoke', key: k })}>${t('config.revoke')}<//>
      </div>`),
    },
  ];
  return html`<${Card} title=${t('config.keys')} id="key-panel"
    actions=${html`<${Button} id="secret-new" onClick=${() => setDialog({ kind: 'secret' })}>${client.body.has_secret ? t('config.secret_replace') : t('config.secret_set')}<//>
      <${Button} kind="primary" id="key-new" onClick=${() => setDialog({ kind: 'new' })}>${t('config.key_new')}<//>`}>
    <p class="muted small card-note">${client.body.has_secret ? t('config.secret_has') : t('config.secret_none')}</p>
    <${Alert} id="key-error">${err && err.message}<//>
    ${keys.loading ? html`<${Loading} />` : mine.length === 0
      ? html`<${Empty} title=${t('config.keys_none')} hint=${t('config.keys_none_hint')} />`
      : html`<${Table} id="key-table" columns=${columns} rows=${mine} pageSize=${10} />`}
    ${dialog && dialog.kind === 'new' && html`<${NewKey} client=${client} products=${products.items}
      onClose=${() => setDialog(null)} onCreated=${(r) => { setTick((x) => x + 1); setDialog({ kind: 'shown', title: t('config.key_created'), r }); }} />`}
    ${dialog && dialog.kind === 'shown' && html`<${ShownOnce} title=${dialog.title} secret=${dialog.r.secret} hint=${dialog.r.hint}
      onClose=${() => setDialog(null)} />`}
    ${dialog && dialog.kind === 'secret' && html`<${Confirm} id="confirm-dialog" title=${t('config.secret_title')} message=${t('config.secret_text')}
      confirmLabel=${t('config.secret_create')} onClose=${() => setDialog(null)}
      onConfirm=${async () => {
        const r = await post(`/api/v1/clients/${encodeURIComponent(client.id)}/secret`);
        setTick((x) => x + 1);
        setTimeout(() => setDialog({ kind: 'shown', title: t('config.secret_created'), r }), 0);
      }} />`}
    ${dialog && dialog.kind === 'rotate' && html`<${Rotate} k=${dialog.key} onClose=${() => setDialog(null)}
      onCreated=${(r) => { setTick((x) => x + 1); setDialog({ kind: 'shown', title: t('config.key_rotated'), r }); }} />`}
    ${dialog && dialog.kind === 'revoke' && html`<${Confirm} id="confirm-dialog" title=${t('config.revoke_title', { hint: dialog.key.body.hint })}
      message=${t('config.revoke_text')} confirmLabel=${t('config.revoke')} onClose=${() => setDialog(null)}
      onConfirm=${async () => { await post(`/api/v1/api-keys/${dialog.key.id}/revoke`); setTick((x) => x + 1); toast(t('config.revoked_toast'), 'success'); }} />`}
    ${dialog && dialog.kind === 'grant' && html`<${Grant} k=${dialog.key} products=${products.items}
      onClose=${() => setDialog(null)} onDone=${() => setTick((x) => x + 1)} />`}
  <//>`;
}

function productOptions(products) {
  return products.map((p) => ({
    value: p.id,
    label: p.body.approval === 'manual' ? `${p.body.name} (${t('config.needs_approval')})` : p.body.name,
  }));
}

function NewKey({ client, products, onClose, onCreated }) {
  const [expires, setExpires] = useState('');
  const [chosen, setChosen] = useState([]);
  const [err, setErr] = useState(null);
  const [busy, setBusy] = useState(false);
  const create = async () => {
    setBusy(true);
    setErr(null);
    try {
      // A date means the end of that day in the user's browser zone.
      const body = compact({ products: chosen, expires_at: expires ? new Date(`${expires}T23:59:59`).toISOString() : undefined });
      onCreated(await post(`/api/v1/clients/${encodeURIComponent(client.id)}/keys`, body));
    } catch (e) {
      setErr(e);
      setBusy(false);
    }
  };
  return html`<${Modal} id="key-dialog" title=${t('config.key_new_for', { name: client.body.name })} onClose=${onClose} closeLabel=${t('config.close')}
    actions=${html`<${Button} onClick=${onClose}>${t('config.cancel')}<//>
      <${Button} kind="primary" id="key-generate" disabled=${busy} onClick=${create}>${t('config.key_generate')}<//>`}>
    <div class="form">
      <${Alert}>${err && !errorAt(err, 'products', 'expires_at') && err.message}<//>
      <${Field} name="key-expires" type="date" label=${t('config.field_expires')} value=${expires} onInput=${setExpires}
        error=${errorAt(err, 'expires_at')} hint=${t('config.expires_hint')} />
      ${products.length ? html`<${CheckGroup} name="key-products" label=${t('config.field_products')} value=${chosen} onChange=${setChosen}
        options=${productOptions(products)} error=${errorAt(err, 'products')} hint=${t('config.products_hint')} />`
        : html`<p class="muted small">${t('config.products_none_hint')}</p>`}
    </div>
  <//>`;
}

function Rotate({ k, onClose, onCreated }) {
  const [overlap, setOverlap] = useState('3600');
  const [err, setErr] = useState(null);
  const [busy, setBusy] = useState(false);
  const run = async () => {
    setBusy(true);
    try {
      onCreated(await post(`/api/v1/api-keys/${k.id}/rotate`, { overlap_secs: Number(overlap) }));
    } catch (e) {
      setErr(e);
      setBusy(false);
    }
  };
  return html`<${Modal} id="rotate-dialog" title=${t('config.rotate_title', { hint: k.body.hint })} onClose=${onClose} closeLabel=${t('config.close')}
    actions=${html`<${Button} onClick=${onClose}>${t('config.cancel')}<//>
      <${Button} kind="primary" id="rotate-ok" disabled=${busy} onClick=${run}>${t('config.rotate')}<//>`}>
    <div class="form">
      <p>${t('config.rotate_text')}</p>
      <${Select} name="rotate-overlap" label=${t('config.field_overlap')} value=${overlap} onChange=${setOverlap} error=${errorAt(err, 'overlap_secs')}
        options=${[
          { value: '0', label: t('config.overlap_none') },
          { value: '3600', label: t('config.overlap_hour') },
          { value: '86400', label: t('config.overlap_day') },
          { value: '604800', label: t('config.overlap_week') },
        ]} />
      <${Alert}>${err && !err.field && err.message}<//>
    </div>
  <//>`;
}

function Grant({ k, products, onClose, onDone }) {
  const held = new Set((k.body.products || []).filter((g) => g.status !== 'revoked').map((g) => g.product));
  const options = productOptions(products.filter((p) => !held.has(p.id)));
  const [product, setProduct] = useState(options.length ? options[0].value : '');
  const [err, setErr] = useState(null);
  const run = async () => {
    try {
      await post(`/api/v1/api-keys/${k.id}/products`, { product });
      onDone();
      onClose();
    } catch (e) {
      setErr(e);
    }
  };
  return html`<${Modal} id="grant-dialog" title=${t('config.grant_title', { hint: k.body.hint })} onClose=${onClose} closeLabel=${t('config.close')}
    actions=${html`<${Button} onClick=${onClose}>${t('config.cancel')}<//>
      <${Button} kind="primary" id="grant-ok" disabled=${!product} onClick=${run}>${t('config.grant')}<//>`}>
    ${options.length ? html`<div class="form">
      <${Select} name="grant-product" label=${t('config.field_product')} value=${product} onChange=${setProduct}
        options=${options} error=${errorAt(err, 'product')} hint=${t('config.grant_hint')} />
      <${Alert}>${err && !err.field && err.message}<//>
    </div>` : html`<${Empty} title=${t('config.grant_nothing')} hint=${t('config.products_none_hint')} />`}
  <//>`;
}
