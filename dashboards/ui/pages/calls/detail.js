// One call (`#/calls/<call_id>`): what happened in words (a refusal's reason), the timings as
// a bar (upstream vs the gateway's own time), who and where, and the request and response
// headers and bodies as captured and masked by the gateway.
import { html, useState, useEffect } from '../../vendor/preact-htm.module.js';
import { get, post } from '../../api.js';
import { t, fmtNumber, fmtTime, zoneName } from '../../i18n.js';
import { PageHeader, Card, Stat, Alert, Empty, Badge, Loading, KeyValues, CopyButton, Button, Confirm, toast } from '../../components.js';
import { Body } from './body.js';
import { lastSearchHash } from './search.js';
import { outcomeLabel, outcomeText, outcomeTone, statusTone, isRefusal, ms } from './words.js';

const fmtMs = (us) => {
  const v = ms(us);
  return v === null ? '—' : `${fmtNumber(v, { maximumFractionDigits: v < 100 ? 2 : 0 })} ms`;
};

/** Total time split into upstream and the gateway's own share, as a bar (SVG: no inline styles). */
function Timing({ call }) {
  const total = Math.max(call.latency_us || 0, 1);
  const up = Math.min(call.upstream_latency_us || 0, total);
  const own = call.overhead_us || Math.max(total - up, 0);
  const w = (x) => Math.max(0, Math.min(1000, Math.round((1000 * x) / total)));
  return html`<div class="calls-timing" id="call-timing">
    <svg class="calls-bar" viewBox="0 0 1000 14" preserveAspectRatio="none" role="img"
      aria-label=${t('calls.timing_alt', { upstream: fmtMs(up), gateway: fmtMs(own) })}>
      <rect class="bar-bg" x="0" y="0" width="1000" height="14" rx="3" />
      <rect class="bar-up" x="0" y="0" width=${w(up)} height="14" />
      <rect class="bar-own" x=${w(up)} y="0" width=${w(Math.min(own, total - up))} height="14" />
    </svg>
    <div class="calls-legend">
      <span><i class="key key-up"></i>${t('calls.upstream_time')} <b>${fmtMs(up)}</b></span>
      <span><i class="key key-own"></i>${t('calls.gateway_time')} <b>${fmtMs(own)}</b></span>
      <span class="muted">${t('calls.total_time')} <b>${fmtMs(call.latency_us)}</b></span>
    </div>
  </div>`;
}

function Headers({ headers, id }) {
  const rows = Object.entries(headers || {}).flatMap(([k, v]) => (Array.isArray(v) ? v : [v]).map((x) => [k, x]));
  if (rows.length === 0) return html`<div class="muted calls-none" id=${id}>${t('calls.no_headers')}</div>`;
  return html`<div class="table-wrap" id=${id}><table class="calls-headers">
    <thead><tr><th>${t('calls.header_name')}</th><th>${t('calls.header_value')}</th></tr></thead>
    <tbody>${rows.map(([k, v]) => html`<tr><td class="mono">${k}</td><td class="mono calls-value">${/\*{4}/.test(v) ? html`<span class="j-masked">${v}</span>` : v}</td></tr>`)}</tbody>
  </table></div>`;
}

function Side({ title, headers, body, bytes, prefix }) {
  return html`<${Card} title=${title} id=${`${prefix}-card`}>
    <h3 class="calls-sub">${t('calls.headers')}</h3>
    <${Headers} headers=${headers} id=${`${prefix}-headers`} />
    <h3 class="calls-sub">${t('calls.body')}</h3>
    <${Body} text=${body} bytes=${bytes} id=${`${prefix}-body`} />
  <//>`;
}

