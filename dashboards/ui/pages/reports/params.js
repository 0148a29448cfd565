// The report pickers, shared by the report view and the subscription editor: which report,
// which range (relative, or a custom from–to in the user's zone), the filters each report
// takes, the bucket size. Parameters are a plain object of strings, the report API's query
// (`{range: '7d', api: 'orders'}`), kept in the hash (`#/reports/latency?range=7d&api=orders`)
// so a view can be bookmarked, and in a subscription's `params` as they are.
import { html } from '../../vendor/preact-htm.module.js';
import { t, zoneName } from '../../i18n.js';
import { Select, Field } from '../../components.js';

/** The reports this page shows (call search has its own page), each with its name. */
export const KIND_LABELS = {
  usage: () => t('reports.kind_usage'),
  traffic: () => t('reports.kind_traffic'),
  latency: () => t('reports.kind_latency'),
  errors: () => t('reports.kind_errors'),
  clients: () => t('reports.kind_clients'),
  'client-apis': () => t('reports.kind_client_apis'),
  nodes: () => t('reports.kind_nodes'),
  top: () => t('reports.kind_top'),
  'client-events': () => t('reports.kind_client_events'),
};

export const kindLabel = (k) => (KIND_LABELS[k] ? KIND_LABELS[k]() : k);

/** What each report says it shows (the picker's hint). */
const KIND_HINTS = {
  usage: () => t('reports.hint_usage'),
  traffic: () => t('reports.hint_traffic'),
  latency: () => t('reports.hint_latency'),
  errors: () => t('reports.hint_errors'),
  clients: () => t('reports.hint_clients'),
  'client-apis': () => t('reports.hint_client_apis'),
  nodes: () => t('reports.hint_nodes'),
  top: () => t('reports.hint_top'),
  'client-events': () => t('reports.hint_client_events'),
};

/** The filters each report takes (the API refuses another report's parameters). */
const CALL_FILTERS = ['api', 'client', 'node', 'status_class'];
// `version` (an exact label as each call recorded it) and `group=version` read the raw calls,
// so the API refuses them over 7 days, naming the field.
export const FILTERS = {
  usage: [...CALL_FILTERS, 'version', 'group'],
  traffic: [...CALL_FILTERS, 'version'],
  latency: [...CALL_FILTERS, 'version', 'group'],
  errors: [...CALL_FILTERS, 'version'],
  clients: ['api', 'status_class'],
  'client-apis': ['api', 'client', 'status_class'],
  nodes: ['node'],
  top: ['by', 'limit', 'api', 'client', 'status_class', 'version'],
  'client-events': ['client', 'limit'],
};

/** Reports drawn over time, where the bucket size matters. */
export const TIMED = new Set(['traffic', 'latency', 'nodes']);

/** Every parameter key a picker owns: an API error naming one goes beside it. */
export const PARAM_KEYS = ['range', 'from', 'to', 'tz', 'granularity', 'api', 'client', 'node',
  'status_class', 'by', 'limit', 'version', 'group'];

export const RANGES = [
  { value: 'today', label: () => t('reports.range_today') },
  { value: 'yesterday', label: () => t('reports.range_yesterday') },
  { value: '1h', label: () => t('reports.range_1h') },
  { value: '24h', label: () => t('reports.range_24h') },
  { value: '7d', label: () => t('reports.range_7d') },
  { value: '30d', label: () => t('reports.range_30d') },
  { value: 'this_week', label: () => t('reports.range_this_week') },
  { value: 'last_week', label: () => t('reports.range_last_week') },
  { value: 'this_month', label: () => t('reports.range_this_month') },
  { value: 'last_month', label: () => t('reports.range_last_month') },
  { value: 'custom', label: () => t('reports.range_custom') },
];

/** The range's words for a list (`7d` → "Last 7 days"; a custom one as its dates). */
export function rangeLabel(params) {
  if (params.from || params.to) return t('reports.range_custom');
  const r = RANGES.find((x) => x.value === (params.range || '24h'));
  return r ? r.label() : params.range;
}

/** Parameters from a query string, dropping empty values. */
export function fromQuery(qs) {
  const out = {};
  new URLSearchParams(qs || '').forEach((v, k) => {
    if (v !== '') out[k] = out[k] ? `${out[k]},${v}` : v;
  });
  return out;
}

/** A query string of the non-empty parameters, in a stable order. */
export function toQuery(params) {
  const q = new URLSearchParams();
  Object.keys(params).sort().forEach((k) => {
    const v = params[k];
    if (v !== undefined && v !== null && v !== '') q.set(k, v);
  });
  return q.toString();
}

