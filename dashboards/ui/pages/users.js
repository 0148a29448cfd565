// Users (admin): every user of the UI and admin API (GET /api/v1/users) with role, language,
// zone, state and last login (the newest `login` row of the audit log, for those who may read
// it); create, edit (role, names, language, zone, disabled), set a new password, delete (after
// a confirmation) and each user's history as a diff — all through /api/v1/users, with the
// API's field errors beside their fields. Your own role and your own deletion are refused by
// the API; the page does not offer them.
import { html, useState, useEffect } from '../vendor/preact-htm.module.js';
import { api, get, entityPath, saveEntity, deleteEntity } from '../api.js';
import { t, fmtTime, fmtNumber } from '../i18n.js';
import { roleName } from '../nav.js';
import {
  PageHeader, Card, Button, Field, Alert, Empty, Loading, Badge, Table, toast,
  Select, Checkbox, Modal, Confirm, DiffView,
} from '../components.js';

const ROLES = ['admin', 'ops', 'manager', 'support'];
const roleOptions = () => ROLES.map((r) => ({ value: r, label: roleName(r) }));
const langOptions = () => [
  { value: 'en', label: 'English' },
  { value: 'zh-TW', label: '繁體中文' },
];
const LOGIN_DAYS = 90;


/** Splits an ApiError into a field's message and one for above the form. */
function useErrors() {
  const [errs, setErrs] = useState({});
  const fail = (e) => {
    if (e && e.field) setErrs({ [e.field]: e.message, _field: e.field });
    else setErrs({ _form: (e && e.message) || String(e) });
  };
  return [errs, fail, () => setErrs({})];
}

/** An error whose field the form has no input for goes above the form, with its path. */
function formError(errs, fields) {
  if (errs._form) return errs._form;
  if (errs._field && !fields.includes(errs._field)) return `${errs._field}: ${errs[errs._field]}`;
  return null;
}

function CreateDialog({ onClose, onDone }) {
  const [f, setF] = useState({ id: '', display_name: '', role: 'support', password: '', email: '' });
  const [errs, fail, clear] = useErrors();
  const [busy, setBusy] = useState(false);
  const set = (k) => (v) => setF({ ...f, [k]: v });
  const submit = async (e) => {
    e.preventDefault();
    clear();
    setBusy(true);
    const body = { id: f.id.trim(), display_name: f.display_name, role: f.role, password: f.password };
    if (f.email.trim()) body.email = f.email.trim();
    try {
      await api('POST', '/api/v1/users', body);
      toast(t('users.created', { user: body.id }), 'success');
      onDone();
    } catch (err) {
      fail(err);
    } finally {
      setBusy(false);
    }
  };
  const fields = ['id', 'display_name', 'role', 'password', 'email'];
  return html`<${Modal} title=${t('users.create_title')} onClose=${onClose} id="user-create">
    <form class="form" id="user-create-form" onSubmit=${submit} novalidate>
      <${Alert} id="user-create-error">${formError(errs, fields)}<//>
      <${Field} label=${t('users.f_id')} name="id" value=${f.id} onInput=${set('id')} error=${errs.id}
        hint=${t('users.f_id_hint')} autocomplete="off" />
      <${Field} label=${t('users.f_display_name')} name="display_name" value=${f.display_name}
        onInput=${set('display_name')} error=${errs.display_name} />
      <${Select} label=${t('users.f_role')} name="role" value=${f.role} options=${roleOptions()}
        onChange=${set('role')} error=${errs.role} hint=${t('users.role_hint')} />
      <${Field} label=${t('users.f_password')} name="password" type="password" value=${f.password}
        onInput=${set('password')} error=${errs.password} hint=${t('users.f_password_hint')} autocomplete="new-password" />
      <${Field} label=${t('users.f_email')} name="email" type="email" value=${f.email} onInput=${set('email')}
        error=${errs.email} hint=${t('users.f_email_hint')} />
      <div class="form-actions">
        <${Button} onClick=${onClose}>${t('common.cancel')}<//>
        <${Button} kind="primary" type="submit" id="user-create-submit" disabled=${busy}>${t('users.create')}<//>
      </div>
    </form>
  <//>`;
}

