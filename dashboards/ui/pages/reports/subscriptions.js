// Report subscriptions (`/api/v1/report-subscriptions`): the list with each one's schedule in
// words, next and last run; the editor (the report's pickers, cron presets or free cron, zone,
// recipients, formats, language) with the API's errors beside their fields; a subscription's
// runs and "Send now" (`POST …/{id}/run`, the mail goes in the background, its run shows up).
import { html, useState, useEffect } from '../../vendor/preact-htm.module.js';
import { get, post, saveEntity, deleteEntity } from '../../api.js';
import { t, fmtTime, fmtNumber, zoneName } from '../../i18n.js';
import { roleName } from '../../nav.js';
import {
  Card, Alert, Loading, Table, Empty, Badge, Button, Field, Select, CheckGroup, Segmented, toast,
} from '../../components.js';
import { ParamsForm, KindSelect, kindLabel, rangeLabel, forKind } from './params.js';
import { PRESETS, cronWords } from './cron.js';
import { TIME_OPTS } from './viewer.js';

const BASE = '/api/v1/report-subscriptions';
const ROLES = ['manager', 'admin', 'ops', 'support'];

function statusBadge(status) {
  if (!status) return html`<span class="muted">${t('reports.never_run')}</span>`;
  const tone = { ok: 'good', failed: 'bad', retrying: 'warn' }[status] || 'neutral';
  const label = { ok: t('reports.run_ok'), failed: t('reports.run_failed'), retrying: t('reports.run_retrying') }[status] || status;
  return html`<${Badge} tone=${tone}>${label}<//>`;
}

const short = (v) => fmtTime(v, TIME_OPTS);

function Schedule({ spec, next }) {
  const words = cronWords(spec.cron);
  return html`<div>
    <div>${words || html`<code>${spec.cron}</code>`}</div>
    <div class="muted small">${spec.enabled === false ? t('reports.disabled')
      : next ? t('reports.next_run', { time: short(next) }) : ''}${spec.timezone ? ` · ${spec.timezone}` : ''}</div>
  </div>`;
}

function recipientsText(r) {
  const roles = (r && r.roles || []).map((x) => t('reports.role_users', { role: roleName(x) }));
  return [...roles, ...((r && r.emails) || [])].join(', ');
}

/** Sends a subscription's report now; resolves to the run id. */
async function sendNow(id) {
  const r = await post(`${BASE}/${encodeURIComponent(id)}/run`);
  toast(t('reports.sent_now'), 'success');
  return r && r.run_id;
}

