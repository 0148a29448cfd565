// When a rule's windows are open next: the coming 14 days, hour by hour, asked of
// POST /api/v1/alert-rules/windows/check (the alerter's own reading of the windows, in the
// rule's zone or a window's `location`), drawn as a grid of days × hours in the user's zone,
// with the next opening and closing. Errors name the window's field, as a save would.
import { html, useState, useEffect } from '../../vendor/preact-htm.module.js';
import { post } from '../../api.js';
import { t, fmtTime, zoneName } from '../../i18n.js';
import { Alert } from '../../components.js';

const HOUR = 3600 * 1000;
const DAYS = 14;

/** The instants checked: every hour from the current one, 14 days long. */
export function hours(now) {
  const start = Math.floor(now / HOUR) * HOUR;
  return Array.from({ length: DAYS * 24 }, (_, i) => new Date(start + i * HOUR).toISOString());
}

/** The first instant at which `active` turns to `want` (after index 0), or null. */
export function nextChange(at, active, want) {
  for (let i = 1; i < active.length; i += 1) {
    if (active[i] === want && active[i - 1] !== want) return at[i];
  }
  return null;
}

export function WindowPreview({ windows, timezone }) {
  const [answer, setAnswer] = useState(null);
  const [err, setErr] = useState(null);
  const key = JSON.stringify([windows, timezone]);
  useEffect(() => {
    let live = true;
    if (!windows.length) { setAnswer(null); setErr(null); return undefined; }
    // Asked a moment after the last keystroke, not on each.
    const timer = setTimeout(async () => {
      const at = hours(Date.now());
      const body = { windows, at };
      if (timezone) body.timezone = timezone;
      try {
        const r = await post('/api/v1/alert-rules/windows/check', body);
        if (live) { setAnswer({ at, active: r.active }); setErr(null); }
      } catch (e) {
        if (live) { setAnswer(null); setErr(e); }
      }
    }, 400);
    return () => { live = false; clearTimeout(timer); };
  }, [key]);
  if (!windows.length) return null;
  if (err) return html`<${Alert} id="window-preview-error">${err.field ? `${err.field}: ${err.message}` : err.message}<//>`;
  if (!answer) return null;
  const { at, active } = answer;
  const when = (v) => fmtTime(v, { weekday: 'short', month: 'short', day: 'numeric', hour: '2-digit', minute: '2-digit' });
  const opens = nextChange(at, active, true);
  const closes = nextChange(at, active, false);
  let line;
  if (active[0]) line = closes ? t('windows.open_now_until', { time: when(closes) }) : t('windows.open_all');
  else line = opens ? t('windows.next_open', { time: when(opens) }) : t('windows.closed_all');
  const rows = Array.from({ length: DAYS }, (_, d) => at.slice(d * 24, d * 24 + 24).map((x, h) => [x, active[d * 24 + h]]));
  return html`<div class="window-preview" id="window-preview">
    <div class="strong" id="window-preview-line">${line}</div>
    <div class="window-grid" role="img" aria-label=${t('windows.grid_label')}>
      ${rows.map((cells) => html`<div class="window-grid-row">
        <span class="window-grid-day small muted">${fmtTime(cells[0][0], { weekday: 'short', month: 'numeric', day: 'numeric', hour: '2-digit' })}</span>
        ${cells.map(([x, on]) => html`<span class=${on ? 'wcell on' : 'wcell'} title=${when(x)}></span>`)}
      </div>`)}
    </div>
    <div class="muted small">${t('windows.grid_hint', { zone: zoneName() })}</div>
  </div>`;
}