/** Keeps only the parameters `kind` takes (a switch of report drops the others). */
export function forKind(kind, params) {
  const keep = new Set(['range', 'from', 'to', 'tz', ...(FILTERS[kind] || []),
    ...(TIMED.has(kind) ? ['granularity'] : [])]);
  const out = {};
  Object.keys(params).forEach((k) => { if (keep.has(k)) out[k] = params[k]; });
  return out;
}

// Custom ranges: the picker shows wall-clock times in the user's zone; the API takes RFC 3339
// with the offset, worked out here with Intl for that zone at that time.
function offsetMinutes(date, zone) {
  const parts = new Intl.DateTimeFormat('en-US', {
    timeZone: zone, hourCycle: 'h23', year: 'numeric', month: '2-digit', day: '2-digit',
    hour: '2-digit', minute: '2-digit', second: '2-digit',
  }).formatToParts(date);
  const get = (type) => Number(parts.find((p) => p.type === type).value);
  const asUtc = Date.UTC(get('year'), get('month') - 1, get('day'), get('hour'), get('minute'), get('second'));
  return Math.round((asUtc - date.getTime()) / 60000);
}

const pad = (n) => String(Math.abs(n)).padStart(2, '0');

/** `2026-11-25T08:00` (a datetime-local value) in `zone` → `2026-11-25T08:00:00+08:00`. */
export function localToRfc3339(value, zone) {
  if (!value) return '';
  const m = /^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2})/.exec(value);
  if (!m) return value;
  const guess = new Date(Date.UTC(+m[1], m[2] - 1, +m[3], +m[4], +m[5]));
  // The offset at the instant the wall-clock time names (asked twice for DST edges).
  let off = offsetMinutes(guess, zone);
  off = offsetMinutes(new Date(guess.getTime() - off * 60000), zone);
  const sign = off < 0 ? '-' : '+';
  return `${m[1]}-${m[2]}-${m[3]}T${m[4]}:${m[5]}:00${sign}${pad(Math.trunc(off / 60))}:${pad(off % 60)}`;
}

/** An RFC 3339 time → the datetime-local value showing it in `zone`. */
export function rfc3339ToLocal(value, zone) {
  const d = new Date(value);
  if (!value || Number.isNaN(d.getTime())) return '';
  const local = new Date(d.getTime() + offsetMinutes(d, zone) * 60000);
  return local.toISOString().slice(0, 16);
}

/** Select options from an entity list (`GET /api/v1/apis`): "Name (id)", with "All" first. */
function entityOptions(list, all) {
  return [{ value: '', label: all }, ...(list || []).map((e) => ({
    value: e.id, label: e.name && e.name !== e.id ? `${e.name} (${e.id})` : e.id,
  }))];
}

/**
 * The pickers of `kind`'s parameters. `lists`: {apis, clients, nodes} the user may read (null:
 * a free-text field instead); `errors`: the API's messages by field; `onChange(params)`.
 * `prefix` tells the fields of the subscription editor from the report view's.
 */
