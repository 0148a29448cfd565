// Acknowledging a firing alert (POST /api/v1/alerts/ack, /unack): the dialog the active list
// opens, and the page the link in alert messages leads to,
// `#/alerts/ack?rule=<id>&key=<scope key>&episode=<µs>`. That page only shows the alert and
// asks to confirm: opening the link (a mail scanner following it) acknowledges nothing.
import { html, useState, useEffect } from '../../vendor/preact-htm.module.js';
import { get, post } from '../../api.js';
import { t, fmtTime } from '../../i18n.js';
import {
  Card, Button, Alert, Loading, Select, TextArea, KeyValues, Modal, toast,
} from '../../components.js';
import { kindLabel, scopeParts, errorAt } from './shared.js';

const FOR = [
  { value: '', label: () => t('ack.for_resolve') },
  { value: '3600', label: () => t('ack.for_hours', { n: 1 }) },
  { value: '14400', label: () => t('ack.for_hours', { n: 4 }) },
  { value: '86400', label: () => t('ack.for_hours', { n: 24 }) },
];

const when = (v) => (v ? fmtTime(v, { dateStyle: 'short', timeStyle: 'short' }) : '');

/** Who holds the ack and until when, as one line. */
export function ackLine(ack) {
  if (!ack) return '';
  const until = ack.until ? t('ack.until', { time: when(ack.until) }) : t('ack.until_resolved');
  return t('ack.by_line', { who: ack.by, time: when(ack.at), until });
}

/** The form of an ack: how long, a comment, the API's field errors beside them. */
function AckForm({ alert, onDone, id }) {
  const [forSecs, setForSecs] = useState('');
  const [comment, setComment] = useState('');
  const [err, setErr] = useState(null);
  const [busy, setBusy] = useState(false);
  const send = async () => {
    setBusy(true);
    setErr(null);
    const body = { rule: alert.rule_id, scope_key: alert.scope_key, episode_us: alert.episode_us };
    if (forSecs) body.for_secs = Number(forSecs);
    if (comment.trim()) body.comment = comment.trim();
    try {
      await post('/api/v1/alerts/ack', body);
      toast(t('ack.done'), 'success');
      onDone();
    } catch (e) {
      setErr(e);
      setBusy(false);
    }
  };
  const beside = err && ['for_secs', 'comment'].includes(err.field);
  return html`<div class="form" id=${id}>
    ${err && !beside && html`<${Alert} id=${`${id}-error`}>${err.message}<//>`}
    <${Select} name="ack-for" label=${t('ack.for')} value=${forSecs} error=${errorAt(err, 'for_secs')}
      options=${FOR.map((f) => ({ value: f.value, label: f.label() }))} onChange=${setForSecs} />
    <${TextArea} name="ack-comment" label=${t('ack.comment')} rows=${2} value=${comment}
      error=${errorAt(err, 'comment')} hint=${t('ack.comment_hint')} onInput=${setComment} />
    <div class="form-actions">
      <${Button} kind="primary" id=${`${id}-ok`} disabled=${busy} onClick=${send}>${t('ack.confirm')}<//>
    </div>
  </div>`;
}

/** The dialog the active list opens. */
export function AckDialog({ alert, onClose, onDone }) {
  return html`<${Modal} title=${t('ack.title')} onClose=${onClose} id="ack-dialog">
    <p><span class="strong">${alert.rule_name || alert.rule_id}</span> · ${scopeParts(alert.scope)}</p>
    <${AckForm} alert=${alert} id="ack-form" onDone=${() => { onDone(); onClose(); }} />
  <//>`;
}

/** Takes back the ack of `alert`; errors go to `onError`. */
export async function unack(alert) {
  await post('/api/v1/alerts/unack', {
    rule: alert.rule_id, scope_key: alert.scope_key, episode_us: alert.episode_us,
  });
  toast(t('ack.taken_back'), 'success');
}

/** `#/alerts/ack?rule=…&key=…&episode=…`: the alert, and a button to acknowledge it. */
export function AckPage({ params }) {
  const [data, setData] = useState(null);
  const [err, setErr] = useState(null);
  const [tick, setTick] = useState(0);
  useEffect(() => {
    get('/api/v1/alerts').then(setData).catch(setErr);
  }, [tick]);
  const episode = Number(params.episode);
  const same = (a) => a.rule_id === params.rule && a.scope_key === (params.key || '');
  const items = (data && data.items) || [];
  const alert = items.find((a) => same(a) && a.episode_us === episode);
  const other = !alert && items.find(same);
  let body;
  if (!data) body = !err && html`<${Loading} />`;
  else if (!alert) {
    body = html`<${Alert} kind="warn" id="ack-gone">${other && other.state === 'firing'
      ? t('ack.other_episode') : t('ack.not_firing')}<//>`;
  } else {
    body = html`<div>
      <${KeyValues} id="ack-alert" items=${[
        [t('alerts.col_rule'), alert.rule_name || alert.rule_id],
        [t('alerts.col_kind'), kindLabel(alert.kind)],
        [t('alerts.col_scope'), scopeParts(alert.scope)],
        [t('alerts.col_state'), alert.state === 'firing' ? t('alert.firing') : t('alert.pending')],
        [t('alerts.col_since'), when(alert.since)],
        [t('alerts.col_fired'), when(alert.fired_at)],
      ]} />
      ${alert.state !== 'firing' && html`<${Alert} kind="warn" id="ack-gone">${t('ack.not_firing')}<//>`}
      ${alert.ack && html`<${Alert} kind="info" id="ack-held">${ackLine(alert.ack)}${alert.ack.comment ? ` — ${alert.ack.comment}` : ''}<//>`}
      ${alert.state === 'firing' && !alert.ack && html`<${AckForm} alert=${alert} id="ack-page-form"
        onDone=${() => setTick((x) => x + 1)} />`}
    </div>`;
  }
  return html`<${Card} title=${t('ack.page_title')} id="card-ack">
    <a href="#/alerts" class="back">← ${t('ack.back')}</a>
    <${Alert}>${err && err.message}<//>
    ${body}
  <//>`;
}