function EditDialog({ user, self, onClose, onDone, onDelete }) {
  const b = user.body || {};
  const [f, setF] = useState({
    display_name: b.display_name || '',
    role: b.role,
    email: b.email || '',
    lang: b.lang || 'en',
    timezone: b.timezone || '',
    disabled: !!b.disabled,
  });
  const [errs, fail, clear] = useErrors();
  const [busy, setBusy] = useState(false);
  const set = (k) => (v) => setF({ ...f, [k]: v });
  const submit = async (e) => {
    e.preventDefault();
    clear();
    setBusy(true);
    // The body as read, with the form's fields: the API keeps what it manages itself.
    const body = { ...b, display_name: f.display_name, role: f.role, email: f.email.trim(), lang: f.lang, disabled: f.disabled };
    if (f.timezone.trim()) body.timezone = f.timezone.trim();
    else delete body.timezone;
    try {
      await saveEntity('users', user.id, body, user.version);
      toast(t('users.saved', { user: user.id }), 'success');
      onDone();
    } catch (err) {
      fail(err);
    } finally {
      setBusy(false);
    }
  };
  const fields = ['display_name', 'role', 'email', 'lang', 'timezone', 'disabled'];
  return html`<${Modal} title=${t('users.edit_title', { user: user.id })} onClose=${onClose} id="user-edit">
    <form class="form" id="user-edit-form" onSubmit=${submit} novalidate>
      <${Alert} id="user-edit-error">${formError(errs, fields)}<//>
      <${Field} label=${t('users.f_display_name')} name="display_name" value=${f.display_name}
        onInput=${set('display_name')} error=${errs.display_name} />
      <${Select} label=${t('users.f_role')} name="role" value=${f.role} options=${roleOptions()}
        onChange=${set('role')} error=${errs.role} disabled=${self}
        hint=${self ? t('users.own_role_hint') : t('users.role_hint')} />
      <${Field} label=${t('users.f_email')} name="email" type="email" value=${f.email} onInput=${set('email')}
        error=${errs.email} hint=${t('users.f_email_hint')} />
      <div class="form-row">
        <${Select} label=${t('users.f_lang')} name="lang" value=${f.lang} options=${langOptions()}
          onChange=${set('lang')} error=${errs.lang} />
        <${Field} label=${t('users.f_timezone')} name="timezone" value=${f.timezone} onInput=${set('timezone')}
          error=${errs.timezone} hint=${t('users.f_timezone_hint')} />
      </div>
      <${Checkbox} label=${t('users.f_disabled')} name="disabled" checked=${f.disabled} onChange=${set('disabled')}
        error=${errs.disabled} disabled=${self} hint=${self ? t('users.own_disable_hint') : t('users.f_disabled_hint')} />
      <div class="form-actions">
        ${!self && html`<${Button} kind="danger-quiet" id=${`delete-${user.id}`} onClick=${onDelete}>${t('users.delete')}<//>`}
        <span class="spacer"></span>
        <${Button} onClick=${onClose}>${t('common.cancel')}<//>
        <${Button} kind="primary" type="submit" id="user-edit-submit" disabled=${busy}>${t('users.save')}<//>
      </div>
    </form>
  <//>`;
}

