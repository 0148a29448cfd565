// Nodes (ops, admin): every node's newest figures from GET /api/v1/nodes — CPU, memory, the
// reporting process's RSS, the fullest disk, the collector backlog, last seen — silent nodes
// first and marked; the CPU chart of the report API's `nodes` report over a chosen range; and
// one node's detail (`#/nodes?node=<name>`): its figures, disks, processes, its own chart and
// the report's buckets (memory, RSS, disk over time). Refreshed every 30 s like the overview.
// The node registry (issue 19) adds each node's roles and node groups, and its processes:
// version, listen addresses, started, last heartbeat, the APIs a gateway serves (names from
// GET /api/v1/apis where the user may read them, ids otherwise; links to the API editor for
// those who may edit). Nodes and processes that stopped reporting are badged and come first;
// the list filters by role and group. Every name from the registry is shown as text (htm
// escapes it), never as markup.
import { html, useState, useEffect, useRef } from '../vendor/preact-htm.module.js';
import { get, freshImage } from '../api.js';
import { t, fmtNumber, fmtTime, zoneName } from '../i18n.js';
import { PageHeader, Card, Stat, Segmented, Empty, Alert, Loading, Badge, Table, Select } from '../components.js';

const REFRESH_MS = 30000;
// Literal keys: the catalogue test finds keys by scanning for literal calls of t.
const RANGES = [
  ['1h', () => t('nodes.range_1h')],
  ['6h', () => t('nodes.range_6h')],
  ['24h', () => t('nodes.range_24h')],
  ['7d', () => t('nodes.range_7d')],
];

const pct = (x) => (x === null || x === undefined ? '—' : `${fmtNumber(x, { maximumFractionDigits: 1 })} %`);

/** Bytes in binary units (what `free` and `df -h` show). */
function fmtBytes(n) {
  if (n === null || n === undefined) return '—';
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let v = Number(n);
  let i = 0;
  while (v >= 1024 && i < units.length - 1) {
    v /= 1024;
    i += 1;
  }
  return `${fmtNumber(v, { maximumFractionDigits: i === 0 ? 0 : 1 })} ${units[i]}`;
}

function silentFor(secs) {
  if (secs < 90) return t('nodes.silent_secs', { n: Math.round(secs) });
  if (secs < 5400) return t('nodes.silent_mins', { n: Math.round(secs / 60) });
  if (secs < 172800) return t('nodes.silent_hours', { n: Math.round(secs / 3600) });
  return t('nodes.silent_days', { n: Math.round(secs / 86400) });
}

function ago(secs) {
  if (secs === null || secs === undefined) return '—';
  if (secs < 90) return t('time.secs_ago', { n: Math.round(secs) });
  if (secs < 5400) return t('time.mins_ago', { n: Math.round(secs / 60) });
  return t('time.hours_ago', { n: Math.round(secs / 3600) });
}

/** Most API names shown per process before "and N more" (a gateway may serve thousands). */
const MAX_APIS_SHOWN = 12;
/** Most group / role badges per cell before "+N". */
const MAX_BADGES = 6;

/** A node that needs a look: it stopped reporting (silent, or every process said goodbye). */
const down = (n) => n.silent || n.stopped;
const stoppedProcs = (n) => (n.processes || []).filter((p) => p.stopped);

/** Small badges for a list of names, cut at `max` with a "+N" badge. */
function Names({ names, tone, max, cls }) {
  const list = names || [];
  const cut = max || MAX_BADGES;
  if (list.length === 0) return html`<span class="muted">—</span>`;
  return html`<span class=${`badges ${cls || ''}`}>${list.slice(0, cut).map((x) => html`<${Badge} tone=${tone || 'neutral'}>${x}<//> `)}${
    list.length > cut ? html`<${Badge} tone="neutral">${t('nodes.more', { n: fmtNumber(list.length - cut) })}<//>` : null}</span>`;
}

/** A process's state: stopped (said goodbye, or silent for …) or reporting. */
function ProcState({ p }) {
  if (p.stopping) return html`<${Badge} tone="bad">${t('nodes.stopped_clean')}<//>`;
  if (p.stopped) return html`<${Badge} tone="bad">${silentFor(p.age_secs)}<//>`;
  return html`<${Badge} tone="good">${t('nodes.reporting')}<//>`;
}

