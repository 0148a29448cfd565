// The channels tab: e-mail, LINE and webhook destinations (model::channel::ChannelSpec), their
// editor and test button (POST /api/v1/channels/{id}/test, through the alerter). No credential
// is kept in a channel: the SMTP login and the LINE token are site settings, and a webhook
// names its HMAC key, whose bytes live in `[alerter.secrets]`; so nothing here can leak one.
import { html, useState, useEffect } from '../../vendor/preact-htm.module.js';
import { get, post, saveEntity, deleteEntity } from '../../api.js';
import { t } from '../../i18n.js';
import {
  Card, Table, Badge, Alert, Loading, Empty, Button, Field, Select, TextArea, Checkbox,
  CheckGroup, Segmented, toast,
} from '../../components.js';
import { ROLES, fieldErrors, lines, numOrText, go, listAll } from './shared.js';
import { roleName } from '../../nav.js';
import { SendResults } from './send_results.js';

const typeOf = (b) => (b.email ? 'email' : b.line ? 'line' : b.webhook ? 'webhook' : '');
const typeLabel = {
  email: () => t('alerts.ch_email'), line: () => t('alerts.ch_line'), webhook: () => t('alerts.ch_webhook'),
};

function destination(b) {
  if (b.email) {
    return [...(b.email.to || []), ...(b.email.roles || []).map((r) => t('alerts.role_users', { role: roleName(r) }))].join(', ');
  }
  if (b.line) return (b.line.to || []).join(', ');
  if (b.webhook) {
    // Only the host: a URL's path or query may carry a token.
    try {
      const u = new URL(b.webhook.url);
      return `${b.webhook.method || 'POST'} ${u.protocol}//${u.host}/…`;
    } catch (e) {
      return b.webhook.url;
    }
  }
  return '';
}

