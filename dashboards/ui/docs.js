// The API reference at /api/docs (public, like the document): /api/openapi.json rendered for
// people. Operations grouped by tag (else by path prefix), each opened in place and anchored
// at `#op-<method>-<path>` so it can be linked; a filter over method, path and texts; the
// security schemes; every component schema. Our own page rather than a vendored renderer:
// those need inline styles, eval or blob: workers (the CSP forbids them) and weigh hundreds
// of kilobytes in the binary; this is plain ES modules over the UI's Preact + htm.
import { html, render, useState, useEffect, useMemo } from './vendor/preact-htm.module.js';
import { t, setLang, initialLang, rememberLang, lang, LANGS } from './i18n.js';
import { Segmented, Alert, Loading, Empty } from './components.js';
import { operations, groups, matches, slug, deref } from './docs/spec.js';
import { Operation, Method, PathText } from './docs/operation.js';
import { Prose, SchemaNode } from './docs/schema.js';

const DOC_URL = '/api/openapi.json';

/** The anchor in the address, without `#`. */
const anchor = () => decodeURIComponent(location.hash.replace(/^#/, ''));

function scrollToAnchor() {
  const id = anchor();
  if (!id) return;
  // After the render that opened it.
  requestAnimationFrame(() => {
    const el = document.getElementById(id);
    if (el) el.scrollIntoView({ block: 'start' });
  });
}

function LangSwitch({ onChange }) {
  return html`<${Segmented} id="lang-switch" label=${t('lang.label')} value=${lang()}
    options=${LANGS.map((l) => ({ value: l, label: l === 'en' ? 'English' : '中文' }))}
    onChange=${onChange} />`;
}

/** How to authenticate: each security scheme of the document, with gatewatch's way of getting
 *  it (a session cookie and its CSRF header; a bearer token from POST /api/v1/me/tokens). */
function Auth({ doc, ops }) {
  const schemes = Object.entries((doc.components && doc.components.securitySchemes) || {});
  if (!schemes.length) return null;
  const link = (method, path) => {
    const o = ops.find((x) => x.method === method && x.path === path);
    return o && html`<a href=${`#${o.id}`} class="op-ref"><${Method} method=${method} /> <code>${path}</code></a>`;
  };
  return html`<section class="card docs-auth" id="authentication">
    <div class="card-head"><h2>${t('docs.authentication')}</h2></div>
    <div class="card-body">
      ${schemes.map(([name, raw]) => {
        const s = deref(doc, raw);
        let what = s.type;
        if (s.type === 'apiKey') what = t('docs.scheme_api_key', { name: s.name, where: s.in });
        else if (s.type === 'http') what = t('docs.scheme_http', { scheme: s.scheme });
        return html`<div class="scheme-row" id=${`auth-${slug(name)}`} data-scheme=${name}>
          <div><code class="sch-name">${name}</code> <span class="muted">${what}</span></div>
          <${Prose} text=${s.description} />
          ${s.type === 'apiKey' && s.in === 'cookie' && html`<p>${t('docs.auth_cookie')} ${link('post', '/api/v1/login')}</p>`}
          ${s.type === 'http' && String(s.scheme).toLowerCase() === 'bearer' && html`<p>${t('docs.auth_bearer')} ${link('post', '/api/v1/me/tokens')}</p>`}
        </div>`;
      })}
    </div>
  </section>`;
}

/** Every schema of `components.schemas`, each anchored at `#schema-<name>`. */
function Schemas({ doc, query }) {
  const all = Object.entries((doc.components && doc.components.schemas) || {});
  const words = query.toLowerCase().split(/\s+/).filter(Boolean);
  const shown = all.filter(([name]) => words.every((w) => name.toLowerCase().includes(w)));
  if (!shown.length) return null;
  return html`<section class="docs-group" id="schemas">
    <h2 class="group-title">${t('docs.schemas')} <span class="muted small">${shown.length}</span></h2>
    <div class="card schema-list">
      ${shown.map(([name]) => html`<div class="schema-entry" id=${`schema-${slug(name)}`} key=${name}>
        <${SchemaNode} doc=${doc} open=${anchor() === `schema-${slug(name)}`}
          schema=${{ $ref: `#/components/schemas/${name.replace(/~/g, '~0').replace(/\//g, '~1')}` }} />
      </div>`)}
    </div>
  </section>`;
}

/** The page for a document (exported for the browser test, which renders other documents). */
export function Reference({ doc, onLang }) {
  const ops = useMemo(() => operations(doc), [doc]);
  // operationId → anchor, for responses' links.
  const opIds = useMemo(() => new Map(ops.filter((o) => o.op.operationId).map((o) => [o.op.operationId, o.id])), [ops]);
  const [query, setQuery] = useState('');
  const [open, setOpen] = useState(() => new Set([anchor()]));
  useEffect(() => {
    const onHash = () => {
      const id = anchor();
      if (id.startsWith('op-')) setOpen((s) => new Set(s).add(id));
      scrollToAnchor();
    };
    window.addEventListener('hashchange', onHash);
    scrollToAnchor();
    return () => window.removeEventListener('hashchange', onHash);
  }, []);
  const toggle = (id, isOpen) => setOpen((s) => {
    if (s.has(id) === isOpen) return s;
    const n = new Set(s);
    if (isOpen) n.add(id); else n.delete(id);
    return n;
  });
  const shown = ops.filter((o) => matches(o, query));
  const grouped = groups(doc, shown);
  const info = doc.info || {};
  return html`<div class="docs">
    <header class="docs-top">
      <a class="brand" href="/"><img src="/ui/favicon.svg" alt="" width="24" height="24" />gatewatch</a>
      <div class="docs-top-actions">
        <a class="btn btn-secondary" id="download" href=${DOC_URL} download="openapi.json">${t('docs.download')}</a>
        <${LangSwitch} onChange=${onLang} />
      </div>
    </header>
    <div class="docs-layout">
      <nav class="docs-toc" aria-label=${t('docs.contents')}>
        <a href="#authentication">${t('docs.authentication')}</a>
        ${grouped.map((g) => html`<a href=${`#${g.id}`} key=${g.id}>${g.name} <span class="muted">${g.ops.length}</span></a>`)}
        <a href="#schemas">${t('docs.schemas')}</a>
      </nav>
      <main class="docs-main" id="main">
        <div class="page-header">
          <div>
            <h1>${t('docs.title')}</h1>
            <p class="muted" id="doc-title">${info.title || ''} ${info.version && html`<span class="badge badge-neutral">${info.version}</span>`}
              <span class="badge badge-neutral">OpenAPI ${doc.openapi || '?'}</span></p>
          </div>
        </div>
        <${Prose} text=${info.description} cls="prose docs-intro" />
        <div class="docs-filter">
          <input type="search" id="filter" class="filter-input" placeholder=${t('docs.filter_placeholder')}
            aria-label=${t('docs.filter')} value=${query} onInput=${(e) => setQuery(e.currentTarget.value)} />
          <span class="muted small" id="filter-count">${t('docs.count', { shown: shown.length, total: ops.length })}</span>
        </div>
        ${!query && html`<${Auth} doc=${doc} ops=${ops} />`}
        ${grouped.length === 0 && html`<div class="card"><${Empty} title=${t('docs.none_title')} hint=${t('docs.none_hint')} /></div>`}
        ${grouped.map((g) => html`<section class="docs-group" id=${g.id} key=${g.id} data-group=${g.name}>
          <h2 class="group-title">${g.name}</h2>
          <${Prose} text=${g.description} />
          <div class="card op-list">
            ${g.ops.map((o) => html`<${Operation} key=${o.id} doc=${doc} o=${o} open=${open.has(o.id)} onToggle=${toggle} opIds=${opIds} />`)}
          </div>
        </section>`)}
        <${Schemas} doc=${doc} query=${query} />
      </main>
    </div>
  </div>`;
}

function Docs() {
  const [doc, setDoc] = useState(null);
  const [error, setError] = useState(null);
  const [, setTick] = useState(0);
  const load = () => {
    setError(null);
    fetch(DOC_URL, { credentials: 'same-origin' })
      .then((r) => (r.ok ? r.json() : Promise.reject(new Error(`${DOC_URL}: ${r.status}`))))
      .then(setDoc)
      .catch((e) => setError(e.message));
  };
  useEffect(load, []);
  useEffect(() => {
    document.title = `${t('docs.title')} · gatewatch`;
  });
  const onLang = async (l) => {
    await setLang(l);
    rememberLang(l);
    setTick((x) => x + 1);
  };
  if (error) {
    return html`<div class="docs docs-error"><${Alert} kind="error" id="docs-error">${t('docs.load_failed', { message: error })}<//>
      <button type="button" class="btn btn-secondary" onClick=${load}>${t('docs.retry')}</button></div>`;
  }
  if (!doc) return html`<div class="docs"><${Loading} /></div>`;
  return html`<${Reference} doc=${doc} onLang=${onLang} />`;
}

await setLang(initialLang());
render(html`<${Docs} />`, document.getElementById('docs'));
