// The notification policies tab (model::alert::NotificationPolicySpec,
// /api/v1/notification-policies): which alerts a policy takes (matchers, one per line), how it
// groups them (group_by, waits and intervals) and whom it tells. List, create, edit, delete;
// the API's errors beside the field they name (`matchers[1]` as "Entry 2: …").
import { html, useState, useEffect } from '../../vendor/preact-htm.module.js';
import { get, post, saveEntity, deleteEntity } from '../../api.js';
import { t, fmtNumber } from '../../i18n.js';
import {
  Card, Table, Badge, Alert, Loading, Empty, Button, Field, TextArea, Checkbox, CheckGroup, Confirm, toast,
} from '../../components.js';
import {
  go, listAll, errorAt, lineErrorAt, matcherLines, numOrText, duration, lines, ROLES,
} from './shared.js';
import { roleName } from '../../nav.js';

const FIELDS = ['id', 'name', 'enabled', 'order', 'matchers', 'group_by', 'group_wait_secs',
  'group_interval_secs', 'repeat_interval_secs', 'recipients', 'continue', 'send_resolved'];

function draftOf(entry) {
  const b = (entry && entry.body) || {};
  const r = b.recipients || {};
  return {
    id: entry ? entry.id : '', name: b.name || '', enabled: b.enabled !== false,
    order: String(b.order ?? 0), matchers: (b.matchers || []).join('\n'),
    group_by: (b.group_by || ['alertname']).join('\n'),
    group_wait_secs: String(b.group_wait_secs ?? 30),
    group_interval_secs: String(b.group_interval_secs ?? 300),
    repeat_interval_secs: String(b.repeat_interval_secs ?? 14400),
    useRecipients: !!b.recipients, roles: r.roles || [], emails: (r.emails || []).join('\n'),
    line: (r.line || []).join('\n'), webhooks: r.webhooks || [],
    continue: !!b.continue, send_resolved: b.send_resolved !== false,
  };
}

function bodyOf(d) {
  const body = {
    name: d.name, enabled: d.enabled, order: numOrText(d.order) ?? 0,
    matchers: matcherLines(d.matchers), group_by: lines(d.group_by),
    group_wait_secs: numOrText(d.group_wait_secs) ?? 0,
    group_interval_secs: numOrText(d.group_interval_secs) ?? 0,
    repeat_interval_secs: numOrText(d.repeat_interval_secs) ?? 0,
    continue: d.continue, send_resolved: d.send_resolved,
  };
  if (d.useRecipients) {
    body.recipients = {
      roles: d.roles, emails: lines(d.emails), line: lines(d.line), webhooks: d.webhooks,
    };
  }
  return body;
}

