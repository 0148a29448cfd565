// The alert rule editor: every field of an alert rule (model::alert::AlertRuleSpec), saved with
// If-Match, the API's field errors beside their fields (`windows[0].from`), a preview of the
// three notices rendered by the server with the alerter's renderer
// (POST /api/v1/alert-rules/preview), and a test-send of the saved rule.
import { html, useState, useEffect } from '../../vendor/preact-htm.module.js';
import { get, post, saveEntity, deleteEntity } from '../../api.js';
import { t, fmtTime } from '../../i18n.js';
import {
  Card, Field, Button, Alert, Loading, Segmented, Select, TextArea, Checkbox, CheckGroup, toast,
} from '../../components.js';
import {
  KINDS, unitOf, isProbe, isSiteWide, duration, ROLES, fieldErrors, lines, numOrText, go, listAll,
} from './shared.js';
import { roleName } from '../../nav.js';
import { SendResults } from './send_results.js';
import { WindowPreview } from './window_preview.js';

const DAYS = ['mon', 'tue', 'wed', 'thu', 'fri', 'sat', 'sun'];
const dayLabel = {
  mon: () => t('alerts.day_mon'), tue: () => t('alerts.day_tue'), wed: () => t('alerts.day_wed'),
  thu: () => t('alerts.day_thu'), fri: () => t('alerts.day_fri'), sat: () => t('alerts.day_sat'),
  sun: () => t('alerts.day_sun'),
};
const NOTICES = ['firing', 'repeat', 'resolved'];
const noticeLabel = {
  firing: () => t('alerts.notice_firing'), repeat: () => t('alerts.notice_repeat'),
  resolved: () => t('alerts.notice_resolved'),
};
const PLACEHOLDERS = '{{rule}} {{node}} {{scope}} {{value}} {{threshold}} {{duration}} {{interval}} {{started_at}} {{link}} {{state}} {{severity}}';

function blank() {
  return {
    id: '', name: '', enabled: true, severity: 'warning', type: 'node_cpu',
    unit: 'mb', limit_mb: '', mounts: '', check: 'connect_ms', window_secs: '300', min_calls: '20',
    quantile: 'p95', measure: 'spool_batches', drop_min_calls: '100',
    scopeMode: 'all', scopeValue: '', comparison: 'above', threshold: '', recovery: '',
    for_secs: '180', repeat_secs: '0', send_resolved: true, timezone: '', language: '',
    windows: [], roles: [], emails: '', line: '', webhooks: [], templates: {},
  };
}

const str = (v) => (v === undefined || v === null ? '' : String(v));

/** A stored rule → the editor's draft. */
function fromBody(id, b) {
  const d = blank();
  const k = b.kind || {};
  Object.assign(d, {
    id, name: b.name || '', enabled: b.enabled !== false, severity: b.severity || 'warning',
    type: k.type || 'node_cpu', comparison: b.comparison || 'above', threshold: str(b.threshold),
    recovery: str(b.recovery), for_secs: str(b.for_secs || 0), repeat_secs: str(b.repeat_secs || 0),
    send_resolved: b.send_resolved !== false, timezone: b.timezone || '', language: b.language || '',
  });
  if (k.unit) d.unit = k.unit;
  if (k.limit_mb !== undefined) d.limit_mb = str(k.limit_mb);
  if (k.mounts) d.mounts = k.mounts.join('\n');
  if (k.check) d.check = k.check;
  if (k.window_secs !== undefined) d.window_secs = str(k.window_secs);
  if (k.min_calls !== undefined) {
    if (k.type === 'traffic_drop') d.drop_min_calls = str(k.min_calls);
    else d.min_calls = str(k.min_calls);
  }
  if (k.quantile) d.quantile = k.quantile;
  if (k.measure) d.measure = k.measure;
  const s = b.scope;
  if (s && typeof s === 'object') {
    if (s.nodes) { d.scopeMode = 'nodes'; d.scopeValue = s.nodes.join('\n'); }
    if (s.api) { d.scopeMode = 'api'; d.scopeValue = s.api; }
    if (s.client) { d.scopeMode = 'client'; d.scopeValue = s.client; }
  }
  // A window without `type` is an Alertmanager time interval: edited as its JSON.
  d.windows = (b.windows || []).map((w) => (w.type ? {
    type: w.type, days: w.type === 'weekly' ? (w.days || []) : [],
    monthdays: w.type === 'month_days' ? (w.days || []).join(', ') : '',
    dates: (w.dates || []).join('\n'), from: w.from || '', until: w.until || '', json: '',
  } : {
    type: 'alertmanager', days: [], monthdays: '', dates: '', from: '', until: '',
    json: JSON.stringify(w, null, 2),
  }));
  const r = b.recipients || {};
  d.roles = r.roles || [];
  d.emails = (r.emails || []).join('\n');
  d.line = (r.line || []).join('\n');
  d.webhooks = r.webhooks || [];
  d.templates = JSON.parse(JSON.stringify(b.templates || {}));
  return d;
}

