// The shell: who is logged in (GET /api/v1/me), the login page when nobody is, the navigation
// built from the user's permissions (nav.js), the language switch, logout, and the hash router
// (`#/overview`): the server has no page routes.
import { html, render, useState, useEffect } from './vendor/preact-htm.module.js';
import { get, post, api, setCsrf, onSessionExpired } from './api.js';
import { t, setLang, initialLang, rememberLang, setZone, lang, LANGS } from './i18n.js';
import { visiblePages, ACCOUNT_PAGES, PAGES, roleName } from './nav.js';
import { Toasts, Segmented, Empty, Loading, toast } from './components.js';
import { LoginPage } from './pages/login.js';
import { Placeholder } from './pages/placeholder.js';

// Anything the CSP blocks is a bug of ours (an inline style, a foreign URL): say so in the
// console, and keep a list the browser tests check stays empty.
window.gwCspViolations = [];
document.addEventListener('securitypolicyviolation', (e) => {
  const v = `${e.violatedDirective} ${e.blockedURI || 'inline'}`;
  window.gwCspViolations.push(v);
  console.warn('blocked by the CSP:', v);
});

// The page is the hash's first segment; its own path and query follow (`#/calls/<id>`,
// `#/reports/latency?range=7d`) and the page reads them.
const currentRoute = () => location.hash.replace(/^#\/?/, '').split(/[?/]/)[0] || 'overview';

export function LangSwitch({ onChange }) {
  return html`<${Segmented} id="lang-switch" label=${t('lang.label')} value=${lang()}
    options=${LANGS.map((l) => ({ value: l, label: l === 'en' ? 'English' : '中文' }))}
    onChange=${onChange} />`;
}

const loaded = new Map();
// Whether a session was open here: a 401 then means it ended (say so on the login page);
// the first GET /api/v1/me of a visit answering 401 only means nobody is logged in.
let sessionOpen = false;

/** A page module imported on first show; its default export is the page. */
function Lazy({ entry, me }) {
  const [mod, setMod] = useState(loaded.get(entry.id));
  useEffect(() => {
    if (!mod) entry.load().then((m) => { loaded.set(entry.id, m); setMod(m); });
  }, [entry.id]);
  if (!mod) return html`<${Loading} />`;
  const Page = mod.default;
  return html`<${Page} me=${me} />`;
}

function Page({ route, me, pages }) {
  const entry = pages.find((p) => p.id === route) || ACCOUNT_PAGES.find((p) => p.id === route);
  if (entry) {
    return entry.load ? html`<${Lazy} key=${entry.id} entry=${entry} me=${me} />`
      : html`<${Placeholder} page=${entry} />`;
  }
  const hidden = PAGES.some((p) => p.id === route);
  return html`<div class="page"><${Empty} title=${hidden ? t('page.forbidden') : t('page.not_found')}
    hint=${t('page.go_overview')}><a class="btn btn-secondary" href="#/overview">${t('nav.overview')}</a><//></div>`;
}

/** The help menu in the header: "?" opens it; its links open in a new tab (the API reference
 *  is its own page, /api/docs, public like the document it renders). */
function HelpMenu() {
  const [open, setOpen] = useState(false);
  useEffect(() => {
    if (!open) return undefined;
    const close = (e) => {
      if (e.type === 'keydown' ? e.key === 'Escape' : !e.target.closest('.help')) setOpen(false);
    };
    document.addEventListener('click', close);
    document.addEventListener('keydown', close);
    return () => {
      document.removeEventListener('click', close);
      document.removeEventListener('keydown', close);
    };
  }, [open]);
  return html`<div class="help">
    <button type="button" class="help-toggle" id="help-toggle" aria-haspopup="true"
      aria-expanded=${open ? 'true' : 'false'} aria-controls="help-menu" aria-label=${t('help.menu')}
      title=${t('help.label')} onClick=${() => setOpen(!open)}>?</button>
    ${open && html`<div class="help-menu" id="help-menu" role="menu" aria-label=${t('help.label')}>
      <a role="menuitem" id="help-api" href="/api/docs" target="_blank" rel="noopener"
        title=${t('help.new_tab')} onClick=${() => setOpen(false)}>${t('help.api_reference')} <span aria-hidden="true">↗</span></a>
    </div>`}
  </div>`;
}

function Shell({ me, route, onLogout, onLang }) {
  const pages = visiblePages(me.permissions);
  const [open, setOpen] = useState(false);
  useEffect(() => setOpen(false), [route]);
  const initial = (me.display_name || me.user).slice(0, 1).toUpperCase();
  const entry = pages.find((p) => p.id === route) || ACCOUNT_PAGES.find((p) => p.id === route);
  useEffect(() => {
    document.title = entry ? `${entry.label()} · gatewatch` : 'gatewatch';
  });
  return html`<div class="shell">
    <aside class=${open ? 'sidebar open' : 'sidebar'}>
      <div class="sidebar-top">
        <a class="brand" href="#/overview"><img src="/ui/favicon.svg" alt="" width="24" height="24" />gatewatch</a>
        <div class="top-tools">
          <${HelpMenu} />
          <button type="button" class="menu-toggle" aria-expanded=${open ? 'true' : 'false'}
            aria-controls="nav" onClick=${() => setOpen(!open)}>${t('nav.menu')}</button>
        </div>
      </div>
      <nav id="nav" aria-label=${t('nav.label')}>
        ${pages.map((p) => html`<a href=${`#/${p.id}`} data-page=${p.id}
          class=${route === p.id ? 'on' : ''} aria-current=${route === p.id ? 'page' : undefined}>${p.label()}</a>`)}
      </nav>
      <div class="sidebar-foot">
        <div class="user">
          <div class="avatar" aria-hidden="true">${initial}</div>
          <div class="user-text">
            <div class="user-name" id="user-name">${me.display_name || me.user}</div>
            <div class="muted" id="user-role">${roleName(me.role)}</div>
          </div>
        </div>
        <${LangSwitch} onChange=${onLang} />
        <div class="foot-links">
          <a href="#/password" data-page="password" class=${route === 'password' ? 'on' : ''}>${t('nav.password')}</a>
          <button type="button" class="link" id="logout" onClick=${onLogout}>${t('nav.logout')}</button>
        </div>
      </div>
    </aside>
    <main class="content" id="main">
      <${Page} route=${route} me=${me} pages=${pages} />
    </main>
  </div>`;
}

function App() {
  // undefined while asking who is logged in; null when nobody is.
  const [me, setMe] = useState(undefined);
  const [notice, setNotice] = useState(null);
  const [route, setRoute] = useState(currentRoute());
  const [, setTick] = useState(0);

  const loggedIn = async (info) => {
    setCsrf(info.csrf_token);
    sessionOpen = true;
    setZone(info.timezone || info.site_timezone);
    // The user's stored language wins when the API has one for them.
    if (LANGS.includes(info.lang) && info.lang !== lang()) await setLang(info.lang);
    setNotice(null);
    setMe(info);
  };

  useEffect(() => {
    const onHash = () => setRoute(currentRoute());
    window.addEventListener('hashchange', onHash);
    onSessionExpired(() => {
      setCsrf(null);
      if (sessionOpen) setNotice(t('login.expired'));
      sessionOpen = false;
      setMe(null);
    });
    get('/api/v1/me').then(loggedIn).catch(() => setMe(null));
    return () => window.removeEventListener('hashchange', onHash);
  }, []);

  const switchLang = async (l) => {
    await setLang(l);
    rememberLang(l);
    setTick((x) => x + 1);
    if (!me) return;
    // Stored for the user, so it follows them to other browsers.
    try {
      const info = await api('PUT', '/api/v1/me/preferences', { lang: l, timezone: me.timezone ?? null });
      if (info) setMe({ ...me, ...info, csrf_token: undefined });
    } catch (e) {
      if (e.status !== 401) toast(t('prefs.failed', { message: e.message }), 'error');
    }
  };

  const logout = async () => {
    try {
      await post('/api/v1/logout');
    } catch (e) {
      // Already ended: the login page is where we go anyway.
    }
    setCsrf(null);
    sessionOpen = false;
    setNotice(null);
    setMe(null);
    location.hash = '#/overview';
    toast(t('login.logged_out'), 'info');
  };

  let body;
  if (me === undefined) body = html`<div class="boot">gatewatch</div>`;
  else if (me === null) {
    body = html`<${LoginPage} notice=${notice} onLoggedIn=${loggedIn}
      langSwitch=${html`<${LangSwitch} onChange=${switchLang} />`} />`;
  } else body = html`<${Shell} me=${me} route=${route} onLogout=${logout} onLang=${switchLang} />`;
  return html`${body}<${Toasts} />`;
}

await setLang(initialLang());
render(html`<${App} />`, document.getElementById('app'));
