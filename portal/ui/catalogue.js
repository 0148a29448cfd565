// The catalogue: every published API (GET /portal-api/apis), its categories, and the search
// over name, summary and tags (?q=, ?category= in the address, so a search can be linked).
import { html, useState, useEffect } from './vendor/preact-htm.module.js';
import { t } from './i18n.js';

export function StatusBadge({ status }) {
  return html`<span class=${`badge s-${status}`}>${t(`status.${status}`)}</span>`;
}

function fromAddress() {
  const p = new URLSearchParams(location.search);
  return { q: p.get('q') || '', category: p.get('category') || '' };
}

function toAddress(q, category) {
  const p = new URLSearchParams(location.search);
  if (q) p.set('q', q); else p.delete('q');
  if (category) p.set('category', category); else p.delete('category');
  const s = p.toString();
  history.replaceState(null, '', s ? `/?${s}` : '/');
}

function ApiCard({ api }) {
  return html`<li class="card api-card" data-api=${api.id}>
    <div class="card-head">
      <a class="api-name" href=${`/apis/${encodeURIComponent(api.id)}`}>${api.name}</a>
      ${api.version ? html`<span class="version">${api.version}</span>` : null}
      <${StatusBadge} status=${api.status} />
    </div>
    ${api.summary ? html`<p class="summary">${api.summary}</p>` : null}
    <div class="meta">
      ${api.category ? html`<span class="category">${api.category}</span>` : null}
      ${api.tags.map((tag) => html`<span class="tag">${tag}</span>`)}
    </div>
  </li>`;
}

export function Catalogue() {
  const start = fromAddress();
  const [q, setQ] = useState(start.q);
  const [category, setCategory] = useState(start.category);
  const [data, setData] = useState(null);
  const [failed, setFailed] = useState(false);

  useEffect(() => {
    const ctl = new AbortController();
    const p = new URLSearchParams();
    if (q.trim()) p.set('q', q.trim());
    if (category) p.set('category', category);
    toAddress(q.trim(), category);
    const timer = setTimeout(async () => {
      try {
        const r = await fetch(`/portal-api/apis?${p}`, { signal: ctl.signal });
        if (!r.ok) throw new Error(String(r.status));
        setData(await r.json());
        setFailed(false);
      } catch (e) {
        if (e.name !== 'AbortError') setFailed(true);
      }
    }, 150);
    return () => { clearTimeout(timer); ctl.abort(); };
  }, [q, category]);

  const cats = data ? data.categories : [];
  return html`<section class="catalogue">
    <h1>${t('catalogue.title')}</h1>
    <p class="muted lead">${t('catalogue.lead')}</p>
    <form class="search" role="search" onSubmit=${(e) => e.preventDefault()}>
      <input type="search" name="q" id="search" value=${q} maxlength="200"
        placeholder=${t('catalogue.search')} aria-label=${t('catalogue.search')}
        onInput=${(e) => setQ(e.target.value)} />
    </form>
    <nav class="categories" aria-label=${t('catalogue.categories')}>
      <button type="button" class=${category === '' ? 'chip on' : 'chip'}
        onClick=${() => setCategory('')}>${t('catalogue.all')}</button>
      ${cats.map((c) => html`<button type="button" data-category=${c.name}
        class=${category === c.name ? 'chip on' : 'chip'}
        onClick=${() => setCategory(c.name)}>${c.name} <span class="count">${c.count}</span></button>`)}
    </nav>
    ${failed ? html`<p class="error">${t('common.failed')}</p>` : null}
    ${!data ? html`<p class="muted">${t('common.loading')}</p>`
      : data.apis.length === 0
        ? html`<p class="empty">${data.total === 0 ? t('catalogue.none') : t('catalogue.no_match')}</p>`
        : html`<p class="muted count-line">${t('catalogue.count', { n: data.apis.length, total: data.total })}</p>
          <ul class="api-list">${data.apis.map((a) => html`<${ApiCard} api=${a} key=${a.id} />`)}</ul>`}
  </section>`;
}