export function Detail({ me, id }) {
  const [call, setCall] = useState(null);
  const [err, setErr] = useState(null);
  const [keyHint, setKeyHint] = useState(null);
  const [revoking, setRevoking] = useState(false);
  const tz = me.timezone ? `?tz=${encodeURIComponent(me.timezone)}` : '';
  const perms = new Set(me.permissions);

  useEffect(() => {
    let live = true;
    setCall(null);
    setErr(null);
    setKeyHint(null);
    get(`/api/v1/reports/calls/${encodeURIComponent(id)}${tz}`).then((c) => {
      if (!live) return;
      setCall(c);
      // The key's hint (its last characters) says which key it was without showing it.
      if (c.api_key_id && perms.has('read_gateway_config')) {
        get(`/api/v1/api-keys/${encodeURIComponent(c.api_key_id)}`)
          .then((k) => live && setKeyHint((k.body && k.body.hint) || null)).catch(() => {});
      }
    }).catch((e) => live && setErr(e));
    return () => { live = false; };
  }, [id, tz]);

  const back = html`<a class="btn btn-secondary" href=${lastSearchHash()} id="call-back">${t('calls.back')}</a>`;
  if (err) {
    const missing = err.status === 404;
    return html`<div class="calls-detail">
      <${PageHeader} title=${t('calls.detail_title')} subtitle=${id} actions=${back} />
      <${Card}>
        <${Empty} title=${missing ? t('calls.not_found') : t('calls.cannot_open')}
          hint=${missing ? t('calls.not_found_hint') : err.message} />
      <//>
    </div>`;
  }
  if (!call) {
    return html`<div class="calls-detail">
      <${PageHeader} title=${t('calls.detail_title')} subtitle=${id} actions=${back} /><${Loading} />
    </div>`;
  }
  const refused = isRefusal(call.outcome);
  // To the millisecond: calls of one second are told apart by it.
  const when = fmtTime(call.ts_us / 1000, {
    year: 'numeric', month: 'short', day: 'numeric', weekday: 'short', hour: '2-digit',
    minute: '2-digit', second: '2-digit', fractionalSecondDigits: 3, hourCycle: 'h23',
  });
  // Admins may revoke the token that made the call: every gateway refuses it within a second.
  const mayRevoke = perms.has('write_gateway_config') && call.token_jti && call.client_id;
  const key = call.api_key_id ? (keyHint ? `${call.api_key_id} (${keyHint}…)` : call.api_key_id) : '';
  return html`<div class="calls-detail" id="call-detail" data-call=${call.call_id}>
    <${PageHeader}
      title=${html`<span class="calls-title"><span class="mono">${call.method}</span> <span class="mono calls-title-path">${call.path}</span></span>`}
      subtitle=${html`<span id="call-id" class="mono">${call.call_id}</span>`}
      actions=${html`${back}<${CopyButton} id="call-copy" text=${call.call_id} label=${t('calls.copy_id')}
        done=${t('calls.copied')} />`} />
    <div class="stats calls-stats">
      <${Stat} id="call-status" label=${t('calls.status')} tone=${statusTone(call.status) === 'neutral' ? undefined : statusTone(call.status)}
        value=${html`<${Badge} tone=${statusTone(call.status)}>${call.status}<//>`}
        hint=${fmtTime(call.ts_us / 1000, { dateStyle: 'medium', timeStyle: 'medium' })} />
      <${Stat} id="call-outcome" label=${t('calls.outcome')} tone=${outcomeTone(call.outcome)}
        value=${outcomeLabel(call.outcome)} hint=${call.outcome} />
      <${Stat} id="call-latency" label=${t('calls.total_time')} value=${fmtMs(call.latency_us)}
        hint=${t('calls.upstream_hint', { upstream: fmtMs(call.upstream_latency_us) })} />
      <${Stat} id="call-size" label=${t('calls.sizes')}
        value=${`${fmtNumber(call.request_bytes)} / ${fmtNumber(call.response_bytes)}`}
        hint=${t('calls.sizes_hint')} />
    </div>
    <${Alert} kind=${refused || outcomeTone(call.outcome) === 'bad' ? 'warn' : 'info'} id="call-outcome-text">
      <strong class="calls-outcome-label">${outcomeLabel(call.outcome)}</strong><span>${outcomeText(call.outcome)}</span>
      ${call.error && html`<div class="calls-error-text">${t('calls.gateway_said', { error: call.error })}</div>`}
    <//>
    <div class="calls-detail-grid">
      <${Card} title=${t('calls.summary')} id="call-summary">
        <${KeyValues} items=${[
          [t('calls.when'), html`${when} <span class="muted">${zoneName()}</span>`],
          [t('calls.api'), call.api_name ? html`${call.api_name} <span class="muted mono">${call.api_id}</span>` : call.api_id],
          [t('version.col_version'), call.api_version && html`<span class="mono" id="call-api-version">${call.api_version}</span>`],
          [t('calls.module'), call.module],
          [t('calls.route'), call.route && html`<span class="mono">${call.route}</span>`],
          [t('calls.client'), call.client_id || html`<span class="muted">${t('calls.anonymous')}</span>`],
          [t('calls.app'), call.app_id],
          [t('calls.key'), key && html`<span class="mono" id="call-key">${key}</span>`],
          [t('calls.client_ip'), call.client_ip && html`<span class="mono">${call.client_ip}</span>`],
          [t('calls.user_agent'), call.user_agent],
          [t('calls.request_id'), call.request_id && html`<span class="mono">${call.request_id}</span>`],
          [t('calls.trace_id'), call.trace_id && html`<a class="mono" id="call-trace-id" href=${`#/calls?trace_id=${call.trace_id}&range=7d`} title=${t('calls.trace_search')}>${call.trace_id}</a>`],
          [t('calls.span_id'), call.span_id && html`<span class="mono" id="call-span-id">${call.span_id}</span>`],
          [t('calls.parent_span_id'), call.trace_id && (call.parent_span_id
            ? html`<span class="mono" id="call-parent-span-id">${call.parent_span_id}</span>`
            : html`<span class="muted" id="call-parent-span-id">${t('calls.trace_started')}</span>`)],
        ]} />
      <//>
      <${Card} title=${t('calls.route_card')} id="call-route">
        <${KeyValues} items=${[
          [t('calls.method'), html`<span class="mono strong">${call.method}</span>`],
          [t('calls.col_path'), html`<span class="mono">${call.path}</span>`],
          [t('calls.query'), call.query ? html`<span class="mono">${call.query}</span>` : html`<span class="muted">${t('calls.none_short')}</span>`],
          [t('calls.node'), call.node],
          [t('calls.protocol'), call.http_version && html`<span class="mono" id="call-protocol">${[call.http_version, call.tls_version, call.tls_cipher].filter(Boolean).join(' · ')}</span>`],
          [t('calls.client_cert'), call.client_cert && html`<span class="mono" id="call-client-cert">${call.client_cert}</span>`],
          [t('calls.auth_method'), call.auth_method && html`<span class="mono" id="call-auth-method">${call.auth_method}</span>`],
          [t('calls.token_jti'), call.token_jti && html`<span class="mono" id="call-token-jti">${call.token_jti}</span>
            ${mayRevoke && html` <${Button} kind="danger" id="call-revoke-token" onClick=${() => setRevoking(true)}>${t('calls.revoke_token')}<//>`}`],
          [t('calls.scopes'), call.scopes && html`<span class="mono" id="call-scopes">${call.scopes}</span>`],
          [t('calls.findings'), call.findings?.length > 0 && html`<span class="mono" id="call-findings">${call.findings.map((f, i) => html`${i ? ' · ' : ''}<a href=${`#/calls?finding=${encodeURIComponent(f)}`} title=${t('calls.finding_search')}>${f}</a>`)}</span>`],
          [t('calls.policies'), call.policies?.length > 0 && html`<span class="mono" id="call-policies">${call.policies.join(' · ')}</span>`],
          [t('calls.upstream'), call.upstream ? html`<span class="mono">${call.upstream}</span>` : html`<span class="muted">${refused ? t('calls.no_upstream_refused') : t('calls.none_short')}</span>`],
        ]} />
        <h3 class="calls-sub">${t('calls.timings')}</h3>
        <${Timing} call=${call} />
      <//>
    </div>
    ${revoking && html`<${Confirm} id="confirm-dialog" title=${t('calls.revoke_token_title')}
      message=${t('calls.revoke_token_text', { jti: call.token_jti, client: call.client_id })}
      confirmLabel=${t('calls.revoke_token')} onClose=${() => setRevoking(false)}
      onConfirm=${async () => {
        await post('/api/v1/oauth/revocations', { jti: call.token_jti, client_id: call.client_id });
        toast(t('calls.revoked_token_toast'), 'success');
      }} />`}
    <div class="calls-detail-grid">
      <${Side} title=${t('calls.request')} headers=${call.request_headers} body=${call.request_body}
        bytes=${call.request_bytes} prefix="call-request" />
      <${Side} title=${t('calls.response')} headers=${call.response_headers} body=${call.response_body}
        bytes=${call.response_bytes} prefix="call-response" />
    </div>
    <p class="muted calls-masked-note">${t('calls.masked_note')}</p>
  </div>`;
}