function PasswordDialog({ user, onClose, onDone }) {
  const [pw, setPw] = useState('');
  const [again, setAgain] = useState('');
  const [errs, fail, clear] = useErrors();
  const [busy, setBusy] = useState(false);
  const submit = async (e) => {
    e.preventDefault();
    clear();
    // The one check the server cannot make: two fields typed alike.
    if (pw !== again) {
      fail({ field: 'confirm', message: t('users.pw_differ') });
      return;
    }
    setBusy(true);
    try {
      await saveEntity('users', user.id, { ...user.body, password: pw }, user.version);
      toast(t('users.pw_set', { user: user.id }), 'success');
      onDone();
    } catch (err) {
      fail(err);
    } finally {
      setBusy(false);
    }
  };
  return html`<${Modal} title=${t('users.pw_title', { user: user.id })} onClose=${onClose} id="user-password">
    <form class="form" id="user-password-form" onSubmit=${submit} novalidate>
      <p class="muted">${t('users.pw_intro')}</p>
      <${Alert}>${formError(errs, ['password', 'confirm'])}<//>
      <${Field} label=${t('users.f_new_password')} name="new_password" type="password" value=${pw} onInput=${setPw}
        error=${errs.password} hint=${t('users.f_password_hint')} autocomplete="new-password" />
      <${Field} label=${t('users.f_confirm')} name="confirm_password" type="password" value=${again} onInput=${setAgain}
        error=${errs.confirm} autocomplete="new-password" />
      <div class="form-actions">
        <${Button} onClick=${onClose}>${t('common.cancel')}<//>
        <${Button} kind="primary" type="submit" id="user-password-submit" disabled=${busy}>${t('users.pw_submit')}<//>
      </div>
    </form>
  <//>`;
}

function HistoryDialog({ user, onClose }) {
  const [state, setState] = useState({});
  useEffect(() => {
    get(`${entityPath('users', user.id)}/history`).then((h) => setState({ data: h })).catch((e) => setState({ error: e }));
  }, [user.id]);
  const versions = state.data ? [...(state.data.versions || [])].reverse() : [];
  return html`<${Modal} title=${t('users.history_title', { user: user.id })} onClose=${onClose} wide id="user-history">
    <${Alert}>${state.error && state.error.message}<//>
    ${!state.data && !state.error ? html`<${Loading} />` : html`<ol class="timeline">
      ${versions.map((v) => html`<li class="timeline-item" key=${v.version}>
        <div class="timeline-head">
          <${Badge} tone=${v.deleted ? 'bad' : v.version === 1 ? 'good' : 'neutral'}>${v.deleted ? t('users.h_deleted') : t('users.h_version', { n: v.version })}<//>
          <span class="strong">${v.changed_by}</span>
          <span class="muted">${fmtTime(v.changed_at)}</span>
          ${v.comment && html`<span class="muted">· ${v.comment}</span>`}
        </div>
        <${DiffView} changes=${v.changes} />
      </li>`)}
    </ol>`}
  <//>`;
}

