// The silences tab: one-off mutes (model::alert::SilenceSpec) — a rule or every rule, optionally
// one node, API or client, from–until (typed in the user's zone), who and why — listed as
// active, scheduled or expired; expire one now (its `until` set to now) or delete it.
import { html, useState, useEffect } from '../../vendor/preact-htm.module.js';
import { get, post, saveEntity, deleteEntity } from '../../api.js';
import { t, fmtTime, zoneName } from '../../i18n.js';
import {
  Card, Table, Badge, Alert, Loading, Empty, Button, Field, Select, TextArea, Segmented, toast,
} from '../../components.js';
import { fieldErrors, zonedToUtc, utcToZoned, listAll } from './shared.js';

const HOUR = 3600 * 1000;

function status(s, now) {
  const from = Date.parse(s.from);
  const until = Date.parse(s.until);
  if (until <= now) return 'expired';
  if (from > now) return 'scheduled';
  return 'active';
}

function matchers(s, names) {
  const parts = [s.rule === '*' ? t('alerts.all_rules') : (names[s.rule] || s.rule)];
  if (s.node) parts.push(t('alerts.node_is', { node: s.node }));
  if (s.api) parts.push(t('alerts.scope_api_one', { api: s.api }));
  if (s.client) parts.push(t('alerts.scope_client_one', { client: s.client }));
  return parts.join(' · ');
}

function newId() {
  const d = new Date();
  const p = (n) => String(n).padStart(2, '0');
  return `silence-${d.getUTCFullYear()}${p(d.getUTCMonth() + 1)}${p(d.getUTCDate())}-${p(d.getUTCHours())}${p(d.getUTCMinutes())}${p(d.getUTCSeconds())}`;
}

function SilenceForm({ me, rules, preset, onDone }) {
  const now = Date.now();
  const [d, setD] = useState({
    rule: preset.rule || '*', node: preset.node || '', api: preset.api || '', client: '',
    from: utcToZoned(new Date(now)), until: utcToZoned(new Date(now + 2 * HOUR)), why: '',
  });
  const [err, setErr] = useState(null);
  const [busy, setBusy] = useState(false);
  const { at } = fieldErrors(err);
  const set = (patch) => setD({ ...d, ...patch });
  const lasting = (h) => set({ until: utcToZoned(new Date((Date.parse(zonedToUtc(d.from) || new Date().toISOString())) + h * HOUR)) });
  const save = async (e) => {
    e.preventDefault();
    setErr(null);
    setBusy(true);
    const body = {
      id: newId(), rule: d.rule, who: me.user, why: d.why,
      from: zonedToUtc(d.from) || d.from, until: zonedToUtc(d.until) || d.until,
    };
    if (d.node.trim()) body.node = d.node.trim();
    if (d.api.trim()) body.api = d.api.trim();
    if (d.client.trim()) body.client = d.client.trim();
    try {
      await post('/api/v1/silences', body);
      toast(t('alerts.silence_created'), 'success');
      onDone();
    } catch (x) {
      setErr(x);
    } finally {
      setBusy(false);
    }
  };
  const fieldShown = err && err.field && ['rule', 'node', 'api', 'client', 'from', 'until', 'why', 'who'].includes(err.field);
  return html`<${Card} title=${t('alerts.silence_new')} id="card-silence-new">
    <form class="form" id="silence-form" onSubmit=${save} novalidate>
      ${err && !fieldShown && html`<${Alert} id="silence-error">${err.message}<//>`}
      <${Select} name="sil-rule" label=${t('alerts.f_rule')} value=${d.rule} error=${at('rule')}
        options=${[{ value: '*', label: t('alerts.all_rules') }, ...rules.map((r) => ({ value: r.id, label: (r.body && r.body.name) || r.id }))]}
        onChange=${(v) => set({ rule: v })} />
      <div class="form-row three">
        <${Field} name="sil-node" label=${t('alerts.f_node_opt')} value=${d.node} error=${at('node')} onInput=${(v) => set({ node: v })} />
        <${Field} name="sil-api" label=${t('alerts.f_api_opt')} value=${d.api} error=${at('api')} onInput=${(v) => set({ api: v })} />
        <${Field} name="sil-client" label=${t('alerts.f_client_opt')} value=${d.client} error=${at('client')} onInput=${(v) => set({ client: v })} />
      </div>
      <div class="form-row">
        <${Field} name="sil-from" type="datetime-local" label=${t('alerts.f_from')} value=${d.from} error=${at('from')}
          onInput=${(v) => set({ from: v })} />
        <${Field} name="sil-until" type="datetime-local" label=${t('alerts.f_until')} value=${d.until} error=${at('until')}
          onInput=${(v) => set({ until: v })} />
      </div>
      <div class="quick">
        <span class="muted small">${t('alerts.silence_for')}</span>
        ${[1, 2, 4, 8, 24].map((h) => html`<button type="button" class="chip" onClick=${() => lasting(h)}>${t('alerts.hours_n', { n: h })}</button>`)}
        <span class="muted small">${t('alerts.times_in', { zone: zoneName() })}</span>
      </div>
      <${TextArea} name="sil-why" label=${t('alerts.f_why')} rows=${2} value=${d.why} error=${at('why')}
        hint=${t('alerts.f_why_hint')} onInput=${(v) => set({ why: v })} />
      <div class="form-actions">
        <${Button} kind="primary" type="submit" id="silence-save" disabled=${busy}>${t('alerts.silence_create')}<//>
      </div>
    </form>
  <//>`;
}

