// The component set every page is built from (see README.md): PageHeader, Card, Stat,
// Table (with paging), Field (with the API's error beside it), Button, Alert, Empty, Toasts,
// Segmented, Badge, Loading. Plain Preact + htm; styles only through classes in style.css (the CSP forbids
// inline styles).
import { html, useState, useEffect } from './vendor/preact-htm.module.js';
import { t } from './i18n.js';

const cx = (...xs) => xs.filter(Boolean).join(' ');

export function PageHeader({ title, subtitle, actions }) {
  return html`<header class="page-header">
    <div>
      <h1>${title}</h1>
      ${subtitle && html`<p class="muted">${subtitle}</p>`}
    </div>
    ${actions && html`<div class="actions">${actions}</div>`}
  </header>`;
}

export function Card({ title, actions, children, wide, narrow, id }) {
  return html`<section class=${cx('card', wide && 'card-wide', narrow && 'card-narrow')} id=${id}>
    ${(title || actions) && html`<div class="card-head">
      <h2>${title}</h2>${actions && html`<div class="actions">${actions}</div>`}
    </div>`}
    <div class="card-body">${children}</div>
  </section>`;
}

/** One figure: a label, the value, an optional hint; `tone` = good | warn | bad. */
export function Stat({ label, value, hint, tone, id }) {
  return html`<div class=${cx('stat', tone && `tone-${tone}`)} id=${id}>
    <div class="stat-label">${label}</div>
    <div class="stat-value">${value}</div>
    ${hint && html`<div class="stat-hint">${hint}</div>`}
  </div>`;
}

export function Button({ kind, type, onClick, disabled, children, id }) {
  return html`<button type=${type || 'button'} class=${cx('btn', `btn-${kind || 'secondary'}`)}
    onClick=${onClick} disabled=${disabled} id=${id}>${children}</button>`;
}

/** A form field; `error` is the API's message for this field (its `field` path). */
export function Field({ label, name, type, value, onInput, error, autocomplete, required, hint }) {
  const id = `f-${name}`;
  return html`<div class=${cx('field', error && 'field-error')}>
    <label for=${id}>${label}</label>
    <input id=${id} name=${name} type=${type || 'text'} value=${value} required=${required}
      autocomplete=${autocomplete} aria-invalid=${error ? 'true' : 'false'}
      aria-describedby=${error ? `${id}-error` : undefined}
      onInput=${(e) => onInput && onInput(e.currentTarget.value)} />
    ${error ? html`<div class="field-message" id=${`${id}-error`} role="alert">${error}</div>`
      : hint && html`<div class="field-hint">${hint}</div>`}
  </div>`;
}

/** A message box for errors that name no field; kind = error | info | warn. */
export function Alert({ kind, children, id }) {
  return children ? html`<div class=${cx('alert', `alert-${kind || 'error'}`)} role="alert" id=${id}>${children}</div>` : null;
}

export function Empty({ title, hint, children }) {
  return html`<div class="empty">
    <div class="empty-mark" aria-hidden="true"></div>
    <div class="empty-title">${title}</div>
    ${hint && html`<div class="empty-hint">${hint}</div>`}
    ${children}
  </div>`;
}

/** Two or more choices, one on (a range picker, a language switch). */
export function Segmented({ options, value, onChange, label, id }) {
  return html`<div class="segmented" role="group" aria-label=${label} id=${id}>
    ${options.map((o) => html`<button type="button" class=${cx(o.value === value && 'on')}
      aria-pressed=${o.value === value ? 'true' : 'false'} data-value=${o.value}
      onClick=${() => onChange(o.value)}>${o.label}</button>`)}
  </div>`;
}

/**
 * A table. `columns`: [{ key, label, align, render(row) }]. Rows are paged here
 * (`pageSize`), or by the server: pass `onMore` (called for the next page, e.g. with a
 * keyset cursor) and `hasMore`.
 */
export function Table({ columns, rows, pageSize, onMore, hasMore, empty, id }) {
  const size = pageSize || 20;
  const [page, setPage] = useState(0);
  useEffect(() => setPage(0), [rows]);
  if (!rows || rows.length === 0) {
    return html`<${Empty} title=${empty || t('table.empty')} />`;
  }
  const pages = Math.max(1, Math.ceil(rows.length / size));
  const shown = rows.slice(page * size, (page + 1) * size);
  return html`<div class="table-wrap" id=${id}>
    <table>
      <thead><tr>${columns.map((c) => html`<th class=${c.align === 'right' ? 'num' : ''}>${c.label}</th>`)}</tr></thead>
      <tbody>${shown.map((r) => html`<tr>${columns.map((c) => html`<td class=${c.align === 'right' ? 'num' : ''}>${c.render ? c.render(r) : r[c.key]}</td>`)}</tr>`)}</tbody>
    </table>
    ${(pages > 1 || onMore) && html`<div class="pager">
      <span class="muted">${t('table.page', { page: page + 1, pages })}</span>
      <${Button} onClick=${() => setPage(page - 1)} disabled=${page === 0}>${t('table.prev')}<//>
      <${Button} onClick=${() => (page + 1 < pages ? setPage(page + 1) : onMore && onMore())}
        disabled=${page + 1 >= pages && !(onMore && hasMore)}>${t('table.next')}<//>
    </div>`}
  </div>`;
}

