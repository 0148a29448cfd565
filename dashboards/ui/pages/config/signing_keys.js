// The gateway's OAuth 2.0 signing keys (`GET /api/v1/oauth/keys`): public parts and dates
// only, newest first; Rotate (behind a confirm) makes a new key and retires the others, which
// stay published until their last tokens expire.
import { html, useState, useEffect } from '../../vendor/preact-htm.module.js';
import { get, post } from '../../api.js';
import { t, fmtTime } from '../../i18n.js';
import { Card, Button, Alert, Badge, Loading, Table, toast, Confirm } from '../../components.js';

const TONE = { active: 'good', retired: 'warn', expired: 'neutral' };
const STATE = { active: () => t('keys.state_active'), retired: () => t('keys.state_retired'), expired: () => t('keys.state_expired') };

const when = (s) => (s ? fmtTime(s, { dateStyle: 'medium', timeStyle: 'short' }) : '—');

export function SigningKeys({ tick, setTick }) {
  const [keys, setKeys] = useState(null);
  const [err, setErr] = useState(null);
  const [confirm, setConfirm] = useState(false);
  useEffect(() => {
    let live = true;
    get('/api/v1/oauth/keys').then((k) => live && setKeys(k)).catch((e) => live && setErr(e));
    return () => { live = false; };
  }, [tick]);
  const columns = [
    { key: 'kid', label: t('keys.col_kid'), render: (k) => html`<span class="mono small">${k.kid}</span>` },
    { key: 'alg', label: t('keys.col_alg'), render: (k) => html`<span class="mono">${k.alg}</span>` },
    { key: 'state', label: t('keys.col_state'), render: (k) => html`<span data-state=${k.state}><${Badge} tone=${TONE[k.state] || 'neutral'}>${STATE[k.state] ? STATE[k.state]() : k.state}<//></span>` },
    { key: 'created', label: t('keys.col_created'), render: (k) => when(k.created_at) },
    { key: 'retired', label: t('keys.col_retired'), render: (k) => when(k.retired_at) },
    { key: 'until', label: t('keys.col_keep_until'), render: (k) => when(k.keep_until) },
  ];
  const rotate = html`<${Button} kind="primary" id="keys-rotate" onClick=${() => setConfirm(true)}>${t('keys.rotate')}<//>`;
  return html`<${Card} title=${t('keys.title')} id="signing-keys" actions=${rotate}>
    <p class="muted">${t('keys.intro')}</p>
    ${err && html`<${Alert}>${err.message}<//>`}
    ${!keys && !err ? html`<${Loading} />`
      : keys && html`<${Table} id="keys-table" columns=${columns} rows=${keys.items} pageSize=${20} empty=${t('keys.none')} cards=${true} />`}
    ${confirm && html`<${Confirm} id="confirm-dialog" title=${t('keys.rotate_title')}
      message=${t('keys.rotate_text', { alg: (keys && keys.signing_alg) || 'ES256' })}
      confirmLabel=${t('keys.rotate')} onClose=${() => setConfirm(false)}
      onConfirm=${async () => {
        const r = await post('/api/v1/oauth/keys/rotate');
        toast(t('keys.rotated_toast', { kid: r.key.kid }), 'success');
        setTick((x) => x + 1);
      }} />`}
  <//>`;
}
