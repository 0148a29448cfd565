// One operation of the reference: its method and path (the head, always shown) and, opened,
// who may call it (the description and the security requirements), its path / query /
// header / cookie parameters, the request body per content type and every response status
// with its headers, body per content type and links. Anchored at `#op-<method>-<path>`.
import { html } from '../vendor/preact-htm.module.js';
import { t } from '../i18n.js';
import { deref, security, slug, statusOrder } from './spec.js';
import { Inline, Prose, SchemaNode, SchemaTree } from './schema.js';

const UNSAFE = new Set(['post', 'put', 'patch', 'delete']);

/** The path with its `{parameters}` marked. */
export function PathText({ path }) {
  return html`<code class="op-path">${path.split(/(\{[^}]*\})/).map((part) =>
    (part.startsWith('{') ? html`<span class="op-param">${part}</span>` : part))}</code>`;
}

export function Method({ method }) {
  return html`<span class=${`method method-${method}`}>${method.toUpperCase()}</span>`;
}

/** A media type's schema (or none) and its example. */
function Media({ doc, type, media, open }) {
  const m = media && typeof media === 'object' ? media : {};
  const example = m.example !== undefined ? m.example
    : Object.values(m.examples || {}).map((e) => deref(doc, e).value).find((v) => v !== undefined);
  return html`<div class="media" data-type=${type}>
    <code class="media-type">${type}</code>${' '}
    ${m.schema !== undefined ? html`<${SchemaTree} doc=${doc} schema=${m.schema} open=${open} />`
      : html`<span class="muted small">${t('docs.no_schema')}</span>`}
    ${example !== undefined && html`<details class="example"><summary>${t('docs.example')}</summary>
      <pre class="mono">${typeof example === 'string' ? example : JSON.stringify(example, null, 2)}</pre></details>`}
  </div>`;
}

function Contents({ doc, content, open }) {
  const entries = Object.entries(content || {});
  if (!entries.length) return html`<div class="muted small no-body">${t('docs.no_body')}</div>`;
  return entries.map(([type, media]) => html`<${Media} key=${type} doc=${doc} type=${type} media=${media} open=${open} />`);
}

const PLACES = [
  ['path', () => t('docs.params_path')],
  ['query', () => t('docs.params_query')],
  ['header', () => t('docs.params_header')],
  ['cookie', () => t('docs.params_cookie')],
];

/** A parameter as a schema node named after it; its own description, deprecation and example
 *  go with its schema (siblings of a `$ref` win in 3.1). A `content` parameter shows its
 *  media type's schema. */
function Param({ doc, p }) {
  let schema = p.schema;
  let type = null;
  if (schema === undefined && p.content && typeof p.content === 'object') {
    [type] = Object.keys(p.content);
    schema = type ? (p.content[type] || {}).schema : undefined;
  }
  const extra = {};
  if (p.description) extra.description = p.description;
  if (p.deprecated) extra.deprecated = true;
  if (p.example !== undefined) extra.example = p.example;
  const merged = schema === undefined || typeof schema === 'boolean' ? { ...extra } : { ...schema, ...extra };
  return html`<div class="param" data-param=${p.name} data-in=${p.in}>
    <${SchemaNode} doc=${doc} schema=${merged} name=${p.name} required=${p.required === true} kind="param" />
    ${type && html`<code class="media-type">${type}</code>`}
  </div>`;
}

function Params({ doc, params }) {
  const usable = params.filter((p) => p && p.name && p.in);
  if (!usable.length) return null;
  return html`<div class="op-part" data-part="parameters">
    <h3>${t('docs.parameters')}</h3>
    ${PLACES.map(([place, label]) => {
      const here = usable.filter((p) => p.in === place);
      return here.length > 0 && html`<div class="param-group" data-in=${place}>
        <div class="part-sub">${label()}</div>
        ${here.map((p) => html`<${Param} key=${p.name} doc=${doc} p=${p} />`)}
      </div>`;
    })}
  </div>`;
}

function Body({ doc, body }) {
  if (!body) return null;
  const b = deref(doc, body);
  return html`<div class="op-part" data-part="request">
    <h3>${t('docs.request_body')} ${b.required && html`<span class="sch-flag sch-required">${t('docs.required')}</span>`}</h3>
    <${Prose} text=${b.description} />
    <${Contents} doc=${doc} content=${b.content} open=${true} />
  </div>`;
}

const statusClass = (s) => `status status-${/^[1-5]/.test(s) ? s[0] : 'd'}`;

/** A response's links (OpenAPI `links`): the operation each leads to, by its anchor when the
 *  document has it, and the values it takes from this answer. */
