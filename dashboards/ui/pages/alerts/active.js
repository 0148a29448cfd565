// Active alerts (GET /api/v1/alerts) and the timeline (GET /api/v1/alerts/events, keyset
// paged): transitions and every notice attempt, in the user's zone. Refreshed every 5 s.
import { html, useState, useEffect, useRef } from '../../vendor/preact-htm.module.js';
import { get } from '../../api.js';
import { t, fmtTime, fmtNumber, zoneName } from '../../i18n.js';
import { Card, Table, Badge, Alert, Loading, Empty, Stat, Button, Select } from '../../components.js';
import { kindLabel, scopeParts, withUnit, unitOf, go, listAll } from './shared.js';
import { AckDialog, ackLine, unack } from './ack.js';

const REFRESH_MS = 5000;
const PAGE = 50;

const short = (v) => (v ? fmtTime(v, { dateStyle: 'short', timeStyle: 'medium' }) : '—');

function stateBadge(state) {
  if (state === 'firing') return html`<${Badge} tone="bad">${t('alert.firing')}<//>`;
  if (state === 'pending') return html`<${Badge} tone="warn">${t('alert.pending')}<//>`;
  if (state === 'resolved' || state === 'ok') return html`<${Badge} tone="good">${t('alerts.state_resolved')}<//>`;
  return html`<${Badge}>${state}<//>`;
}

function eventLabel(e) {
  switch (e.event) {
    case 'pending': return t('alerts.ev_pending');
    case 'firing': return t('alerts.ev_firing');
    case 'resolved': return t('alerts.ev_resolved');
    case 'ok': return t('alerts.ev_ok');
    case 'notify': return t('alerts.ev_notify');
    case 'test': return t('alerts.ev_test');
    case 'ack': return t('ack.ev_ack');
    case 'unack': return t('ack.ev_unack');
    default: return e.event;
  }
}

function resultBadge(r) {
  if (r === 'sent') return html`<${Badge} tone="good">${t('alerts.res_sent')}<//>`;
  if (r === 'failed') return html`<${Badge} tone="bad">${t('alerts.res_failed')}<//>`;
  if (r === 'suppressed') return html`<${Badge} tone="neutral">${t('alerts.res_suppressed')}<//>`;
  return null;
}

function AckCell({ a, onAck, onChanged, onError }) {
  if (a.state !== 'firing') return '';
  const back = async () => {
    try {
      await unack(a);
      onChanged();
    } catch (e) {
      onError(e);
    }
  };
  const key = `${a.rule_id}/${a.scope_key}`;
  if (a.ack) {
    return html`<div class="ack-cell" data-ack-for=${key} data-acked="yes">
      <div class="small">${ackLine(a.ack)}</div>
      ${a.ack.comment && html`<div class="detail small">${a.ack.comment}</div>`}
      <${Button} kind="secondary" onClick=${back}>${t('ack.take_back')}<//>
    </div>`;
  }
  return html`<div class="ack-cell" data-ack-for=${key} data-acked="no">
    <${Button} kind="secondary" onClick=${() => onAck(a)}>${t('ack.acknowledge')}<//>
  </div>`;
}

