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
export function Table({ columns, rows, pageSize, onMore, hasMore, empty, id, cards }) {
  const size = pageSize || 20;
  const [page, setPage] = useState(0);
  // Back to the first page for new rows, not for rows appended by `onMore` (same first row).
  const first = rows && rows[0];
  useEffect(() => setPage(0), [first]);
  if (!rows || rows.length === 0) {
    return html`<${Empty} title=${empty || t('table.empty')} />`;
  }
  const pages = Math.max(1, Math.ceil(rows.length / size));
  const shown = rows.slice(page * size, (page + 1) * size);
  // `cards`: on a phone each row becomes a card of label / value lines (style.css).
  const label = (c) => (typeof c.label === 'string' ? c.label : undefined);
  return html`<div class=${cx('table-wrap', cards && 'table-cards')} id=${id}>
    <table>
      <thead><tr>${columns.map((c) => html`<th class=${c.align === 'right' ? 'num' : ''}>${c.label}</th>`)}</tr></thead>
      <tbody>${shown.map((r) => html`<tr>${columns.map((c) => html`<td class=${c.align === 'right' ? 'num' : ''}
        data-label=${label(c)}>${c.render ? c.render(r) : r[c.key]}</td>`)}</tr>`)}</tbody>
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
  // At most three at once: a burst of actions does not bury the page under notices.
  toastList = [...toastList, { id, text, kind: kind || 'info' }].slice(-3);
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

// ---- added for the calls, alerts and config pages ----

/** Tabs over the parts of a page: `tabs` [{ id, label, count, href }], `value` the one shown;
 *  a tab with an `href` is a link (a sub-route), else a button calling `onChange(id)`. */
export function Tabs({ tabs, value, onChange, label, id }) {
  const inner = (x) => html`${x.label}${x.count !== undefined && x.count !== null
    ? html`<span class="tab-count">${x.count}</span>` : null}`;
  return html`<div class="tabs" role="tablist" aria-label=${label} id=${id}>
    ${tabs.map((x) => (x.href
      ? html`<a href=${x.href} role="tab" data-tab=${x.id} class=${cx('tab', x.id === value && 'on')}
          aria-selected=${x.id === value ? 'true' : 'false'}>${inner(x)}</a>`
      : html`<button type="button" role="tab" data-tab=${x.id}
          class=${cx('tab', x.id === value && 'on')} aria-selected=${x.id === value ? 'true' : 'false'}
          onClick=${() => onChange(x.id)}>${inner(x)}</button>`))}
  </div>`;
}

/** A drop-down with the same look as `Field`; `options`: [{ value, label }]; `error` is the
 *  API's message for its `field`. Calls `onChange(value)` on every pick. A `value` missing
 *  from the options (a bookmarked or mistyped one) is still shown, so its error makes sense. */
export function Select({ label, name, value, options, onChange, error, hint, disabled, id }) {
  const fid = id || `f-${name}`;
  const pick = (e) => onChange && onChange(e.currentTarget.value);
  const known = value === undefined || value === null || value === '' || options.some((o) => o.value === value);
  const all = known ? options : [...options, { value, label: value }];
  return html`<div class=${cx('field', error && 'field-error')}>
    <label for=${fid}>${label}</label>
    <select id=${fid} name=${name} value=${value} disabled=${disabled}
      aria-invalid=${error ? 'true' : 'false'}
      aria-describedby=${error ? `${fid}-error` : undefined} onChange=${pick} onInput=${pick}>
      ${all.map((o) => html`<option value=${o.value} selected=${o.value === value}>${o.label}</option>`)}
    </select>
    ${error ? html`<div class="field-message" id=${`${fid}-error`} role="alert">${error}</div>`
      : hint && html`<div class="field-hint">${hint}</div>`}
  </div>`;
}

/** A multi-line text field (lists one per line, templates, JSON); `mono` for code. */
export function TextArea({ label, name, value, onInput, error, hint, rows, mono, placeholder }) {
  const id = `f-${name}`;
  return html`<div class=${cx('field', error && 'field-error')}>
    <label for=${id}>${label}</label>
    <textarea id=${id} name=${name} rows=${rows || 3} class=${mono ? 'mono' : ''}
      spellcheck=${mono ? 'false' : undefined} value=${value}
      placeholder=${placeholder} aria-invalid=${error ? 'true' : 'false'}
      aria-describedby=${error ? `${id}-error` : undefined}
      onInput=${(e) => onInput && onInput(e.currentTarget.value)}></textarea>
    ${error ? html`<div class="field-message" id=${`${id}-error`} role="alert">${error}</div>`
      : hint && html`<div class="field-hint">${hint}</div>`}
  </div>`;
}

/** One checkbox with its label (on/off settings); `error` is the API's for its `field`. */
export function Checkbox({ label, name, checked, onChange, error, disabled, hint }) {
  const id = `f-${name}`;
  return html`<div class=${cx('field', 'field-check', error && 'field-error')}>
    <label for=${id}><input id=${id} name=${name} type="checkbox" checked=${!!checked} disabled=${disabled}
      onChange=${(e) => onChange && onChange(e.currentTarget.checked)} />${label}</label>
    ${error ? html`<div class="field-message" role="alert">${error}</div>`
      : hint && html`<div class="field-hint">${hint}</div>`}
  </div>`;
}

/** Any of several choices as toggle chips (weekdays, roles): `value` is the array chosen. */
export function CheckGroup({ label, name, options, value, onChange, error, hint }) {
  const on = new Set(value || []);
  const flip = (v) => onChange(options.map((o) => o.value).filter((x) => (x === v ? !on.has(x) : on.has(x))));
  return html`<div class=${cx('field', error && 'field-error')} role="group" aria-label=${label} id=${`f-${name}`}>
    <span class="field-label">${label}</span>
    <div class="chips">
      ${options.map((o) => html`<button type="button" data-value=${o.value}
        class=${cx('chip', on.has(o.value) && 'on')} aria-pressed=${on.has(o.value) ? 'true' : 'false'}
        onClick=${() => flip(o.value)}>${o.label}</button>`)}
    </div>
    ${error ? html`<div class="field-message" role="alert">${error}</div>`
      : hint && html`<div class="field-hint">${hint}</div>`}
  </div>`;
}

/** Label / value pairs as a definition list; `items`: [[label, value]], empty values left out. */
export function KeyValues({ items, id }) {
  const shown = items.filter(([, v]) => v !== null && v !== undefined && v !== '');
  return html`<dl class="kv" id=${id}>
    ${shown.map(([k, v]) => html`<div class="kv-row"><dt>${k}</dt><dd>${v}</dd></div>`)}
  </dl>`;
}

/** A button that copies `text` to the clipboard and toasts `done`. */
export function CopyButton({ text, label, done, id }) {
  const copy = async () => {
    try {
      await navigator.clipboard.writeText(text);
    } catch (e) {
      // No clipboard API (an insecure origin, a denied permission): the old way.
      const a = document.createElement('textarea');
      a.value = text;
      a.setAttribute('readonly', '');
      a.className = 'offscreen';
      document.body.appendChild(a);
      a.select();
      document.execCommand('copy');
      a.remove();
    }
    if (done) toast(done, 'success');
  };
  return html`<${Button} id=${id} onClick=${copy}>${label}<//>`;
}