/** A node's state badge: silent for …, stopped (clean), some processes stopped, reporting. */
function NodeState({ n }) {
  if (n.silent) return html`<${Badge} tone="bad">${silentFor(n.age_secs)}<//>`;
  if (n.stopped) return html`<${Badge} tone="bad">${t('nodes.stopped_clean')}<//>`;
  const s = stoppedProcs(n).length;
  if (s) return html`<${Badge} tone="warn">${t('nodes.procs_stopped', { n: s, of: (n.processes || []).length })}<//>`;
  return html`<${Badge} tone="good">${t('nodes.reporting')}<//>`;
}

/** The APIs a gateway serves: names where known, each a link to its editor for admins. */
function ApiNames({ ids, apis, canEdit }) {
  const list = ids || [];
  if (list.length === 0) return html`<span class="muted">—</span>`;
  const shown = list.slice(0, MAX_APIS_SHOWN);
  const name = (id) => (apis && apis.get(id)) || id;
  return html`<span class="api-names">${shown.map((id, i) => html`${i ? ', ' : ''}${canEdit
    ? html`<a href=${`#/config?tab=apis&id=${encodeURIComponent(id)}&view=edit`} data-api=${id} title=${id}>${name(id)}</a>`
    : html`<span data-api=${id} title=${id}>${name(id)}</span>`}`)}${list.length > shown.length
    ? html` <span class="muted">${t('nodes.apis_more', { n: fmtNumber(list.length - shown.length) })}</span>` : null}</span>`;
}

/** Every process of the listed nodes: stopped ones first (the API sorts nodes and, within a
 *  node, processes that way). */
function ProcessTable({ items, apis, canEdit, id, withNode }) {
  const rows = [];
  items.forEach((n) => (n.processes || []).forEach((p) => rows.push({ ...p, node: n.node })));
  rows.sort((a, b) => Number(b.stopped) - Number(a.stopped));
  const when = (x) => (x ? fmtTime(x, { dateStyle: 'short', timeStyle: 'medium' }) : '—');
  const columns = [
    ...(withNode ? [{
      key: 'node',
      label: t('nodes.col_node'),
      render: (p) => html`<a class="strong" href=${`#/nodes?node=${encodeURIComponent(p.node)}`}>${p.node}</a>`,
    }] : []),
    {
      key: 'role',
      label: t('nodes.col_role'),
      render: (p) => html`<span class="strong">${p.role}</span>${p.instance ? html`<div class="muted small mono">${p.instance}</div>` : null}`,
    },
    { key: 'state', label: t('nodes.col_state'), render: (p) => html`<${ProcState} p=${p} />` },
    { key: 'groups', label: t('nodes.col_groups'), render: (p) => html`<${Names} names=${p.groups} />` },
    {
      key: 'version',
      label: t('nodes.col_version'),
      render: (p) => (p.version ? html`<span class="mono">${p.version}</span>`
        : html`<span class="muted" title=${t('nodes.unregistered_hint')}>${t('nodes.unregistered')}</span>`),
    },
    {
      key: 'listen',
      label: t('nodes.col_listen'),
      render: (p) => ((p.listen || []).length ? html`<span class="mono small">${p.listen.slice(0, MAX_BADGES).join(', ')}${
        p.listen.length > MAX_BADGES ? ` ${t('nodes.more', { n: p.listen.length - MAX_BADGES })}` : ''}</span>` : html`<span class="muted">—</span>`),
    },
    { key: 'started', label: t('nodes.col_started'), render: (p) => when(p.started) },
    { key: 'heartbeat', label: t('nodes.col_heartbeat'), render: (p) => html`<span title=${p.last_heartbeat || ''}>${when(p.last_heartbeat)}</span>` },
    {
      key: 'apis',
      label: t('nodes.col_apis'),
      render: (p) => (p.role === 'gateway' ? html`<${ApiNames} ids=${p.apis} apis=${apis} canEdit=${canEdit} />` : html`<span class="muted">—</span>`),
    },
  ];
  return html`<${Table} cards id=${id} columns=${columns} rows=${rows} pageSize=${50} empty=${t('nodes.no_processes')} />`;
}

/** Role and group pickers over the listed nodes (a node stays when it runs the role and has
 *  the group, as the API's `role` and `group` filters). */