function Links({ links, opIds }) {
  const entries = Object.entries(links || {});
  if (!entries.length) return null;
  return html`<div class="resp-links"><div class="part-sub">${t('docs.links')}</div>
    ${entries.map(([name, l]) => {
      const target = l && (opIds.get(l.operationId) || (typeof l.operationRef === 'string' && l.operationRef));
      const params = Object.entries((l && l.parameters) || {});
      return html`<div class="resp-link" key=${name} data-link=${name}>
        ${target && target.startsWith('op-') ? html`<a href=${`#${target}`}>${name}</a>` : html`<span>${name}</span>`}
        ${l && l.operationId && html` <code class="muted">${l.operationId}</code>`}
        ${params.map(([k, v]) => html` <span class="sch-kw"><code>${k}</code> = <code>${typeof v === 'string' ? v : JSON.stringify(v)}</code></span>`)}
      </div>`;
    })}
  </div>`;
}

function Responses({ doc, responses, opIds }) {
  const entries = Object.entries(responses || {}).sort(([a], [b]) => statusOrder(a, b));
  if (!entries.length) return null;
  return html`<div class="op-part" data-part="responses">
    <h3>${t('docs.responses')}</h3>
    ${entries.map(([status, raw]) => {
      const r = deref(doc, raw);
      const headers = Object.entries(r.headers || {});
      return html`<div class="resp" key=${status} data-status=${status}>
        <div class="resp-head"><span class=${statusClass(status)}>${status === 'default' ? t('docs.status_default') : status}</span>
          <${Prose} text=${r.description} cls="resp-desc" /></div>
        ${headers.length > 0 && html`<div class="resp-headers"><div class="part-sub">${t('docs.headers')}</div>
          ${headers.map(([name, h]) => {
            const d = deref(doc, h);
            const schema = { ...(d.schema || {}), ...(d.description ? { description: d.description } : {}) };
            return html`<${SchemaNode} key=${name} doc=${doc} schema=${schema} name=${name} required=${d.required === true} kind="param" />`;
          })}</div>`}
        <${Contents} doc=${doc} content=${r.content} open=${status.startsWith('2')} />
        <${Links} links=${r.links} opIds=${opIds} />
      </div>`;
    })}
  </div>`;
}

/** Who may call: public, or the alternatives of security schemes (each linked to its part
 *  of the Authentication section); cookie sessions name the CSRF header on unsafe methods. */
function Security({ doc, o }) {
  const sec = security(doc, o.op);
  const schemes = (doc.components && doc.components.securitySchemes) || {};
  const cookie = sec.alternatives.some((alt) => Object.keys(alt).some((n) => {
    const s = deref(doc, schemes[n]);
    return s.type === 'apiKey' && s.in === 'cookie';
  }));
  return html`<div class="op-part" data-part="security">
    <h3>${t('docs.authorization')}</h3>
    ${sec.open && html`<p class="op-public">${t('docs.public')}</p>`}
    ${sec.alternatives.length > 0 && html`<p class="op-security">
      ${sec.open ? t('docs.or_with') : t('docs.needs_one_of')}${' '}
      ${sec.alternatives.map((alt, i) => html`${i > 0 && html` <span class="muted">${t('docs.or')}</span> `}${Object.keys(alt).map((n, j) =>
        html`${j > 0 && ' + '}<a class="scheme" href=${`#auth-${slug(n)}`}>${n}</a>${alt[n] && alt[n].length ? ` (${alt[n].join(', ')})` : ''}`)}`)}
    </p>`}
    ${cookie && UNSAFE.has(o.method) && html`<p class="muted small op-csrf">${t('docs.csrf_note')}</p>`}
  </div>`;
}

/** The operation; `open` and `onToggle` come from the page, which opens the one an anchor
 *  names. */
export function Operation({ doc, o, open, onToggle, opIds }) {
  const { op } = o;
  return html`<section class=${`op op-${o.method}`} id=${o.id} data-method=${o.method.toUpperCase()} data-path=${o.path}>
    <details open=${open} onToggle=${(e) => onToggle(o.id, e.currentTarget.open)}>
      <summary class="op-head">
        <${Method} method=${o.method} />
        <${PathText} path=${o.path} />
        <span class="op-summary"><${Inline} text=${op.summary} /></span>
        ${op.deprecated && html`<span class="sch-flag sch-deprecated">${t('docs.deprecated')}</span>`}
      </summary>
      ${open && html`<div class="op-body">
        <div class="op-tools">
          ${op.operationId && html`<span class="muted small">operationId <code>${op.operationId}</code></span>`}
          <a class="op-link" href=${`#${o.id}`}>${t('docs.link')}</a>
        </div>
        <${Prose} text=${op.description} cls="prose op-desc" />
        <${Security} doc=${doc} o=${o} />
        <${Params} doc=${doc} params=${o.params} />
        <${Body} doc=${doc} body=${op.requestBody} />
        <${Responses} doc=${doc} responses=${op.responses} opIds=${opIds || new Map()} />
      </div>`}
    </details>
  </section>`;
}
