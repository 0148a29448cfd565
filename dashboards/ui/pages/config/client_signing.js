// The client editor's "Request signatures" card (issue 17, RFC 9421): the public keys the
// client signs with (rows of key id, algorithm and PEM; errors beside the row the API names,
// `signing_keys[1].public_key`), and for a saved client its `hmac-sha256` signing secret:
// made by `POST /api/v1/clients/{id}/signing-secret` and shown once, like the client secret.
import { html, useState } from '../../vendor/preact-htm.module.js';
import { post } from '../../api.js';
import { t } from '../../i18n.js';
import { Card, Button, Field, Select, TextArea, Confirm, Badge } from '../../components.js';
import { errorAt, ShownOnce } from './common.js';

const ALGS = ['ed25519', 'ecdsa-p256-sha256'];

/** The rows of the form state from a stored body. */
export function keyRows(b) {
  return ((b && b.signing_keys) || []).map((k) => ({ id: k.id || '', alg: k.alg || 'ed25519', public_key: k.public_key || '' }));
}

/** The rows to send: a row left wholly empty is dropped; anything typed goes, for the API to judge. */
export function keysBody(rows) {
  return rows.filter((r) => r.id.trim() || r.public_key.trim())
    .map((r) => ({ id: r.id.trim(), alg: r.alg, public_key: r.public_key.trim() }));
}

/** Whether the stored client has a signing secret (the answer names it one way or the other). */
export function hasSigningSecret(b) {
  return !!(b && (b.has_signing_secret || b.signing_secret));
}

export function SigningCard({ client, rows, setRows, err, onSecret }) {
  const [dialog, setDialog] = useState(null);
  const setRow = (i, k, v) => setRows(rows.map((r, j) => (j === i ? { ...r, [k]: v } : r)));
  // `signing_keys` itself (too many keys) goes under the rows, a row's field beside it.
  const listErr = err && err.field === 'signing_keys' ? err.message : null;
  const rowErr = (i) => (err && err.field === `signing_keys[${i}]` ? err.message : null);
  const has = client && hasSigningSecret(client.body);
  return html`<${Card} title=${t('signing.title')} id="client-signing">
    <p class="muted small card-note">${t('signing.note')}</p>
    <div class=${listErr ? 'field field-error' : 'field'} id="f-signing-keys">
      <span class="field-label">${t('signing.keys')}</span>
      ${rows.length === 0 && html`<p class="muted small" id="signing-keys-none">${t('signing.keys_none')}</p>`}
      <div class="signing-rows">
        ${rows.map((r, i) => html`<div class="signing-row" key=${i} data-row=${i}>
          <div class="signing-row-head">
            <${Field} name=${`sk-id-${i}`} label=${t('signing.key_id')} value=${r.id} onInput=${(v) => setRow(i, 'id', v)}
              error=${errorAt(err, `signing_keys[${i}].id`) || rowErr(i)} hint=${t('signing.key_id_hint')} />
            <${Select} name=${`sk-alg-${i}`} label=${t('signing.alg')} value=${r.alg} onChange=${(v) => setRow(i, 'alg', v)}
              error=${errorAt(err, `signing_keys[${i}].alg`)} options=${ALGS.map((a) => ({ value: a, label: a }))} />
            <${Button} id=${`sk-remove-${i}`} onClick=${() => setRows(rows.filter((_, j) => j !== i))}>${t('config.remove')}<//>
          </div>
          <${TextArea} name=${`sk-pem-${i}`} mono rows=${4} label=${t('signing.public_key')} value=${r.public_key}
            onInput=${(v) => setRow(i, 'public_key', v)} error=${errorAt(err, `signing_keys[${i}].public_key`)}
            placeholder="-----BEGIN PUBLIC KEY-----" hint=${t('signing.public_key_hint')} />
        </div>`)}
      </div>
      ${listErr && html`<div class="field-message" role="alert">${listErr}</div>`}
      <div><${Button} id="sk-add" onClick=${() => setRows([...rows, { id: '', alg: 'ed25519', public_key: '' }])}>${t('signing.key_add')}<//></div>
    </div>
    ${client && html`<div class="field signing-secret" id="client-signing-secret">
      <span class="field-label">${t('signing.secret')}</span>
      <div class="row-actions">
        ${has ? html`<${Badge} tone="good">${t('signing.secret_set')}<//>` : html`<${Badge} tone="neutral">${t('signing.secret_none')}<//>`}
        <${Button} id="signing-secret-new" onClick=${() => setDialog({ kind: 'confirm' })}>${has ? t('signing.secret_replace') : t('signing.secret_make')}<//>
      </div>
      <div class="field-hint">${t('signing.secret_hint', { id: client.id })}</div>
    </div>`}
    ${dialog && dialog.kind === 'confirm' && html`<${Confirm} id="confirm-dialog" title=${t('signing.secret_title')}
      message=${has ? t('signing.secret_replace_text') : t('signing.secret_text')} confirmLabel=${t('signing.secret_create')}
      onClose=${() => setDialog(null)}
      onConfirm=${async () => {
        const r = await post(`/api/v1/clients/${encodeURIComponent(client.id)}/signing-secret`);
        onSecret();
        // Shown after the confirm has closed itself.
        setTimeout(() => setDialog({ kind: 'shown', r }), 0);
      }} />`}
    ${dialog && dialog.kind === 'shown' && html`<${ShownOnce} title=${t('signing.secret_created')}
      secret=${dialog.r.secret || dialog.r.signing_secret} hint=${dialog.r.hint}
      onClose=${() => setDialog(null)} />`}
  <//>`;
}
