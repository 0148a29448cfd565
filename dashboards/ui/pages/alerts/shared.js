// What the alerts page's tabs share: the hash sub-route (`#/alerts?tab=rules&id=cpu-high`; the
// shell routes on the part before `?`), the names of rule kinds, scopes and states, units,
// durations, the API's field errors matched to the fields that show them, and times typed in
// the user's zone.
import { useState, useEffect } from '../../vendor/preact-htm.module.js';
import { t, fmtNumber, zoneName } from '../../i18n.js';

/** The `?a=b` part of the hash as an object. */
export function hashParams() {
  const q = location.hash.split('?')[1] || '';
  return Object.fromEntries(new URLSearchParams(q));
}

/** Goes to `#/alerts?…` (the shell keeps the page; the page follows the hash). */
export function go(params) {
  const q = new URLSearchParams(Object.entries(params).filter(([, v]) => v !== undefined && v !== null && v !== ''));
  const s = q.toString();
  location.hash = `#/alerts${s ? `?${s}` : ''}`;
}

/** The hash parameters, kept current. */
export function useHashParams() {
  const [p, setP] = useState(hashParams());
  useEffect(() => {
    const f = () => setP(hashParams());
    window.addEventListener('hashchange', f);
    return () => window.removeEventListener('hashchange', f);
  }, []);
  return p;
}

/** Rule kinds in the order the editor offers them, with their scope family. */
export const KINDS = [
  { value: 'node_cpu', family: 'nodes', label: () => t('alerts.kind_node_cpu') },
  { value: 'node_memory', family: 'nodes', label: () => t('alerts.kind_node_memory') },
  { value: 'process_memory', family: 'nodes', label: () => t('alerts.kind_process_memory') },
  { value: 'disk', family: 'nodes', label: () => t('alerts.kind_disk') },
  { value: 'node_silent', family: 'nodes', label: () => t('alerts.kind_node_silent') },
  { value: 'database', family: 'nodes', label: () => t('alerts.kind_database') },
  { value: 'backlog', family: 'nodes', label: () => t('alerts.kind_backlog') },
  { value: 'ingest_quarantine', family: 'nodes', label: () => t('alerts.kind_ingest_quarantine') },
  { value: 'api_error_rate', family: 'calls', label: () => t('alerts.kind_api_error_rate') },
  { value: 'api_latency', family: 'calls', label: () => t('alerts.kind_api_latency') },
  { value: 'traffic_drop', family: 'calls', label: () => t('alerts.kind_traffic_drop') },
];

export function kindLabel(type) {
  const k = KINDS.find((x) => x.value === type);
  return k ? k.label() : type;
}

/** The unit of a rule kind's value (model's `RuleKind::unit`). */
export function unitOf(kind) {
  if (!kind) return '';
  switch (kind.type) {
    case 'node_cpu': case 'node_memory': case 'disk': case 'api_error_rate': case 'traffic_drop':
      return '%';
    case 'process_memory': return kind.unit === 'percent' ? '%' : 'MB';
    case 'database': return kind.check === 'connect_ms' ? 'ms' : '';
    case 'node_silent': return 's';
    case 'api_latency': return 'ms';
    case 'backlog': return kind.measure === 'spool_mb' ? 'MB' : '';
    default: return '';
  }
}

/** The alerter's own database probe: no scope. */
export const isProbe = (kind) => kind && kind.type === 'database' && kind.check !== 'gateway_spool';

/** The collectors' quarantine: one value for the site, no scope. */
export const isSiteWide = (kind) => isProbe(kind) || (kind && kind.type === 'ingest_quarantine');

/** A value with its unit (`95 %`, `250 ms`). */
export function withUnit(v, unit) {
  if (v === null || v === undefined) return '—';
  const n = fmtNumber(v, { maximumFractionDigits: 2 });
  return unit ? `${n} ${unit}` : n;
}

/** A rule's scope as a line of text. */
export function scopeText(kind, scope) {
  if (isProbe(kind)) return t('alerts.scope_probe');
  if (kind && kind.type === 'ingest_quarantine') return t('alerts.scope_site');
  if (!scope || scope === 'all_nodes') return (KINDS.find((k) => k.value === (kind && kind.type)) || {}).family === 'calls'
    ? t('alerts.scope_all_apis') : t('alerts.scope_all_nodes');
  if (scope === 'all_apis') return t('alerts.scope_all_apis');
  if (scope.nodes) return t('alerts.scope_nodes_list', { nodes: scope.nodes.join(', ') });
  if (scope.api) return t('alerts.scope_api_one', { api: scope.api });
  if (scope.client) return t('alerts.scope_client_one', { client: scope.client });
  return '';
}

/** An active alert's or event's scope parts (node, mount, api, client) as text. */
export function scopeParts(scope) {
  const s = scope || {};
  const parts = [];
  if (s.node) parts.push(s.node);
  if (s.mount) parts.push(s.mount);
  if (s.api) parts.push(t('alerts.scope_api_one', { api: s.api }));
  if (s.client) parts.push(t('alerts.scope_client_one', { client: s.client }));
  return parts.length ? parts.join(' · ') : t('alerts.scope_probe');
}

