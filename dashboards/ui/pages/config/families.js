// The API families tab (issue 19): every family (`/api/v1/api-families`) with its versions —
// the APIs whose `family` is it — and their deprecated / retired badges; an editor for a
// family's name, description, default version, how a call names its version (path segment,
// header, query parameter) and the canary split. The versions themselves are APIs, edited in
// the APIs tab (family and version fields).
import { html, useState, useEffect } from '../../vendor/preact-htm.module.js';
import { get, saveEntity, deleteEntity } from '../../api.js';
import { t, fmtTime } from '../../i18n.js';
import {
  Card, Button, Alert, Empty, Loading, Badge, Field, Select, TextArea, Table, toast, Confirm,
} from '../../components.js';
import { useEntities, errorAt, formError, revealError, str, go, IdField, Stale } from './common.js';

const FORM_FIELDS = ['name', 'description', 'default_version', 'select', 'canary'];

/** An API's version label and its deprecated / retired state, as small badges. */
export function VersionBadges({ b }) {
  if (!b || (!b.version && !b.deprecation && !b.retired)) return null;
  const dep = b.deprecation;
  const title = dep ? t('version.deprecated_detail', {
    since: fmtTime(dep.since, { dateStyle: 'medium' }),
    sunset: dep.sunset ? fmtTime(dep.sunset, { dateStyle: 'medium' }) : '—',
  }) : undefined;
  return html`<div class="version-badges small" data-version=${b.version || ''}>
    ${b.version && html`<span class="mono">${b.family ? `${b.family} · ` : ''}${b.version}</span> `}
    ${b.retired ? html`<span data-badge="retired"><${Badge} tone="bad">${t('version.retired')}<//></span> `
      : dep ? html`<span data-badge="deprecated" title=${title}><${Badge} tone="warn">${t('version.deprecated')}<//></span> ` : null}
  </div>`;
}

/** The versions of each family: APIs by family id, sorted by version label. */
function versionsOf(apis) {
  const out = {};
  for (const a of apis) {
    if (!a.body.family) continue;
    (out[a.body.family] = out[a.body.family] || []).push(a);
  }
  for (const k of Object.keys(out)) out[k].sort((x, y) => str(x.body.version).localeCompare(str(y.body.version)));
  return out;
}

function selectText(s) {
  const sel = { path: true, header: 'accept-version', query: '', ...(s || {}) };
  const parts = [];
  if (sel.path) parts.push(t('version.select_path_short'));
  if (sel.header) parts.push(`${t('version.select_header_short')} ${sel.header}`);
  if (sel.query) parts.push(`?${sel.query}=`);
  return parts.join(' · ') || '—';
}

export function FamilyList({ tick }) {
  const list = useEntities('api-families', tick);
  const apis = useEntities('apis', tick);
  if (list.error) return html`<${Alert}>${list.error.message}<//>`;
  if (list.loading || apis.loading) return html`<${Loading} />`;
  const versions = versionsOf(apis.items);
  const edit = (id) => `#/config?tab=families&id=${encodeURIComponent(id)}&view=edit`;
  const columns = [
    {
      key: 'id', label: t('version.col_family'),
      render: (e) => html`<a class="strong" href=${edit(e.id)}>${e.body.name}</a>
        <div class="muted small mono">${e.id}</div>`,
    },
    {
      key: 'versions', label: t('version.col_versions'),
      render: (e) => {
        const vs = versions[e.id] || [];
        if (!vs.length) return html`<span class="muted">${t('version.no_versions')}</span>`;
        return html`<ul class="family-versions">${vs.map((a) => html`<li data-api=${a.id}>
          <a class="mono" href=${`#/config?tab=apis&id=${encodeURIComponent(a.id)}&view=edit`}>${a.body.version}</a>
          ${a.body.version === e.body.default_version ? html` <${Badge} tone="good">${t('version.default')}<//>` : null}
          ${e.body.canary && e.body.canary.version === a.body.version
            ? html` <${Badge} tone="neutral">${t('version.canary_pct', { pct: e.body.canary.percent })}<//>` : null}
          ${a.body.retired ? html` <span data-badge="retired"><${Badge} tone="bad">${t('version.retired')}<//></span>`
            : a.body.deprecation ? html` <span data-badge="deprecated"><${Badge} tone="warn">${t('version.deprecated')}<//></span>` : null}
          <span class="muted small"> ${a.id}</span>
        </li>`)}</ul>`;
      },
    },
    { key: 'select', label: t('version.col_select'), render: (e) => html`<span class="small">${selectText(e.body.select)}</span>` },
    {
      key: 'actions', label: '', align: 'right',
      render: (e) => html`<div class="row-actions">
        <a class="btn btn-secondary btn-small" href=${edit(e.id)}>${t('config.edit')}</a>
        <a class="btn btn-secondary btn-small" href=${`#/config?tab=families&id=${encodeURIComponent(e.id)}&view=history`}>${t('config.history')}</a>
      </div>`,
    },
  ];
  return html`<${Card} title=${t('version.families')} id="family-list"
    actions=${html`<${Button} kind="primary" id="family-new" onClick=${() => go({ tab: 'families', view: 'new' })}>${t('version.family_new')}<//>`}>
    <p class="muted small card-note">${t('version.families_note')}</p>
    ${list.items.length === 0
      ? html`<${Empty} title=${t('version.families_none')} hint=${t('version.families_none_hint')} />`
      : html`<${Table} id="family-table" columns=${columns} rows=${list.items} pageSize=${25} />`}
  <//>`;
}

function formOf(id, b) {
  const sel = { path: true, header: 'accept-version', query: '', ...((b && b.select) || {}) };
  return {
    id: id || '',
    name: str(b && b.name),
    description: str(b && b.description),
    default_version: str(b && b.default_version),
    path: !!sel.path,
    header: str(sel.header),
    query: str(sel.query),
    canaryOn: !!(b && b.canary),
    canaryVersion: str(b && b.canary && b.canary.version),
    canaryPercent: str(b && b.canary ? b.canary.percent : 10),
  };
}

function bodyOf(f) {
  const body = {
    name: f.name,
    default_version: f.default_version.trim(),
    select: { path: f.path, header: f.header.trim(), query: f.query.trim() },
  };
  if (f.description.trim()) body.description = f.description;
  if (f.canaryOn) {
    const p = f.canaryPercent.trim();
    // A number when it reads as one; else as typed, so the API names `canary.percent`.
    body.canary = { version: f.canaryVersion.trim(), percent: p !== '' && !Number.isNaN(Number(p)) ? Number(p) : p };
  }
  return body;
}

export function FamilyEditor({ id, onDone }) {
  const isNew = !id;
  const apis = useEntities('apis', 0);
  const [entity, setEntity] = useState(isNew ? { body: null } : null);
  const [f, setF] = useState(isNew ? formOf('', null) : null);
  const [err, setErr] = useState(null);
  const [busy, setBusy] = useState(false);
  const [confirm, setConfirm] = useState(false);
  useEffect(() => {
    if (isNew) return;
    get(`/api/v1/api-families/${encodeURIComponent(id)}`)
      .then((e) => { setEntity(e); setF(formOf(e.id, e.body)); })
      .catch(setErr);
  }, [id]);
  if (!f) return html`<${Card}>${err ? html`<${Alert}>${err.message}<//>` : html`<${Loading} />`}<//>`;
  const set = (k) => (v) => setF({ ...f, [k]: v });
  const mine = (versionsOf(apis.items)[isNew ? f.id.trim() : id] || []);
  const versionOptions = (v) => {
    const opts = mine.map((a) => ({ value: a.body.version, label: `${a.body.version} (${a.id})` }));
    return v && !opts.some((o) => o.value === v) ? [...opts, { value: v, label: v }] : opts;
  };
  const submit = async (ev) => {
    ev.preventDefault();
    setBusy(true);
    setErr(null);
    try {
      const saved = await saveEntity('api-families', isNew ? f.id.trim() : id, bodyOf(f), entity.version);
      toast(isNew ? t('config.created_toast', { id: saved.id }) : t('config.saved_toast', { id: saved.id, n: saved.version }), 'success');
      onDone(saved.id);
    } catch (x) {
      setErr(x);
      setBusy(false);
      revealError();
    }
  };
  const shown = ['id', ...FORM_FIELDS];
  // With no version APIs yet a default version is typed; with some, picked from them.
  const versionField = (name, key, label, hint, errField) => (mine.length
    ? html`<${Select} name=${name} label=${label} value=${f[key]} onChange=${set(key)} error=${errorAt(err, errField)} hint=${hint}
        options=${[{ value: '', label: '—' }, ...versionOptions(f[key])]} />`
    : html`<${Field} name=${name} label=${label} value=${f[key]} onInput=${set(key)} error=${errorAt(err, errField)} hint=${hint} />`);
  return html`<form class="form editor" id="family-form" onSubmit=${submit} novalidate>
    <${Card} title=${isNew ? t('version.family_new') : t('version.family_edit', { name: entity.body.name })}
      actions=${!isNew && html`<span class="muted small">${t('config.version', { n: entity.version })}</span>`}>
      <${Stale} err=${err} />
      <${Alert} id="family-form-error">${formError(err, shown)}<//>
      <div class="form-grid">
        <${IdField} name="family-id" isNew=${isNew} value=${f.id} onInput=${set('id')} err=${err} hint=${t('config.id_hint')} />
        <${Field} name="family-name" label=${t('config.field_name')} value=${f.name} onInput=${set('name')} error=${errorAt(err, 'name')} />
      </div>
      <${TextArea} name="family-description" rows=${2} label=${t('version.field_description')} value=${f.description}
        onInput=${set('description')} error=${errorAt(err, 'description')} />
      ${versionField('family-default', 'default_version', t('version.field_default'), t('version.default_hint'), 'default_version')}
    <//>
    <${Card} title=${t('version.select_card')}>
      <p class="muted small card-note">${t('version.select_note')}</p>
      <label class="check switch">
        <input type="checkbox" id="family-select-path" checked=${f.path} onChange=${(e) => setF({ ...f, path: e.currentTarget.checked })} />
        <span>${t('version.select_path')}</span>
      </label>
      <div class="form-grid">
        <${Field} name="family-header" label=${t('version.select_header')} value=${f.header} onInput=${set('header')}
          error=${errorAt(err, 'select.header')} hint=${t('version.select_header_hint')} />
        <${Field} name="family-query" label=${t('version.select_query')} value=${f.query} onInput=${set('query')}
          error=${errorAt(err, 'select.query')} hint=${t('version.select_query_hint')} />
      </div>
      ${errorAt(err, 'select') && !/^select\.(header|query)$/.test(err.field) && html`<div class="field-message" role="alert">${err.field}: ${err.message}</div>`}
    <//>
    <${Card} title=${t('version.canary_card')}>
      <label class="check switch">
        <input type="checkbox" id="family-canary-on" checked=${f.canaryOn} onChange=${(e) => setF({ ...f, canaryOn: e.currentTarget.checked })} />
        <span>${t('version.canary_on')}</span>
      </label>
      ${f.canaryOn && html`<div class="form-grid">
        ${versionField('family-canary-version', 'canaryVersion', t('version.canary_version'), t('version.canary_version_hint'), 'canary.version')}
        <${Field} name="family-canary-percent" label=${t('version.canary_percent')} value=${f.canaryPercent}
          onInput=${set('canaryPercent')} error=${errorAt(err, 'canary.percent')} hint=${t('version.canary_percent_hint')} />
      </div>`}
      ${errorAt(err, 'canary') && !/^canary\.(version|percent)$/.test(err.field) && html`<div class="field-message" role="alert">${err.message}</div>`}
    <//>
    ${!isNew && html`<${Card} title=${t('version.col_versions')} id="family-versions">
      ${mine.length ? html`<ul class="family-versions">${mine.map((a) => html`<li data-api=${a.id}>
          <a class="mono" href=${`#/config?tab=apis&id=${encodeURIComponent(a.id)}&view=edit`}>${a.body.version}</a>
          <span class="muted small"> ${a.body.name} (${a.id})</span> <${VersionBadges} b=${{ deprecation: a.body.deprecation, retired: a.body.retired }} />
        </li>`)}</ul>`
        : html`<${Empty} title=${t('version.no_versions')} hint=${t('version.no_versions_hint')} />`}
    <//>`}
    <div class="form-actions sticky-actions">
      <${Button} kind="primary" type="submit" id="family-save" disabled=${busy}>${isNew ? t('config.create') : t('config.save')}<//>
      <${Button} onClick=${() => onDone(null)}>${t('config.cancel')}<//>
      ${!isNew && html`<span class="spacer"></span><${Button} kind="danger" id="family-delete" onClick=${() => setConfirm(true)}>${t('config.delete')}<//>`}
    </div>
    ${confirm && html`<${Confirm} id="confirm-dialog" title=${t('config.delete_title', { id })} message=${t('version.delete_text')}
      confirmLabel=${t('config.delete')} onClose=${() => setConfirm(false)}
      onConfirm=${async () => { await deleteEntity('api-families', id, entity.version); toast(t('config.deleted_toast', { id }), 'success'); onDone(null); }} />`}
  </form>`;
}
