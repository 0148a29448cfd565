// Overview (everyone): calls, error rate and p95 latency over the last hour or 24 hours (the
// report API's usage and latency summaries), the traffic chart as the report's SVG, node
// health and active alerts; refreshed every 30 s.
import { html, useState, useEffect, useRef } from '../vendor/preact-htm.module.js';
import { get, freshImage } from '../api.js';
import { t, fmtNumber, fmtTime } from '../i18n.js';
import { PageHeader, Card, Stat, Segmented, Empty, Alert, Loading } from '../components.js';

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

function Chart({ range, tick }) {
  const path = `/api/v1/reports/traffic/chart.svg?range=${range}`;
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

export default function Overview({ me }) {
  const [range, setRange] = useState('24h');
  const [data, setData] = useState(null);
  const [err, setErr] = useState(null);
  const [updated, setUpdated] = useState(null);
  const [tick, setTick] = useState(0);
  const perms = new Set(me.permissions);

  useEffect(() => {
    let live = true;
    Promise.all([
      get(`/api/v1/reports/usage?range=${range}`),
      get(`/api/v1/reports/latency?range=${range}`),
    ]).then(([usage, latency]) => {
      if (!live) return;
      setData({ usage, latency });
      setErr(null);
      setUpdated(new Date());
    }).catch((e) => live && setErr(e));
    return () => { live = false; };
  }, [range, tick]);

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
      subtitle=${updated ? t('overview.updated', { time: fmtTime(updated, { timeStyle: 'medium' }) }) : t('overview.subtitle')}
      actions=${html`<${Segmented} id="overview-range" label=${t('overview.range')} value=${range}
        options=${ranges} onChange=${setRange} />`} />
    <${Alert} kind="error" id="overview-error">${err && (err.message || err.code)}<//>
    ${data ? html`<${Figures} data=${data} range=${range} />` : !err && html`<${Loading} />`}
    <div class="grid">
      <${Card} wide title=${t('overview.traffic')} id="card-traffic">
        <${Chart} range=${range} tick=${tick} />
      <//>
      ${perms.has('read_nodes') && html`<${Card} title=${t('overview.nodes')} id="card-nodes">
        <${Empty} title=${t('overview.nodes_soon')} hint=${t('overview.nodes_soon_hint')} />
      <//>`}
      ${perms.has('read_alerts') && html`<${Card} title=${t('overview.alerts')} id="card-alerts">
        <${Empty} title=${t('overview.alerts_soon')} hint=${t('overview.alerts_soon_hint')} />
      <//>`}
    </div>
  </div>`;
}
