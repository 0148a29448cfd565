// The search as the hash holds it (`#/calls?client=acme&status=5xx`), and as the calls API
// takes it (`/api/v1/reports/calls?client=acme&status_class=5xx`). The hash keeps what the
// user chose, so a search is a link; custom times travel as RFC 3339 with the zone's offset,
// so the link means the same moment in any other zone.

/** Every filter the page offers, in the hash's order. */
export const KEYS = ['request_id', 'range', 'from', 'to', 'api', 'version', 'client', 'node', 'status',
  'outcome', 'method', 'path', 'min_latency_ms', 'finding', 'trace_id'];

export const RANGES = ['15m', '1h', '6h', '24h', '7d', 'custom'];
export const DEFAULT_RANGE = '1h';

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
export const isCallId = (s) => UUID.test((s || '').trim());

/** The filters in a hash's query text (after `?`); absent ones are ''. */
export function parse(text) {
  const q = new URLSearchParams(text || '');
  const f = {};
  for (const k of KEYS) f[k] = (q.get(k) || '').trim();
  if (!f.range) f.range = f.from || f.to ? 'custom' : DEFAULT_RANGE;
  return f;
}

/** The hash's query text of `f` (empty filters and the default range left out). */
export function toHash(f) {
  const q = new URLSearchParams();
  for (const k of KEYS) {
    const v = (f[k] || '').trim();
    if (!v) continue;
    if (k === 'range' && v === DEFAULT_RANGE) continue;
    if ((k === 'from' || k === 'to') && f.range !== 'custom') continue;
    q.set(k, v);
  }
  return q.toString();
}

/** Whether the status filter names classes (`5xx`, `4xx,5xx`) rather than one status. */
const isClass = (s) => /x/i.test(s);

/** The calls API's query pairs for `f`. */
export function toApi(f) {
  const q = new URLSearchParams();
  if (f.range === 'custom') {
    if (f.from) q.set('from', f.from);
    if (f.to) q.set('to', f.to);
    // The API needs both; it says so beside the missing one.
  } else {
    q.set('range', f.range || DEFAULT_RANGE);
  }
  const put = (k, v) => { if (v) q.set(k, v); };
  put('request_id', f.request_id);
  put('api', f.api);
  // One exact label (the API's `version` as each call recorded it).
  put('version', f.version);
  put('client', f.client);
  put('node', f.node);
  if (f.status) q.set(isClass(f.status) ? 'status_class' : 'status', f.status);
  put('outcome', f.outcome);
  put('method', f.method);
  put('path_contains', f.path);
  put('min_latency_ms', f.min_latency_ms);
  put('finding', f.finding);
  put('trace_id', f.trace_id);
  return q;
}

/** The page's field for the API's error `field`; null when it names none of them. */
export function fieldOf(apiField) {
  const map = { status_class: 'status', path_contains: 'path', call_id: 'request_id' };
  const f = map[apiField] || apiField;
  return KEYS.includes(f) ? f : null;
}

// ---- wall times in a zone ----

const pad = (n, w) => String(n).padStart(w || 2, '0');

/** Milliseconds the zone is ahead of UTC at `utcMs`. */
function offsetMs(utcMs, zone) {
  const parts = new Intl.DateTimeFormat('en-US', {
    timeZone: zone, hourCycle: 'h23', year: 'numeric', month: '2-digit', day: '2-digit',
    hour: '2-digit', minute: '2-digit', second: '2-digit',
  }).formatToParts(new Date(utcMs));
  const v = Object.fromEntries(parts.map((p) => [p.type, p.value]));
  const wall = Date.UTC(+v.year, +v.month - 1, +v.day, +v.hour % 24, +v.minute, +v.second);
  return wall - Math.floor(utcMs / 1000) * 1000;
}

/**
 * `2026-11-25 08:00` (a wall time in `zone`) as RFC 3339 with that zone's offset. Anything
 * else is sent as typed: RFC 3339 and Unix seconds are the API's own forms, and what is
 * neither gets the API's message beside the field.
 */
export function wallToIso(text, zone) {
  const s = (text || '').trim();
  const m = /^(\d{4})-(\d{2})-(\d{2})(?:[ T](\d{1,2}):(\d{2})(?::(\d{2}))?)?$/.exec(s);
  if (!m) return s;
  const [y, mo, d, h, mi, se] = [+m[1], +m[2], +m[3], +(m[4] || 0), +(m[5] || 0), +(m[6] || 0)];
  const wall = Date.UTC(y, mo - 1, d, h, mi, se);
  const check = new Date(wall);
  // 2026-02-31 is no date: let the API say so.
  if (check.getUTCMonth() !== mo - 1 || check.getUTCDate() !== d || h > 23) return s;
  let utc = wall - offsetMs(wall, zone);
  utc = wall - offsetMs(utc, zone);
  const off = Math.round(offsetMs(utc, zone) / 60000);
  const sign = off < 0 ? '-' : '+';
  const a = Math.abs(off);
  return `${y}-${pad(mo)}-${pad(d)}T${pad(h)}:${pad(mi)}:${pad(se)}${sign}${pad(Math.floor(a / 60))}:${pad(a % 60)}`;
}

/** An RFC 3339 time as `2026-11-25 08:00` in `zone`; other text as it is. */
export function isoToWall(text, zone) {
  if (!/^\d{4}-\d{2}-\d{2}T/.test(text || '')) return text || '';
  const t = new Date(text);
  if (Number.isNaN(t.getTime())) return text;
  const local = new Date(t.getTime() + offsetMs(t.getTime(), zone));
  const secs = local.getUTCSeconds() ? `:${pad(local.getUTCSeconds())}` : '';
  return `${local.getUTCFullYear()}-${pad(local.getUTCMonth() + 1)}-${pad(local.getUTCDate())} `
    + `${pad(local.getUTCHours())}:${pad(local.getUTCMinutes())}${secs}`;
}
