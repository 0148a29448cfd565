// Overview (everyone): calls, error rate and p95 latency over the last hour or 24 hours (the
// report API's usage and latency summaries), the traffic chart as the report's SVG, node
// health and active alerts; refreshed every 30 s.
import { html, useState, useEffect, useRef } from '../vendor/preact-htm.module.js';
import { get, freshImage } from '../api.js';
import { t, fmtNumber, fmtTime, zoneName } from '../i18n.js';
import { PageHeader, Card, Stat, Segmented, Empty, Alert, Loading, Badge, Table } from '../components.js';

const REFRESH_MS = 30000;

function errorRate(usage) {
  const s = usage && usage.summary;
  if (!s || !s.calls) return null;
  return (100 * (s.server_error || 0)) / s.calls;
}

function rateTone(pct) {
  if (pct === null) return undefined;
  if (pct >= 5) return 'bad';
  if (pct >= 1) return 'warn';
  return 'good';
}

function Figures({ data, range }) {
  const usage = data.usage;
  const lat = data.latency;
  const rate = errorRate(usage);
  const s = (usage && usage.summary) || {};
  const p95 = lat && lat.summary ? lat.summary.p95_ms : null;
  const window = range === '1h' ? t('overview.last_hour') : t('overview.last_day');
  return html`<div class="stats" id="overview-stats">
    <${Stat} id="stat-calls" label=${t('overview.calls')} value=${fmtNumber(s.calls ?? null)} hint=${window} />
    <${Stat} id="stat-error-rate" label=${t('overview.error_rate')} tone=${rateTone(rate)}
      value=${rate === null ? '—' : `${fmtNumber(rate, { maximumFractionDigits: 2 })} %`}
      hint=${t('overview.error_rate_hint', { errors: fmtNumber(s.server_error ?? 0) })} />
    <${Stat} id="stat-p95" label=${t('overview.p95')}
      value=${p95 === null || p95 === undefined ? '—' : `${fmtNumber(p95, { maximumFractionDigits: 1 })} ms`}
      hint=${lat && lat.summary && lat.summary.p50_ms !== undefined
        ? t('overview.p50_hint', { p50: fmtNumber(lat.summary.p50_ms, { maximumFractionDigits: 1 }) }) : window} />
    <${Stat} id="stat-refused" label=${t('overview.refused')} value=${fmtNumber(s.refused ?? null)}
      hint=${t('overview.refused_hint')} />
  </div>`;
}

function Chart({ range, tick, tz }) {
  const path = `/api/v1/reports/traffic/chart.svg?range=${range}${tz}&width=720&height=360`;
  const [src, setSrc] = useState(path);
  const [failed, setFailed] = useState(false);
  const first = useRef(true);
  useEffect(() => {
    // The first draw is a plain <img>; refreshes fetch past the cache into a data: URL.
    if (first.current) {
      first.current = false;
      return;
    }
    freshImage(path).then((d) => { setSrc(d); setFailed(false); }).catch(() => setFailed(true));
  }, [range, tick]);
  return failed ? html`<${Alert} kind="warn">${t('overview.chart_failed')}<//>`
    : html`<img class="chart" id="traffic-chart" src=${src} alt=${t('overview.traffic_alt')}
        onError=${() => setFailed(true)} />`;
}

// Node health and active alerts: GET /api/v1/nodes and GET /api/v1/alerts, refreshed with the
// rest of the page.
function useFeed(path, enabled, tick) {
  const [state, setState] = useState({ loading: true });
  useEffect(() => {
    if (!enabled) return undefined;
    let live = true;
    get(path).then((d) => live && setState({ data: d }))
      .catch((e) => live && setState({ error: e }));
    return () => { live = false; };
  }, [path, enabled, tick]);
  return state;
}

const pct = (x) => (x === null || x === undefined ? '—' : `${fmtNumber(x, { maximumFractionDigits: 0 })} %`);

function ago(secs) {
  if (secs === null || secs === undefined) return '—';
  if (secs < 90) return t('time.secs_ago', { n: Math.round(secs) });
  if (secs < 5400) return t('time.mins_ago', { n: Math.round(secs / 60) });
  return t('time.hours_ago', { n: Math.round(secs / 3600) });
}

function Nodes({ feed }) {
  if (feed.error) return html`<${Alert}>${feed.error.message}<//>`;
  if (!feed.data) return html`<${Loading} />`;
  const items = feed.data.items || [];
  if (items.length === 0) return html`<${Empty} title=${t('overview.nodes_none')} hint=${t('overview.nodes_none_hint')} />`;
  return html`<ul class="rows" id="node-list">
    ${items.map((n) => {
      // A node none of whose processes samples (collector, alerter…) has no figures: '—'.
      const disk = (n.disks || []).length ? Math.max(0, ...n.disks.map((d) => d.used_pct || 0)) : null;
      const down = n.silent || n.stopped;
      return html`<li class="row" key=${n.node}>
        <div class="row-main">
          <span class=${down ? 'dot dot-bad' : 'dot dot-good'} aria-hidden="true"></span>
          <span class="row-title">${n.node}</span>
          ${down ? html`<${Badge} tone="bad">${t('overview.node_silent')}<//>` : null}
        </div>
        <div class="row-meta muted">
          ${`${t('overview.node_figures', { cpu: pct(n.cpu_pct), mem: pct(n.mem_pct), disk: pct(disk) })} · ${ago(n.age_secs)}`}
        </div>
      </li>`;
    })}
  </ul>`;
}

