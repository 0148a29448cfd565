// Texts only through the message catalogues (i18n/en.json, i18n/zh-TW.json), and times and
// numbers through Intl in the user's language and zone. Keys are always string literals in
// calls of t: a unit test (dashboards/src/ui.rs) scans for them and checks both catalogues.

export const LANGS = ['en', 'zh-TW'];
const STORE_KEY = 'gatewatch.lang';

let current = 'en';
let zone;
let messages = {};
let fallback = {};

async function catalogue(lang) {
  const r = await fetch(`/ui/i18n/${lang}.json`, { credentials: 'same-origin' });
  if (!r.ok) throw new Error(`catalogue ${lang}: ${r.status}`);
  return r.json();
}

/** The language to start with before anyone is logged in: the last choice here, else the browser's. */
export function initialLang() {
  const saved = localStorage.getItem(STORE_KEY);
  if (LANGS.includes(saved)) return saved;
  const nav = (navigator.language || 'en').toLowerCase();
  return nav.startsWith('zh') ? 'zh-TW' : 'en';
}

/** Loads a catalogue and makes it current. */
export async function setLang(lang) {
  if (!LANGS.includes(lang)) lang = 'en';
  if (!fallback.__loaded) fallback = Object.assign(await catalogue('en'), { __loaded: true });
  messages = lang === 'en' ? fallback : await catalogue(lang);
  current = lang;
  document.documentElement.lang = lang;
}

/** Keeps the choice for this browser's next visit (the login page comes before the user's
 *  stored `lang` is known); the app also stores it for the user (PUT /api/v1/me/preferences). */
export function rememberLang(lang) {
  localStorage.setItem(STORE_KEY, lang);
}

export const lang = () => current;

/** The user's time zone (from GET /api/v1/me: theirs, else the site's; else the browser's). */
export function setZone(tz) {
  zone = tz || undefined;
}

/** The text of `key`, with `{name}` placeholders filled from `vars`. */
export function t(key, vars) {
  let s = messages[key] ?? fallback[key] ?? key;
  if (vars) s = s.replace(/\{(\w+)\}/g, (m, k) => (k in vars ? String(vars[k]) : m));
  return s;
}

/** The zone times are shown in (an IANA name). */
export const zoneName = () => zone || Intl.DateTimeFormat().resolvedOptions().timeZone;

export function fmtTime(value, opts) {
  const d = value instanceof Date ? value : new Date(value);
  if (Number.isNaN(d.getTime())) return '—';
  return new Intl.DateTimeFormat(current, {
    timeZone: zone,
    ...(opts || { dateStyle: 'medium', timeStyle: 'medium' }),
  }).format(d);
}

export function fmtNumber(n, opts) {
  if (n === null || n === undefined || Number.isNaN(n)) return '—';
  return new Intl.NumberFormat(current, opts).format(n);
}
