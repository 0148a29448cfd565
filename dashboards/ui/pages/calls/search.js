// The search: a box for a call id (straight to its detail) or a request id, the filters of
// the calls API, and the results newest first, a keyset page at a time ("Load more" sends
// the API's cursor). Submitting writes the filters into the hash, so a search is a link.
import { html, useState, useEffect, useRef } from '../../vendor/preact-htm.module.js';
import { get } from '../../api.js';
import { t, fmtNumber, fmtTime, zoneName } from '../../i18n.js';
import { Card, Field, Select, Button, Alert, Empty, Badge, Table, Segmented } from '../../components.js';
import { parse, toHash, toApi, fieldOf, isCallId, wallToIso, isoToWall, RANGES } from './query.js';
import { OUTCOME_CODES, outcomeLabel, statusTone, outcomeTone } from './words.js';

const PAGE = 50;
const METHODS = ['GET', 'POST', 'PUT', 'PATCH', 'DELETE', 'HEAD', 'OPTIONS'];

// The last search shown, so the detail's "back" returns to it.
let lastSearch = '';
export const lastSearchHash = () => (lastSearch ? `#/calls?${lastSearch}` : '#/calls');

/** Ids and names of APIs or clients, for the pickers; [] when the role may not list them. */
function useEntities(path, allowed) {
  const [list, setList] = useState([]);
  useEffect(() => {
    if (!allowed) return undefined;
    let live = true;
    get(`${path}?limit=1000`)
      .then((d) => live && setList((d.items || []).map((e) => ({ id: e.id, name: (e.body && e.body.name) || e.id }))))
      .catch(() => {});
    return () => { live = false; };
  }, [path, allowed]);
  return list;
}

function rangeLabel(r) {
  const labels = {
    '15m': () => t('calls.range_15m'),
    '1h': () => t('calls.range_1h'),
    '6h': () => t('calls.range_6h'),
    '24h': () => t('calls.range_24h'),
    '7d': () => t('calls.range_7d'),
    custom: () => t('calls.range_custom'),
  };
  return labels[r] ? labels[r]() : r;
}

/** A picker of known ids, or a text box when there is no list (or the hash names another). */
function Picker({ label, name, value, onInput, list, any, error, hint }) {
  if (list.length === 0) {
    return html`<${Field} label=${label} name=${name} value=${value} onInput=${onInput} error=${error} hint=${hint} />`;
  }
  const options = [{ value: '', label: any }, ...list.map((e) => ({
    value: e.id, label: e.name && e.name !== e.id ? `${e.name} (${e.id})` : e.id,
  }))];
  if (value && !list.some((e) => e.id === value)) options.push({ value, label: value });
  return html`<${Select} label=${label} name=${name} value=${value} options=${options}
    onChange=${onInput} error=${error} />`;
}

// On a phone the filters beyond the id box and the range fold under a button, so the results
// are not a long scroll away.
const narrow = () => window.matchMedia && window.matchMedia('(max-width: 760px)').matches;
const MORE = ['api', 'version', 'client', 'node', 'status', 'outcome', 'method', 'path', 'min_latency_ms', 'finding', 'trace_id'];