// Toasts: short notices in a corner, from anywhere (`toast(text, kind)`); <Toasts/> once in
// the shell shows them.
let toastList = [];
let toastSeq = 0;
const listeners = new Set();
export function toast(text, kind) {
  const id = ++toastSeq;
  toastList = [...toastList, { id, text, kind: kind || 'info' }];
  listeners.forEach((f) => f(toastList));
  setTimeout(() => {
    toastList = toastList.filter((x) => x.id !== id);
    listeners.forEach((f) => f(toastList));
  }, 5000);
}

export function Toasts() {
  const [list, setList] = useState(toastList);
  useEffect(() => {
    listeners.add(setList);
    return () => listeners.delete(setList);
  }, []);
  return html`<div class="toasts" aria-live="polite">
    ${list.map((x) => html`<div class=${cx('toast', `toast-${x.kind}`)} key=${x.id}>${x.text}</div>`)}
  </div>`;
}

/** A small label: tone = good | warn | bad | neutral. */
export function Badge({ tone, children }) {
  return html`<span class=${cx('badge', `badge-${tone || 'neutral'}`)}>${children}</span>`;
}

/** A spinner line for the first load of a card. */
export function Loading() {
  return html`<div class="loading" aria-busy="true">${t('common.loading')}</div>`;
}

// ---- added for the reports page ----

/**
 * A drop-down with the API's error for its field beside it. `options`: [{ value, label }];
 * a `value` missing from them is still shown (a bookmarked or mistyped one), so the error
 * beside it makes sense.
 */
export function Select({ label, name, value, options, onChange, error, hint, id }) {
  const fid = id || `f-${name}`;
  const known = options.some((o) => o.value === value);
  const all = known || value === undefined || value === null ? options : [...options, { value, label: value }];
  return html`<div class=${cx('field', error && 'field-error')}>
    <label for=${fid}>${label}</label>
    <select id=${fid} name=${name} aria-invalid=${error ? 'true' : 'false'}
      aria-describedby=${error ? `${fid}-error` : undefined}
      onChange=${(e) => onChange && onChange(e.currentTarget.value)}>
      ${all.map((o) => html`<option value=${o.value} selected=${o.value === value}>${o.label}</option>`)}
    </select>
    ${error ? html`<div class="field-message" id=${`${fid}-error`} role="alert">${error}</div>`
      : hint && html`<div class="field-hint">${hint}</div>`}
  </div>`;
}

/** Several on/off choices under one label (roles, formats); `values` is the list of those on. */
export function CheckGroup({ label, name, options, values, onChange, error, hint }) {
  const on = new Set(values || []);
  const flip = (v) => {
    const next = new Set(on);
    if (next.has(v)) next.delete(v); else next.add(v);
    onChange(options.map((o) => o.value).filter((x) => next.has(x)));
  };
  return html`<fieldset class=${cx('field', 'checks', error && 'field-error')} id=${`f-${name}`}>
    <legend>${label}</legend>
    <div class="checks-row">
      ${options.map((o) => html`<label class="check" key=${o.value}>
        <input type="checkbox" name=${name} value=${o.value} checked=${on.has(o.value)}
          onChange=${() => flip(o.value)} />
        <span>${o.label}</span>
      </label>`)}
    </div>
    ${error ? html`<div class="field-message" id=${`f-${name}-error`} role="alert">${error}</div>`
      : hint && html`<div class="field-hint">${hint}</div>`}
  </fieldset>`;
}

/** Link-like tabs over sub-views of a page; `tabs`: [{ id, label, href }]. */
export function Tabs({ tabs, value, id }) {
  return html`<nav class="tabs" id=${id}>
    ${tabs.map((x) => html`<a href=${x.href} data-tab=${x.id} class=${cx('tab', x.id === value && 'on')}
      aria-current=${x.id === value ? 'page' : undefined}>${x.label}</a>`)}
  </nav>`;
}
