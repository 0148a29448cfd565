// One report: its pickers, its figures, its chart (the report's SVG as an <img>) and its table
// (the JSON), with CSV and PNG downloads of the same query. Headings, chart texts and CSV come
// from the API in the user's language (`lang`).
import { html, useState, useEffect } from '../../vendor/preact-htm.module.js';
import { get } from '../../api.js';
import { t, fmtNumber, fmtTime, lang, zoneName } from '../../i18n.js';
import { Card, Stat, Alert, Loading, Table, Empty, Segmented } from '../../components.js';
import { ParamsForm, KindSelect, PARAM_KEYS, toQuery, forKind } from './params.js';

/** The summary figures worth a tile, with their names and units; the first five present show. */
const FIGURES = [
  ['calls', () => t('reports.sum_calls')],
  ['success', () => t('reports.sum_success')],
  ['errors', () => t('reports.sum_errors')],
  ['error_pct', () => t('reports.sum_error_rate'), '%'],
  ['client_error', () => t('reports.sum_client_error')],
  ['server_error', () => t('reports.sum_server_error')],
  ['refused', () => t('reports.sum_refused')],
  ['avg_ms', () => t('reports.sum_avg'), 'ms'],
  ['p50_ms', () => t('reports.sum_p50'), 'ms'],
  ['p95_ms', () => t('reports.sum_p95'), 'ms'],
  ['p99_ms', () => t('reports.sum_p99'), 'ms'],
  ['peak_calls', () => t('reports.sum_peak')],
  ['apis', () => t('reports.sum_apis')],
  ['clients', () => t('reports.sum_clients')],
  ['nodes', () => t('reports.sum_nodes')],
  ['cpu_max_pct', () => t('reports.sum_cpu_max'), '%'],
  ['events', () => t('reports.sum_events')],
  ['tokens_issued', () => t('reports.sum_tokens_issued')],
  ['tokens_refused', () => t('reports.sum_tokens_refused')],
];

/** Times in the user's zone, 24-hour (no "AM"/"清晨" in a report). */
export const TIME_OPTS = { dateStyle: 'medium', timeStyle: 'short', hourCycle: 'h23' };

/** The query the API gets: the view's parameters, the user's zone unless one is chosen, the
 *  user's language. */
export function apiQuery(params, me) {
  const q = { ...params };
  if (!q.tz && me.timezone) q.tz = me.timezone;
  q.lang = lang();
  return toQuery(q);
}

const TIME_RE = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}/;

function cell(v) {
  if (v === null || v === undefined || v === '') return '—';
  if (typeof v === 'number') return fmtNumber(v, { maximumFractionDigits: 2 });
  if (typeof v === 'string' && TIME_RE.test(v)) {
    return html`<span class="nowrap">${fmtTime(v, { dateStyle: 'short', timeStyle: 'short', hourCycle: 'h23' })}</span>`;
  }
  return String(v);
}

function Figures({ summary }) {
  const shown = FIGURES.filter(([k]) => typeof (summary || {})[k] === 'number').slice(0, 5);
  if (shown.length === 0) return null;
  const tone = (k) => ({ server_error: 'bad', errors: 'bad', error_pct: 'bad', client_error: 'warn', success: 'good' }[k]);
  return html`<div class="stats report-stats" id="report-stats">
    ${shown.map(([k, label, unit]) => html`<${Stat} key=${k} label=${label()}
      value=${`${fmtNumber(summary[k], { maximumFractionDigits: 1 })}${unit ? ` ${unit}` : ''}`}
      tone=${summary[k] > 0 ? tone(k) : undefined} />`)}
  </div>`;
}

/** Columns whose value splits a report's rows into parts shown one at a time (latency per API
 *  and over time; errors by API, outcome, upstream host, path). */
const SPLITS = ['group', 'dimension'];
const PART_LABELS = {
  api: () => t('reports.part_api'),
  time: () => t('reports.part_time'),
  outcome: () => t('reports.part_outcome'),
  upstream: () => t('reports.part_upstream'),
  path: () => t('reports.part_path'),
};

const present = (v) => v !== null && v !== undefined && v !== '';

/** The table's parts (by its split column), if it has any. */
function partsOf(data) {
  const split = (data.columns || []).find((c) => SPLITS.includes(c.key));
  if (!split) return { split: null, values: [] };
  return { split, values: [...new Set((data.rows || []).map((r) => r[split.key]))] };
}

function ReportTable({ data, part }) {
  const { split, values } = partsOf(data);
  const current = values.includes(part) ? part : values[0];
  const rows = split ? (data.rows || []).filter((r) => r[split.key] === current) : (data.rows || []);
  // Columns no shown row fills (the time of a per-API row) are left out here; the CSV has all.
  const columns = (data.columns || [])
    .filter((c) => c !== split && (rows.length === 0 || rows.some((r) => present(r[c.key]))))
    .map((c) => ({
      key: c.key,
      label: c.unit ? `${c.label} (${c.unit})` : c.label,
      align: rows.some((r) => typeof r[c.key] === 'number') ? 'right' : undefined,
      render: (r) => cell(r[c.key]),
    }));
  return html`<${Table} id="report-table" columns=${columns} rows=${rows} pageSize=${25}
    empty=${t('reports.no_rows')} />`;
}