export function ParamsForm({ kind, params, onChange, errors, lists, prefix, timezone }) {
  const p = params || {};
  const err = errors || {};
  const id = (k) => `${prefix || 'rp'}-${k}`;
  const set = (k, v) => onChange({ ...p, [k]: v });
  const custom = !!(p.from || p.to) || p.range === 'custom';
  const zone = timezone || p.tz || zoneName();
  const filters = FILTERS[kind] || [];

  const setRange = (v) => {
    const next = { ...p };
    if (v === 'custom') {
      // Start the custom range as the last 24 hours, to the minute.
      const now = new Date();
      const minute = new Date(Math.floor(now.getTime() / 60000) * 60000);
      next.from = localToRfc3339(rfc3339ToLocal(new Date(minute - 86400000).toISOString(), zone), zone);
      next.to = localToRfc3339(rfc3339ToLocal(minute.toISOString(), zone), zone);
      delete next.range;
    } else {
      next.range = v;
      delete next.from;
      delete next.to;
    }
    onChange(next);
  };

  // A select when the user may read the list and it has entries; else ids as free text.
  const entity = (key, label, list, all) => (list && list.length
    ? html`<${Select} id=${id(key)} name=${key} label=${label} value=${p[key] || ''}
        options=${entityOptions(list, all)} onChange=${(v) => set(key, v)} error=${err[key]} />`
    : html`<${Field} name=${id(key)} label=${label} value=${p[key] || ''} error=${err[key]}
        hint=${t('reports.filter_free_hint')} onInput=${(v) => set(key, v)} />`);

  const picker = {
    api: () => entity('api', t('reports.filter_api'), lists && lists.apis, t('reports.all_apis')),
    client: () => entity('client', kind === 'client-events' ? t('reports.filter_client_required')
      : t('reports.filter_client'), lists && lists.clients, t('reports.all_clients')),
    node: () => entity('node', t('reports.filter_node'), lists && lists.nodes, t('reports.all_nodes')),
    status_class: () => html`<${Select} id=${id('status_class')} name="status_class"
      label=${t('reports.filter_status')} value=${p.status_class || ''} error=${err.status_class}
      onChange=${(v) => set('status_class', v)}
      options=${[{ value: '', label: t('reports.all_statuses') },
        ...['2xx', '3xx', '4xx', '5xx'].map((c) => ({ value: c, label: c }))]} />`,
    by: () => html`<${Select} id=${id('by')} name="by" label=${t('reports.filter_by')}
      value=${p.by || 'slowest'} error=${err.by} onChange=${(v) => set('by', v)}
      options=${[{ value: 'slowest', label: t('reports.by_slowest') },
        { value: 'largest', label: t('reports.by_largest') },
        { value: 'clients', label: t('reports.by_clients') }]} />`,
    version: () => html`<${Field} name=${id('version')} label=${t('version.filter')} value=${p.version || ''}
      error=${err.version} hint=${t('version.filter_hint_reports')} onInput=${(v) => set('version', v)} />`,
    group: () => html`<${Select} id=${id('group')} name="group" label=${t('version.group')}
      value=${p.group || ''} error=${err.group} onChange=${(v) => set('group', v)}
      options=${[{ value: '', label: t(kind === 'latency' ? 'version.group_api_latency' : 'version.group_api') },
        { value: 'version', label: t('version.group_version') }]} />`,
    limit: () => html`<${Field} name=${id('limit')} type="number" label=${t('reports.filter_limit')}
      value=${p.limit || ''} error=${err.limit} hint=${t('reports.filter_limit_hint')}
      onInput=${(v) => set('limit', v)} />`,
  };

  return html`<div class="report-params">
    <div class="report-params-row">
      <${Select} id=${id('range')} name="range" label=${t('reports.range')}
        value=${custom ? 'custom' : (p.range || '24h')} error=${err.range}
        options=${RANGES.map((r) => ({ value: r.value, label: r.label() }))} onChange=${setRange} />
      ${custom && html`
        <div class=${err.from ? 'field field-error' : 'field'}>
          <label for=${id('from')}>${t('reports.from')}</label>
          <input id=${id('from')} name="from" type="datetime-local" value=${rfc3339ToLocal(p.from, zone)}
            aria-invalid=${err.from ? 'true' : 'false'}
            onChange=${(e) => set('from', localToRfc3339(e.currentTarget.value, zone))} />
          ${err.from ? html`<div class="field-message" role="alert">${err.from}</div>` : null}
        </div>
        <div class=${err.to ? 'field field-error' : 'field'}>
          <label for=${id('to')}>${t('reports.to')}</label>
          <input id=${id('to')} name="to" type="datetime-local" value=${rfc3339ToLocal(p.to, zone)}
            aria-invalid=${err.to ? 'true' : 'false'}
            onChange=${(e) => set('to', localToRfc3339(e.currentTarget.value, zone))} />
          ${err.to ? html`<div class="field-message" role="alert">${err.to}</div>` : null}
        </div>`}
      ${TIMED.has(kind) && html`<${Select} id=${id('granularity')} name="granularity"
        label=${t('reports.granularity')} value=${p.granularity || 'auto'} error=${err.granularity}
        onChange=${(v) => set('granularity', v === 'auto' ? '' : v)}
        options=${[{ value: 'auto', label: t('reports.gran_auto') },
          { value: 'minute', label: t('reports.gran_minute') },
          { value: 'hour', label: t('reports.gran_hour') },
          { value: 'day', label: t('reports.gran_day') }]} />`}
      ${filters.map((k) => picker[k]())}
    </div>
    ${err.tz ? html`<div class="field-message" role="alert">${err.tz}</div>` : null}
  </div>`;
}

/** The report picker with a line on what the report shows. */
export function KindSelect({ kinds, value, onChange, error, id }) {
  return html`<${Select} id=${id || 'rp-report'} name="report" label=${t('reports.report')} value=${value}
    error=${error} hint=${KIND_HINTS[value] ? KIND_HINTS[value]() : ''}
    options=${kinds.map((k) => ({ value: k, label: kindLabel(k) }))} onChange=${onChange} />`;
}
