// The shell: picks the language, then the page from the address — `/` is the catalogue
// (catalogue.js), `/apis/{id}` one API (api_page.js). Links between them are plain links; the
// server answers both addresses (404 for an API that is not published).
import { html, render, useState } from './vendor/preact-htm.module.js';
import { t, setLang, initialLang, lang, LANGS } from './i18n.js';
import { Catalogue } from './catalogue.js';
import { ApiPage } from './api_page.js';

// Anything the CSP blocks is a bug of ours: the browser tests check this list stays empty.
window.gwCspViolations = [];
document.addEventListener('securitypolicyviolation', (e) => {
  window.gwCspViolations.push(`${e.violatedDirective} ${e.blockedURI || 'inline'}`);
});

function LangSwitch({ onChange }) {
  return html`<div class="langs" role="group" aria-label=${t('lang.label')}>
    ${LANGS.map((l) => html`<button type="button" class=${l === lang ? 'on' : ''}
      aria-pressed=${l === lang} data-lang=${l}
      onClick=${async () => { await setLang(l); onChange(l); }}>${t(`lang.${l}`)}</button>`)}
  </div>`;
}

function Shell() {
  const [, setShown] = useState(lang);
  const path = location.pathname;
  const m = path.match(/^\/apis\/([^/]+)$/);
  let id = null;
  if (m) {
    try { id = decodeURIComponent(m[1]); } catch { id = m[1]; }
  }
  document.title = t('site.title');
  return html`
    <header class="top">
      <a class="brand" href="/">${t('site.title')}</a>
      <${LangSwitch} onChange=${setShown} />
    </header>
    <main class="page">
      ${id === null ? html`<${Catalogue} />` : html`<${ApiPage} id=${id} />`}
    </main>
    <footer class="foot muted">${t('site.footer')}</footer>`;
}

async function start() {
  try {
    await setLang(initialLang());
  } catch {
    await setLang('en');
  }
  const root = document.getElementById('app');
  root.textContent = ''; // the boot line goes: Preact keeps what it did not render
  render(html`<${Shell} />`, root);
}

start();