function ActiveList({ items, units, onAck, onChanged, onError }) {
  const columns = [
    { key: 'state', label: t('alerts.col_state'), render: (a) => stateBadge(a.state) },
    { key: 'rule', label: t('alerts.col_rule'), render: (a) => html`<div>
        <a class="strong" href=${`#/alerts?tab=rules&id=${encodeURIComponent(a.rule_id)}`}>${a.rule_name || a.rule_id}</a>
        <div class="muted small">${kindLabel(a.kind)}${a.severity === 'critical' ? ` · ${t('alerts.sev_critical')}` : ''}</div></div>` },
    { key: 'scope', label: t('alerts.col_scope'), render: (a) => scopeParts(a.scope) },
    { key: 'value', label: t('alerts.col_value'), align: 'right', render: (a) => html`<span class=${a.state === 'firing' ? 'value-bad' : ''}>${withUnit(a.value, units[a.rule_id])}</span>
        <span class="muted"> / ${withUnit(a.threshold, units[a.rule_id])}</span>` },
    { key: 'since', label: t('alerts.col_since'), render: (a) => short(a.since) },
    { key: 'fired', label: t('alerts.col_fired'), render: (a) => short(a.fired_at) },
    { key: 'notified', label: t('alerts.col_notified'), render: (a) => short(a.last_notified) },
    { key: 'ack', label: t('ack.col'), render: (a) => html`<${AckCell} a=${a} onAck=${onAck}
      onChanged=${onChanged} onError=${onError} />` },
  ];
  if (!items.length) {
    return html`<${Empty} title=${t('alerts.active_none')} hint=${t('alerts.active_none_hint')} />`;
  }
  return html`<${Table} cards id="active-table" columns=${columns} rows=${items} pageSize=${20} />`;
}

/** `node=gw1,mount=/var` → { node, mount } (as the API's `scope`). */
function scopeOf(key) {
  const out = {};
  for (const part of (key || '').split(',')) {
    const i = part.indexOf('=');
    if (i > 0) out[part.slice(0, i)] = part.slice(i + 1);
  }
  return out;
}

function Timeline({ rule, rules, tick }) {
  const ruleName = (id) => {
    const r = rules.find((x) => x.id === id);
    return (r && r.body && r.body.name) || id;
  };
  const [rows, setRows] = useState(null);
  const [cursor, setCursor] = useState(null);
  const [err, setErr] = useState(null);
  // Once older pages are loaded, the refresh leaves the list alone (it would drop them).
  const extended = useRef(false);
  const shownRule = useRef(rule);
  const q = rule ? `&rule=${encodeURIComponent(rule)}` : '';
  useEffect(() => {
    if (extended.current && shownRule.current === rule) return undefined;
    extended.current = false;
    shownRule.current = rule;
    let live = true;
    get(`/api/v1/alerts/events?limit=${PAGE}${q}`).then((p) => {
      if (!live) return;
      // A rule's acks (first page only) go in among its events, newest first.
      const acks = (p.acks || []).map((a) => ({
        ts: a.at, rule_id: a.rule, rule_name: ruleName(a.rule), scope: scopeOf(a.scope_key),
        event: a.action, by: a.by, until: a.until, comment: a.comment,
      }));
      const all = [...(p.items || []), ...acks].sort((x, y) => Date.parse(y.ts) - Date.parse(x.ts));
      setRows(all);
      setCursor(p.next_cursor || null);
      setErr(null);
    }).catch((e) => live && setErr(e));
    return () => { live = false; };
  }, [rule, tick]);
  const more = async () => {
    try {
      const p = await get(`/api/v1/alerts/events?limit=${PAGE}${q}&cursor=${encodeURIComponent(cursor)}`);
      extended.current = true;
      setRows([...(rows || []), ...(p.items || [])]);
      setCursor(p.next_cursor || null);
    } catch (e) {
      setErr(e);
    }
  };
  const units = Object.fromEntries(rules.map((r) => [r.id, unitOf(r.body && r.body.kind)]));
  const columns = [
    { key: 'ts', label: t('alerts.col_time'), render: (e) => html`<span class="nowrap">${short(e.ts)}</span>` },
    // A channel's test-send has no rule and no scope: the channel names the row.
    { key: 'rule', label: t('alerts.col_rule'), render: (e) => html`<span class="strong">${e.rule_name || e.rule_id
      || t('alerts.channel_row', { id: e.channel })}</span>` },
    { key: 'scope', label: t('alerts.col_scope'), render: (e) => (e.rule_id && e.event !== 'test' ? scopeParts(e.scope) : '—') },
    { key: 'event', label: t('alerts.col_event'), render: (e) => html`<span class=${`ev ev-${e.event}`}>${eventLabel(e)}</span>` },
    { key: 'value', label: t('alerts.col_value'), align: 'right', render: (e) => (e.event === 'notify' || e.event === 'test' ? '' : withUnit(e.value, units[e.rule_id])) },
    { key: 'to', label: t('alerts.col_recipient'), render: (e) => (e.channel ? html`<div><span class="muted">${e.channel}</span> ${e.recipient}</div>` : '') },
    { key: 'result', label: t('alerts.col_result'), render: (e) => ((e.event === 'ack' || e.event === 'unack')
      ? html`<div class="small" data-ack-row=${e.event}>${e.event === 'ack' ? ackLine({ by: e.by, at: e.ts, until: e.until }) : t('ack.taken_back_by', { who: e.by })}
        ${e.comment ? html`<div class="detail small">${e.comment}</div>` : ''}</div>`
      : html`<div>${resultBadge(e.result)}${e.attempt > 1 ? html` <span class="muted small">${t('alerts.attempt_n', { n: e.attempt })}</span>` : ''}
        ${e.detail ? html`<div class="detail small">${e.detail}</div>` : ''}</div>`) },
  ];
  const options = [{ value: '', label: t('alerts.all_rules') },
    ...rules.map((r) => ({ value: r.id, label: (r.body && r.body.name) || r.id }))];
  return html`<${Card} title=${t('alerts.timeline')} id="card-timeline" wide
    actions=${html`<div class="timeline-filter"><${Select} name="timeline-rule" label=${t('alerts.filter_rule')} value=${rule || ''}
      options=${options} onChange=${(v) => go({ rule: v })} /></div>`}>
    <${Alert}>${err && err.message}<//>
    ${rows === null ? html`<${Loading} />` : rows.length === 0
      ? html`<${Empty} title=${t('alerts.timeline_none')} hint=${t('alerts.timeline_none_hint')} />`
      : html`<${Table} cards id="timeline-table" columns=${columns} rows=${rows} pageSize=${100000}
          onMore=${more} hasMore=${!!cursor} />`}
    <p class="muted small">${t('alerts.times_in', { zone: zoneName() })}</p>
  <//>`;
}

export function ActiveTab({ rule }) {
  const [acking, setAcking] = useState(null);
  const [data, setData] = useState(null);
  const [rules, setRules] = useState([]);
  const [err, setErr] = useState(null);
  const [tick, setTick] = useState(0);
  useEffect(() => {
    let live = true;
    Promise.all([get('/api/v1/alerts'), listAll(get, '/api/v1/alert-rules')]).then(([a, r]) => {
      if (!live) return;
      setData(a);
      setRules(r);
      setErr(null);
    }).catch((e) => live && setErr(e));
    return () => { live = false; };
  }, [tick]);
  useEffect(() => {
    const id = setInterval(() => setTick((x) => x + 1), REFRESH_MS);
    return () => clearInterval(id);
  }, []);
  const items = (data && data.items) || [];
  const units = Object.fromEntries(rules.map((r) => [r.id, unitOf(r.body && r.body.kind)]));
  const firing = items.filter((a) => a.state === 'firing').length;
  const pending = items.length - firing;
  const enabled = rules.filter((r) => r.body && r.body.enabled !== false).length;
  return html`<div>
    <${Alert}>${err && err.message}<//>
    <div class="stats alerts-stats">
      <${Stat} id="stat-firing" label=${t('alerts.stat_firing')} value=${data ? fmtNumber(firing) : '—'}
        tone=${firing ? 'bad' : 'good'} hint=${t('alerts.stat_firing_hint')} />
      <${Stat} id="stat-pending" label=${t('alerts.stat_pending')} value=${data ? fmtNumber(pending) : '—'}
        tone=${pending ? 'warn' : undefined} hint=${t('alerts.stat_pending_hint')} />
      <${Stat} id="stat-rules" label=${t('alerts.stat_rules')} value=${fmtNumber(enabled)}
        hint=${t('alerts.stat_rules_hint', { n: fmtNumber(rules.length) })} />
    </div>
    <div class="alerts-stack">
      <${Card} title=${t('alerts.active')} id="card-active" wide
        actions=${html`<${Button} onClick=${() => setTick((x) => x + 1)}>${t('alerts.refresh')}<//>`}>
        ${data ? html`<${ActiveList} items=${items} units=${units} onAck=${setAcking}
          onChanged=${() => setTick((x) => x + 1)} onError=${setErr} />` : !err && html`<${Loading} />`}
      <//>
      <${Timeline} rule=${rule} rules=${rules} tick=${tick} />
    </div>
    ${acking && html`<${AckDialog} alert=${acking} onClose=${() => setAcking(null)}
      onDone=${() => setTick((x) => x + 1)} />`}
  </div>`;
}