function Filters({ form, set, errors, onSubmit, onClear, apis, clients, zone }) {
  const [open, setOpen] = useState(() => !narrow() || MORE.some((k) => errors[k]));
  useEffect(() => { if (MORE.some((k) => errors[k])) setOpen(true); }, [errors]);
  const active = MORE.filter((k) => form[k]).length;
  const field = (k, label, extra) => html`<${Field} label=${label} name=${k} value=${form[k]}
    onInput=${(v) => set(k, v)} error=${errors[k]} ...${extra || {}} />`;
  return html`<form class="calls-filters" id="calls-form" novalidate
    onSubmit=${(e) => { e.preventDefault(); onSubmit(); }}>
    <div class="calls-top">
      <div class="calls-lookup">
        ${field('request_id', t('calls.lookup'), { hint: t('calls.lookup_hint') })}
      </div>
      <div class="calls-range">
        <span class="calls-label">${t('calls.range')}</span>
        <${Segmented} id="calls-range" label=${t('calls.range')} value=${form.range}
          options=${RANGES.map((r) => ({ value: r, label: rangeLabel(r) }))}
          onChange=${(v) => set('range', v)} />
        ${errors.range && html`<div class="field-message" role="alert" id="f-range-error">${errors.range}</div>`}
      </div>
    </div>
    ${form.range === 'custom' && html`<div class="calls-grid calls-custom">
      ${field('from', t('calls.from'), { hint: t('calls.time_hint', { zone }) })}
      ${field('to', t('calls.to'), { hint: t('calls.time_hint', { zone }) })}
    </div>`}
    <button type="button" class="calls-toggle" id="calls-toggle" aria-expanded=${open ? 'true' : 'false'}
      onClick=${() => setOpen(!open)}>
      ${open ? t('calls.fewer_filters') : t('calls.more_filters', { n: active })}
    </button>
    <div class=${open ? 'calls-grid' : 'calls-grid calls-folded'}>
      <${Picker} label=${t('calls.api')} name="api" value=${form.api} onInput=${(v) => set('api', v)}
        list=${apis} any=${t('calls.any_api')} error=${errors.api} hint=${t('calls.api_hint')} />
      ${field('version', t('version.filter'), { hint: t('version.filter_hint') })}
      <${Picker} label=${t('calls.client')} name="client" value=${form.client} onInput=${(v) => set('client', v)}
        list=${clients} any=${t('calls.any_client')} error=${errors.client} hint=${t('calls.client_hint')} />
      ${field('node', t('calls.node'), { hint: t('calls.node_hint') })}
      ${field('status', t('calls.status'), { hint: t('calls.status_hint') })}
      <${Select} label=${t('calls.outcome')} name="outcome" value=${form.outcome}
        onChange=${(v) => set('outcome', v)} error=${errors.outcome}
        options=${[{ value: '', label: t('calls.any_outcome') },
          ...OUTCOME_CODES.map((o) => ({ value: o, label: outcomeLabel(o) }))]} />
      <${Select} label=${t('calls.method')} name="method" value=${form.method}
        onChange=${(v) => set('method', v)} error=${errors.method}
        options=${[{ value: '', label: t('calls.any_method') }, ...METHODS.map((m) => ({ value: m, label: m }))]} />
      ${field('path', t('calls.path'), { hint: t('calls.path_hint') })}
      ${field('min_latency_ms', t('calls.min_latency'), { hint: t('calls.min_latency_hint') })}
      ${field('finding', t('calls.finding'), { hint: t('calls.finding_hint') })}
      ${field('trace_id', t('calls.trace_id'), { hint: t('calls.trace_id_hint') })}
    </div>
    <div class="form-actions">
      <${Button} kind="primary" type="submit" id="calls-submit">${t('calls.search')}<//>
      <${Button} onClick=${onClear} id="calls-clear">${t('calls.clear')}<//>
    </div>
  </form>`;
}