/** A dialog over the page; Escape or the backdrop closes it (`onClose`; `closeLabel` names the ×). */
export function Modal({ title, onClose, closeLabel, children, actions, wide, id }) {
  useEffect(() => {
    const key = (e) => e.key === 'Escape' && onClose && onClose();
    document.addEventListener('keydown', key);
    return () => document.removeEventListener('keydown', key);
  }, [onClose]);
  return html`<div class="modal-backdrop" onClick=${(e) => e.target === e.currentTarget && onClose && onClose()}>
    <div class=${cx('modal', wide && 'modal-wide')} role="dialog" aria-modal="true" aria-labelledby=${`${id || 'modal'}-title`} id=${id}>
      <div class="modal-head">
        <h2 id=${`${id || 'modal'}-title`}>${title}</h2>
        ${onClose && html`<button type="button" class="modal-close" aria-label=${closeLabel || t('common.close')} onClick=${onClose}>×</button>`}
      </div>
      <div class="modal-body">${children}</div>
      ${actions && html`<div class="modal-foot">${actions}</div>`}
    </div>
  </div>`;
}

/** A value to copy (a secret shown once): read-only, selected on focus, with a button
 *  labelled `copyLabel` (`copiedLabel` once copied). */
export function CopyField({ value, id, copyLabel, copiedLabel }) {
  const [copied, setCopied] = useState(false);
  const copy = async () => {
    try {
      await navigator.clipboard.writeText(value);
      setCopied(true);
    } catch (e) {
      // No clipboard (plain http): select it so Ctrl+C works.
      const el = document.getElementById(id || 'copy-value');
      if (el) el.select();
    }
  };
  return html`<div class="copy-field">
    <input id=${id || 'copy-value'} class="mono" readonly value=${value} onFocus=${(e) => e.currentTarget.select()} />
    <${Button} kind="primary" onClick=${copy}>${copied ? copiedLabel : copyLabel}<//>
  </div>`;
}