function PolicyEditor({ id }) {
  const [entry, setEntry] = useState(undefined);
  const [d, setD] = useState(draftOf(null));
  const [err, setErr] = useState(null);
  const [busy, setBusy] = useState(false);
  const [asking, setAsking] = useState(false);
  useEffect(() => {
    if (!id) { setEntry(null); return; }
    get(`/api/v1/notification-policies/${encodeURIComponent(id)}`)
      .then((e) => { setEntry(e); setD(draftOf(e)); })
      .catch(setErr);
  }, [id]);
  const set = (patch) => setD({ ...d, ...patch });
  const save = async (e) => {
    e.preventDefault();
    setErr(null);
    setBusy(true);
    try {
      if (entry) await saveEntity('notification-policies', entry.id, bodyOf(d), entry.version);
      else await post('/api/v1/notification-policies', { id: d.id, ...bodyOf(d) });
      toast(t('routing.saved'), 'success');
      go({ tab: 'policies' });
    } catch (x) {
      setErr(x);
    } finally {
      setBusy(false);
    }
  };
  if (entry === undefined && !err) return html`<${Loading} />`;
  const shown = err && err.field && FIELDS.some((f) => errorAt(err, f));
  const at = (f) => errorAt(err, f);
  return html`<${Card} title=${entry ? d.name || entry.id : t('routing.policy_new')} id="card-policy-editor">
    <form class="form" id="policy-form" onSubmit=${save} novalidate>
      <a href="#/alerts?tab=policies" class="back">← ${t('routing.back_policies')}</a>
      ${err && !shown && html`<${Alert} id="policy-error">${err.message}<//>`}
      ${!entry && html`<${Field} name="pol-id" label=${t('routing.f_id')} value=${d.id} error=${at('id')}
        hint=${t('routing.f_id_hint')} onInput=${(v) => set({ id: v })} />`}
      <${Field} name="pol-name" label=${t('routing.f_name')} value=${d.name} error=${at('name')} onInput=${(v) => set({ name: v })} />
      <div class="form-row">
        <${Field} name="pol-order" type="number" label=${t('routing.f_order')} value=${d.order} error=${at('order')}
          hint=${t('routing.f_order_hint')} onInput=${(v) => set({ order: v })} />
        <${Checkbox} name="pol-enabled" label=${t('routing.f_enabled')} checked=${d.enabled} onChange=${(v) => set({ enabled: v })} />
      </div>
      <${TextArea} name="pol-matchers" mono rows=${3} label=${t('routing.f_matchers')} value=${d.matchers}
        error=${lineErrorAt(err, 'matchers')} hint=${t('routing.f_matchers_hint')} placeholder='severity=critical'
        onInput=${(v) => set({ matchers: v })} />
      <${TextArea} name="pol-group-by" mono rows=${2} label=${t('routing.f_group_by')} value=${d.group_by}
        error=${lineErrorAt(err, 'group_by')} hint=${t('routing.f_group_by_hint')} onInput=${(v) => set({ group_by: v })} />
      <div class="form-row three">
        <${Field} name="pol-wait" type="number" label=${t('routing.f_group_wait')} value=${d.group_wait_secs}
          error=${at('group_wait_secs')} hint=${duration(d.group_wait_secs)} onInput=${(v) => set({ group_wait_secs: v })} />
        <${Field} name="pol-interval" type="number" label=${t('routing.f_group_interval')} value=${d.group_interval_secs}
          error=${at('group_interval_secs')} hint=${duration(d.group_interval_secs)} onInput=${(v) => set({ group_interval_secs: v })} />
        <${Field} name="pol-repeat" type="number" label=${t('routing.f_repeat_interval')} value=${d.repeat_interval_secs}
          error=${at('repeat_interval_secs')} hint=${duration(d.repeat_interval_secs)} onInput=${(v) => set({ repeat_interval_secs: v })} />
      </div>
      <${Checkbox} name="pol-own-recipients" label=${t('routing.f_own_recipients')} checked=${d.useRecipients}
        hint=${t('routing.f_own_recipients_hint')} error=${at('recipients')} onChange=${(v) => set({ useRecipients: v })} />
      ${d.useRecipients && html`<div class="form">
        <${CheckGroup} name="pol-roles" label=${t('alerts.f_roles')} value=${d.roles} error=${at('recipients.roles')}
          options=${ROLES.map((r) => ({ value: r, label: roleName(r) }))} onChange=${(v) => set({ roles: v })} />
        <${TextArea} name="pol-emails" label=${t('alerts.f_emails')} rows=${2} value=${d.emails}
          error=${lineErrorAt(err, 'recipients.emails')} hint=${t('alerts.one_per_line')} onInput=${(v) => set({ emails: v })} />
        <${TextArea} name="pol-line" label=${t('alerts.f_line')} rows=${2} value=${d.line}
          error=${lineErrorAt(err, 'recipients.line')} onInput=${(v) => set({ line: v })} />
      </div>`}
      <${Checkbox} name="pol-continue" label=${t('routing.f_continue')} checked=${d.continue}
        hint=${t('routing.f_continue_hint')} onChange=${(v) => set({ continue: v })} />
      <${Checkbox} name="pol-resolved" label=${t('alerts.f_send_resolved')} checked=${d.send_resolved}
        onChange=${(v) => set({ send_resolved: v })} />
      <div class="form-actions">
        <${Button} kind="primary" type="submit" id="policy-save" disabled=${busy}>${t('routing.save')}<//>
        ${entry && html`<${Button} kind="danger" id="policy-delete" onClick=${() => setAsking(true)}>${t('alerts.delete')}<//>`}
      </div>
    </form>
    ${asking && html`<${Confirm} id="policy-delete-confirm" title=${t('routing.delete_title')}
      message=${t('routing.delete_policy', { name: d.name || entry.id })} confirmLabel=${t('alerts.delete')}
      onClose=${() => setAsking(false)}
      onConfirm=${async () => { await deleteEntity('notification-policies', entry.id, entry.version); toast(t('routing.deleted'), 'success'); go({ tab: 'policies' }); }} />`}
  <//>`;
}

function PolicyList() {
  const [rows, setRows] = useState(null);
  const [err, setErr] = useState(null);
  useEffect(() => {
    listAll(get, '/api/v1/notification-policies').then(setRows).catch(setErr);
  }, []);
  const list = (rows || []).slice().sort((a, b) => (a.body.order ?? 0) - (b.body.order ?? 0) || a.id.localeCompare(b.id));
  const columns = [
    { key: 'name', label: t('routing.f_name'), render: (p) => html`<div>
      <a class="strong" href=${`#/alerts?tab=policies&id=${encodeURIComponent(p.id)}`} data-policy=${p.id}>${p.body.name || p.id}</a>
      <div class="muted small">${p.id}</div></div>` },
    { key: 'order', label: t('routing.f_order'), align: 'right', render: (p) => fmtNumber(p.body.order ?? 0) },
    { key: 'matchers', label: t('routing.f_matchers'), render: (p) => html`<span class="mono small">${(p.body.matchers || []).join(', ') || t('routing.every_alert')}</span>` },
    { key: 'group', label: t('routing.f_group_by'), render: (p) => html`<span class="mono small">${(p.body.group_by || []).join(', ')}</span>` },
    { key: 'timing', label: t('routing.col_timing'), render: (p) => t('routing.timing', {
      wait: duration(p.body.group_wait_secs), interval: duration(p.body.group_interval_secs), repeat: duration(p.body.repeat_interval_secs) }) },
    { key: 'enabled', label: t('alerts.col_enabled'), render: (p) => (p.body.enabled === false
      ? html`<${Badge}>${t('alerts.disabled')}<//>` : html`<${Badge} tone="good">${t('alerts.yes')}<//>`) },
  ];
  const add = html`<${Button} kind="primary" id="policy-new" onClick=${() => go({ tab: 'policies', id: 'new' })}>${t('routing.policy_new')}<//>`;
  return html`<${Card} title=${t('routing.policies')} id="card-policies" actions=${add}>
    <p class="muted small">${t('routing.policies_hint')}</p>
    <${Alert}>${err && err.message}<//>
    ${rows === null ? !err && html`<${Loading} />` : list.length === 0
      ? html`<${Empty} title=${t('routing.policies_none')} hint=${t('routing.policies_none_hint')} />`
      : html`<${Table} cards id="policies-table" columns=${columns} rows=${list} pageSize=${25} />`}
  <//>`;
}

export function PoliciesTab({ id }) {
  if (id) return html`<${PolicyEditor} key=${id} id=${id === 'new' ? null : id} />`;
  return html`<${PolicyList} />`;
}
