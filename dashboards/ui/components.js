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

// ---- added for the users page ----
// (their texts are under users.* in the catalogues until the lead moves them to common keys)

/** A select field: `options` [{ value, label }]; the API's error for its `field` beside it. */
export function Select({ label, name, value, options, onChange, error, hint, disabled }) {
  const id = `f-${name}`;
  return html`<div class=${cx('field', error && 'field-error')}>
    <label for=${id}>${label}</label>
    <select id=${id} name=${name} value=${value} disabled=${disabled}
      aria-invalid=${error ? 'true' : 'false'} aria-describedby=${error ? `${id}-error` : undefined}
      onChange=${(e) => onChange && onChange(e.currentTarget.value)}>
      ${options.map((o) => html`<option value=${o.value} selected=${o.value === value}>${o.label}</option>`)}
    </select>
    ${error ? html`<div class="field-message" id=${`${id}-error`} role="alert">${error}</div>`
      : hint && html`<div class="field-hint">${hint}</div>`}
  </div>`;
}

/** A checkbox with its label on the right. */
export function Checkbox({ label, name, checked, onChange, error, disabled, hint }) {
  const id = `f-${name}`;
  return html`<div class=${cx('field', 'field-check', error && 'field-error')}>
    <label for=${id}>
      <input type="checkbox" id=${id} name=${name} checked=${checked} disabled=${disabled}
        onChange=${(e) => onChange && onChange(e.currentTarget.checked)} />
      <span>${label}</span>
    </label>
    ${error ? html`<div class="field-message" role="alert">${error}</div>`
      : hint && html`<div class="field-hint">${hint}</div>`}
  </div>`;
}

/**
 * A modal dialog over the page: `title`, the body (children), `actions` (buttons, right
 * aligned). Escape or the backdrop calls `onClose`. Render it only while open.
 */
export function Dialog({ title, onClose, actions, children, wide, id }) {
  useEffect(() => {
    const onKey = (e) => { if (e.key === 'Escape' && onClose) onClose(); };
    window.addEventListener('keydown', onKey);
    return () => window.removeEventListener('keydown', onKey);
  }, [onClose]);
  return html`<div class="dialog-backdrop" onClick=${(e) => { if (e.target === e.currentTarget && onClose) onClose(); }}>
    <div class=${cx('dialog', wide && 'dialog-wide')} role="dialog" aria-modal="true" aria-labelledby=${`${id || 'dialog'}-title`} id=${id}>
      <div class="dialog-head">
        <h2 id=${`${id || 'dialog'}-title`}>${title}</h2>
        <button type="button" class="dialog-close" aria-label=${t('users.ui_close')} onClick=${onClose}>×</button>
      </div>
      <div class="dialog-body">${children}</div>
      ${actions && html`<div class="dialog-actions">${actions}</div>`}
    </div>
  </div>`;
}

/** "Are you sure?" as a Dialog: `message`, a danger button `confirmLabel` calling `onConfirm`. */
export function Confirm({ title, message, confirmLabel, onConfirm, onClose, busy, error, id }) {
  return html`<${Dialog} title=${title} onClose=${onClose} id=${id || 'confirm'}
    actions=${html`<${Button} onClick=${onClose}>${t('users.ui_cancel')}<//>
      <${Button} kind="danger" id=${`${id || 'confirm'}-ok`} onClick=${onConfirm} disabled=${busy}>${confirmLabel}<//>`}>
    <p>${message}</p>
    <${Alert}>${error}<//>
  <//>`;
}

function shownValue(v) {
  if (v === undefined) return '';
  if (typeof v === 'string') return v;
  return JSON.stringify(v);
}

/**
 * What changed between two versions (the API's `changes`: [{ path, old, new, secret }]): one
 * line per path, the old value struck out and the new one beside it; a secret by name only.
 */
export function DiffView({ changes, empty }) {
  if (!changes || changes.length === 0) return html`<div class="muted diff-empty">${empty || t('users.diff_none')}</div>`;
  return html`<table class="diff">
    <thead><tr><th>${t('users.diff_field')}</th><th>${t('users.diff_old')}</th><th>${t('users.diff_new')}</th></tr></thead>
    <tbody>${changes.map((c) => html`<tr>
      <td class="diff-path"><code>${c.path}</code></td>
      ${c.secret
        ? html`<td class="diff-secret" colspan="2">${t('users.diff_secret')}</td>`
        : html`<td class="diff-old">${c.old === undefined ? html`<span class="muted">—</span>` : html`<code>${shownValue(c.old)}</code>`}</td>
          <td class="diff-new">${c.new === undefined ? html`<span class="muted">${t('users.diff_removed')}</span>` : html`<code>${shownValue(c.new)}</code>`}</td>`}
    </tr>`)}</tbody>
  </table>`;
}
