// The API editor's "Policies" card (issue 17): message checks, request signatures,
// idempotency, transaction tokens, the body limit, CORS, the deny list and the API's own rate.
// Each policy is off until switched on; switched on, it starts from the model's defaults, and
// the form sends only what is on, so the API's defaults and its checks stay the only truth.
// Errors arrive as the API names them (`cors.origins[1]`) and are shown beside their field,
// a list's with its line.
import { html } from '../../vendor/preact-htm.module.js';
import { t, fmtNumber } from '../../i18n.js';
import { Card, Field, Select, TextArea, CheckGroup, Checkbox } from '../../components.js';
import { errorAt, num, str, lines, compact } from './common.js';

/** Every method a policy may name (the model's list). */
const METHODS = ['GET', 'HEAD', 'POST', 'PUT', 'DELETE', 'PATCH', 'OPTIONS', 'TRACE', 'CONNECT'];
const CHECKS = ['sqli', 'xss'];
const DEFAULT_COMPONENTS = ['@method', '@path', '@query', 'content-digest'];

/** The spec fields this card edits (the JSON box leaves them out). */
export const POLICY_FIELDS = ['checks', 'check_mode', 'check_headers', 'signature', 'idempotency', 'tx_token',
  'max_body_bytes', 'cors', 'ip_deny', 'rate'];

const join = (xs) => (xs || []).join('\n');

/** The card's part of the form state, from a stored body (or a new API's: every policy off). */
export function policyForm(b) {
  b = b || {};
  const s = b.signature || null;
  const i = b.idempotency || null;
  const x = b.tx_token || null;
  const c = b.cors || null;
  return {
    checks: b.checks || [],
    checkMode: b.check_mode || 'block',
    checkHeaders: join(b.check_headers),
    sigOn: !!s,
    sigRequired: s ? s.required !== false : true,
    sigComponents: join(s ? s.components : DEFAULT_COMPONENTS),
    sigMaxAge: str(s ? s.max_age_secs : 300),
    sigNonce: s ? s.nonce_required !== false : true,
    idemOn: !!i,
    idemMethods: i ? i.methods || [] : ['POST'],
    idemTtl: str(i ? i.ttl_secs : 86400),
    idemRequired: !!(i && i.required),
    idemMaxAnswer: str(i ? i.max_answer_bytes : 65536),
    txOn: !!x,
    txMethods: x ? x.methods || [] : ['POST'],
    txTtl: str(x ? x.ttl_secs : 300),
    maxBody: str(b.max_body_bytes),
    corsOn: !!c,
    corsOrigins: join(c && c.origins),
    corsMethods: (c && c.methods) || [],
    corsHeaders: join(c && c.headers),
    corsExpose: join(c && c.expose_headers),
    corsMaxAge: str(c && c.max_age),
    corsCredentials: !!(c && c.credentials),
    ipDeny: join(b.ip_deny),
    ratePerSecond: str(b.rate && b.rate.per_second),
    rateBurst: str(b.rate && b.rate.burst),
  };
}

/** A list typed one item per line (or comma-separated): trimmed, empty lines dropped. */
const list = lines;

/** The policy fields of the body to send: only what is on. */
export function policyBody(f) {
  const out = compact({
    checks: f.checks,
    check_headers: f.checks.length || list(f.checkHeaders).length ? list(f.checkHeaders) : undefined,
    max_body_bytes: num(f.maxBody),
    ip_deny: list(f.ipDeny),
  });
  // A mode is sent when checks are on, or when it is not the default (for the API to refuse).
  if (f.checks.length || f.checkMode !== 'block') out.check_mode = f.checkMode;
  if (f.sigOn) {
    out.signature = {
      required: f.sigRequired,
      components: list(f.sigComponents),
      max_age_secs: num(f.sigMaxAge) ?? 300,
      nonce_required: f.sigNonce,
    };
  }
  if (f.idemOn) {
    out.idempotency = {
      methods: f.idemMethods,
      ttl_secs: num(f.idemTtl) ?? 86400,
      required: f.idemRequired,
      max_answer_bytes: num(f.idemMaxAnswer) ?? 65536,
    };
  }
  if (f.txOn) out.tx_token = { methods: f.txMethods, ttl_secs: num(f.txTtl) ?? 300 };
  if (f.corsOn) {
    out.cors = {
      origins: list(f.corsOrigins),
      ...compact({
        methods: f.corsMethods,
        headers: list(f.corsHeaders),
        expose_headers: list(f.corsExpose),
        max_age: num(f.corsMaxAge),
      }),
      credentials: f.corsCredentials,
    };
  }
  if (num(f.ratePerSecond) !== undefined || num(f.rateBurst) !== undefined) {
    out.rate = compact({ per_second: num(f.ratePerSecond), burst: num(f.rateBurst) });
  }
  return out;
}

/** The API's message for a list field typed one per line: `field[i]` names line i + 1. */
export function lineError(err, field) {
  const message = errorAt(err, field);
  if (!message) return null;
  const m = new RegExp(`^${field.replace(/[.[\]]/g, '\\$&')}\\[(\\d+)\\]`).exec(err.field);
  return m ? t('policy.line_error', { n: Number(m[1]) + 1, message }) : message;
}