function Filters({ items, role, group, setRole, setGroup }) {
  const roles = [...new Set(items.flatMap((n) => n.roles || []))].sort();
  const groups = [...new Set(items.flatMap((n) => n.groups || []))].sort();
  const opts = (list) => [{ value: '', label: t('nodes.all_of') }, ...list.map((x) => ({ value: x, label: x }))];
  return html`<div class="filters nodes-filters" id="nodes-filters">
    <${Select} id="nodes-role" name="role" label=${t('nodes.filter_role')} value=${role} options=${opts(roles)} onChange=${setRole} />
    <${Select} id="nodes-group" name="group" label=${t('nodes.filter_group')} value=${group} options=${opts(groups)} onChange=${setGroup} />
  </div>`;
}

const fullestDisk = (n) => (n.disks || []).reduce((a, d) => (!a || d.used_pct > a.used_pct ? d : a), null);

function tone(p, warn, bad) {
  if (p === null || p === undefined) return undefined;
  if (p >= bad) return 'bad';
  if (p >= warn) return 'warn';
  return undefined;
}

/** A small horizontal gauge with the figure beside it. */
function Meter({ value, warn, bad }) {
  const v = Math.max(0, Math.min(100, value || 0));
  // Ten steps keep the widths in the stylesheet (no inline style under the CSP).
  const step = Math.round(v / 10) * 10;
  return html`<span class="meter">
    <span class=${`meter-bar meter-${tone(value, warn, bad) || 'ok'}`}><span class=${`meter-fill w${step}`}></span></span>
    <span class="meter-text">${pct(value)}</span>
  </span>`;
}

/** The hash's `?node=` (the node shown in detail), if any. */
function nodeOfHash() {
  const q = location.hash.split('?')[1] || '';
  return new URLSearchParams(q).get('node') || null;
}

/** The report's SVG: a plain <img> first, refreshes fetched past the cache as data: URLs.
 *  Keyed by its path where used, so another node or range starts afresh (no stale picture). */
function Chart({ path, tick, id, alt }) {
  const [src, setSrc] = useState(path);
  const [failed, setFailed] = useState(false);
  const first = useRef(true);
  useEffect(() => {
    if (first.current) {
      first.current = false;
      return;
    }
    freshImage(path).then((d) => { setSrc(d); setFailed(false); }).catch(() => setFailed(true));
  }, [path, tick]);
  return failed ? html`<${Alert} kind="warn">${t('nodes.chart_failed')}<//>`
    : html`<img class="chart" id=${id} src=${src} alt=${alt} onError=${() => setFailed(true)} />`;
}

function chartPath(range, tz, node) {
  const n = node ? `&node=${encodeURIComponent(node)}` : '';
  return `/api/v1/reports/nodes/chart.svg?range=${range}${tz}${n}&width=760&height=320`;
}

function SilentBanner({ items }) {
  const silent = items.filter(down);
  const procs = items.filter((n) => !down(n)).flatMap((n) => stoppedProcs(n).map((p) => ({ ...p, node: n.node })));
  if (silent.length === 0 && procs.length === 0) return null;
  const link = (node) => html`<a href=${`#/nodes?node=${encodeURIComponent(node)}`}>${node}</a>`;
  return html`<div class="alert alert-error nodes-silent" role="alert" id="nodes-silent">
    ${silent.length ? html`<div><strong>${t('nodes.silent_banner', { n: silent.length })}</strong>
    ${' '}${silent.map((n, i) => html`${i ? ', ' : ''}${link(n.node)} (${n.silent ? silentFor(n.age_secs) : t('nodes.stopped_clean')})`)}</div>` : null}
    ${procs.length ? html`<div id="nodes-procs-stopped"><strong>${t('nodes.procs_banner', { n: procs.length })}</strong>
    ${' '}${procs.slice(0, 20).map((p, i) => html`${i ? ', ' : ''}${link(p.node)} ${p.role}${p.instance ? ` ${p.instance}` : ''} (${p.stopping ? t('nodes.stopped_clean') : silentFor(p.age_secs)})`)}</div>` : null}
  </div>`;
}