export function SubscriptionList({ canWrite }) {
  const [state, setState] = useState({ loading: true });
  const [tick, setTick] = useState(0);
  useEffect(() => {
    let live = true;
    get(`${BASE}?limit=1000`).then(async (page) => {
      const items = page.items || [];
      // Each one's last run and next slot (a handful of subscriptions: one request each).
      const runs = await Promise.all(items.map((e) => get(`${BASE}/${encodeURIComponent(e.id)}/runs?limit=1`)
        .catch(() => ({ items: [] }))));
      if (live) setState({ items: items.map((e, i) => ({ ...e, runs: runs[i] })) });
    }).catch((error) => live && setState({ error }));
    return () => { live = false; };
  }, [tick]);

  if (state.error) return html`<${Alert}>${state.error.message}<//>`;
  if (state.loading) return html`<${Loading} />`;
  if (state.items.length === 0) {
    return html`<${Card}><${Empty} title=${t('reports.subs_none')} hint=${t('reports.subs_none_hint')}>
      ${canWrite && html`<a class="btn btn-primary" href="#/reports/subscriptions/new">${t('reports.sub_new')}</a>`}
    <//><//>`;
  }
  const columns = [
    { key: 'name', label: t('reports.col_name'), render: (e) => html`<div>
        <a class="strong" href=${`#/reports/subscriptions/${encodeURIComponent(e.id)}`}>${e.body.name}</a>
        ${e.body.enabled === false ? html` <${Badge}>${t('reports.disabled')}<//>` : null}
        <div class="muted small">${kindLabel(e.body.report)} · ${rangeLabel(e.body.params || {})}</div>
      </div>` },
    { key: 'cron', label: t('reports.col_schedule'), render: (e) => html`<${Schedule} spec=${e.body} next=${e.runs && e.runs.next_run} />` },
    { key: 'recipients', label: t('reports.col_recipients'), render: (e) => html`<span class="sub-recipients">${recipientsText(e.body.recipients)}</span>` },
    { key: 'last', label: t('reports.col_last_run'), render: (e) => {
      const last = e.runs && e.runs.items && e.runs.items[0];
      return html`<div>${statusBadge(last && last.status)}
        ${last ? html`<div class="muted small">${short(last.scheduled_for)}</div>` : null}</div>`;
    } },
    { key: 'actions', label: '', align: 'right', render: (e) => canWrite && html`<${Button}
        onClick=${() => sendNow(e.id).then(() => setTimeout(() => setTick((x) => x + 1), 1500)).catch((err) => toast(err.message, 'error'))}>
        ${t('reports.send_now')}<//>` },
  ];
  return html`<${Card} id="subscription-list" title=${t('reports.subs_title')}
    actions=${html`<span class="muted">${t('reports.subs_count', { n: fmtNumber(state.items.length) })}</span>`}>
    <${Table} id="subscription-table" columns=${columns} rows=${state.items} pageSize=${20} />
  <//>`;
}

/** The editor's fields from a subscription's body (or a new one's defaults). */
function draft(body, me) {
  const b = body || {};
  return {
    name: b.name || '',
    enabled: b.enabled !== false,
    report: b.report || 'usage',
    params: b.params || { range: 'yesterday' },
    cron: b.cron || PRESETS[0].value,
    timezone: b.timezone || me.timezone || zoneName(),
    roles: (b.recipients && b.recipients.roles) || [],
    emails: ((b.recipients && b.recipients.emails) || []).join(', '),
    formats: b.formats || ['chart', 'csv'],
    lang: b.lang || b.language || me.lang || 'zh-TW',
  };
}

/** Where an API error's `field` is shown: the editor's field names. */
function fieldOf(f) {
  if (!f) return null;
  if (f.startsWith('params.')) return f;
  if (f === 'recipients' || f.startsWith('recipients.roles')) return 'roles';
  if (f.startsWith('recipients.emails')) return 'emails';
  if (f.startsWith('formats')) return 'formats';
  if (f === 'language') return 'lang';
  return ['id', 'name', 'report', 'cron', 'timezone', 'lang', 'enabled'].includes(f) ? f : null;
}

export function SubscriptionForm({ me, entity, kinds, lists, onSaved }) {
  const isNew = !entity;
  const [d, setD] = useState(() => draft(entity && entity.body, me));
  const [id, setId] = useState('');
  const [err, setErr] = useState(null);
  const [busy, setBusy] = useState(false);
  const set = (k) => (v) => setD({ ...d, [k]: v });
  const fe = {};
  const where = err && fieldOf(err.field);
  if (where) fe[where] = err.message;
  const paramErr = {};
  Object.keys(fe).filter((k) => k.startsWith('params.')).forEach((k) => { paramErr[k.slice(7)] = fe[k]; });
  const preset = PRESETS.some((p) => p.value === d.cron) ? d.cron : 'custom';

  const save = async (e) => {
    e.preventDefault();
    setBusy(true);
    setErr(null);
    const body = {
      name: d.name,
      enabled: d.enabled,
      report: d.report,
      params: Object.fromEntries(Object.entries(d.params).filter(([, v]) => v !== '' && v !== undefined)),
      cron: d.cron,
      timezone: d.timezone || undefined,
      recipients: {
        roles: d.roles,
        emails: d.emails.split(/[\s,;]+/).filter(Boolean),
      },
      formats: d.formats,
      lang: d.lang,
    };
    try {
      await saveEntity('report-subscriptions', isNew ? id : entity.id, body, isNew ? null : entity.version);
      toast(t('reports.sub_saved'), 'success');
      onSaved(isNew ? id : entity.id);
    } catch (x) {
      setErr(x);
    } finally {
      setBusy(false);
    }
  };

  return html`<form class="form sub-form" id="subscription-form" onSubmit=${save} novalidate>
    <${Alert} kind="error" id="subscription-error">${err && !where ? err.message : null}<//>
    <div class="form-grid">
      ${isNew && html`<${Field} name="sub-id" label=${t('reports.sub_id')} value=${id} onInput=${setId}
        error=${fe.id} hint=${t('reports.sub_id_hint')} />`}
      <${Field} name="sub-name" label=${t('reports.sub_name')} value=${d.name} onInput=${set('name')} error=${fe.name} />
    </div>
    <fieldset class="form-section">
      <legend>${t('reports.sub_what')}</legend>
      <${KindSelect} id="sub-report" kinds=${kinds} value=${d.report} error=${fe.report}
        onChange=${(k) => setD({ ...d, report: k, params: forKind(k, d.params) })} />
      <${ParamsForm} kind=${d.report} params=${d.params} errors=${paramErr} lists=${lists} prefix="sp"
        timezone=${d.timezone} onChange=${set('params')} />
    </fieldset>
    <fieldset class="form-section">
      <legend>${t('reports.sub_when')}</legend>
      <div class="field">
        <span class="label-text">${t('reports.cron_presets')}</span>
        <${Segmented} id="cron-presets" label=${t('reports.cron_presets')} value=${preset}
          options=${[...PRESETS.map((p) => ({ value: p.value, label: p.label() })), { value: 'custom', label: t('reports.cron_preset_custom') }]}
          onChange=${(v) => v !== 'custom' && set('cron')(v)} />
      </div>
      <div class="form-grid">
        <${Field} name="sub-cron" label=${t('reports.cron')} value=${d.cron} onInput=${set('cron')} error=${fe.cron}
          hint=${cronWords(d.cron) || t('reports.cron_hint')} />
        <${Field} name="sub-timezone" label=${t('reports.timezone')} value=${d.timezone} onInput=${set('timezone')}
          error=${fe.timezone} hint=${t('reports.timezone_hint')} />
      </div>
    </fieldset>
    <fieldset class="form-section">
      <legend>${t('reports.sub_who')}</legend>
      <${CheckGroup} name="sub-roles" label=${t('reports.recipients_roles')} value=${d.roles} onChange=${set('roles')}
        error=${fe.roles} options=${ROLES.map((r) => ({ value: r, label: roleName(r) }))}
        hint=${t('reports.recipients_roles_hint')} />
      <${Field} name="sub-emails" label=${t('reports.recipients_emails')} value=${d.emails} onInput=${set('emails')}
        error=${fe.emails} hint=${t('reports.recipients_emails_hint')} />
      <div class="form-grid">
        <${CheckGroup} name="sub-formats" label=${t('reports.formats')} value=${d.formats} onChange=${set('formats')}
          error=${fe.formats} options=${[{ value: 'chart', label: t('reports.format_chart') }, { value: 'csv', label: t('reports.format_csv') }]} />
        <${Select} id="sub-lang" name="lang" label=${t('reports.sub_lang')} value=${d.lang} onChange=${set('lang')}
          error=${fe.lang} options=${[{ value: 'zh-TW', label: '中文（台灣）' }, { value: 'en', label: 'English' }]} />
      </div>
      <${CheckGroup} name="sub-enabled" label=${t('reports.sub_state')} value=${d.enabled ? ['on'] : []}
        onChange=${(v) => set('enabled')(v.includes('on'))} options=${[{ value: 'on', label: t('reports.sub_enabled') }]} />
    </fieldset>
    <div class="form-actions">
      <${Button} kind="primary" type="submit" id="subscription-save" disabled=${busy}>
        ${isNew ? t('reports.sub_create') : t('reports.sub_save')}<//>
      <a class="btn btn-secondary" href="#/reports/subscriptions">${t('reports.cancel')}</a>
    </div>
  </form>`;
}

function Runs({ id, canWrite }) {
  const [state, setState] = useState({ loading: true });
  const [tick, setTick] = useState(0);
  const [waiting, setWaiting] = useState(null);
  useEffect(() => {
    let live = true;
    get(`${BASE}/${encodeURIComponent(id)}/runs?limit=50`)
      .then((data) => live && setState({ data }))
      .catch((error) => live && setState({ error }));
    return () => { live = false; };
  }, [id, tick]);
  // After "Send now": look again until the run is done (bounded: the mail may be slow).
  useEffect(() => {
    if (!waiting) return undefined;
    const items = (state.data && state.data.items) || [];
    const run = items.find((r) => r.run_id === waiting.run);
    if ((run && run.status !== 'retrying') || waiting.left <= 0) {
      setWaiting(null);
      return undefined;
    }
    const h = setTimeout(() => {
      setWaiting({ ...waiting, left: waiting.left - 1 });
      setTick((x) => x + 1);
    }, 1000);
    return () => clearTimeout(h);
  }, [waiting, state]);

  const send = () => sendNow(id).then((run) => setWaiting({ run, left: 30 }))
    .catch((e) => toast(e.message, 'error'));
  const items = (state.data && state.data.items) || [];
  const columns = [
    { key: 'scheduled_for', label: t('reports.col_slot'), render: (r) => short(r.scheduled_for) },
    { key: 'status', label: t('reports.col_status'), render: (r) => statusBadge(r.status) },
    { key: 'recipients', label: t('reports.col_recipients'), render: (r) => (r.recipients || []).join(', ') || '—' },
    { key: 'attempts', label: t('reports.col_attempts'), align: 'right', render: (r) => fmtNumber((r.attempts || []).length) },
    { key: 'error', label: t('reports.col_error'), render: (r) => (r.error ? html`<span class="run-error">${r.error}</span>` : '—') },
  ];
  return html`<${Card} id="subscription-runs" title=${t('reports.runs')}
    actions=${canWrite && html`<${Button} kind="primary" id="send-now" onClick=${send} disabled=${!!waiting}>
      ${waiting ? t('reports.sending') : t('reports.send_now')}<//>`}>
    ${state.data && html`<p class="muted runs-next" id="runs-next">${state.data.next_run
      ? t('reports.next_run', { time: short(state.data.next_run) }) : t('reports.no_next_run')}</p>`}
    ${state.error ? html`<${Alert}>${state.error.message}<//>` : state.loading ? html`<${Loading} />`
      : items.length === 0 ? html`<${Empty} title=${t('reports.runs_none')} hint=${t('reports.runs_none_hint')} />`
        : html`<${Table} cards id="runs-table" columns=${columns} rows=${items} pageSize=${10} />`}
  <//>`;
}

export function SubscriptionDetail({ me, id, kinds, lists, canWrite, go }) {
  const [state, setState] = useState({ loading: true });
  const [tick, setTick] = useState(0);
  useEffect(() => {
    let live = true;
    get(`${BASE}/${encodeURIComponent(id)}`).then((e) => live && setState({ e }))
      .catch((error) => live && setState({ error }));
    return () => { live = false; };
  }, [id, tick]);
  if (state.error) return html`<${Alert}>${state.error.message}<//>`;
  if (state.loading) return html`<${Loading} />`;
  const e = state.e;
  const remove = async () => {
    // A browser dialog: the CSP allows it, and a deletion deserves a second look.
    if (!window.confirm(t('reports.sub_delete_confirm', { name: e.body.name }))) return;
    try {
      await deleteEntity('report-subscriptions', e.id, e.version);
      toast(t('reports.sub_deleted'), 'success');
      go('subscriptions');
    } catch (x) {
      toast(x.message, 'error');
    }
  };
  return html`<div class="sub-detail">
    <div class="sub-detail-head">
      <h2 id="subscription-name">${e.body.name}</h2>
      <span class="muted">${kindLabel(e.body.report)} · ${cronWords(e.body.cron) || e.body.cron}</span>
    </div>
    <${Runs} id=${id} canWrite=${canWrite} />
    ${canWrite && html`<${Card} title=${t('reports.sub_edit')} id="subscription-edit"
      actions=${html`<${Button} kind="danger" id="subscription-delete" onClick=${remove}>${t('reports.sub_delete')}<//>`}>
      <${SubscriptionForm} key=${`${e.id}@${e.version}`} me=${me} entity=${e} kinds=${kinds} lists=${lists}
        onSaved=${() => setTick((x) => x + 1)} />
    <//>`}
  </div>`;
}

export function SubscriptionNew({ me, kinds, lists, go }) {
  return html`<${Card} title=${t('reports.sub_new')} id="subscription-new">
    <${SubscriptionForm} me=${me} kinds=${kinds} lists=${lists}
      onSaved=${(id) => go(`subscriptions/${encodeURIComponent(id)}`)} />
  <//>`;
}