function ChannelList() {
  const [rows, setRows] = useState(null);
  const [err, setErr] = useState(null);
  const [testing, setTesting] = useState(null);
  const [answer, setAnswer] = useState(null);
  const [testErr, setTestErr] = useState(null);
  useEffect(() => { listAll(get, '/api/v1/channels').then(setRows).catch(setErr); }, []);
  const test = async (id) => {
    setTesting(id);
    setAnswer(null);
    setTestErr(null);
    try {
      setAnswer(await post(`/api/v1/channels/${encodeURIComponent(id)}/test`));
    } catch (e) {
      setTestErr(e);
    }
  };
  const columns = [
    { key: 'name', label: t('alerts.col_channel'), render: (c) => html`<div>
      <a class="strong" href=${`#/alerts?tab=channels&id=${encodeURIComponent(c.id)}`}>${c.body.name || c.id}</a>
      <div class="muted small">${c.id}</div></div>` },
    { key: 'type', label: t('alerts.col_type'), render: (c) => html`<${Badge} tone="neutral">${typeLabel[typeOf(c.body)] ? typeLabel[typeOf(c.body)]() : '?'}<//>` },
    { key: 'dest', label: t('alerts.col_destination'), render: (c) => html`<span class="detail">${destination(c.body)}</span>` },
    { key: 'lang', label: t('alerts.col_lang'), render: (c) => (c.body.lang === 'zh-TW' ? '中文' : 'English') },
    { key: 'enabled', label: t('alerts.col_enabled'), render: (c) => (c.body.enabled === false
      ? html`<${Badge}>${t('alerts.disabled')}<//>` : html`<${Badge} tone="good">${t('alerts.enabled')}<//>`) },
    { key: 'test', label: '', align: 'right', render: (c) => html`<${Button} onClick=${() => test(c.id)}
      id=${`channel-test-${c.id}`}>${t('alerts.test_send_btn')}<//>` },
  ];
  const add = html`<${Button} kind="primary" id="channel-new" onClick=${() => go({ tab: 'channels', id: 'new' })}>${t('alerts.channel_new')}<//>`;
  return html`<div class="alerts-stack">
    <${Card} title=${t('alerts.channels')} id="card-channels" actions=${add}>
      <p class="muted card-intro">${t('alerts.channels_intro')}</p>
      <${Alert}>${err && err.message}<//>
      ${rows === null ? !err && html`<${Loading} />` : rows.length === 0
        ? html`<${Empty} title=${t('alerts.channels_none')} hint=${t('alerts.channels_none_hint')} />`
        : html`<${Table} cards id="channels-table" columns=${columns} rows=${rows} pageSize=${25} />`}
    <//>
    ${testing && html`<${Card} title=${t('alerts.test_of', { id: testing })} id="card-channel-test">
      ${!answer && !testErr && html`<${Loading} />`}
      <${Alert} id="channel-test-error">${testErr && testErr.message}<//>
      <${SendResults} answer=${answer} />
    <//>`}
  </div>`;
}

function blank() {
  return {
    id: '', name: '', enabled: true, lang: 'zh-TW', type: 'email', to: '', roles: [], line: '',
    url: '', method: 'POST', preset: 'generic', routing_key: '', headers: '', body: '', secret: '', timeout_ms: '10000', retries: '3',
  };
}

function fromBody(id, b) {
  const d = { ...blank(), id, name: b.name || '', enabled: b.enabled !== false, lang: b.lang || 'en', type: typeOf(b) || 'email' };
  if (b.email) { d.to = (b.email.to || []).join('\n'); d.roles = b.email.roles || []; }
  if (b.line) d.line = (b.line.to || []).join('\n');
  if (b.webhook) {
    const w = b.webhook;
    Object.assign(d, {
      url: w.url || '', method: w.method || 'POST', preset: w.preset || 'generic', routing_key: w.routing_key || '',
      headers: Object.entries(w.headers || {}).map(([k, v]) => `${k}: ${v}`).join('\n'),
      body: w.body ? JSON.stringify(w.body, null, 2) : '', secret: w.secret || '',
      timeout_ms: String(w.timeout_ms ?? 10000), retries: String(w.retries ?? 3),
    });
  }
  return d;
}

/** The draft → the API's body; a body that is not JSON is sent as text so the API names it. */
function toBody(d) {
  const out = { name: d.name, enabled: d.enabled, lang: d.lang };
  if (d.type === 'email') out.email = { to: lines(d.to), roles: d.roles };
  if (d.type === 'line') out.line = { to: lines(d.line) };
  if (d.type === 'webhook') {
    const headers = {};
    for (const l of (d.headers || '').split('\n')) {
      const i = l.indexOf(':');
      if (l.trim() && i > 0) headers[l.slice(0, i).trim()] = l.slice(i + 1).trim();
      else if (l.trim()) headers[l.trim()] = '';
    }
    const w = {
      url: d.url.trim(), method: d.method, preset: d.preset, headers,
      timeout_ms: numOrText(d.timeout_ms), retries: numOrText(d.retries),
    };
    if (d.body.trim()) {
      try {
        w.body = JSON.parse(d.body);
      } catch (e) {
        w.body = d.body;
      }
    }
    if (d.secret.trim()) w.secret = d.secret.trim();
    // PagerDuty's integration key: answered as ****, which sent back keeps the stored one.
    if (d.preset === 'pagerduty' && d.routing_key.trim()) w.routing_key = d.routing_key.trim();
    out.webhook = w;
  }
  return out;
}

function ChannelEditor({ id }) {
  const [entry, setEntry] = useState(null);
  const [d, setD] = useState(id ? null : blank());
  const [err, setErr] = useState(null);
  const [loadErr, setLoadErr] = useState(null);
  const [busy, setBusy] = useState(false);
  const [answer, setAnswer] = useState(null);
  const [testErr, setTestErr] = useState(null);
  const [confirmDelete, setConfirmDelete] = useState(false);
  useEffect(() => {
    if (!id) return;
    get(`/api/v1/channels/${encodeURIComponent(id)}`)
      .then((e) => { setEntry(e); setD(fromBody(e.id, e.body)); })
      .catch(setLoadErr);
  }, [id]);
  if (loadErr) return html`<${Alert}>${loadErr.message}<//>`;
  if (!d) return html`<${Loading} />`;
  const { at } = fieldErrors(err);
  const set = (patch) => setD({ ...d, ...patch });
  const p = d.type;
  const save = async (e) => {
    e.preventDefault();
    setBusy(true);
    setErr(null);
    try {
      const saved = await saveEntity('channels', entry ? entry.id : d.id, toBody(d), entry && entry.version);
      if (entry) {
        setEntry(saved);
        setD(fromBody(saved.id, saved.body));
      } else {
        go({ tab: 'channels', id: saved.id });
      }
      toast(t('alerts.channel_saved', { name: d.name || saved.id }), 'success');
    } catch (x) {
      setErr(x);
    } finally {
      setBusy(false);
    }
  };
  const test = async () => {
    setAnswer(null);
    setTestErr(null);
    setBusy(true);
    try {
      setAnswer(await post(`/api/v1/channels/${encodeURIComponent(entry.id)}/test`));
    } catch (x) {
      setTestErr(x);
    } finally {
      setBusy(false);
    }
  };
  const remove = async () => {
    if (!confirmDelete) {
      setConfirmDelete(true);
      return;
    }
    try {
      await deleteEntity('channels', entry.id, entry.version);
      toast(t('alerts.channel_deleted', { name: d.name || entry.id }), 'success');
      go({ tab: 'channels' });
    } catch (x) {
      setErr(x);
      setConfirmDelete(false);
    }
  };
  const fieldShown = err && err.field && ['id', 'name', 'lang', 'email', 'line', 'webhook']
    .some((x) => err.field === x || err.field.startsWith(`${x}.`));
  return html`<form class="rule-editor" id="channel-form" onSubmit=${save} novalidate>
    <div class="editor-head">
      <a href="#/alerts?tab=channels" class="back">← ${t('alerts.back_channels')}</a>
      <h2>${entry ? d.name || entry.id : t('alerts.channel_new_title')}</h2>
    </div>
    ${err && !fieldShown && html`<${Alert} id="channel-error">${err.message}<//>`}
    <div class="editor-grid">
      <${Card} title=${t('alerts.sec_channel')}>
        <div class="form">
          <${Field} name="ch-name" label=${t('alerts.f_name')} value=${d.name} error=${at('name')} onInput=${(v) => set({ name: v })} />
          ${!entry && html`<${Field} name="ch-id" label=${t('alerts.f_id')} value=${d.id} error=${at('id')}
            hint=${t('alerts.f_id_hint')} onInput=${(v) => set({ id: v })} />`}
          <div class="field"><span class="field-label">${t('alerts.col_type')}</span>
            <${Segmented} id="ch-type" label=${t('alerts.col_type')} value=${d.type}
              options=${['email', 'line', 'webhook'].map((x) => ({ value: x, label: typeLabel[x]() }))}
              onChange=${(v) => set({ type: v })} />
            ${err && err.field === '' && html`<div class="field-message">${err.message}</div>`}
          </div>
          <div class="form-row">
            <${Select} name="ch-lang" label=${t('alerts.f_language')} value=${d.lang} error=${at('lang')}
              options=${[{ value: 'zh-TW', label: '中文（台灣）' }, { value: 'en', label: 'English' }]} onChange=${(v) => set({ lang: v })} />
            <${Checkbox} name="ch-enabled" label=${t('alerts.f_enabled')} checked=${d.enabled} onChange=${(v) => set({ enabled: v })} />
          </div>
        </div>
      <//>
      <${Card} title=${t('alerts.sec_destination')}>
        <div class="form">
          ${p === 'email' && html`
            <${TextArea} name="ch-to" label=${t('alerts.f_emails')} rows=${3} value=${d.to} error=${at('email.to')}
              hint=${t('alerts.one_per_line')} onInput=${(v) => set({ to: v })} />
            <${CheckGroup} name="ch-roles" label=${t('alerts.f_roles')} value=${d.roles} error=${at('email.roles')}
              options=${ROLES.map((r) => ({ value: r, label: roleName(r) }))} hint=${t('alerts.f_roles_hint')}
              onChange=${(v) => set({ roles: v })} />`}
          ${p === 'line' && html`<${TextArea} name="ch-line" label=${t('alerts.f_line')} rows=${3} value=${d.line}
            error=${at('line.to', 'line')} hint=${t('alerts.f_line_token_hint')} onInput=${(v) => set({ line: v })} />`}
          ${p === 'webhook' && html`
            <${Field} name="ch-url" label=${t('alerts.f_url')} value=${d.url} error=${at('webhook.url')} onInput=${(v) => set({ url: v })} />
            <div class="form-row">
              <${Select} name="ch-method" label=${t('alerts.f_method')} value=${d.method} error=${at('webhook.method')}
                options=${['POST', 'PUT', 'PATCH'].map((m) => ({ value: m, label: m }))} onChange=${(v) => set({ method: v })} />
              <${Select} name="ch-preset" label=${t('alerts.f_preset')} value=${d.preset} error=${at('webhook.preset')}
                options=${[
                  { value: 'generic', label: t('alerts.preset_generic') },
                  { value: 'alertmanager', label: t('alerts.preset_alertmanager') },
                  { value: 'pagerduty', label: 'PagerDuty (Events API v2)' },
                  { value: 'slack', label: 'Slack' },
                  { value: 'teams', label: 'Microsoft Teams (Workflows)' },
                ]}
                onChange=${(v) => set(v === 'pagerduty' && !d.url.trim()
                  ? { preset: v, url: 'https://events.pagerduty.com/v2/enqueue' } : { preset: v })} />
            </div>
            ${d.preset === 'pagerduty' && html`<${Field} name="ch-routing-key" label=${t('alerts.f_routing_key')} value=${d.routing_key}
              error=${at('webhook.routing_key')} hint=${t('alerts.f_routing_key_hint')} onInput=${(v) => set({ routing_key: v })} />`}
            <${TextArea} name="ch-headers" label=${t('alerts.f_headers')} rows=${2} mono value=${d.headers}
              error=${at('webhook.headers')} hint=${t('alerts.f_headers_hint')} onInput=${(v) => set({ headers: v })} />
            <${TextArea} name="ch-body" label=${t('alerts.f_webhook_body')} rows=${4} mono value=${d.body}
              error=${at('webhook.body')} hint=${t('alerts.f_webhook_body_hint')} onInput=${(v) => set({ body: v })} />
            <${Field} name="ch-secret" label=${t('alerts.f_secret')} value=${d.secret} error=${at('webhook.secret')}
              hint=${t('alerts.f_secret_hint')} onInput=${(v) => set({ secret: v })} />
            <div class="form-row">
              <${Field} name="ch-timeout" type="number" label=${t('alerts.f_timeout_ms')} value=${d.timeout_ms}
                error=${at('webhook.timeout_ms')} onInput=${(v) => set({ timeout_ms: v })} />
              <${Field} name="ch-retries" type="number" label=${t('alerts.f_retries')} value=${d.retries}
                error=${at('webhook.retries')} onInput=${(v) => set({ retries: v })} />
            </div>`}
        </div>
      <//>
      ${entry && html`<${Card} title=${t('alerts.test_send')} wide id="card-channel-test">
        <p class="muted">${t('alerts.channel_test_hint')}</p>
        <${Button} id="channel-test" onClick=${test} disabled=${busy}>${t('alerts.test_send_btn')}<//>
        <${Alert} id="channel-test-error">${testErr && testErr.message}<//>
        <${SendResults} answer=${answer} />
      <//>`}
    </div>
    <div class="editor-actions">
      <${Button} kind="primary" type="submit" id="channel-save" disabled=${busy}>${entry ? t('alerts.save') : t('alerts.create')}<//>
      <a class="btn btn-secondary" href="#/alerts?tab=channels">${t('alerts.cancel')}</a>
      ${entry && html`<span class="spacer"></span><${Button} kind="danger" id="channel-delete" onClick=${remove}>${confirmDelete ? t('alerts.delete_confirm') : t('alerts.delete')}<//>`}
    </div>
  </form>`;
}

export function ChannelsTab({ id }) {
  if (id) return html`<${ChannelEditor} key=${id} id=${id === 'new' ? null : id} />`;
  return html`<${ChannelList} />`;
}