function Figures({ items }) {
  const silent = items.filter(down).length;
  const live = items.filter((n) => !down(n));
  // Nodes without samples (collector-only, alerter-only) have no figures.
  const cpus = live.map((n) => n.cpu_pct).filter((x) => x !== null && x !== undefined);
  const maxCpu = cpus.length ? Math.max(...cpus) : null;
  const withDisks = live.filter((n) => (n.disks || []).length);
  const maxDisk = withDisks.length ? Math.max(...withDisks.map((n) => (fullestDisk(n) || {}).used_pct || 0)) : null;
  const backlog = items.reduce((a, n) => a + ((n.backlog && n.backlog.queue_depth) || 0), 0);
  return html`<div class="stats" id="nodes-stats">
    <${Stat} id="stat-nodes" label=${t('nodes.stat_nodes')} value=${fmtNumber(items.length)}
      hint=${t('nodes.stat_nodes_hint', { n: fmtNumber(live.length) })} />
    <${Stat} id="stat-silent" label=${t('nodes.stat_silent')} value=${fmtNumber(silent)}
      tone=${silent ? 'bad' : 'good'} hint=${silent ? t('nodes.stat_silent_bad') : t('nodes.stat_silent_ok')} />
    <${Stat} id="stat-cpu" label=${t('nodes.stat_cpu')} value=${pct(maxCpu)} tone=${tone(maxCpu, 70, 90)}
      hint=${t('nodes.stat_cpu_hint')} />
    <${Stat} id="stat-disk" label=${t('nodes.stat_disk')} value=${pct(maxDisk)} tone=${tone(maxDisk, 80, 90)}
      hint=${t('nodes.stat_backlog', { n: fmtNumber(backlog) })} />
  </div>`;
}