function Alerts({ feed }) {
  if (feed.error) return html`<${Alert}>${feed.error.message}<//>`;
  if (!feed.data) return html`<${Loading} />`;
  const items = feed.data.items || [];
  if (items.length === 0) return html`<${Empty} title=${t('overview.alerts_none')} hint=${t('overview.alerts_none_hint')} />`;
  return html`<ul class="rows" id="alert-list">
    ${items.map((a) => {
      const where = Object.values(a.scope || {}).filter(Boolean).join(' · ');
      return html`<li class="row" key=${`${a.rule_id}/${a.scope_key}`}>
        <div class="row-main">
          <${Badge} tone=${a.state === 'firing' ? 'bad' : 'warn'}>${a.state === 'firing' ? t('alert.firing') : t('alert.pending')}<//>
          <span class="row-title">${a.rule_name || a.rule_id}</span>
        </div>
        <div class="row-meta muted">${where ? `${where} · ` : ''}${t('overview.alert_since', { time: fmtTime(a.fired_at || a.since, { dateStyle: 'short', timeStyle: 'short' }) })}</div>
      </li>`;
    })}
  </ul>`;
}

/** Calls per API over the range: the usage report's rows, busiest first, five a page. */
function Apis({ usage }) {
  const rows = [...((usage && usage.rows) || [])].sort((a, b) => (b.calls || 0) - (a.calls || 0));
  const n = (v, d) => fmtNumber(v ?? null, { maximumFractionDigits: d || 0 });
  const columns = [
    { key: 'api_name', label: t('overview.col_api'), render: (r) => html`<span class="strong">${r.api_name || r.api_id}</span>` },
    { key: 'calls', label: t('overview.col_calls'), align: 'right', render: (r) => n(r.calls) },
    { key: 'server_error', label: t('overview.col_errors'), align: 'right', render: (r) => n(r.server_error) },
    { key: 'share_pct', label: t('overview.col_share'), align: 'right', render: (r) => `${n(r.share_pct, 1)} %` },
    { key: 'avg_ms', label: t('overview.col_avg'), align: 'right', render: (r) => (r.avg_ms === null || r.avg_ms === undefined ? '—' : `${n(r.avg_ms, 1)} ms`) },
  ];
  return html`<${Table} id="api-table" columns=${columns} rows=${rows} pageSize=${5} empty=${t('overview.no_calls')} />`;
}

export default function Overview({ me }) {
  const [range, setRange] = useState('24h');
  const [data, setData] = useState(null);
  const [err, setErr] = useState(null);
  const [updated, setUpdated] = useState(null);
  const [tick, setTick] = useState(0);
  const perms = new Set(me.permissions);
  // Reports are in the site's zone unless the user has a zone of their own.
  const tz = me.timezone ? `&tz=${encodeURIComponent(me.timezone)}` : '';
  const nodes = useFeed('/api/v1/nodes', perms.has('read_nodes'), tick);
  const alerts = useFeed('/api/v1/alerts', perms.has('read_alerts'), tick);
  const side = perms.has('read_nodes') || perms.has('read_alerts');

  useEffect(() => {
    let live = true;
    Promise.all([
      get(`/api/v1/reports/usage?range=${range}${tz}`),
      get(`/api/v1/reports/latency?range=${range}${tz}`),
    ]).then(([usage, latency]) => {
      if (!live) return;
      setData({ usage, latency });
      setErr(null);
      setUpdated(new Date());
    }).catch((e) => live && setErr(e));
    return () => { live = false; };
  }, [range, tick, tz]);

  useEffect(() => {
    const id = setInterval(() => setTick((x) => x + 1), REFRESH_MS);
    return () => clearInterval(id);
  }, []);

  const ranges = [
    { value: '1h', label: t('overview.range_1h') },
    { value: '24h', label: t('overview.range_24h') },
  ];
  return html`<div class="page" data-page="overview">
    <${PageHeader} title=${t('overview.title')}
      subtitle=${updated ? t('overview.updated', { time: fmtTime(updated, { timeStyle: 'medium' }), zone: zoneName() }) : t('overview.subtitle')}
      actions=${html`<${Segmented} id="overview-range" label=${t('overview.range')} value=${range}
        options=${ranges} onChange=${setRange} />`} />
    <${Alert} kind="error" id="overview-error">${err && (err.message || err.code)}<//>
    ${data ? html`<${Figures} data=${data} range=${range} />` : !err && html`<${Loading} />`}
    <div class=${side ? 'overview-grid' : 'overview-grid single'}>
      <div class="side">
        <${Card} title=${t('overview.traffic')} id="card-traffic">
          <${Chart} range=${range} tick=${tick} tz=${tz} />
        <//>
        <${Card} title=${t('overview.apis')} id="card-apis">
          ${data ? html`<${Apis} usage=${data.usage} />` : html`<${Loading} />`}
        <//>
      </div>
      ${side && html`<div class="side">
        ${perms.has('read_alerts') && html`<${Card} title=${t('overview.alerts')} id="card-alerts">
          <${Alerts} feed=${alerts} />
        <//>`}
        ${perms.has('read_nodes') && html`<${Card} title=${t('overview.nodes')} id="card-nodes">
          <${Nodes} feed=${nodes} />
        <//>`}
      </div>`}
    </div>
  </div>`;
}
