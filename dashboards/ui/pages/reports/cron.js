// Cron strings in words ("Mondays at 08:00"), for the shapes people write; anything else is
// shown as it is. The server checks the cron (croner, as the scheduler parses it).
import { t, lang } from '../../i18n.js';

export const PRESETS = [
  { value: '0 8 * * *', label: () => t('reports.cron_preset_daily') },
  { value: '0 8 * * 1', label: () => t('reports.cron_preset_weekly') },
  { value: '0 8 1 * *', label: () => t('reports.cron_preset_monthly') },
];

const num = (s, max) => /^\d{1,2}$/.test(s) && Number(s) <= max;
const two = (n) => String(n).padStart(2, '0');

/** The weekday's name in the user's language (0 and 7 are Sunday). */
function weekday(d) {
  // 5 January 2025 was a Sunday.
  const day = new Date(Date.UTC(2025, 0, 5 + (Number(d) % 7)));
  return new Intl.DateTimeFormat(lang(), { weekday: 'long', timeZone: 'UTC' }).format(day);
}

/** `cron` in words, or null when it is not one of the usual shapes. */
export function cronWords(cron) {
  const f = (cron || '').trim().split(/\s+/);
  if (f.length === 6) f.shift();
  if (f.length !== 5) return null;
  const [m, h, dom, mon, dow] = f;
  if (mon !== '*') return null;
  const step = /^\*\/(\d+)$/.exec(m);
  if (step && h === '*' && dom === '*' && dow === '*') return t('reports.cron_every_minutes', { n: step[1] });
  if (num(m, 59) && h === '*' && dom === '*' && dow === '*') return t('reports.cron_hourly', { minute: two(m) });
  if (!num(m, 59) || !num(h, 23)) return null;
  const time = `${two(h)}:${two(m)}`;
  if (dom === '*' && dow === '*') return t('reports.cron_daily', { time });
  if (dom === '*' && dow === '1-5') return t('reports.cron_weekdays', { time });
  if (dom === '*' && /^[0-7](,[0-7])*$/.test(dow)) {
    const sep = lang() === 'zh-TW' ? '、' : ', ';
    return t('reports.cron_weekly', { days: dow.split(',').map(weekday).join(sep), time });
  }
  if (num(dom, 31) && dow === '*') return t('reports.cron_monthly', { day: Number(dom), time });
  return null;
}
