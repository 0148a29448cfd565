// The Groups and Products tabs (API sets by id or `*` pattern; a product's manual approval,
// quota per key and OAuth 2.0 scopes) and the pending grants waiting for approval.
import { html, useState, useEffect } from '../../vendor/preact-htm.module.js';
import { get, post, saveEntity, deleteEntity } from '../../api.js';
import { t, fmtNumber, fmtTime } from '../../i18n.js';
import {
  Card, Button, Alert, Empty, Loading, Badge, Field, Select, TextArea, Table, toast, Confirm,
} from '../../components.js';
import {
  useEntities, errorAt, formError, revealError, str, lines, compact, go, IdField, Stale, scopeList, ScopesField, ScopeChips,
} from './common.js';
import { QuotaFields, quotaOf } from './clients.js';

const titles = (seg) => (seg === 'groups'
  ? { list: t('config.groups'), none: t('config.groups_none'), hint: t('config.groups_none_hint'), add: t('config.group_new') }
  : { list: t('config.products'), none: t('config.products_none'), hint: t('config.products_none_hint'), add: t('config.product_new') });

export function SetList({ seg, tick }) {
  const list = useEntities(seg, tick);
  const tx = titles(seg);
  if (list.error) return html`<${Alert}>${list.error.message}<//>`;
  if (list.loading) return html`<${Loading} />`;
  const link = (e, view) => `#/config?tab=${seg}&id=${encodeURIComponent(e.id)}&view=${view}`;
  const columns = [
    {
      key: 'id', label: t('config.col_name'),
      render: (e) => html`<a class="strong" href=${link(e, 'edit')}>${e.body.name}</a><div class="muted small mono">${e.id}</div>`,
    },
    { key: 'apis', label: t('config.col_apis'), render: (e) => html`<span class="mono small">${(e.body.apis || []).join(', ')}</span>` },
    seg === 'products' && {
      key: 'approval', label: t('config.col_approval'),
      render: (e) => (e.body.approval === 'manual' ? html`<${Badge} tone="warn">${t('config.approval_manual')}<//>`
        : html`<${Badge} tone="good">${t('config.approval_auto')}<//>`),
    },
    seg === 'products' && {
      key: 'scopes', label: t('config.col_scopes'), render: (e) => html`<span class="small"><${ScopeChips} scopes=${e.body.scopes} /></span>`,
    },
    { key: 'description', label: t('config.col_description'), render: (e) => html`<span class="muted">${e.body.description || ''}</span>` },
    {
      key: 'actions', label: '', align: 'right',
      render: (e) => html`<div class="row-actions">
        <a class="btn btn-secondary btn-small" href=${link(e, 'edit')}>${t('config.edit')}</a>
        <a class="btn btn-secondary btn-small" href=${link(e, 'history')}>${t('config.history')}</a>
      </div>`,
    },
  ].filter(Boolean);
  return html`<${Card} title=${tx.list} id=${`${seg}-list`}
    actions=${html`<${Button} kind="primary" id=${`${seg}-new`} onClick=${() => go({ tab: seg, view: 'new' })}>${tx.add}<//>`}>
    ${list.items.length === 0 ? html`<${Empty} title=${tx.none} hint=${tx.hint} />`
      : html`<${Table} id=${`${seg}-table`} columns=${columns} rows=${list.items} pageSize=${25} />`}
  <//>`;
}

function formOf(id, b) {
  b = b || {};
  const q = b.quota || {};
  return {
    id: id || '',
    name: str(b.name),
    description: str(b.description),
    apis: (b.apis || []).join('\n'),
    approval: b.approval || 'auto',
    per_minute: str(q.per_minute),
    per_hour: str(q.per_hour),
    per_day: str(q.per_day),
    per_month: str(q.per_month),
    scope: q.scope || 'node',
    scopes: (b.scopes || []).join('\n'),
  };
}