/** The editor's draft → the body the API takes. */
function toBody(d) {
  const kind = { type: d.type };
  switch (d.type) {
    case 'process_memory':
      kind.unit = d.unit;
      if (d.unit === 'percent') kind.limit_mb = numOrText(d.limit_mb);
      break;
    case 'disk': if (lines(d.mounts).length) kind.mounts = lines(d.mounts); break;
    case 'database': kind.check = d.check; break;
    case 'api_latency': kind.quantile = d.quantile; // falls through: window and minimum too
    case 'api_error_rate':
      kind.window_secs = numOrText(d.window_secs);
      kind.min_calls = numOrText(d.min_calls);
      break;
    case 'traffic_drop': kind.min_calls = numOrText(d.drop_min_calls); break;
    case 'backlog': kind.measure = d.measure; break;
    case 'ingest_quarantine': kind.window_secs = numOrText(d.window_secs); break;
    default: break;
  }
  let scope;
  if (!isSiteWide(kind)) {
    if (d.scopeMode === 'nodes') scope = { nodes: lines(d.scopeValue) };
    else if (d.scopeMode === 'api') scope = { api: d.scopeValue.trim() };
    else if (d.scopeMode === 'client') scope = { client: d.scopeValue.trim() };
  }
  const windows = d.windows.map((w) => {
    if (w.type === 'alertmanager') {
      // Sent as typed when it is not JSON: the API names the window in its refusal.
      try {
        return JSON.parse(w.json || '{}');
      } catch (e) {
        return w.json;
      }
    }
    const out = { type: w.type };
    if (w.type === 'weekly') out.days = w.days;
    if (w.type === 'month_days') out.days = lines(w.monthdays).map(numOrText);
    if (w.type === 'dates' || w.type === 'yearly') out.dates = lines(w.dates);
    if (w.type === 'daily' || w.from) out.from = w.from;
    if (w.type === 'daily' || w.until) out.until = w.until;
    return out;
  });
  const templates = {};
  for (const [lang, set] of Object.entries(d.templates || {})) {
    for (const n of NOTICES) {
      const x = set && set[n];
      if (!x) continue;
      const text = {};
      if (x.subject && x.subject.trim()) text.subject = x.subject;
      if (x.body && x.body.trim()) text.body = x.body;
      if (Object.keys(text).length) {
        templates[lang] = templates[lang] || {};
        templates[lang][n] = text;
      }
    }
  }
  const body = {
    name: d.name, enabled: d.enabled, severity: d.severity, kind, comparison: d.comparison,
    threshold: numOrText(d.threshold) ?? '', for_secs: numOrText(d.for_secs) ?? 0,
    repeat_secs: numOrText(d.repeat_secs) ?? 0, send_resolved: d.send_resolved,
    windows, recipients: {
      roles: d.roles, emails: lines(d.emails), line: lines(d.line), webhooks: d.webhooks,
    },
  };
  if (scope) body.scope = scope;
  const rec = numOrText(d.recovery);
  if (rec !== undefined) body.recovery = rec;
  if (d.timezone) body.timezone = d.timezone;
  if (d.language) body.language = d.language;
  if (Object.keys(templates).length) body.templates = templates;
  return body;
}