/** `45 s`, `3 min`, `1 h 30 min` in the user's language. */
export function duration(secs) {
  const n = Number(secs);
  if (!Number.isFinite(n) || n < 0) return '—';
  if (n === 0) return t('alerts.dur_zero');
  const h = Math.floor(n / 3600);
  const m = Math.floor((n % 3600) / 60);
  const s = Math.floor(n % 60);
  const out = [];
  if (h) out.push(t('alerts.dur_h', { n: h }));
  if (m) out.push(t('alerts.dur_min', { n: m }));
  if (s) out.push(t('alerts.dur_s', { n: s }));
  return out.join(' ');
}

export const ROLES = ['admin', 'ops', 'manager', 'support'];

/**
 * Whether the API's error `err` belongs to the field at `path`: the path itself, or an item or
 * part under it (`recipients.emails[1]` belongs to `recipients.emails`).
 */
export function errorAt(err, path) {
  if (!err || err.field === null || err.field === undefined) return null;
  const f = err.field;
  if (f === path || f.startsWith(`${path}[`) || f.startsWith(`${path}.`)) return err.message;
  return null;
}

/** The error for the first of `paths` it belongs to; `claimed` collects the paths shown. */
export function fieldErrors(err) {
  const claimed = [];
  const at = (...paths) => {
    for (const p of paths) {
      const m = errorAt(err, p);
      if (m) {
        claimed.push(p);
        return m;
      }
    }
    return null;
  };
  return { at, shownBeside: () => claimed.length > 0 };
}

/** Lines of a text area, trimmed, empty ones dropped. */
export const lines = (s) => (s || '').split(/[\n,]/).map((x) => x.trim()).filter(Boolean);

/** A number typed in a field: a number when it reads as one, else the text (so the API names
 *  the field), absent when empty. */
export function numOrText(s) {
  const v = String(s ?? '').trim();
  if (v === '') return undefined;
  const n = Number(v);
  return Number.isFinite(n) ? n : v;
}

/** The offset (ms) of `zone` from UTC at instant `ms`. */
function zoneOffset(ms, zone) {
  const parts = new Intl.DateTimeFormat('en-US', {
    timeZone: zone, hourCycle: 'h23', year: 'numeric', month: '2-digit', day: '2-digit',
    hour: '2-digit', minute: '2-digit', second: '2-digit',
  }).formatToParts(new Date(ms));
  const v = Object.fromEntries(parts.map((p) => [p.type, p.value]));
  const asUtc = Date.UTC(+v.year, +v.month - 1, +v.day, +v.hour % 24, +v.minute, +v.second);
  return asUtc - Math.floor(ms / 1000) * 1000;
}

/** `2026-11-26T09:30` typed in the user's zone → RFC 3339 UTC; null when not a time. */
export function zonedToUtc(local) {
  if (!/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}$/.test(local || '')) return null;
  const [d, hm] = local.split('T');
  const [y, mo, da] = d.split('-').map(Number);
  const [h, mi] = hm.split(':').map(Number);
  const guess = Date.UTC(y, mo - 1, da, h, mi);
  const zone = zoneName();
  let ms = guess - zoneOffset(guess, zone);
  ms = guess - zoneOffset(ms, zone);
  return new Date(ms).toISOString();
}

/** An instant as `YYYY-MM-DDTHH:MM` in the user's zone (for datetime-local inputs). */
export function utcToZoned(value) {
  const d = value instanceof Date ? value : new Date(value);
  if (Number.isNaN(d.getTime())) return '';
  const ms = d.getTime() + zoneOffset(d.getTime(), zoneName());
  return new Date(ms).toISOString().slice(0, 16);
}

/** The list of a kind (`/api/v1/alert-rules`…), every page. */
export async function listAll(get, path) {
  let items = [];
  let cursor = '';
  for (let i = 0; i < 20; i += 1) {
    const page = await get(`${path}?limit=1000${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ''}`);
    items = items.concat(page.items || []);
    if (!page.next_cursor) break;
    cursor = page.next_cursor;
  }
  return items;
}

/** A test-send's answer: one row per recipient. */
export function resultRows(answer) {
  return (answer && answer.results) || [];
}

/** The API's error for a list typed one item per line (`matchers[1]`) as "Entry 2: …". */
export function lineErrorAt(err, field) {
  const message = errorAt(err, field);
  if (!message) return null;
  const m = new RegExp(`^${field.replace(/[.[\]]/g, '\\$&')}\\[(\\d+)\\]`).exec(err.field);
  return m ? t('routing.line_error', { n: Number(m[1]) + 1, message }) : message;
}

/** Matchers typed one per line (`severity=critical`, `kind=~"node_.*"`). */
export const matcherLines = (s) => (s || '').split('\n').map((x) => x.trim()).filter(Boolean);