export function SetEditor({ seg, id, onDone }) {
  const isNew = !id;
  const product = seg === 'products';
  const [entity, setEntity] = useState(isNew ? { body: null } : null);
  const [f, setF] = useState(isNew ? formOf('', null) : null);
  const [err, setErr] = useState(null);
  const [busy, setBusy] = useState(false);
  const [confirm, setConfirm] = useState(false);
  const apis = useEntities('apis', 0);
  useEffect(() => {
    if (isNew) return;
    get(`/api/v1/${seg}/${encodeURIComponent(id)}`)
      .then((e) => { setEntity(e); setF(formOf(e.id, e.body)); })
      .catch(setErr);
  }, [seg, id]);
  if (!f) return html`<${Card}>${err ? html`<${Alert}>${err.message}<//>` : html`<${Loading} />`}<//>`;
  const set = (k) => (v) => setF({ ...f, [k]: v });
  const submit = async (ev) => {
    ev.preventDefault();
    setBusy(true);
    setErr(null);
    const body = compact({ name: f.name, description: f.description, apis: lines(f.apis) });
    if (!body.apis) body.apis = [];
    if (product) {
      body.approval = f.approval;
      const q = quotaOf(f);
      if (q) body.quota = q;
      const scopes = scopeList(f.scopes);
      if (scopes.length) body.scopes = scopes;
    }
    try {
      const saved = await saveEntity(seg, isNew ? f.id.trim() : id, body, entity.version);
      toast(isNew ? t('config.created_toast', { id: saved.id }) : t('config.saved_toast', { id: saved.id, n: saved.version }), 'success');
      onDone(saved.id);
    } catch (x) {
      setErr(x);
      setBusy(false);
      revealError();
    }
  };
  const title = isNew ? (product ? t('config.product_new') : t('config.group_new'))
    : (product ? t('config.product_edit', { name: entity.body.name }) : t('config.group_edit', { name: entity.body.name }));
  const known = apis.items.map((a) => a.id).join(', ');
  return html`<form class="form editor" id=${`${seg}-form`} onSubmit=${submit} novalidate>
    <${Card} title=${title} actions=${!isNew && html`<span class="muted small">${t('config.version', { n: entity.version })}</span>`}>
      <${Stale} err=${err} />
      <${Alert} id=${`${seg}-form-error`}>${formError(err, ['id', 'name', 'description', 'apis', 'approval', 'quota', 'scopes'])}<//>
      <div class="form-grid">
        <${IdField} name=${`${seg}-id`} isNew=${isNew} value=${f.id} onInput=${set('id')} err=${err} hint=${t('config.id_hint')} />
        <${Field} name=${`${seg}-name`} label=${t('config.field_name')} value=${f.name} onInput=${set('name')} error=${errorAt(err, 'name')} />
      </div>
      <${Field} name=${`${seg}-description`} label=${t('config.field_description')} value=${f.description}
        onInput=${set('description')} error=${errorAt(err, 'description')} />
      <${TextArea} name=${`${seg}-apis`} mono rows=${4} label=${t('config.field_apis')} value=${f.apis} onInput=${set('apis')}
        error=${errorAt(err, 'apis')} hint=${known ? t('config.apis_hint_known', { ids: known }) : t('config.apis_hint')} placeholder="orders-*" />
      ${product && html`
        <div class="form-grid">
          <${Select} name="product-approval" label=${t('config.field_approval')} value=${f.approval} onChange=${set('approval')}
            error=${errorAt(err, 'approval')} hint=${t('config.approval_hint')}
            options=${[{ value: 'auto', label: t('config.approval_auto') }, { value: 'manual', label: t('config.approval_manual') }]} />
        </div>
        <div class="subhead">${t('config.product_quota')}</div>
        <${QuotaFields} f=${f} set=${set} err=${err} prefix="product" />
        <${ScopesField} name="product-scopes" value=${f.scopes} onInput=${set('scopes')} err=${err} hint=${t('config.scopes_hint_product')} />`}
    <//>
    <div class="form-actions sticky-actions">
      <${Button} kind="primary" type="submit" id=${`${seg}-save`} disabled=${busy}>${isNew ? t('config.create') : t('config.save')}<//>
      <${Button} onClick=${() => onDone(null)}>${t('config.cancel')}<//>
      ${!isNew && html`<span class="spacer"></span><${Button} kind="danger" onClick=${() => setConfirm(true)}>${t('config.delete')}<//>`}
    </div>
    ${confirm && html`<${Confirm} id="confirm-dialog" title=${t('config.delete_title', { id })} message=${t('config.delete_set_text')}
      confirmLabel=${t('config.delete')} onClose=${() => setConfirm(false)}
      onConfirm=${async () => { await deleteEntity(seg, id, entity.version); toast(t('config.deleted_toast', { id }), 'success'); onDone(null); }} />`}
  </form>`;
}

/** Every pending grant of every live key, oldest change first, with Approve and Reject. */
export function Pending({ tick, setTick }) {
  const keys = useEntities('api-keys', tick);
  const clients = useEntities('clients', tick);
  const [err, setErr] = useState(null);
  if (keys.loading) return html`<${Card} title=${t('config.pending')}><${Loading} /><//>`;
  const rows = [];
  for (const k of keys.items) {
    if (k.body.revoked) continue;
    for (const g of k.body.products || []) if (g.status === 'pending') rows.push({ k, product: g.product });
  }
  rows.sort((a, b) => a.k.changed_at.localeCompare(b.k.changed_at));
  const clientName = (id) => (clients.items.find((c) => c.id === id) || { body: { name: id } }).body.name;
  const act = async (r, what) => {
    setErr(null);
    try {
      await post(`/api/v1/api-keys/${r.k.id}/products/${encodeURIComponent(r.product)}/${what}`);
      toast(what === 'approve' ? t('config.grant_approved_toast', { product: r.product }) : t('config.grant_rejected_toast', { product: r.product }), 'success');
      setTick((x) => x + 1);
    } catch (e) {
      setErr(e);
    }
  };
  const columns = [
    { key: 'client', label: t('config.col_client'), render: (r) => html`<a class="strong" href=${`#/config?tab=clients&id=${encodeURIComponent(r.k.body.client_id)}&view=edit`}>${clientName(r.k.body.client_id)}</a><div class="muted small mono">${r.k.body.client_id}</div>` },
    { key: 'key', label: t('config.col_key'), render: (r) => html`<span class="mono">${r.k.body.hint}…</span><div class="muted small mono">${r.k.id}</div>` },
    { key: 'product', label: t('config.col_product'), render: (r) => html`<span class="strong">${r.product}</span>` },
    { key: 'since', label: t('config.col_requested'), render: (r) => fmtTime(r.k.changed_at, { dateStyle: 'medium', timeStyle: 'short' }) },
    {
      key: 'actions', label: '', align: 'right',
      render: (r) => html`<div class="row-actions" data-key=${r.k.id} data-product=${r.product}>
        <${Button} kind="primary" onClick=${() => act(r, 'approve')}>${t('config.approve')}<//>
        <${Button} onClick=${() => act(r, 'revoke')}>${t('config.reject')}<//>
      </div>`,
    },
  ];
  return html`<${Card} title=${t('config.pending')} id="pending-card"
    actions=${rows.length ? html`<${Badge} tone="warn">${fmtNumber(rows.length)}<//>` : null}>
    <${Alert}>${err && err.message}<//>
    ${rows.length === 0 ? html`<${Empty} title=${t('config.pending_none')} hint=${t('config.pending_none_hint')} />`
      : html`<${Table} id="pending-table" columns=${columns} rows=${rows} pageSize=${20} />`}
  <//>`;
}
