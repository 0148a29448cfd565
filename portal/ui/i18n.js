// Texts only through the catalogues (i18n/en.json, i18n/zh-TW.json). Keys are string literals
// in calls of t: a unit test (portal/src/ui.rs) scans for them and checks both catalogues.
// The language: ?lang=en|zh-TW in the address (remembered), else the remembered one, else the
// browser's (zh-* → zh-TW), else English.

export const LANGS = ['en', 'zh-TW'];
const STORE_KEY = 'gatewatch.portal.lang';

export let lang = 'en';
let messages = {};

function remembered() {
  try { return localStorage.getItem(STORE_KEY); } catch { return null; }
}

function remember(l) {
  try { localStorage.setItem(STORE_KEY, l); } catch { /* private mode */ }
}

export function initialLang() {
  const asked = new URLSearchParams(location.search).get('lang');
  if (LANGS.includes(asked)) { remember(asked); return asked; }
  const kept = remembered();
  if (LANGS.includes(kept)) return kept;
  const nav = (navigator.languages || [navigator.language || 'en']).map((l) => String(l).toLowerCase());
  return nav.some((l) => l.startsWith('zh')) ? 'zh-TW' : 'en';
}

export async function setLang(l) {
  const r = await fetch(`/ui/i18n/${l}.json`, { credentials: 'same-origin' });
  if (!r.ok) throw new Error(`catalogue ${l}: ${r.status}`);
  messages = await r.json();
  lang = l;
  remember(l);
  document.documentElement.lang = l;
}

export function t(key, vars) {
  let s = messages[key] ?? key;
  if (vars) for (const [k, v] of Object.entries(vars)) s = s.replaceAll(`{${k}}`, String(v));
  return s;
}

export function fmtDate(iso) {
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return iso;
  return new Intl.DateTimeFormat(lang, { dateStyle: 'medium' }).format(d);
}
