// Login: user and password, the API's errors shown (a field's beside it, others above the
// form), the lockout's wait, and why we are here when a session ended.
import { html, useState } from '../vendor/preact-htm.module.js';
import { post } from '../api.js';
import { t } from '../i18n.js';
import { Field, Button, Alert } from '../components.js';

function message(err) {
  if (!err || err.field) return null;
  switch (err.code) {
    case 'locked': {
      const secs = err.retryAfter || 0;
      return t('login.locked', { minutes: Math.max(1, Math.ceil(secs / 60)) });
    }
    case 'bad_credentials': return t('login.bad_credentials');
    case 'busy': return t('login.busy');
    case 'network': return t('common.network_error');
    default: return err.message;
  }
}

export function LoginPage({ onLoggedIn, notice, langSwitch }) {
  const [user, setUser] = useState('');
  const [password, setPassword] = useState('');
  const [err, setErr] = useState(null);
  const [busy, setBusy] = useState(false);

  const submit = async (e) => {
    e.preventDefault();
    setBusy(true);
    setErr(null);
    try {
      const info = await post('/api/v1/login', { user, password });
      await onLoggedIn(info);
    } catch (x) {
      setErr(x);
      setBusy(false);
    }
  };
  const fieldError = (f) => (err && err.field === f ? err.message : null);

  return html`<div class="login">
    <div class="login-side">
      <div class="brand brand-large"><img src="/ui/favicon.svg" alt="" width="32" height="32" />gatewatch</div>
      <p class="login-tagline">${t('login.tagline')}</p>
      <ul class="login-points">
        <li>${t('login.point_monitor')}</li>
        <li>${t('login.point_alerts')}</li>
        <li>${t('login.point_reports')}</li>
      </ul>
    </div>
    <div class="login-main">
      <div class="login-lang">${langSwitch}</div>
      <form class="login-form" id="login-form" onSubmit=${submit} novalidate>
        <h1>${t('login.title')}</h1>
        <p class="muted">${t('login.subtitle')}</p>
        <${Alert} kind="warn" id="login-notice">${!err && notice}<//>
        <${Alert} kind="error" id="login-error">${message(err)}<//>
        <${Field} name="user" label=${t('login.user')} value=${user} onInput=${setUser}
          autocomplete="username" required error=${fieldError('user')} />
        <${Field} name="password" type="password" label=${t('login.password')} value=${password}
          onInput=${setPassword} autocomplete="current-password" required error=${fieldError('password')} />
        <${Button} kind="primary" type="submit" id="login-submit" disabled=${busy}>
          ${busy ? t('login.signing_in') : t('login.submit')}<//>
      </form>
    </div>
  </div>`;
}