function NodeTable({ items }) {
  const columns = [
    {
      key: 'node',
      label: t('nodes.col_node'),
      render: (n) => html`<a class="node-link strong" href=${`#/nodes?node=${encodeURIComponent(n.node)}`}
        data-node=${n.node}>${n.node}</a>`,
    },
    { key: 'roles', label: t('nodes.col_roles'), render: (n) => html`<${Names} names=${n.roles} cls="node-roles" />` },
    { key: 'groups', label: t('nodes.col_groups'), render: (n) => html`<${Names} names=${n.groups} cls="node-groups" />` },
    { key: 'state', label: t('nodes.col_state'), render: (n) => html`<${NodeState} n=${n} />` },
    { key: 'cpu', label: t('nodes.col_cpu'), render: (n) => html`<${Meter} value=${n.cpu_pct} warn=${70} bad=${90} />` },
    {
      key: 'mem',
      label: t('nodes.col_mem'),
      render: (n) => html`<${Meter} value=${n.mem_pct} warn=${80} bad=${92} />
        <div class="muted small">${fmtBytes(n.mem_used_bytes)} / ${fmtBytes(n.mem_total_bytes)}</div>`,
    },
    { key: 'rss', label: t('nodes.col_rss'), align: 'right', render: (n) => fmtBytes(n.rss_bytes) },
    {
      key: 'disk',
      label: t('nodes.col_disk'),
      render: (n) => {
        const d = fullestDisk(n);
        return d ? html`<${Meter} value=${d.used_pct} warn=${80} bad=${90} /><div class="muted small">${d.mount}</div>`
          : html`<span class="muted">—</span>`;
      },
    },
    { key: 'queue', label: t('nodes.col_backlog'), align: 'right', render: (n) => fmtNumber((n.backlog || {}).queue_depth ?? 0) },
    {
      key: 'seen',
      label: t('nodes.col_seen'),
      render: (n) => html`<span title=${fmtTime(n.last_seen)}>${ago(n.age_secs)}</span>`,
    },
  ];
  return html`<${Table} cards id="node-table" columns=${columns} rows=${items} pageSize=${25} empty=${t('nodes.none')} />`;
}

/**
 * One figure over the range as a small line (inline SVG: no style attributes, so the CSP
 * holds): x by bucket time across the report's window, y from 0 to `max` (or the peak).
 */
function Trend({ report, field, max, label, fmt, id }) {
  const rows = (report && report.rows) || [];
  const from = Date.parse(report && report.from);
  const to = Date.parse(report && report.to);
  const pts = rows.map((r) => [Date.parse(r.bucket), r[field]]).filter(([x, y]) => !Number.isNaN(x) && y !== null && y !== undefined);
  const top = max || Math.max(1, ...pts.map(([, y]) => y)) * 1.1;
  const span = Math.max(1, to - from);
  const W = 300;
  const H = 64;
  const xy = pts.map(([x, y]) => `${(((x - from) / span) * W).toFixed(1)},${(H - 2 - (y / top) * (H - 4)).toFixed(1)}`);
  const last = pts.length ? pts[pts.length - 1][1] : null;
  return html`<div class="trend" id=${id}>
    <div class="trend-head"><span class="stat-label">${label}</span><span class="trend-value">${last === null ? '—' : fmt(last)}</span></div>
    ${pts.length === 0 ? html`<div class="muted small trend-empty">${t('nodes.no_samples')}</div>`
      : html`<svg class="trend-line" viewBox=${`0 0 ${W} ${H}`} preserveAspectRatio="none" role="img" aria-label=${label}>
        <line class="trend-axis" x1="0" y1=${H - 1} x2=${W} y2=${H - 1} />
        ${pts.length === 1 ? html`<circle class="trend-dot" cx=${xy[0].split(',')[0]} cy=${xy[0].split(',')[1]} r="2.5" />`
          : html`<polyline class="trend-path" points=${xy.join(' ')} />`}
      </svg>`}
    <div class="muted small">${t('nodes.trend_hint')}</div>
  </div>`;
}

function Trends({ report }) {
  if (!report) return html`<${Loading} />`;
  return html`<div class="trends">
    <${Trend} id="trend-mem" report=${report} field="mem_used_max_bytes" label=${t('nodes.col_mem_max')} fmt=${fmtBytes}
      max=${Math.max(0, ...(report.rows || []).map((r) => r.mem_total_bytes || 0)) || undefined} />
    <${Trend} id="trend-rss" report=${report} field="rss_max_bytes" label=${t('nodes.col_rss_max')} fmt=${fmtBytes} />
    <${Trend} id="trend-disk" report=${report} field="disk_used_max_pct" label=${t('nodes.col_disk_max')} fmt=${pct} max=${100} />
  </div>`;
}

/** The report's buckets for one node, newest first: memory, RSS and the fullest disk. */
function Buckets({ report }) {
  if (!report) return html`<${Loading} />`;
  const rows = [...(report.rows || [])].reverse();
  const columns = [
    { key: 'bucket', label: t('nodes.col_time'), render: (r) => fmtTime(r.bucket, { dateStyle: 'short', timeStyle: 'short' }) },
    { key: 'cpu_avg_pct', label: t('nodes.col_cpu_avg'), align: 'right', render: (r) => pct(r.cpu_avg_pct) },
    { key: 'cpu_max_pct', label: t('nodes.col_cpu_max'), align: 'right', render: (r) => pct(r.cpu_max_pct) },
    { key: 'mem', label: t('nodes.col_mem_max'), align: 'right', render: (r) => fmtBytes(r.mem_used_max_bytes) },
    { key: 'rss', label: t('nodes.col_rss_max'), align: 'right', render: (r) => fmtBytes(r.rss_max_bytes) },
    { key: 'disk', label: t('nodes.col_disk_max'), align: 'right', render: (r) => pct(r.disk_used_max_pct) },
  ];
  return html`<${Table} id="node-buckets" columns=${columns} rows=${rows} pageSize=${12} empty=${t('nodes.no_samples')} />`;
}

function Detail({ name, feed, range, tz, tick, apis, canEdit }) {
  const node = feed.data && (feed.data.items || []).find((n) => n.node === name);
  const [report, setReport] = useState(null);
  const [err, setErr] = useState(null);
  useEffect(() => {
    let live = true;
    get(`/api/v1/reports/nodes?range=${range}${tz}&node=${encodeURIComponent(name)}`)
      .then((r) => { if (live) { setReport(r); setErr(null); } })
      .catch((e) => live && setErr(e));
    return () => { live = false; };
  }, [name, range, tick, tz]);
  const back = html`<a href="#/nodes" class="back-link" id="node-back">← ${t('nodes.back')}</a>`;
  if (feed.error) return html`${back}<${Alert}>${feed.error.message}<//>`;
  if (!feed.data) return html`<${Loading} />`;
  if (!node) {
    return html`<div id="node-detail">${back}<${Card}><${Empty} title=${t('nodes.unknown', { node: name })}
      hint=${t('nodes.unknown_hint')} /><//></div>`;
  }
  const d = fullestDisk(node);
  return html`<div id="node-detail" data-node=${node.node}>
    ${back}
    <div class="node-title">
      <h2>${node.node}</h2>
      <${NodeState} n=${node} />
      <span class="muted small">${t('nodes.col_roles')}</span> <${Names} names=${node.roles} cls="node-roles" />
      <span class="muted small">${t('nodes.col_groups')}</span> <${Names} names=${node.groups} cls="node-groups" />
      <span class="muted">${t('nodes.last_seen', { time: fmtTime(node.last_seen), ago: ago(node.age_secs) })}</span>
    </div>
    <div class="stats">
      <${Stat} label=${t('nodes.col_cpu')} value=${pct(node.cpu_pct)} tone=${tone(node.cpu_pct, 70, 90)} hint=${t('nodes.newest_sample')} />
      <${Stat} label=${t('nodes.col_mem')} value=${pct(node.mem_pct)} tone=${tone(node.mem_pct, 80, 92)}
        hint=${`${fmtBytes(node.mem_used_bytes)} / ${fmtBytes(node.mem_total_bytes)}`} />
      <${Stat} label=${t('nodes.col_rss')} value=${fmtBytes(node.rss_bytes)} hint=${t('nodes.rss_hint')} />
      <${Stat} label=${t('nodes.col_disk')} value=${d ? pct(d.used_pct) : '—'} tone=${d ? tone(d.used_pct, 80, 90) : undefined}
        hint=${d ? `${d.mount} · ${fmtBytes(d.used_bytes)} / ${fmtBytes(d.total_bytes)}` : t('nodes.no_disks')} />
    </div>
    <${Alert} id="node-report-error">${err && err.message}<//>
    <${Card} title=${t('nodes.chart_node', { node: node.node })} id="card-node-chart">
      <${Chart} key=${chartPath(range, tz, node.node)} path=${chartPath(range, tz, node.node)} tick=${tick} id="node-chart" alt=${t('nodes.chart_alt')} />
    <//>
    <${Card} title=${t('nodes.trends')} id="card-trends">
      <${Trends} report=${report} />
    <//>
    <div class="nodes-grid">
      <${Card} title=${t('nodes.disks')} id="card-disks">
        ${(node.disks || []).length === 0 ? html`<${Empty} title=${t('nodes.no_disks')} />`
          : html`<ul class="rows">${node.disks.map((x) => html`<li class="row" key=${x.mount}>
            <div class="row-main"><span class="row-title">${x.mount}</span></div>
            <div class="row-meta"><${Meter} value=${x.used_pct} warn=${80} bad=${90} />
              <span class="muted small">${fmtBytes(x.used_bytes)} / ${fmtBytes(x.total_bytes)}</span></div>
          </li>`)}</ul>`}
      <//>
      <${Card} title=${t('nodes.processes')} id="card-processes">
        <ul class="rows">${(node.processes || []).map((p) => html`<li class="row" key=${`${p.role} ${p.instance}`}>
          <div class="row-main"><span class="row-title">${p.role}</span> <${ProcState} p=${p} /></div>
          <div class="row-meta muted">${p.rss_bytes !== null && p.rss_bytes !== undefined
            ? t('nodes.process_meta', { rss: fmtBytes(p.rss_bytes), time: fmtTime(p.last_sample || p.last_seen, { dateStyle: 'short', timeStyle: 'medium' }) })
            : t('nodes.process_no_samples', { time: fmtTime(p.last_seen, { dateStyle: 'short', timeStyle: 'medium' }) })}</div>
        </li>`)}</ul>
        <div class="muted small backlog-line">${t('nodes.backlog_line', {
          queue: fmtNumber((node.backlog || {}).queue_depth ?? 0),
          spool: fmtBytes((node.backlog || {}).spool_bytes ?? 0),
          dropped: fmtNumber((node.backlog || {}).records_dropped ?? 0),
        })}</div>
      <//>
    </div>
    <${Card} title=${t('nodes.registry')} id="card-node-registry">
      <${ProcessTable} items=${[node]} apis=${apis} canEdit=${canEdit} id="node-process-table" />
    <//>
    <${Card} title=${t('nodes.buckets')} id="card-buckets">
      <${Buckets} report=${report} />
    <//>
  </div>`;
}

export default function NodesPage({ me }) {
  const [range, setRange] = useState('1h');
  const [tick, setTick] = useState(0);
  const [node, setNode] = useState(nodeOfHash());
  const [feed, setFeed] = useState({});
  const [updated, setUpdated] = useState(null);
  const [role, setRole] = useState('');
  const [group, setGroup] = useState('');
  // API names for the ids gateways report: only for users who may read the configuration
  // (else the ids are shown as they are).
  const [apis, setApis] = useState(null);
  const perms = new Set(me.permissions || []);
  const canEdit = perms.has('write_gateway_config');
  // Reports are in the site's zone unless the user has a zone of their own.
  const tz = me.timezone ? `&tz=${encodeURIComponent(me.timezone)}` : '';

  useEffect(() => {
    const onHash = () => setNode(nodeOfHash());
    window.addEventListener('hashchange', onHash);
    const id = setInterval(() => setTick((x) => x + 1), REFRESH_MS);
    return () => {
      window.removeEventListener('hashchange', onHash);
      clearInterval(id);
    };
  }, []);

  useEffect(() => {
    if (!perms.has('read_gateway_config')) return undefined;
    let live = true;
    get('/api/v1/apis?limit=1000')
      .then((d) => live && setApis(new Map((d.items || []).map((e) => [e.id, (e.body && e.body.name) || e.id]))))
      .catch(() => {});
    return () => { live = false; };
  }, [tick]);

  useEffect(() => {
    let live = true;
    // A week back, so a node silent for days is still listed (and stands out).
    get('/api/v1/nodes?hours=168')
      .then((d) => { if (live) { setFeed({ data: d }); setUpdated(new Date()); } })
      .catch((e) => live && setFeed((f) => ({ ...f, error: e })));
    return () => { live = false; };
  }, [tick]);

  const ranges = RANGES.map(([value, label]) => ({ value, label: label() }));
  const all = (feed.data && feed.data.items) || [];
  const items = all.filter((n) => (!role || (n.roles || []).includes(role)) && (!group || (n.groups || []).includes(group)));
  return html`<div class="page" data-page="nodes">
    <${PageHeader} title=${t('nodes.title')}
      subtitle=${updated ? t('nodes.updated', { time: fmtTime(updated, { timeStyle: 'medium' }), zone: zoneName() }) : t('nodes.subtitle')}
      actions=${html`<${Segmented} id="nodes-range" label=${t('nodes.range')} value=${range}
        options=${ranges} onChange=${setRange} />`} />
    ${node ? html`<${Detail} name=${node} feed=${feed} range=${range} tz=${tz} tick=${tick} apis=${apis} canEdit=${canEdit} />`
      : html`<div id="nodes-list">
        <${Alert} id="nodes-error">${feed.error && feed.error.message}<//>
        ${feed.data ? html`
          <${SilentBanner} items=${all} />
          <${Figures} items=${items} />
          <${Filters} items=${all} role=${role} group=${group} setRole=${setRole} setGroup=${setGroup} />
          <${Card} title=${t('nodes.all')} id="card-node-table" actions=${html`<span class="muted small">${t('nodes.click_hint')}</span>`}>
            ${items.length === 0 ? html`<${Empty} title=${t('nodes.none')} hint=${t('nodes.none_hint')} />`
              : html`<${NodeTable} items=${items} />`}
          <//>
          <${Card} title=${t('nodes.registry')} id="card-process-table" actions=${html`<span class="muted small">${t('nodes.registry_hint')}</span>`}>
            <${ProcessTable} items=${items} apis=${apis} canEdit=${canEdit} id="process-table" withNode />
          <//>
          <${Card} title=${t('nodes.chart_all')} id="card-nodes-chart">
            <${Chart} key=${chartPath(range, tz, null)} path=${chartPath(range, tz, null)} tick=${tick} id="nodes-chart" alt=${t('nodes.chart_alt')} />
          <//>` : !feed.error && html`<${Loading} />`}
      </div>`}
  </div>`;
}
