// A JSON Schema (OpenAPI 3.1) as an expandable tree: each node's type (a `$ref` by its name),
// whether it is required or nullable, its constraints by their keyword (`pattern`,
// `maxLength`, …), its enum values, and below it, when opened, its properties,
// additionalProperties, items and oneOf / anyOf / allOf variants. Children are rendered only
// once a node is opened, so large documents stay quick; a `$ref` already open above a node is
// shown by name and not opened again (recursive schemas).
import { html, useState } from '../vendor/preact-htm.module.js';
import { t } from '../i18n.js';
import { pointer, refName } from './spec.js';

/** Text of the document, a little Markdown: paragraphs at blank lines, lists of `- ` lines,
 *  `code` in backticks, [links](/path) to this site or http(s). Never HTML. */
export function Prose({ text, cls }) {
  if (typeof text !== 'string' || !text.trim()) return null;
  const paras = text.trim().split(/\n\s*\n/);
  return html`<div class=${cls || 'prose'}>${paras.map((p) => {
    const lines = p.split('\n').map((l) => l.trim()).filter(Boolean);
    if (lines.every((l) => /^[-*] /.test(l))) {
      return html`<ul>${lines.map((l) => html`<li>${inline(l.slice(2))}</li>`)}</ul>`;
    }
    return html`<p>${inline(lines.join(' '))}</p>`;
  })}</div>`;
}

const LINK = /\[([^\]]+)\]\(([^)\s]+)\)/g;