function TableCard({ data }) {
  const [part, setPart] = useState(null);
  const { values } = partsOf(data);
  const current = values.includes(part) ? part : values[0];
  const count = values.length > 1 ? (data.rows || []).filter((r) => SPLITS.some((k) => r[k] === current)).length
    : (data.rows || []).length;
  const actions = html`<div class="actions">
    ${values.length > 1 && html`<${Segmented} id="report-parts" label=${t('reports.parts')} value=${current}
      options=${values.map((v) => ({ value: v, label: PART_LABELS[v] ? PART_LABELS[v]() : v }))} onChange=${setPart} />`}
    <span class="muted">${t('reports.rows', { n: fmtNumber(count) })}</span>
  </div>`;
  return html`<${Card} title=${data.title || t('reports.table')} id="report-table-card" actions=${actions}>
    <${ReportTable} data=${data} part=${current} />
  <//>`;
}

function Chart({ kind, query }) {
  const [failed, setFailed] = useState(false);
  useEffect(() => setFailed(false), [kind, query]);
  if (kind === 'client-events') return null;
  const src = `/api/v1/reports/${kind}/chart.svg?${query}&width=960&height=400`;
  return html`<${Card} title=${t('reports.chart')} id="report-chart-card">
    ${failed ? html`<${Alert} kind="warn">${t('reports.chart_failed')}<//>`
      : html`<img class="chart report-chart" id="report-chart" key=${src} src=${src}
          alt=${t('reports.chart_alt')} onError=${() => setFailed(true)} />`}
  <//>`;
}

export function ReportView({ me, kind, params, kinds, lists, go }) {
  const [state, setState] = useState({ loading: true });
  const wanted = `${kind}?${apiQuery(params, me)}`;
  // Typed ids change the hash at each key: ask the API once the typing pauses (the report
  // and its query together, so a new report never goes out with another's parameters).
  const [asked, setAsked] = useState(wanted);
  useEffect(() => {
    const h = setTimeout(() => setAsked(wanted), 300);
    return () => clearTimeout(h);
  }, [wanted]);
  const cut = asked.indexOf('?');
  const shownKind = asked.slice(0, cut);
  const query = asked.slice(cut + 1);
  useEffect(() => {
    let live = true;
    setState((s) => ({ ...s, loading: true }));
    get(`/api/v1/reports/${shownKind}?${query}`)
      .then((data) => live && setState({ data }))
      .catch((error) => live && setState({ error }));
    return () => { live = false; };
  }, [asked]);

  const err = state.error;
  const fieldErr = err && err.field && PARAM_KEYS.includes(err.field) ? { [err.field]: err.message } : {};
  const other = err && !fieldErr[err.field] ? err.message || err.code : null;
  const needsClient = kind === 'client-events' && !params.client;
  const data = state.data;
  const base = `/api/v1/reports/${shownKind}`;
  const zone = params.tz || me.timezone || zoneName();

  return html`<div class="report-view">
    <${Card} id="report-pickers">
      <div class="report-pickers">
        <${KindSelect} kinds=${kinds} value=${kind} onChange=${(k) => go(k, forKind(k, params))} />
        <${ParamsForm} kind=${kind} params=${params} errors=${fieldErr} lists=${lists} timezone=${zone}
          onChange=${(p) => go(kind, p)} />
      </div>
      <div class="report-actions">
        <span class="muted report-window" id="report-window">
          ${data ? t('reports.window', {
            from: fmtTime(data.from, TIME_OPTS),
            to: fmtTime(data.to, TIME_OPTS),
            zone: data.tz,
          }) : ''}
        </span>
        <a class="btn btn-secondary" id="download-csv" href=${`${base}?${query}&format=csv`}
          download>${t('reports.download_csv')}</a>
        ${shownKind !== 'client-events' && html`<a class="btn btn-secondary" id="download-png"
          href=${`${base}/chart.png?${query}&width=1200&height=600`} download>${t('reports.download_png')}</a>`}
      </div>
    <//>
    ${needsClient && !data ? html`<${Card}><${Empty} title=${t('reports.pick_client')}
        hint=${t('reports.pick_client_hint')} /><//>` : html`
      <${Alert} kind="error" id="report-error">${other}<//>
      ${state.loading && !data && !err ? html`<${Loading} />` : null}
      ${data && !err ? html`
        <${Figures} summary=${data.summary} />
        <${Chart} kind=${shownKind} query=${query} />
        <${TableCard} key=${shownKind} data=${data} />` : null}`}
  </div>`;
}
