// Change one's own password. The server checks it (length, the current one) and answers with
// a new session, since a change ends every other one; its errors show beside their field.
import { html, useState } from '../vendor/preact-htm.module.js';
import { post, setCsrf } from '../api.js';
import { t } from '../i18n.js';
import { PageHeader, Card, Field, Button, Alert, toast } from '../components.js';

export default function PasswordPage() {
  const [current, setCurrent] = useState('');
  const [next, setNext] = useState('');
  const [confirm, setConfirm] = useState('');
  const [err, setErr] = useState(null);
  const [busy, setBusy] = useState(false);

  const submit = async (e) => {
    e.preventDefault();
    if (next !== confirm) {
      setErr({ field: 'confirm', message: t('password.mismatch') });
      return;
    }
    setBusy(true);
    setErr(null);
    try {
      const info = await post('/api/v1/me/password', { current, new: next });
      setCsrf(info && info.csrf_token);
      setCurrent('');
      setNext('');
      setConfirm('');
      toast(t('password.changed'), 'success');
    } catch (x) {
      setErr(x);
    } finally {
      setBusy(false);
    }
  };
  const fieldError = (f) => (err && err.field === f ? err.message : null);

  return html`<div class="page" data-page="password">
    <${PageHeader} title=${t('password.title')} subtitle=${t('password.subtitle')} />
    <${Card} narrow>
      <form class="form narrow" id="password-form" onSubmit=${submit} novalidate>
        <${Alert} kind="error">${err && !err.field && err.message}<//>
        <${Field} name="current" type="password" label=${t('password.current')} value=${current}
          onInput=${setCurrent} autocomplete="current-password" error=${fieldError('current')} />
        <${Field} name="new" type="password" label=${t('password.new')} value=${next}
          onInput=${setNext} autocomplete="new-password" error=${fieldError('new')}
          hint=${t('password.rule')} />
        <${Field} name="confirm" type="password" label=${t('password.confirm')} value=${confirm}
          onInput=${setConfirm} autocomplete="new-password" error=${fieldError('confirm')} />
        <div class="form-actions">
          <${Button} kind="primary" type="submit" disabled=${busy}>${t('password.submit')}<//>
        </div>
      </form>
    <//>
  </div>`;
}