const shownValue = (v) => (v === undefined ? '' : typeof v === 'string' ? v : JSON.stringify(v));

/** What changed between two versions: `changes` [{ path, old, new, secret }] as old → new,
 *  removed values red, added green; a changed secret is named, never shown. */
export function DiffView({ changes, id }) {
  if (!changes || changes.length === 0) return html`<${Empty} title=${t('diff.none')} />`;
  return html`<table class="diff" id=${id}>
    <thead><tr><th>${t('diff.path')}</th><th>${t('diff.old')}</th><th>${t('diff.new')}</th></tr></thead>
    <tbody>${changes.map((c) => html`<tr>
      <td class="mono diff-path">${c.path}</td>
      ${c.secret ? html`<td colspan="2" class="diff-secret">${t('diff.secret')}</td>`
        : html`<td class="mono">${c.old === undefined || c.old === null ? html`<span class="muted">—</span>` : html`<del class="diff-old">${shownValue(c.old)}</del>`}</td>
          <td class="mono">${c.new === undefined || c.new === null ? html`<span class="muted">${t('diff.removed')}</span>` : html`<ins class="diff-new">${shownValue(c.new)}</ins>`}</td>`}
    </tr>`)}</tbody>
  </table>`;
}

/** Asks before a destructive action: `message`, then a danger button `confirmLabel`
 *  (`#<id>-ok`). `onConfirm` may be async and may throw (an ApiError): the dialog shows its
 *  message and stays open; on success it closes (`onClose`). */
export function Confirm({ title, message, confirmLabel, onConfirm, onClose, id, children }) {
  const [err, setErr] = useState(null);
  const [busy, setBusy] = useState(false);
  const base = id || 'confirm';
  const run = async () => {
    setBusy(true);
    setErr(null);
    try {
      await onConfirm();
    } catch (e) {
      setErr(e.message || String(e));
      setBusy(false);
      return;
    }
    if (onClose) onClose();
  };
  return html`<${Modal} title=${title} onClose=${onClose} id=${base}
    actions=${html`<${Button} onClick=${onClose}>${t('common.cancel')}<//>
      <${Button} kind="danger" id=${`${base}-ok`} onClick=${run} disabled=${busy}>${confirmLabel}<//>`}>
    <p>${message}</p>
    ${children}
    <${Alert}>${err}<//>
  <//>`;
}