function zones() {
  try {
    return Intl.supportedValuesOf('timeZone');
  } catch (e) {
    return ['Asia/Taipei', 'UTC'];
  }
}

function WindowRow({ w, i, set, remove, at, rowError }) {
  const p = `windows[${i}]`;
  const types = [
    { value: 'weekly', label: t('alerts.win_weekly') },
    { value: 'daily', label: t('alerts.win_daily') },
    { value: 'month_days', label: t('alerts.win_month_days') },
    { value: 'dates', label: t('alerts.win_dates') },
    { value: 'yearly', label: t('windows.win_yearly') },
    { value: 'alertmanager', label: t('windows.win_alertmanager') },
  ];
  return html`<div class="window-row" data-window=${i}>
    <div class="window-head">
      <${Select} name=${`win-${i}-type`} label=${t('alerts.win_type')} value=${w.type} options=${types}
        error=${at(`${p}.type`)} onChange=${(v) => set({ ...w, type: v })} />
      <${Button} kind="secondary" onClick=${remove}>${t('alerts.remove')}<//>
    </div>
    ${rowError && html`<div class="field-message" role="alert">${rowError}</div>`}
    ${w.type === 'weekly' && html`<${CheckGroup} name=${`win-${i}-days`} label=${t('alerts.win_days')}
      options=${DAYS.map((d) => ({ value: d, label: dayLabel[d]() }))} value=${w.days}
      error=${at(`${p}.days`)} onChange=${(v) => set({ ...w, days: v })} />`}
    ${w.type === 'month_days' && html`<${Field} name=${`win-${i}-monthdays`} label=${t('alerts.win_monthdays')}
      value=${w.monthdays} hint=${t('alerts.win_monthdays_hint')} error=${at(`${p}.days`)}
      onInput=${(v) => set({ ...w, monthdays: v })} />`}
    ${w.type === 'dates' && html`<${TextArea} name=${`win-${i}-dates`} label=${t('alerts.win_date_list')} rows=${2}
      value=${w.dates} hint=${t('alerts.win_dates_hint')} error=${at(`${p}.dates`)}
      onInput=${(v) => set({ ...w, dates: v })} />`}
    ${w.type === 'yearly' && html`<${TextArea} name=${`win-${i}-yearly`} label=${t('windows.yearly_list')} rows=${2}
      value=${w.dates} hint=${t('windows.yearly_hint')} error=${at(`${p}.dates`)}
      onInput=${(v) => set({ ...w, dates: v })} />`}
    ${w.type === 'alertmanager' && html`<${TextArea} name=${`win-${i}-json`} mono rows=${6} label=${t('windows.am_json')}
      value=${w.json} hint=${t('windows.am_hint')}
      error=${[`${p}.times`, `${p}.weekdays`, `${p}.days_of_month`, `${p}.months`, `${p}.years`, `${p}.location`]
        .map((f) => at(f) && `${f.slice(p.length + 1)}: ${at(f)}`).find(Boolean)}
      placeholder=${'{"weekdays": ["monday:friday"], "times": [{"start_time": "09:00", "end_time": "17:00"}]}'}
      onInput=${(v) => set({ ...w, json: v })} />`}
    ${w.type !== 'alertmanager' && html`<div class="form-row">
      <${Field} name=${`win-${i}-from`} type="time" label=${t('alerts.win_from')} value=${w.from}
        error=${at(`${p}.from`)} onInput=${(v) => set({ ...w, from: v })} />
      <${Field} name=${`win-${i}-until`} type="time" label=${t('alerts.win_until')} value=${w.until}
        error=${at(`${p}.until`)} onInput=${(v) => set({ ...w, until: v })} />
    </div>`}
    ${w.type !== 'alertmanager' && html`<div class="field-hint">${w.type === 'daily' ? t('alerts.win_daily_hint') : t('alerts.win_times_hint')}</div>`}
  </div>`;
}

