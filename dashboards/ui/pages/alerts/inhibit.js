// The inhibit rules tab (model::alert::InhibitRuleSpec, /api/v1/inhibit-rules; Alertmanager's
// field names): while an alert matching `source_matchers` fires, alerts matching
// `target_matchers` with the same `equal` labels are held back. List, create, edit, delete;
// matchers one per line, the API's errors beside the field they name.
import { html, useState, useEffect } from '../../vendor/preact-htm.module.js';
import { get, post, saveEntity, deleteEntity } from '../../api.js';
import { t } from '../../i18n.js';
import {
  Card, Table, Badge, Alert, Loading, Empty, Button, Field, TextArea, Checkbox, Confirm, toast,
} from '../../components.js';
import { go, listAll, errorAt, lineErrorAt, matcherLines, lines } from './shared.js';

const FIELDS = ['id', 'name', 'enabled', 'source_matchers', 'target_matchers', 'equal'];

function draftOf(entry) {
  const b = (entry && entry.body) || {};
  return {
    id: entry ? entry.id : '', name: b.name || '', enabled: b.enabled !== false,
    source: (b.source_matchers || []).join('\n'), target: (b.target_matchers || []).join('\n'),
    equal: (b.equal || []).join('\n'),
  };
}

const bodyOf = (d) => ({
  name: d.name, enabled: d.enabled, source_matchers: matcherLines(d.source),
  target_matchers: matcherLines(d.target), equal: lines(d.equal),
});

function InhibitEditor({ id }) {
  const [entry, setEntry] = useState(undefined);
  const [d, setD] = useState(draftOf(null));
  const [err, setErr] = useState(null);
  const [busy, setBusy] = useState(false);
  const [asking, setAsking] = useState(false);
  useEffect(() => {
    if (!id) { setEntry(null); return; }
    get(`/api/v1/inhibit-rules/${encodeURIComponent(id)}`)
      .then((e) => { setEntry(e); setD(draftOf(e)); })
      .catch(setErr);
  }, [id]);
  const set = (patch) => setD({ ...d, ...patch });
  const save = async (e) => {
    e.preventDefault();
    setErr(null);
    setBusy(true);
    try {
      if (entry) await saveEntity('inhibit-rules', entry.id, bodyOf(d), entry.version);
      else await post('/api/v1/inhibit-rules', { id: d.id, ...bodyOf(d) });
      toast(t('routing.saved'), 'success');
      go({ tab: 'inhibit' });
    } catch (x) {
      setErr(x);
    } finally {
      setBusy(false);
    }
  };
  if (entry === undefined && !err) return html`<${Loading} />`;
  const shown = err && err.field && FIELDS.some((f) => errorAt(err, f));
  const at = (f) => errorAt(err, f);
  return html`<${Card} title=${entry ? d.name || entry.id : t('routing.inhibit_new')} id="card-inhibit-editor">
    <form class="form" id="inhibit-form" onSubmit=${save} novalidate>
      <a href="#/alerts?tab=inhibit" class="back">← ${t('routing.back_inhibit')}</a>
      ${err && !shown && html`<${Alert} id="inhibit-error">${err.message}<//>`}
      ${!entry && html`<${Field} name="inh-id" label=${t('routing.f_id')} value=${d.id} error=${at('id')}
        hint=${t('routing.f_id_hint')} onInput=${(v) => set({ id: v })} />`}
      <${Field} name="inh-name" label=${t('routing.f_name')} value=${d.name} error=${at('name')} onInput=${(v) => set({ name: v })} />
      <${Checkbox} name="inh-enabled" label=${t('routing.f_enabled')} checked=${d.enabled} onChange=${(v) => set({ enabled: v })} />
      <${TextArea} name="inh-source" mono rows=${3} label=${t('routing.f_source')} value=${d.source}
        error=${lineErrorAt(err, 'source_matchers')} hint=${t('routing.f_source_hint')} placeholder='kind=node_silent'
        onInput=${(v) => set({ source: v })} />
      <${TextArea} name="inh-target" mono rows=${3} label=${t('routing.f_target')} value=${d.target}
        error=${lineErrorAt(err, 'target_matchers')} hint=${t('routing.f_target_hint')} placeholder='kind=~"node_(cpu|memory)|disk"'
        onInput=${(v) => set({ target: v })} />
      <${TextArea} name="inh-equal" mono rows=${2} label=${t('routing.f_equal')} value=${d.equal}
        error=${lineErrorAt(err, 'equal')} hint=${t('routing.f_equal_hint')} placeholder="node"
        onInput=${(v) => set({ equal: v })} />
      <div class="form-actions">
        <${Button} kind="primary" type="submit" id="inhibit-save" disabled=${busy}>${t('routing.save')}<//>
        ${entry && html`<${Button} kind="danger" id="inhibit-delete" onClick=${() => setAsking(true)}>${t('alerts.delete')}<//>`}
      </div>
    </form>
    ${asking && html`<${Confirm} id="inhibit-delete-confirm" title=${t('routing.delete_title')}
      message=${t('routing.delete_inhibit', { name: d.name || entry.id })} confirmLabel=${t('alerts.delete')}
      onClose=${() => setAsking(false)}
      onConfirm=${async () => { await deleteEntity('inhibit-rules', entry.id, entry.version); toast(t('routing.deleted'), 'success'); go({ tab: 'inhibit' }); }} />`}
  <//>`;
}

function InhibitList() {
  const [rows, setRows] = useState(null);
  const [err, setErr] = useState(null);
  useEffect(() => {
    listAll(get, '/api/v1/inhibit-rules').then(setRows).catch(setErr);
  }, []);
  const columns = [
    { key: 'name', label: t('routing.f_name'), render: (r) => html`<div>
      <a class="strong" href=${`#/alerts?tab=inhibit&id=${encodeURIComponent(r.id)}`} data-inhibit=${r.id}>${r.body.name || r.id}</a>
      <div class="muted small">${r.id}</div></div>` },
    { key: 'source', label: t('routing.f_source'), render: (r) => html`<span class="mono small">${(r.body.source_matchers || []).join(', ')}</span>` },
    { key: 'target', label: t('routing.f_target'), render: (r) => html`<span class="mono small">${(r.body.target_matchers || []).join(', ')}</span>` },
    { key: 'equal', label: t('routing.f_equal'), render: (r) => html`<span class="mono small">${(r.body.equal || []).join(', ')}</span>` },
    { key: 'enabled', label: t('alerts.col_enabled'), render: (r) => (r.body.enabled === false
      ? html`<${Badge}>${t('alerts.disabled')}<//>` : html`<${Badge} tone="good">${t('alerts.yes')}<//>`) },
  ];
  const add = html`<${Button} kind="primary" id="inhibit-new" onClick=${() => go({ tab: 'inhibit', id: 'new' })}>${t('routing.inhibit_new')}<//>`;
  return html`<${Card} title=${t('routing.inhibit_rules')} id="card-inhibit" actions=${add}>
    <p class="muted small">${t('routing.inhibit_hint')}</p>
    <${Alert}>${err && err.message}<//>
    ${rows === null ? !err && html`<${Loading} />` : rows.length === 0
      ? html`<${Empty} title=${t('routing.inhibit_none')} hint=${t('routing.inhibit_none_hint')} />`
      : html`<${Table} cards id="inhibit-table" columns=${columns} rows=${rows} pageSize=${25} />`}
  <//>`;
}

export function InhibitTab({ id }) {
  if (id) return html`<${InhibitEditor} key=${id} id=${id === 'new' ? null : id} />`;
  return html`<${InhibitList} />`;
}