export default function UsersPage({ me }) {
  const [state, setState] = useState({});
  const [logins, setLogins] = useState({});
  const [tick, setTick] = useState(0);
  const [dialog, setDialog] = useState(null);
  const canAudit = (me.permissions || []).includes('read_audit_log');
  const reload = () => { setDialog(null); setTick((x) => x + 1); };

  useEffect(() => {
    let live = true;
    get('/api/v1/users?limit=1000').then((d) => live && setState({ data: d }))
      .catch((e) => live && setState({ error: e }));
    if (canAudit) {
      // The newest login of each user: the audit log's `login` rows, newest first.
      const from = new Date(Date.now() - LOGIN_DAYS * 86400000).toISOString();
      get(`/api/v1/audit?action=login&from=${encodeURIComponent(from)}&limit=10000`).then((a) => {
        const last = {};
        for (const r of a.items || []) if (!(r.actor in last)) last[r.actor] = r.ts;
        if (live) setLogins(last);
      }).catch(() => {});
    }
    return () => { live = false; };
  }, [tick]);

  // Throws the API's refusal: the confirmation shows it.
  const remove = async (u) => {
    await deleteEntity('users', u.id, u.version);
    toast(t('users.deleted', { user: u.id }), 'success');
    reload();
  };

  const items = (state.data && state.data.items) || [];
  const columns = [
    {
      key: 'id',
      label: t('users.col_user'),
      render: (u) => html`<div class="user-cell" data-user=${u.id}>
        <span class="avatar avatar-small" aria-hidden="true">${(u.body.display_name || u.id).slice(0, 1).toUpperCase()}</span>
        <span><span class="strong">${u.body.display_name || u.id}</span>
          ${u.id === me.user && html` <${Badge} tone="good">${t('users.you')}<//>`}
          ${(u.body.display_name || u.body.email) && html`<div class="muted small">${u.body.display_name ? u.id : ''}${u.body.display_name && u.body.email ? ' · ' : ''}${u.body.email || ''}</div>`}</span>
      </div>`,
    },
    { key: 'role', label: t('users.col_role'), render: (u) => html`<span class=${`badge role-badge role-${u.body.role}`}>${roleName(u.body.role)}</span>` },
    {
      key: 'lang',
      label: t('users.col_lang'),
      render: (u) => html`${u.body.lang === 'zh-TW' ? '繁體中文' : 'English'}
        <div class="muted small">${u.body.timezone || t('users.site_zone')}</div>`,
    },
    {
      key: 'state',
      label: t('users.col_state'),
      render: (u) => (u.body.disabled ? html`<${Badge} tone="bad">${t('users.state_disabled')}<//>`
        : html`<${Badge} tone="good">${t('users.state_active')}<//>`),
    },
    {
      key: 'login',
      label: t('users.col_login'),
      render: (u) => (logins[u.id] ? fmtTime(logins[u.id], { dateStyle: 'short', timeStyle: 'short' })
        : html`<span class="muted">${canAudit ? t('users.never', { days: fmtNumber(LOGIN_DAYS) }) : '—'}</span>`),
    },
    {
      key: 'actions',
      label: '',
      render: (u) => {
        return html`<div class="row-actions">
          <${Button} id=${`edit-${u.id}`} onClick=${() => setDialog({ kind: 'edit', user: u })}>${t('users.edit')}<//>
          <${Button} id=${`pw-${u.id}`} onClick=${() => setDialog({ kind: 'password', user: u })}>${t('users.password')}<//>
          <${Button} id=${`history-${u.id}`} onClick=${() => setDialog({ kind: 'history', user: u })}>${t('users.history')}<//>
        </div>`;
      },
    },
  ];

  const d = dialog;
  return html`<div class="page" data-page="users">
    <${PageHeader} title=${t('users.title')} subtitle=${t('users.subtitle')}
      actions=${html`<${Button} kind="primary" id="user-add" onClick=${() => setDialog({ kind: 'create' })}>${t('users.add')}<//>`} />
    <${Alert} id="users-error">${state.error && state.error.message}<//>
    <${Card} title=${t('users.list', { n: fmtNumber(items.length) })} id="card-users">
      ${!state.data ? !state.error && html`<${Loading} />`
        : items.length === 0 ? html`<${Empty} title=${t('users.none')} hint=${t('users.none_hint')} />`
          : html`<${Table} id="users-table" columns=${columns} rows=${items} pageSize=${25} />`}
    <//>
    <p class="muted small users-note">${t('users.roles_note')}</p>
    ${d && d.kind === 'create' && html`<${CreateDialog} onClose=${() => setDialog(null)} onDone=${reload} />`}
    ${d && d.kind === 'edit' && html`<${EditDialog} user=${d.user} self=${d.user.id === me.user} onClose=${() => setDialog(null)} onDone=${reload}
      onDelete=${() => setDialog({ kind: 'delete', user: d.user })} />`}
    ${d && d.kind === 'password' && html`<${PasswordDialog} user=${d.user} onClose=${() => setDialog(null)} onDone=${reload} />`}
    ${d && d.kind === 'history' && html`<${HistoryDialog} user=${d.user} onClose=${() => setDialog(null)} />`}
    ${d && d.kind === 'delete' && html`<${Confirm} id="user-delete" title=${t('users.delete_title', { user: d.user.id })}
      message=${t('users.delete_message', { user: d.user.id })} confirmLabel=${t('users.delete')}
      onClose=${() => setDialog(null)} onConfirm=${() => remove(d.user)} />`}
  </div>`;
}