function Preview({ preview }) {
  if (!preview) return null;
  return html`<div class="preview" id="rule-preview">
    <div class="muted small">${t('alerts.preview_sample', { scope: preview.scope || '—', lang: preview.lang })}</div>
    ${preview.notices.map((n) => html`<div class="preview-item" data-notice=${n.notice}>
      <div class="preview-kind">${noticeLabel[n.notice] ? noticeLabel[n.notice]() : n.notice}</div>
      <div class="preview-subject">${n.subject}</div>
      <div class="preview-body">${n.body}</div>
    </div>`)}
  </div>`;
}

export function RuleEditor({ me, id }) {
  const [entry, setEntry] = useState(null);
  const [d, setD] = useState(id ? null : blank());
  const [hooks, setHooks] = useState([]);
  const [err, setErr] = useState(null);
  const [loadErr, setLoadErr] = useState(null);
  const [busy, setBusy] = useState(false);
  const [tplLang, setTplLang] = useState(me.lang === 'zh-TW' ? 'zh-TW' : 'en');
  const [notice, setNotice] = useState('firing');
  const [preview, setPreview] = useState(null);
  const [results, setResults] = useState(null);
  const [testErr, setTestErr] = useState(null);
  const [confirmDelete, setConfirmDelete] = useState(false);

  const load = async () => {
    try {
      const e = await get(`/api/v1/alert-rules/${encodeURIComponent(id)}`);
      setEntry(e);
      setD(fromBody(e.id, e.body));
    } catch (e) {
      setLoadErr(e);
    }
  };
  useEffect(() => {
    if (id) load();
    listAll(get, '/api/v1/channels')
      .then((cs) => setHooks(cs.filter((c) => c.body && c.body.webhook)))
      .catch(() => setHooks([]));
  }, [id]);

  if (loadErr) return html`<${Alert}>${loadErr.message}<//>`;
  if (!d) return html`<${Loading} />`;
  const f = fieldErrors(err);
  const at = f.at;
  const set = (patch) => setD({ ...d, ...patch });
  const kindInfo = KINDS.find((k) => k.value === d.type) || KINDS[0];
  const unit = unitOf(toBody(d).kind);
  const probe = isSiteWide(toBody(d).kind);

  const save = async (e) => {
    if (e) e.preventDefault();
    setBusy(true);
    setErr(null);
    try {
      const body = toBody(d);
      const saved = await saveEntity('alert-rules', entry ? entry.id : d.id, body, entry && entry.version);
      toast(t('alerts.rule_saved', { name: d.name }), 'success');
      if (entry) {
        setEntry(saved);
        setD(fromBody(saved.id, saved.body));
      } else {
        go({ tab: 'rules', id: saved.id });
      }
    } catch (x) {
      setErr(x);
    } finally {
      setBusy(false);
    }
  };
  const doPreview = async () => {
    setErr(null);
    try {
      setPreview(await post(`/api/v1/alert-rules/preview?lang=${encodeURIComponent(tplLang)}`, toBody(d)));
    } catch (x) {
      setPreview(null);
      setErr(x);
    }
  };
  const testSend = async () => {
    setTestErr(null);
    setResults(null);
    setBusy(true);
    try {
      setResults(await post(`/api/v1/alert-rules/${encodeURIComponent(entry.id)}/test`));
    } catch (x) {
      setTestErr(x);
    } finally {
      setBusy(false);
    }
  };
  const remove = async () => {
    if (!confirmDelete) {
      setConfirmDelete(true);
      return;
    }
    try {
      await deleteEntity('alert-rules', entry.id, entry.version);
      toast(t('alerts.rule_deleted', { name: d.name }), 'success');
      go({ tab: 'rules' });
    } catch (x) {
      setErr(x);
      setConfirmDelete(false);
    }
  };

  const tpl = ((d.templates[tplLang] || {})[notice]) || {};
  const setTpl = (patch) => {
    const all = { ...d.templates };
    all[tplLang] = { ...(all[tplLang] || {}) };
    all[tplLang][notice] = { ...tpl, ...patch };
    set({ templates: all });
  };
  const tplPath = `templates.${tplLang}.${notice}`;
  const family = kindInfo.family;
  const scopeModes = family === 'calls'
    ? [{ value: 'all', label: t('alerts.scope_all_apis') }, { value: 'api', label: t('alerts.scope_api') },
      { value: 'client', label: t('alerts.scope_client') }]
    : [{ value: 'all', label: t('alerts.scope_all_nodes') }, { value: 'nodes', label: t('alerts.scope_nodes') }];
  const unitSuffix = unit ? ` (${unit})` : '';
  // Kept for errors no field shows (a 412, a refusal that names no field).
  const shown = [
    'id', 'name', 'enabled', 'severity', 'kind', 'scope', 'comparison', 'threshold', 'recovery',
    'for_secs', 'repeat_secs', 'send_resolved', 'timezone', 'windows', 'recipients', 'templates', 'language',
  ].some((p) => err && err.field && (err.field === p || err.field.startsWith(`${p}.`) || err.field.startsWith(`${p}[`)));

  return html`<form class="rule-editor" id="rule-form" onSubmit=${save} novalidate>
    <div class="editor-head">
      <a href="#/alerts?tab=rules" class="back">← ${t('alerts.back_rules')}</a>
      <h2>${entry ? d.name || entry.id : t('alerts.rule_new_title')}</h2>
      ${entry && html`<div class="muted small">${t('alerts.version_line', { version: entry.version, who: entry.changed_by, time: fmtTime(entry.changed_at, { dateStyle: 'medium', timeStyle: 'short' }) })}</div>`}
    </div>
    ${err && !shown && html`<${Alert} id="rule-error">${err.message}<//>`}
    ${err && shown && html`<${Alert} kind="warn" id="rule-error">${t('alerts.fix_fields')}<//>`}
    <div class="editor-grid">
      <${Card} title=${t('alerts.sec_what')}>
        <div class="form">
          <${Field} name="rule-name" label=${t('alerts.f_name')} value=${d.name} error=${at('name')}
            onInput=${(v) => set({ name: v })} />
          ${!entry && html`<${Field} name="rule-id" label=${t('alerts.f_id')} value=${d.id} error=${at('id')}
            hint=${t('alerts.f_id_hint')} onInput=${(v) => set({ id: v })} />`}
          <${Select} name="rule-kind" label=${t('alerts.f_kind')} value=${d.type} error=${at('kind.type') || (err && err.field === 'kind' ? err.message : null)}
            options=${KINDS.map((k) => ({ value: k.value, label: k.label() }))}
            onChange=${(v) => {
              const fam = (KINDS.find((k) => k.value === v) || {}).family;
              set({ type: v, scopeMode: fam === family ? d.scopeMode : 'all', scopeValue: fam === family ? d.scopeValue : '' });
            }} />
          ${d.type === 'process_memory' && html`<div class="form-row">
            <${Select} name="rule-unit" label=${t('alerts.f_mem_unit')} value=${d.unit}
              options=${[{ value: 'mb', label: 'MB' }, { value: 'percent', label: t('alerts.f_mem_percent') }]}
              onChange=${(v) => set({ unit: v })} />
            ${d.unit === 'percent' && html`<${Field} name="rule-limit" label=${t('alerts.f_limit_mb')} value=${d.limit_mb}
              error=${at('kind.limit_mb')} onInput=${(v) => set({ limit_mb: v })} />`}
          </div>`}
          ${d.type === 'disk' && html`<${TextArea} name="rule-mounts" label=${t('alerts.f_mounts')} rows=${2}
            value=${d.mounts} hint=${t('alerts.f_mounts_hint')} error=${at('kind.mounts')}
            onInput=${(v) => set({ mounts: v })} />`}
          ${d.type === 'database' && html`<${Select} name="rule-check" label=${t('alerts.f_check')} value=${d.check}
            options=${[{ value: 'connect_ms', label: t('alerts.check_connect_ms') },
              { value: 'failure', label: t('alerts.check_failure') },
              { value: 'gateway_spool', label: t('alerts.check_gateway_spool') }]}
            onChange=${(v) => set({ check: v })} />`}
          ${d.type === 'backlog' && html`<${Select} name="rule-measure" label=${t('alerts.f_measure')} value=${d.measure}
            options=${[{ value: 'spool_batches', label: t('alerts.measure_spool_batches') },
              { value: 'spool_mb', label: t('alerts.measure_spool_mb') },
              { value: 'queue_depth', label: t('alerts.measure_queue_depth') }]}
            onChange=${(v) => set({ measure: v })} />`}
          ${d.type === 'api_latency' && html`<${Select} name="rule-quantile" label=${t('alerts.f_quantile')} value=${d.quantile}
            options=${[{ value: 'p95', label: 'p95' }, { value: 'p99', label: 'p99' }]}
            onChange=${(v) => set({ quantile: v })} />`}
          ${d.type === 'ingest_quarantine' && html`<${Field} name="rule-window" type="number" label=${t('alerts.f_window_secs')}
            value=${d.window_secs} error=${at('kind.window_secs')} hint=${duration(d.window_secs)}
            onInput=${(v) => set({ window_secs: v })} />`}
          ${(d.type === 'api_error_rate' || d.type === 'api_latency') && html`<div class="form-row">
            <${Field} name="rule-window" type="number" label=${t('alerts.f_window_secs')} value=${d.window_secs}
              error=${at('kind.window_secs')} hint=${duration(d.window_secs)} onInput=${(v) => set({ window_secs: v })} />
            <${Field} name="rule-min-calls" type="number" label=${t('alerts.f_min_calls')} value=${d.min_calls}
              error=${at('kind.min_calls')} onInput=${(v) => set({ min_calls: v })} />
          </div>`}
          ${d.type === 'traffic_drop' && html`<${Field} name="rule-drop-min" type="number" label=${t('alerts.f_baseline_calls')}
            value=${d.drop_min_calls} error=${at('kind.min_calls')} hint=${t('alerts.f_baseline_hint')}
            onInput=${(v) => set({ drop_min_calls: v })} />`}
          ${d.type === 'ingest_quarantine' ? html`<div class="field-hint">${t('alerts.scope_site_hint')}</div>` : probe ? html`<div class="field-hint">${t('alerts.scope_probe_hint')}</div>` : html`<div class="form-row">
            <${Select} name="rule-scope" label=${t('alerts.f_scope')} value=${d.scopeMode} options=${scopeModes}
              error=${at('scope')} onChange=${(v) => set({ scopeMode: v })} />
            ${d.scopeMode === 'nodes' && html`<${TextArea} name="rule-scope-nodes" label=${t('alerts.f_nodes')} rows=${2}
              value=${d.scopeValue} hint=${t('alerts.one_per_line')} onInput=${(v) => set({ scopeValue: v })} />`}
            ${(d.scopeMode === 'api' || d.scopeMode === 'client') && html`<${Field} name="rule-scope-id"
              label=${d.scopeMode === 'api' ? t('alerts.f_api_id') : t('alerts.f_client_id')} value=${d.scopeValue}
              onInput=${(v) => set({ scopeValue: v })} />`}
          </div>`}
          <div class="form-row">
            <${Select} name="rule-severity" label=${t('alerts.f_severity')} value=${d.severity} error=${at('severity')}
              options=${[{ value: 'warning', label: t('alerts.sev_warning') }, { value: 'critical', label: t('alerts.sev_critical') }]}
              onChange=${(v) => set({ severity: v })} />
            <${Checkbox} name="rule-enabled" label=${t('alerts.f_enabled')} checked=${d.enabled}
              onChange=${(v) => set({ enabled: v })} />
          </div>
        </div>
      <//>
      <${Card} title=${t('alerts.sec_when')}>
        <div class="form">
          <div class="form-row">
            <${Select} name="rule-comparison" label=${t('alerts.f_comparison')} value=${d.comparison} error=${at('comparison')}
              options=${[{ value: 'above', label: t('alerts.cmp_above') }, { value: 'below', label: t('alerts.cmp_below') }]}
              onChange=${(v) => set({ comparison: v })} />
            <${Field} name="rule-threshold" type="number" label=${`${t('alerts.f_threshold')}${unitSuffix}`}
              value=${d.threshold} error=${at('threshold')} onInput=${(v) => set({ threshold: v })} />
          </div>
          <${Field} name="rule-recovery" type="number" label=${`${t('alerts.f_recovery')}${unitSuffix}`}
            value=${d.recovery} error=${at('recovery')} hint=${t('alerts.f_recovery_hint')}
            onInput=${(v) => set({ recovery: v })} />
          <div class="form-row">
            <${Field} name="rule-for" type="number" label=${t('alerts.f_for_secs')} value=${d.for_secs}
              error=${at('for_secs')} hint=${Number(d.for_secs) ? t('alerts.f_for_hint', { dur: duration(d.for_secs) }) : t('alerts.f_for_now')}
              onInput=${(v) => set({ for_secs: v })} />
            <${Field} name="rule-repeat" type="number" label=${t('alerts.f_repeat_secs')} value=${d.repeat_secs}
              error=${at('repeat_secs')} hint=${Number(d.repeat_secs) ? t('alerts.f_repeat_hint', { dur: duration(d.repeat_secs) }) : t('alerts.f_repeat_never')}
              onInput=${(v) => set({ repeat_secs: v })} />
          </div>
          <${Checkbox} name="rule-resolved" label=${t('alerts.f_send_resolved')} checked=${d.send_resolved}
            onChange=${(v) => set({ send_resolved: v })} />
        </div>
      <//>
      <${Card} title=${t('alerts.sec_quiet')}>
        <div class="form">
          <${Select} name="rule-timezone" label=${t('alerts.f_timezone')} value=${d.timezone} error=${at('timezone')}
            options=${[{ value: '', label: t('alerts.tz_site', { zone: me.site_timezone || '' }) },
              ...zones().map((z) => ({ value: z, label: z }))]}
            onChange=${(v) => set({ timezone: v })} />
          <div class="field-hint">${t('alerts.windows_hint')}</div>
          ${d.windows.map((w, i) => html`<${WindowRow} key=${i} w=${w} i=${i} at=${at}
            rowError=${err && err.field === `windows[${i}]` ? err.message : null}
            set=${(nw) => set({ windows: d.windows.map((x, j) => (j === i ? nw : x)) })}
            remove=${() => set({ windows: d.windows.filter((_, j) => j !== i) })} />`)}
          ${at('windows') && !d.windows.length && html`<div class="field-message">${at('windows')}</div>`}
          <div><${Button} id="window-add" onClick=${() => set({ windows: [...d.windows, { type: 'weekly', days: ['sat', 'sun'], monthdays: '', dates: '', from: '', until: '', json: '' }] })}>${t('alerts.window_add')}<//></div>
          <${WindowPreview} windows=${toBody(d).windows} timezone=${d.timezone} />
        </div>
      <//>
      <${Card} title=${t('alerts.sec_who')}>
        <div class="form">
          <${CheckGroup} name="rule-roles" label=${t('alerts.f_roles')} value=${d.roles} error=${at('recipients.roles')}
            options=${ROLES.map((r) => ({ value: r, label: roleName(r) }))} hint=${t('alerts.f_roles_hint')}
            onChange=${(v) => set({ roles: v })} />
          <${TextArea} name="rule-emails" label=${t('alerts.f_emails')} rows=${2} value=${d.emails}
            error=${at('recipients.emails')} hint=${t('alerts.one_per_line')} onInput=${(v) => set({ emails: v })} />
          <${TextArea} name="rule-line" label=${t('alerts.f_line')} rows=${2} value=${d.line}
            error=${at('recipients.line')} hint=${t('alerts.f_line_hint')} onInput=${(v) => set({ line: v })} />
          ${hooks.length ? html`<${CheckGroup} name="rule-webhooks" label=${t('alerts.f_webhooks')} value=${d.webhooks}
            error=${at('recipients.webhooks')} options=${hooks.map((c) => ({ value: c.id, label: c.body.name || c.id }))}
            onChange=${(v) => set({ webhooks: v })} />`
            : html`<div class="field"><span class="field-label">${t('alerts.f_webhooks')}</span>
              <div class="field-hint">${t('alerts.f_webhooks_none')} <a href="#/alerts?tab=channels&id=new">${t('alerts.channel_new')}</a></div>
              ${at('recipients.webhooks') && html`<div class="field-message">${at('recipients.webhooks')}</div>`}</div>`}
          ${at('recipients') && html`<div class="field-message">${at('recipients')}</div>`}
        </div>
      <//>
      <${Card} title=${t('alerts.sec_message')} wide>
        <div class="form">
          <${Select} name="rule-language" label=${t('alerts.f_language')} value=${d.language} error=${at('language')}
            options=${[{ value: '', label: t('alerts.lang_site') }, { value: 'zh-TW', label: '中文（台灣）' }, { value: 'en', label: 'English' }]}
            onChange=${(v) => set({ language: v })} />
          <div class="template-pickers">
            <${Segmented} id="tpl-lang" label=${t('alerts.tpl_lang')} value=${tplLang}
              options=${[{ value: 'zh-TW', label: '中文' }, { value: 'en', label: 'English' }]} onChange=${setTplLang} />
            <${Segmented} id="tpl-notice" label=${t('alerts.tpl_notice')} value=${notice}
              options=${NOTICES.map((n) => ({ value: n, label: noticeLabel[n]() }))} onChange=${setNotice} />
          </div>
          <${Field} name="tpl-subject" label=${t('alerts.f_subject')} value=${tpl.subject || ''}
            error=${at(`${tplPath}.subject`)} hint=${t('alerts.tpl_default_hint')} onInput=${(v) => setTpl({ subject: v })} />
          <${TextArea} name="tpl-body" label=${t('alerts.f_body')} rows=${4} value=${tpl.body || ''}
            error=${at(`${tplPath}.body`)} hint=${t('alerts.placeholders', { list: PLACEHOLDERS })}
            onInput=${(v) => setTpl({ body: v })} />
          ${at('templates') && !at(`${tplPath}.subject`) && !at(`${tplPath}.body`) && html`<div class="field-message">${at('templates')}</div>`}
          <div><${Button} id="rule-preview-btn" onClick=${doPreview}>${t('alerts.preview')}<//></div>
          <${Preview} preview=${preview} />
        </div>
      <//>
      ${entry && html`<${Card} title=${t('alerts.test_send')} wide id="card-rule-test">
        <p class="muted">${t('alerts.test_send_hint')}</p>
        <${Button} id="rule-test" onClick=${testSend} disabled=${busy}>${t('alerts.test_send_btn')}<//>
        <${Alert} id="rule-test-error">${testErr && testErr.message}<//>
        <${SendResults} answer=${results} />
      <//>`}
    </div>
    <div class="editor-actions">
      <${Button} kind="primary" type="submit" id="rule-save" disabled=${busy}>${entry ? t('alerts.save') : t('alerts.create')}<//>
      <a class="btn btn-secondary" href="#/alerts?tab=rules">${t('alerts.cancel')}<//>
      ${entry && html`<span class="spacer"></span><${Button} kind="danger" id="rule-delete" onClick=${remove}>${confirmDelete ? t('alerts.delete_confirm') : t('alerts.delete')}<//>`}
    </div>
  </form>`;
}
