// Call search (support, admin; issue 7): find calls by the filters of the calls API and open
// one. `#/calls?client=acme&status=5xx` is a search, `#/calls/<call_id>` one call; the page
// reads the hash itself (the shell routes on its first segment).
import { html, useState, useEffect } from '../vendor/preact-htm.module.js';
import { t } from '../i18n.js';
import { PageHeader } from '../components.js';
import { Search } from './calls/search.js';
import { Detail } from './calls/detail.js';

/** `{ id }` for `#/calls/<id>`, else `{ query }` (the text after `?`). */
function where() {
  const h = location.hash.replace(/^#\/?/, '');
  const [path, query] = [h.split('?')[0], h.includes('?') ? h.slice(h.indexOf('?') + 1) : ''];
  const id = path.split('/')[1];
  return id ? { id: decodeURIComponent(id) } : { query };
}

export default function CallsPage({ me }) {
  const [at, setAt] = useState(where());
  useEffect(() => {
    const f = () => setAt(where());
    window.addEventListener('hashchange', f);
    return () => window.removeEventListener('hashchange', f);
  }, []);
  useEffect(() => { window.scrollTo(0, 0); }, [at.id]);
  return html`<div class="page" data-page="calls">
    ${at.id ? html`<${Detail} me=${me} id=${at.id} />`
      : html`<${PageHeader} title=${t('calls.title')} subtitle=${t('calls.subtitle')} />
        <${Search} me=${me} query=${at.query} />`}
  </div>`;
}