/** The message for the policy object itself (`signature`, not `signature.components`). */
const whole = (err, field) => (err && err.field === field ? err.message : null);

/** A byte count as typed limits usually are: whole MiB or KiB, else bytes. */
function bytes(n) {
  if (n % 1048576 === 0) return `${fmtNumber(n / 1048576)} MiB`;
  if (n % 1024 === 0) return `${fmtNumber(n / 1024)} KiB`;
  return `${fmtNumber(n)} B`;
}

/** The policies an API has on, in short, for the list (`#api-table`). */
export function PolicySummary({ b }) {
  const out = [];
  if ((b.checks || []).length) {
    const names = b.checks.join('+');
    out.push(b.check_mode === 'monitor' ? t('policy.short_monitor', { checks: names }) : names);
  }
  if (b.signature) out.push(t('policy.short_signature'));
  if (b.idempotency) out.push(t('policy.short_idempotency'));
  if (b.tx_token) out.push(t('policy.short_tx_token'));
  if (b.cors) out.push('CORS');
  if (b.rate) out.push(t('policy.short_rate', { n: b.rate.per_second }));
  if (b.max_body_bytes) out.push(t('policy.short_body', { size: bytes(b.max_body_bytes) }));
  if ((b.ip_deny || []).length) out.push(t('policy.short_deny', { n: b.ip_deny.length }));
  if (!out.length) return html`<span class="muted">—</span>`;
  return html`<span class="scopes policy-summary">${out.map((x) => html`<code class="scope">${x}</code> `)}</span>`;
}

const methodOptions = METHODS.map((m) => ({ value: m, label: m }));