export function SilencesTab({ me, params }) {
  const [rows, setRows] = useState(null);
  const [rules, setRules] = useState([]);
  const [err, setErr] = useState(null);
  const [tick, setTick] = useState(0);
  const [show, setShow] = useState('current');
  useEffect(() => {
    Promise.all([listAll(get, '/api/v1/silences'), listAll(get, '/api/v1/alert-rules')])
      .then(([s, r]) => { setRows(s); setRules(r); setErr(null); })
      .catch(setErr);
  }, [tick]);
  const now = Date.now();
  const names = Object.fromEntries(rules.map((r) => [r.id, (r.body && r.body.name) || r.id]));
  const expire = async (s) => {
    setErr(null);
    try {
      const st = status(s.body, Date.now());
      if (st === 'active') {
        await saveEntity('silences', s.id, { ...s.body, until: new Date().toISOString() }, s.version);
        toast(t('alerts.silence_expired'), 'success');
      } else {
        await deleteEntity('silences', s.id, s.version);
        toast(t('alerts.silence_deleted'), 'success');
      }
      setTick((x) => x + 1);
    } catch (x) {
      setErr(x);
    }
  };
  const tone = { active: 'bad', scheduled: 'warn', expired: 'neutral' };
  const stLabel = { active: () => t('alerts.sil_active'), scheduled: () => t('alerts.sil_scheduled'), expired: () => t('alerts.sil_expired') };
  const list = (rows || []).filter((s) => (show === 'all' ? true : status(s.body, now) !== 'expired'))
    .sort((a, b) => Date.parse(b.body.from) - Date.parse(a.body.from));
  const columns = [
    { key: 'st', label: t('alerts.col_state'), render: (s) => { const st = status(s.body, now); return html`<${Badge} tone=${tone[st]}>${stLabel[st]()}<//>`; } },
    { key: 'what', label: t('alerts.col_matchers'), render: (s) => html`<span class="strong">${matchers(s.body, names)}</span>` },
    { key: 'from', label: t('alerts.f_from'), render: (s) => fmtTime(s.body.from, { dateStyle: 'short', timeStyle: 'short' }) },
    { key: 'until', label: t('alerts.f_until'), render: (s) => fmtTime(s.body.until, { dateStyle: 'short', timeStyle: 'short' }) },
    { key: 'why', label: t('alerts.f_why'), render: (s) => html`<span class="detail">${s.body.why}</span>` },
    { key: 'who', label: t('alerts.col_who'), render: (s) => s.body.who },
    { key: 'act', label: '', align: 'right', render: (s) => html`<${Button} kind="secondary" onClick=${() => expire(s)}>
      ${status(s.body, now) === 'active' ? t('alerts.silence_expire') : t('alerts.delete')}<//>` },
  ];
  return html`<div class="silences-grid">
    <${Card} title=${t('alerts.silences')} id="card-silences"
      actions=${html`<${Segmented} id="silence-show" label=${t('alerts.silences')} value=${show} onChange=${setShow}
        options=${[{ value: 'current', label: t('alerts.sil_current') }, { value: 'all', label: t('alerts.sil_all') }]} />`}>
      <${Alert}>${err && err.message}<//>
      ${rows === null ? !err && html`<${Loading} />` : list.length === 0
        ? html`<${Empty} title=${t('alerts.silences_none')} hint=${t('alerts.silences_none_hint')} />`
        : html`<${Table} cards id="silences-table" columns=${columns} rows=${list} pageSize=${25} />`}
    <//>
    <${SilenceForm} me=${me} rules=${rules} preset=${params || {}} onDone=${() => setTick((x) => x + 1)} />
  </div>`;
}