function links(s) {
  const out = [];
  let last = 0;
  for (const m of s.matchAll(LINK)) {
    // Only this site's paths, anchors and http(s): never javascript: or data: URLs, nor a
    // `//host` that leaves the site looking like a path.
    if (!/^(https?:\/\/|\/(?!\/)|#)/i.test(m[2])) continue;
    out.push(s.slice(last, m.index), html`<a href=${m[2]}>${m[1]}</a>`);
    last = m.index + m[0].length;
  }
  out.push(s.slice(last));
  return out;
}

function inline(s) {
  return s.split('`').map((part, i) => (i % 2 ? html`<code>${part}</code>` : links(part)));
}

/** One line of the document's text (a summary): `code` in backticks. */
export function Inline({ text }) {
  return typeof text === 'string' ? inline(text) : null;
}

/** The schema behind `$ref`s (3.1 allows siblings such as `description`, which win), with
 *  the name of the first ref; `cyclic` when that ref is already open above. */
export function resolve(doc, schema, trail) {
  let s = schema;
  let name = null;
  let ref = null;
  for (let i = 0; i < 16 && s && typeof s === 'object' && typeof s.$ref === 'string'; i += 1) {
    if (!ref) {
      ref = s.$ref;
      name = refName(s.$ref);
      if (trail.includes(ref)) return { s: {}, name, ref, cyclic: true };
    }
    const target = pointer(doc, s.$ref);
    if (target === undefined) return { s: { ...s, $ref: undefined }, name, ref, missing: true };
    const { $ref, ...siblings } = s;
    s = typeof target === 'object' ? { ...target, ...siblings } : target;
  }
  return { s, name, ref };
}

const types = (s) => (Array.isArray(s.type) ? s.type : (s.type ? [s.type] : []));

export const isNullable = (s) => s.nullable === true || (types(s).includes('null') && types(s).length > 1)
  || (Array.isArray(s.enum) && s.enum.includes(null));

/** A short type: `string`, `array of TokenInfo`, `object`, `one of`, `any`. */
export function typeLabel(doc, schema, trail = []) {
  if (schema === true || schema === undefined) return t('docs.any');
  if (schema === false) return t('docs.nothing');
  const { s, name } = resolve(doc, schema, trail);
  if (name) return name;
  if (s === true) return t('docs.any');
  if (typeof s !== 'object' || s === null) return t('docs.any');
  const main = types(s).filter((x) => x !== 'null');
  const one = (x) => (x === 'array' && s.items !== undefined
    ? t('docs.array_of', { type: typeLabel(doc, s.items, trail) }) : x);
  if (main.length) return main.map(one).join(' | ');
  if (s.const !== undefined) return s.const === null ? 'null' : (Array.isArray(s.const) ? 'array' : typeof s.const);
  if (types(s).includes('null')) return 'null';
  if (s.oneOf) return t('docs.one_of');
  if (s.anyOf) return t('docs.any_of');
  if (s.allOf) return s.allOf.length === 1 ? typeLabel(doc, s.allOf[0], trail) : t('docs.all_of');
  if (s.properties || s.additionalProperties !== undefined) return 'object';
  if (s.items !== undefined) return t('docs.array_of', { type: typeLabel(doc, s.items, trail) });
  if (Array.isArray(s.enum)) return 'enum';
  return t('docs.any');
}

// Keywords shown as `keyword value` beside the type.
const SHOWN = ['format', 'contentMediaType', 'contentEncoding', 'pattern', 'minLength', 'maxLength',
  'minimum', 'exclusiveMinimum', 'maximum', 'exclusiveMaximum', 'multipleOf', 'minItems',
  'maxItems', 'uniqueItems', 'minProperties', 'maxProperties', 'default'];

const show = (v) => (typeof v === 'string' ? v : JSON.stringify(v));

/** The constraints of a resolved schema, as `[keyword, value]`. */
export function constraints(s) {
  if (!s || typeof s !== 'object') return [];
  const out = [];
  for (const k of SHOWN) {
    // OpenAPI 3.0's boolean exclusiveMinimum only qualifies minimum: shown with it.
    if (s[k] !== undefined && typeof s[k] !== 'boolean') out.push([k, show(s[k])]);
    else if (s[k] === true) out.push([k, 'true']);
  }
  if (s.const !== undefined) out.push(['const', JSON.stringify(s.const)]);
  return out;
}

/** Whether a resolved schema has anything to open. */
function hasChildren(doc, s, trail) {
  if (!s || typeof s !== 'object') return false;
  if (s.properties && Object.keys(s.properties).length) return true;
  if (s.patternProperties && Object.keys(s.patternProperties).length) return true;
  if (s.additionalProperties === false) return true;
  if (s.additionalProperties && typeof s.additionalProperties === 'object') return true;
  if (s.oneOf || s.anyOf || s.allOf || s.not !== undefined || s.prefixItems) return true;
  if (s.items !== undefined && s.items !== true) {
    const r = resolve(doc, s.items, trail);
    return !!(r.name || hasChildren(doc, r.s, trail) || constraints(r.s).length
      || Array.isArray(r.s.enum) || r.s.description);
  }
  return false;
}

function Flags({ s, required }) {
  return html`${required && html`<span class="sch-flag sch-required">${t('docs.required')}</span>`}
    ${isNullable(s) && html`<span class="sch-flag">${t('docs.nullable')}</span>`}
    ${s.readOnly && html`<span class="sch-flag">${t('docs.read_only')}</span>`}
    ${s.writeOnly && html`<span class="sch-flag">${t('docs.write_only')}</span>`}
    ${s.deprecated && html`<span class="sch-flag sch-deprecated">${t('docs.deprecated')}</span>`}`;
}

function Details({ s }) {
  const cons = constraints(s);
  const values = Array.isArray(s.enum) ? s.enum : null;
  const examples = Array.isArray(s.examples) ? s.examples : (s.example !== undefined ? [s.example] : []);
  return html`
    ${cons.length > 0 && html`<span class="sch-cons">${cons.map(([k, v]) =>
      html`<span class="sch-kw" data-kw=${k}><span class="sch-k">${k}</span> <code>${v}</code></span>`)}</span>`}
    ${values && html`<span class="sch-enum"><span class="sch-k">enum</span> ${values.map((v) =>
      html`<code class="sch-val">${JSON.stringify(v)}</code>`)}</span>`}
    ${examples.length > 0 && html`<span class="sch-kw"><span class="sch-k">${t('docs.example')}</span> ${examples.slice(0, 3).map((v) =>
      html`<code class="sch-val">${show(v)}</code>`)}</span>`}`;
}

/** One node of the tree: `name` (a property, `[items]`, a variant), its schema, whether it is
 *  required; `open` to start opened; `trail` the refs open above it. */
export function SchemaNode({ doc, schema, name, required, open, trail = [], depth = 0, kind }) {
  const [isOpen, setOpen] = useState(!!open);
  const r = schema === true || schema === false || schema === undefined
    ? { s: schema === false ? false : {} } : resolve(doc, schema, trail);
  const s = r.s && typeof r.s === 'object' ? r.s : {};
  const label = schema === false ? t('docs.nothing') : typeLabel(doc, schema, trail);
  const below = r.ref ? [...trail, r.ref] : trail;
  const expandable = !r.cyclic && depth < 40 && hasChildren(doc, s, below);
  const head = html`
    ${name !== undefined && html`<code class=${kind ? `sch-name sch-${kind}` : 'sch-name'}>${name}</code>`}
    <span class=${r.name ? 'sch-type sch-ref' : 'sch-type'} title=${r.ref || undefined}>${label}</span>
    ${r.name && !r.cyclic && html`<span class="sch-under">${typeLabel(doc, s, below)}</span>`}
    ${r.cyclic && html`<span class="sch-flag">${t('docs.recursive')}</span>`}
    ${r.missing && html`<span class="sch-flag sch-deprecated">${t('docs.unresolved')}</span>`}
    <${Flags} s=${s} required=${required} />
    <${Details} s=${s} />`;
  const desc = s.description || s.title;
  const attrs = { 'data-prop': kind === 'prop' ? name : undefined };
  if (!expandable) {
    return html`<div class="sch-node" ...${attrs}>
      <div class="sch-line">${head}</div>
      <${Prose} text=${desc} cls="sch-desc" />
    </div>`;
  }
  return html`<details class="sch-node" open=${isOpen} ...${attrs}
      onToggle=${(e) => setOpen(e.currentTarget.open)}>
    <summary class="sch-line">${head}</summary>
    <${Prose} text=${desc} cls="sch-desc" />
    ${isOpen && html`<${Children} doc=${doc} s=${s} trail=${below} depth=${depth + 1} />`}
  </details>`;
}

/** What a schema holds: properties, other properties, items, variants. */
function Children({ doc, s, trail, depth }) {
  const req = new Set(Array.isArray(s.required) ? s.required : []);
  const node = (props) => html`<${SchemaNode} doc=${doc} trail=${trail} depth=${depth} ...${props} />`;
  const parts = [];
  for (const [k, v] of Object.entries(s.properties || {})) {
    parts.push(node({ key: `p:${k}`, name: k, schema: v, required: req.has(k), kind: 'prop' }));
  }
  for (const [k, v] of Object.entries(s.patternProperties || {})) {
    parts.push(node({ key: `pp:${k}`, name: `/${k}/`, schema: v, kind: 'pattern' }));
  }
  if (s.additionalProperties === false) {
    parts.push(html`<div class="sch-note" key="ap">${t('docs.no_other_properties')}</div>`);
  } else if (s.additionalProperties && typeof s.additionalProperties === 'object') {
    parts.push(node({ key: 'ap', name: t('docs.other_properties'), schema: s.additionalProperties, kind: 'extra' }));
  }
  (s.prefixItems || []).forEach((v, i) => parts.push(node({ key: `pi:${i}`, name: `[${i}]`, schema: v, kind: 'extra' })));
  if (s.items !== undefined && s.items !== true) {
    parts.push(node({ key: 'items', name: t('docs.items'), schema: s.items, kind: 'extra', open: true }));
  }
  for (const [k, label] of [['allOf', t('docs.all_of')], ['oneOf', t('docs.one_of')], ['anyOf', t('docs.any_of')]]) {
    if (!Array.isArray(s[k])) continue;
    const disc = k !== 'allOf' && s.discriminator && s.discriminator.propertyName;
    parts.push(html`<div class="sch-variants" key=${k} data-kw=${k}>
      <div class="sch-note">${label}${disc && html` · ${t('docs.discriminator')} <code>${disc}</code>`}</div>
      ${s[k].map((v, i) => node({ key: `${k}:${i}`, name: `${i + 1}`, schema: v, kind: 'variant' }))}
    </div>`);
  }
  if (s.not !== undefined) parts.push(node({ key: 'not', name: t('docs.not'), schema: s.not, kind: 'extra' }));
  return html`<div class="sch-children">${parts}</div>`;
}

/** A body's schema: its root opened one level unless `open` is false. */
export function SchemaTree({ doc, schema, open = true }) {
  return html`<div class="sch-tree"><${SchemaNode} doc=${doc} schema=${schema} open=${open} /></div>`;
}