/** The card. `f` is the whole form state, `setF` replaces it, `err` is the API's last error. */
export function PolicyFields({ f, setF, err }) {
  const set = (k) => (v) => setF({ ...f, [k]: v });
  return html`<${Card} title=${t('policy.title')} id="api-policies">
    <p class="muted small card-note">${t('policy.note')}</p>

    <section class="policy" id="policy-checks">
      <div class="subhead">${t('policy.checks')}</div>
      <div class="form-grid">
        <${CheckGroup} name="api-checks" label=${t('policy.field_checks')} value=${f.checks} onChange=${set('checks')}
          options=${CHECKS.map((c) => ({ value: c, label: c === 'sqli' ? t('policy.check_sqli') : t('policy.check_xss') }))}
          error=${lineError(err, 'checks')} hint=${t('policy.checks_hint')} />
        <${Select} name="api-check-mode" label=${t('policy.field_check_mode')} value=${f.checkMode} onChange=${set('checkMode')}
          error=${errorAt(err, 'check_mode')} hint=${t('policy.check_mode_hint')}
          options=${[{ value: 'block', label: t('policy.mode_block') }, { value: 'monitor', label: t('policy.mode_monitor') }]} />
      </div>
      <${TextArea} name="api-check-headers" mono rows=${2} label=${t('policy.field_check_headers')} value=${f.checkHeaders}
        onInput=${set('checkHeaders')} error=${lineError(err, 'check_headers')} hint=${t('policy.check_headers_hint')}
        placeholder="user-agent" />
    </section>

    <section class="policy" id="policy-signature">
      <${Checkbox} name="api-sig-on" label=${t('policy.signature_on')} checked=${f.sigOn} onChange=${set('sigOn')}
        error=${whole(err, 'signature')} hint=${t('policy.signature_hint')} />
      ${f.sigOn && html`<div class="policy-body">
        <${TextArea} name="api-sig-components" mono rows=${4} label=${t('policy.field_components')} value=${f.sigComponents}
          onInput=${set('sigComponents')} error=${lineError(err, 'signature.components')} hint=${t('policy.components_hint')} />
        <div class="form-grid">
          <${Field} name="api-sig-max-age" label=${t('policy.field_max_age_secs')} value=${f.sigMaxAge} onInput=${set('sigMaxAge')}
            error=${errorAt(err, 'signature.max_age_secs')} hint=${t('policy.max_age_secs_hint')} />
          <div class="policy-flags">
            <${Checkbox} name="api-sig-required" label=${t('policy.signature_required')} checked=${f.sigRequired}
              onChange=${set('sigRequired')} error=${errorAt(err, 'signature.required')} />
            <${Checkbox} name="api-sig-nonce" label=${t('policy.nonce_required')} checked=${f.sigNonce}
              onChange=${set('sigNonce')} error=${errorAt(err, 'signature.nonce_required')} />
          </div>
        </div>
      </div>`}
    </section>

    <section class="policy" id="policy-idempotency">
      <${Checkbox} name="api-idem-on" label=${t('policy.idempotency_on')} checked=${f.idemOn} onChange=${set('idemOn')}
        error=${whole(err, 'idempotency')} hint=${t('policy.idempotency_hint')} />
      ${f.idemOn && html`<div class="policy-body">
        <${CheckGroup} name="api-idem-methods" label=${t('policy.field_methods')} value=${f.idemMethods} onChange=${set('idemMethods')}
          options=${methodOptions} error=${lineError(err, 'idempotency.methods')} />
        <div class="form-grid">
          <${Field} name="api-idem-ttl" label=${t('policy.field_ttl_secs')} value=${f.idemTtl} onInput=${set('idemTtl')}
            error=${errorAt(err, 'idempotency.ttl_secs')} hint=${t('policy.idem_ttl_hint')} />
          <${Field} name="api-idem-max-answer" label=${t('policy.field_max_answer_bytes')} value=${f.idemMaxAnswer}
            onInput=${set('idemMaxAnswer')} error=${errorAt(err, 'idempotency.max_answer_bytes')} hint=${t('policy.max_answer_hint')} />
        </div>
        <${Checkbox} name="api-idem-required" label=${t('policy.idempotency_required')} checked=${f.idemRequired}
          onChange=${set('idemRequired')} error=${errorAt(err, 'idempotency.required')} />
      </div>`}
    </section>

    <section class="policy" id="policy-tx-token">
      <${Checkbox} name="api-tx-on" label=${t('policy.tx_token_on')} checked=${f.txOn} onChange=${set('txOn')}
        error=${whole(err, 'tx_token')} hint=${t('policy.tx_token_hint')} />
      ${f.txOn && html`<div class="policy-body">
        <${CheckGroup} name="api-tx-methods" label=${t('policy.field_methods')} value=${f.txMethods} onChange=${set('txMethods')}
          options=${methodOptions} error=${lineError(err, 'tx_token.methods')} />
        <${Field} name="api-tx-ttl" label=${t('policy.field_ttl_secs')} value=${f.txTtl} onInput=${set('txTtl')}
          error=${errorAt(err, 'tx_token.ttl_secs')} hint=${t('policy.tx_ttl_hint')} />
      </div>`}
    </section>

    <section class="policy" id="policy-cors">
      <${Checkbox} name="api-cors-on" label=${t('policy.cors_on')} checked=${f.corsOn} onChange=${set('corsOn')}
        error=${whole(err, 'cors')} hint=${t('policy.cors_hint')} />
      ${f.corsOn && html`<div class="policy-body">
        <${TextArea} name="api-cors-origins" mono rows=${3} label=${t('policy.field_origins')} value=${f.corsOrigins}
          onInput=${set('corsOrigins')} error=${lineError(err, 'cors.origins')} hint=${t('policy.origins_hint')}
          placeholder="https://app.example.com" />
        <${CheckGroup} name="api-cors-methods" label=${t('policy.field_cors_methods')} value=${f.corsMethods} onChange=${set('corsMethods')}
          options=${methodOptions} error=${lineError(err, 'cors.methods')} hint=${t('policy.cors_methods_hint')} />
        <div class="form-grid">
          <${TextArea} name="api-cors-headers" mono rows=${2} label=${t('policy.field_cors_headers')} value=${f.corsHeaders}
            onInput=${set('corsHeaders')} error=${lineError(err, 'cors.headers')} hint=${t('policy.cors_headers_hint')} />
          <${TextArea} name="api-cors-expose" mono rows=${2} label=${t('policy.field_expose_headers')} value=${f.corsExpose}
            onInput=${set('corsExpose')} error=${lineError(err, 'cors.expose_headers')} hint=${t('policy.expose_headers_hint')} />
        </div>
        <div class="form-grid">
          <${Field} name="api-cors-max-age" label=${t('policy.field_cors_max_age')} value=${f.corsMaxAge} onInput=${set('corsMaxAge')}
            error=${errorAt(err, 'cors.max_age')} hint=${t('policy.cors_max_age_hint')} />
          <${Checkbox} name="api-cors-credentials" label=${t('policy.cors_credentials')} checked=${f.corsCredentials}
            onChange=${set('corsCredentials')} error=${errorAt(err, 'cors.credentials')} hint=${t('policy.cors_credentials_hint')} />
        </div>
      </div>`}
    </section>

    <section class="policy" id="policy-limits">
      <div class="subhead">${t('policy.limits')}</div>
      <div class="form-grid four">
        <${Field} name="api-max-body" label=${t('policy.field_max_body_bytes')} value=${f.maxBody} onInput=${set('maxBody')}
          error=${errorAt(err, 'max_body_bytes')} hint=${t('policy.max_body_hint')} />
        <${Field} name="api-rate" label=${t('policy.field_rate')} value=${f.ratePerSecond} onInput=${set('ratePerSecond')}
          error=${errorAt(err, 'rate.per_second') || whole(err, 'rate')} hint=${t('policy.rate_hint')} />
        <${Field} name="api-rate-burst" label=${t('policy.field_rate_burst')} value=${f.rateBurst} onInput=${set('rateBurst')}
          error=${errorAt(err, 'rate.burst')} hint=${t('policy.rate_burst_hint')} />
      </div>
      <${TextArea} name="api-ip-deny" mono rows=${3} label=${t('policy.field_ip_deny')} value=${f.ipDeny}
        onInput=${set('ipDeny')} error=${lineError(err, 'ip_deny')} hint=${t('policy.ip_deny_hint')} placeholder="203.0.113.0/24" />
    </section>
  <//>`;
}