function Results({ state, onMore, apis }) {
  if (state.loading && !state.rows) return html`<div class="loading" aria-busy="true">${t('common.loading')}</div>`;
  if (!state.rows) return null;
  const names = new Map(apis.map((a) => [a.id, a.name]));
  const columns = [
    {
      key: 'time', label: t('calls.col_time'),
      render: (r) => html`<a class="call-link" href=${`#/calls/${r.call_id}`} data-call=${r.call_id}>
        ${fmtTime(r.ts_us / 1000, { dateStyle: 'short', timeStyle: 'medium' })}</a>`,
    },
    { key: 'method', label: t('calls.col_method'), render: (r) => html`<span class="mono strong">${r.method}</span>` },
    { key: 'path', label: t('calls.col_path'), render: (r) => html`<span class="mono calls-path" title=${r.path}>${r.path}</span>` },
    { key: 'api_name', label: t('calls.col_api'), render: (r) => r.api_name || names.get(r.api_id) || r.api_id || '—' },
    { key: 'api_version', label: t('version.col_version'), render: (r) => (r.api_version ? html`<span class="mono">${r.api_version}</span>` : html`<span class="muted">—</span>`) },
    { key: 'client_id', label: t('calls.col_client'), render: (r) => r.client_id || html`<span class="muted">${t('calls.anonymous')}</span>` },
    { key: 'status', label: t('calls.col_status'), render: (r) => html`<${Badge} tone=${statusTone(r.status)}>${r.status}<//>` },
    {
      key: 'outcome', label: t('calls.col_outcome'),
      render: (r) => html`<span class=${`calls-outcome calls-outcome-${outcomeTone(r.outcome)}`}>${outcomeLabel(r.outcome)}</span>`,
    },
    {
      key: 'latency_ms', label: t('calls.col_latency'), align: 'right',
      render: (r) => `${fmtNumber(r.latency_ms, { maximumFractionDigits: r.latency_ms < 100 ? 1 : 0 })} ms`,
    },
  ];
  if (state.rows.length === 0) {
    return html`<${Empty} title=${t('calls.none')} hint=${t('calls.none_hint')} />`;
  }
  return html`<div>
    <${Table} id="calls-table" columns=${columns} rows=${state.rows} pageSize=${1e9} />
    <div class="calls-more">
      <span class="muted" id="calls-count">${state.next
        ? t('calls.shown_more', { n: fmtNumber(state.rows.length) })
        : t('calls.shown_all', { n: fmtNumber(state.rows.length) })}</span>
      ${state.next && html`<${Button} id="calls-more" onClick=${onMore} disabled=${state.loading}>
        ${state.loading ? t('common.loading') : t('calls.more')}<//>`}
    </div>
  </div>`;
}

export function Search({ me, query }) {
  const zone = zoneName();
  const perms = new Set(me.permissions);
  const apis = useEntities('/api/v1/apis', perms.has('read_gateway_config'));
  const clients = useEntities('/api/v1/clients', perms.has('read_gateway_config'));
  const shown = (f) => ({ ...f, from: isoToWall(f.from, zone), to: isoToWall(f.to, zone) });
  const [form, setForm] = useState(() => shown(parse(query)));
  const [errors, setErrors] = useState({});
  const [state, setState] = useState({ loading: true });
  const [err, setErr] = useState(null);
  // The tz makes relative ranges (and the rows' `time`) the user's; the page shows ts_us itself.
  const tz = me.timezone ? `&tz=${encodeURIComponent(me.timezone)}` : '';

  const fetchPage = (f, cursor) => {
    const q = toApi(f);
    q.set('limit', String(PAGE));
    if (cursor) q.set('cursor', cursor);
    return get(`/api/v1/reports/calls?${q.toString()}${tz}`);
  };

  const failed = (e) => {
    const k = fieldOf(e.field);
    if (k) {
      setErrors({ [k]: e.message });
      setErr(null);
    } else {
      setErrors({});
      setErr(e.message || e.code);
    }
  };

  const shownQuery = useRef(query);
  // The hash is the search: run it whenever it changes (and on first show).
  useEffect(() => {
    shownQuery.current = query;
    let live = true;
    const f = parse(query);
    lastSearch = query || '';
    setForm(shown(f));
    setState({ loading: true });
    fetchPage(f).then((d) => {
      if (!live) return;
      setErrors({});
      setErr(null);
      setState({ rows: d.rows || [], next: d.next_cursor, from: d.from, to: d.to });
    }).catch((e) => {
      if (!live) return;
      failed(e);
      setState({ failed: true });
    });
    return () => { live = false; };
  }, [query, tz]);

  const more = () => {
    const asked = query;
    setState({ ...state, loading: true });
    fetchPage(parse(asked), state.next).then((d) => {
      // A page of a search the user has since left is dropped.
      if (shownQuery.current !== asked) return;
      setState({ ...state, loading: false, rows: [...state.rows, ...(d.rows || [])], next: d.next_cursor });
    }).catch((e) => {
      if (shownQuery.current !== asked) return;
      setState({ ...state, loading: false });
      failed(e);
    });
  };

  const set = (k, v) => {
    setForm({ ...form, [k]: v });
    if (errors[k]) setErrors({ ...errors, [k]: undefined });
  };

  const submit = () => {
    const id = form.request_id.trim();
    // A call id goes straight to the call.
    if (isCallId(id)) {
      location.hash = `#/calls/${id.toLowerCase()}`;
      return;
    }
    const f = { ...form };
    if (f.range === 'custom') {
      f.from = wallToIso(f.from, zone);
      f.to = wallToIso(f.to, zone);
    }
    const next = toHash(f);
    const target = next ? `#/calls?${next}` : '#/calls';
    if (location.hash === target) {
      // The same search again: fetch anew (newer calls may have come).
      setState({ loading: true });
      fetchPage(parse(next)).then((d) => {
        setErrors({});
        setErr(null);
        setState({ rows: d.rows || [], next: d.next_cursor, from: d.from, to: d.to });
      }).catch((e) => { failed(e); setState({ failed: true }); });
    } else {
      location.hash = target;
    }
  };

  const clear = () => { location.hash = '#/calls'; };

  const span = state.from && state.to
    ? t('calls.window', {
      from: fmtTime(state.from, { dateStyle: 'medium', timeStyle: 'short' }),
      to: fmtTime(state.to, { dateStyle: 'medium', timeStyle: 'short' }),
      zone,
    })
    : null;
  const csv = (() => {
    const q = toApi(parse(query));
    q.set('format', 'csv');
    return `/api/v1/reports/calls?${q.toString()}${tz}`;
  })();
  const head = html`${span && html`<span class="muted calls-window">${span}</span>`}
    ${state.rows && state.rows.length > 0 && html`<a class="btn btn-secondary calls-csv" id="calls-csv" href=${csv}
      download>${t('calls.csv')}</a>`}`;
  return html`<div class="calls-search">
    <${Card} id="calls-filters-card">
      <${Filters} form=${form} set=${set} errors=${errors} onSubmit=${submit} onClear=${clear}
        apis=${apis} clients=${clients} zone=${zone} />
    <//>
    <${Alert} kind="error" id="calls-error">${err}<//>
    <${Card} title=${t('calls.results')} id="calls-results"
      actions=${head}>
      ${state.failed ? html`<${Empty} title=${t('calls.fix_filters')} hint=${t('calls.fix_filters_hint')} />`
        : html`<${Results} state=${state} onMore=${more} apis=${apis} />`}
    <//>
  </div>`;
}
