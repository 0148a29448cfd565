// One API (GET /portal-api/apis/{id}): its state, description (HTML the server rendered from
// Markdown and sanitized), the other published versions of its family, and the operations of
// its OpenAPI document. Everything from the document is shown as text.
import { html, useState, useEffect } from './vendor/preact-htm.module.js';
import { t, fmtDate } from './i18n.js';
import { StatusBadge } from './catalogue.js';

function Deprecation({ d }) {
  if (!d) return null;
  return html`<p class="notice warn">
    ${t('api.deprecated_since', { date: fmtDate(d.since) })}
    ${d.sunset ? html` ${t('api.sunset', { date: fmtDate(d.sunset) })}` : null}
    ${d.link && /^https?:\/\//.test(d.link) ? html` <a href=${d.link} rel="noopener noreferrer nofollow">${t('api.more')}</a>` : null}
  </p>`;
}

function Params({ list }) {
  if (!list.length) return html`<p class="muted">${t('api.no_params')}</p>`;
  return html`<div class="table-wrap"><table class="params">
    <thead><tr><th>${t('api.param')}</th><th>${t('api.in')}</th><th>${t('api.type')}</th>
      <th>${t('api.required')}</th><th>${t('api.param_desc')}</th></tr></thead>
    <tbody>${list.map((p) => html`<tr>
      <td><code>${p.name}</code></td><td>${p.in}</td><td>${p.schema || ''}</td>
      <td>${p.required ? t('api.yes') : t('api.no')}</td><td>${p.description || ''}</td></tr>`)}</tbody>
  </table></div>`;
}

function Example({ text }) {
  if (!text) return null;
  return html`<div class="example"><span class="muted small">${t('api.example')}</span><pre><code>${text}</code></pre></div>`;
}

function Operation({ op }) {
  return html`<details class="op" data-op=${`${op.method} ${op.path}`}>
    <summary>
      <span class=${`method m-${op.method.toLowerCase()}`}>${op.method}</span>
      <code class="op-path">${op.path}</code>
      ${op.summary ? html`<span class="op-summary">${op.summary}</span>` : null}
      ${op.deprecated ? html`<span class="badge s-deprecated">${t('status.deprecated')}</span>` : null}
    </summary>
    <div class="op-body">
      ${op.description ? html`<p class="op-desc">${op.description}</p>` : null}
      <h4>${t('api.parameters')}</h4>
      <${Params} list=${op.parameters} />
      ${op.request_body ? html`<h4>${t('api.request_body')}</h4>
        <p>${op.request_body.required ? t('api.required') : t('api.optional')}
          ${op.request_body.content_types.map((c) => html` <code>${c}</code>`)}
          ${op.request_body.schema ? html` · ${t('api.schema')} <code>${op.request_body.schema}</code>` : null}</p>
        ${op.request_body.description ? html`<p>${op.request_body.description}</p>` : null}
        <${Example} text=${op.request_body.example} />` : null}
      ${op.responses.length ? html`<h4>${t('api.responses')}</h4>
        <ul class="responses">${op.responses.map((r) => html`<li><code>${r.status}</code> ${r.description || ''}
          ${r.content_types ? r.content_types.map((c) => html` <code class="muted">${c}</code>`) : null}
          ${r.schema ? html` · ${t('api.schema')} <code>${r.schema}</code>` : null}
          <${Example} text=${r.example} /></li>`)}</ul>` : null}
    </div>
  </details>`;
}

export function ApiPage({ id }) {
  const [data, setData] = useState(null);
  const [state, setState] = useState('loading');
  useEffect(() => {
    (async () => {
      try {
        const r = await fetch(`/portal-api/apis/${encodeURIComponent(id)}`);
        if (r.status === 404) { setState('missing'); return; }
        if (!r.ok) throw new Error(String(r.status));
        setData(await r.json());
        setState('ok');
      } catch {
        setState('failed');
      }
    })();
  }, [id]);

  const back = html`<p><a class="back" href="/">← ${t('api.back')}</a></p>`;
  if (state === 'loading') return html`${back}<p class="muted">${t('common.loading')}</p>`;
  if (state === 'missing') return html`${back}<h1>${t('api.missing')}</h1><p class="muted">${t('api.missing_lead')}</p>`;
  if (state === 'failed') return html`${back}<p class="error">${t('common.failed')}</p>`;
  const { api, description_html: desc, versions, reference } = data;
  document.title = `${api.name} · ${t('site.title')}`;
  return html`<article class="api-page">
    ${back}
    <header class="api-head">
      <h1>${api.name}</h1>
      ${api.version ? html`<span class="version">${api.version}</span>` : null}
      <${StatusBadge} status=${api.status} />
    </header>
    ${api.summary ? html`<p class="lead">${api.summary}</p>` : null}
    <div class="meta">
      ${api.category ? html`<a class="category" href=${`/?category=${encodeURIComponent(api.category)}`}>${api.category}</a>` : null}
      ${api.tags.map((tag) => html`<span class="tag">${tag}</span>`)}
    </div>
    <${Deprecation} d=${api.deprecation} />
    ${api.status === 'retired' ? html`<p class="notice bad">${t('api.retired_note')}</p>` : null}
    ${desc ? html`<section class="card description markdown" dangerouslySetInnerHTML=${{ __html: desc }}></section>` : null}
    ${versions.length ? html`<section class="card versions">
      <h2>${t('api.versions')}</h2>
      <ul>${versions.map((v) => html`<li><a href=${`/apis/${encodeURIComponent(v.id)}`}>${v.version || v.id}</a> <${StatusBadge} status=${v.status} /></li>`)}</ul>
    </section>` : null}
    <section class="card reference">
      <h2>${t('api.operations')}</h2>
      ${!reference ? html`<p class="muted">${t('api.no_document')}</p>` : html`
        <p class="muted">${reference.title} ${reference.version}
          · <a href=${`/portal-api/apis/${encodeURIComponent(api.id)}/openapi.json`} download>${t('api.download')}</a></p>
        ${reference.operations.length === 0 ? html`<p class="muted">${t('api.no_operations')}</p>`
          : reference.operations.map((op) => html`<${Operation} op=${op} />`)}
        ${reference.truncated ? html`<p class="muted">${t('api.truncated')}</p>` : null}`}
    </section>
  </article>`;
}
