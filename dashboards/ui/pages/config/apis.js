// The APIs tab: every API with its match, methods, upstream hosts (weight and a health badge
// from GET /api/v1/upstreams/health) and auth; an editor for the common fields of an ApiSpec
// (TLS towards https upstreams, `upstream_tls`, included; the credentials accepted, OAuth 2.0
// scopes among them), its request policies (`policies.js`) with the rest (capture, masking,
// passive ejection…) as JSON. The version card (issue 19) edits the API's family, version,
// deprecation (since, sunset, link), retired flag and the node groups that serve it. The
// portal card (issue 21) edits what the developer portal shows: `portal.published`, category,
// summary, tags, the Markdown description and the OpenAPI 3 document (JSON).
import { html, useState, useEffect } from '../../vendor/preact-htm.module.js';
import { get, saveEntity, deleteEntity } from '../../api.js';
import { t, fmtNumber, fmtTime } from '../../i18n.js';
import {
  Card, Button, Alert, Empty, Loading, Badge, Field, Select, TextArea, CheckGroup, Segmented, Table, toast, Confirm,
} from '../../components.js';
import {
  useEntities, errorAt, formError, revealError, num, str, compact, go, IdField, Stale, scopeList, ScopesField, ScopeChips, lines,
} from './common.js';
import { POLICY_FIELDS, policyForm, policyBody, PolicyFields, PolicySummary } from './policies.js';
import { VersionBadges } from './families.js';

const METHODS = ['GET', 'POST', 'PUT', 'PATCH', 'DELETE', 'HEAD', 'OPTIONS'];
// Fields the form edits; every other field of the spec is in the JSON box.
const FORM_FIELDS = ['name', 'prefix', 'path', 'methods', 'upstreams', 'lb', 'connect_timeout_ms',
  'timeout_ms', 'retries', 'auth', 'scopes', 'health_check', 'strip_prefix', 'enabled', 'upstream_tls',
  'family', 'version', 'deprecation', 'retired', 'node_groups', 'portal', ...POLICY_FIELDS];
const AUTH_METHODS = ['api_key', 'basic', 'jwt', 'oauth2', 'mtls'];

const lbLabel = (v) => ({
  round_robin: t('config.lb_round_robin'),
  weighted: t('config.lb_weighted'),
  least_connections: t('config.lb_least_connections'),
}[v] || v);

const authLabel = (v) => ({
  api_key: t('config.auth_api_key'),
  basic: t('config.auth_basic'),
  jwt: t('config.auth_jwt'),
  oauth2: t('config.auth_oauth2'),
  mtls: t('config.auth_mtls'),
}[v] || v);

const upstreamsOf = (b) => (b.upstreams || []).map((u) => (typeof u === 'string' ? { url: u, weight: 1 } : u));

/** The badge of one host: up / degraded / down / no traffic, with its figures as a tooltip. */
export function HealthBadge({ h }) {
  if (!h) return html`<${Badge} tone="neutral">${t('config.health_unknown')}<//>`;
  const tone = { up: 'good', degraded: 'warn', down: 'bad', idle: 'neutral' }[h.status];
  const label = {
    up: t('config.health_up'),
    degraded: t('config.health_degraded'),
    down: t('config.health_down'),
    idle: t('config.health_idle'),
  }[h.status];
  const title = h.calls ? t('config.health_detail', {
    calls: fmtNumber(h.calls),
    failed: fmtNumber(h.failed),
    last: fmtTime(h.last_call, { timeStyle: 'medium' }),
  }) : t('config.health_no_calls');
  return html`<span class="health" title=${title} data-health=${h.status}><${Badge} tone=${tone}>${label}<//></span>`;
}

function useHealth(tick) {
  const [health, setHealth] = useState(null);
  useEffect(() => {
    let live = true;
    const load = () => get('/api/v1/upstreams/health')
      .then((d) => live && setHealth(d))
      .catch(() => live && setHealth({ items: [], failed: true }));
    load();
    const id = setInterval(load, 15000);
    return () => { live = false; clearInterval(id); };
  }, [tick]);
  return health;
}

export function ApiList({ tick }) {
  const list = useEntities('apis', tick);
  const health = useHealth(tick);
  const healthOf = (api, url) => health && health.items.find((h) => h.api_id === api && h.url === url);
  if (list.error) return html`<${Alert}>${list.error.message}<//>`;
  if (list.loading) return html`<${Loading} />`;
  const columns = [
    {
      key: 'id', label: t('config.col_api'),
      render: (e) => html`<a class="strong" href=${`#/config?tab=apis&id=${encodeURIComponent(e.id)}&view=edit`}>${e.body.name}</a>
        <div class="muted small mono">${e.id}${e.body.enabled === false ? html` · <${Badge} tone="warn">${t('config.disabled')}<//>` : null}</div>
        <${VersionBadges} b=${e.body} />`,
    },
    {
      key: 'match', label: t('config.col_match'),
      render: (e) => html`<span class="mono">${e.body.prefix ? `${e.body.prefix}/…` : e.body.path}</span>
        <div class="muted small">${(e.body.methods || []).length ? e.body.methods.join(' ') : t('config.all_methods')}</div>`,
    },
    {
      key: 'upstreams', label: t('config.col_upstreams'),
      render: (e) => html`<ul class="hosts">${upstreamsOf(e.body).map((u) => html`<li>
        <${HealthBadge} h=${healthOf(e.id, u.url)} />
        <span class="mono">${u.url}</span>
        ${e.body.lb === 'weighted' || u.weight !== 1 ? html`<span class="muted small">×${u.weight}</span>` : null}
      </li>`)}</ul>`,
    },
    {
      key: 'auth', label: t('config.col_auth'),
      render: (e) => ((e.body.auth || []).length ? html`${e.body.auth.map(authLabel).join(', ')}
        ${(e.body.scopes || []).length ? html`<div class="small"><${ScopeChips} scopes=${e.body.scopes} /></div>` : null}`
        : html`<${Badge} tone="warn">${t('config.public')}<//>`),
    },
    { key: 'policies', label: t('policy.col'), render: (e) => html`<span class="small"><${PolicySummary} b=${e.body} /></span>` },
    {
      key: 'actions', label: '', align: 'right',
      render: (e) => html`<div class="row-actions">
        <a class="btn btn-secondary btn-small" href=${`#/config?tab=apis&id=${encodeURIComponent(e.id)}&view=edit`}>${t('config.edit')}</a>
        <a class="btn btn-secondary btn-small" href=${`#/config?tab=apis&id=${encodeURIComponent(e.id)}&view=history`}>${t('config.history')}</a>
      </div>`,
    },
  ];
  return html`<${Card} title=${t('config.apis')} id="api-list"
    actions=${html`<${Button} kind="primary" id="api-new" onClick=${() => go({ tab: 'apis', view: 'new' })}>${t('config.api_new')}<//>`}>
    ${health && html`<p class="muted small card-note">${t('config.health_note', { minutes: health.minutes || 15 })}</p>`}
    ${list.items.length === 0
      ? html`<${Empty} title=${t('config.apis_none')} hint=${t('config.apis_none_hint')} />`
      : html`<${Table} id="api-table" columns=${columns} rows=${list.items} pageSize=${25} />`}
  <//>`;
}

/** The form's state from a stored body (or a new API's defaults). */
function formOf(id, b) {
  const rest = {};
  for (const [k, v] of Object.entries(b || {})) if (!FORM_FIELDS.includes(k)) rest[k] = v;
  const hc = (b && b.health_check) || null;
  const tls = (b && b.upstream_tls) || null;
  return {
    id: id || '',
    name: str(b && b.name),
    matchKind: b && b.path ? 'path' : 'prefix',
    match: str(b && (b.path || b.prefix)),
    methods: (b && b.methods) || [],
    upstreams: b ? upstreamsOf(b).map((u) => ({ url: u.url, weight: str(u.weight) })) : [{ url: '', weight: '1' }],
    lb: (b && b.lb) || 'round_robin',
    connect_timeout_ms: str(b && b.connect_timeout_ms),
    timeout_ms: str(b && b.timeout_ms),
    retries: str(b && b.retries),
    auth: b ? b.auth || [] : ['api_key'],
    scopes: ((b && b.scopes) || []).join('\n'),
    strip: !!(b && b.strip_prefix),
    enabled: b ? b.enabled !== false : true,
    hcOn: !!hc,
    hcPath: hc ? hc.path : '/health',
    hcInterval: str(hc ? hc.interval_ms : 5000),
    hcTimeout: str(hc ? hc.timeout_ms : 1000),
    hcHealthy: str(hc ? hc.healthy_threshold : 2),
    hcUnhealthy: str(hc ? hc.unhealthy_threshold : 3),
    tlsCa: str(tls && tls.ca_file),
    tlsServerName: str(tls && tls.server_name),
    tlsCert: str(tls && tls.cert_file),
    tlsKey: str(tls && tls.key_file),
    // Absent means true (the model's default).
    tlsVerify: !(tls && tls.verify === false),
    family: str(b && b.family),
    version: str(b && b.version),
    deprecated: !!(b && b.deprecation),
    depSince: str(b && b.deprecation && b.deprecation.since),
    depSunset: str(b && b.deprecation && b.deprecation.sunset),
    depLink: str(b && b.deprecation && b.deprecation.link),
    retired: !!(b && b.retired),
    nodeGroups: ((b && b.node_groups) || []).join('\n'),
    ...portalForm(b && b.portal),
    ...policyForm(b),
    rest: JSON.stringify(rest, null, 2),
  };
}

/** The body to send; a JSON box that does not parse is a field error of its own. */
function bodyOf(f) {
  let rest;
  try {
    rest = f.rest.trim() ? JSON.parse(f.rest) : {};
    if (typeof rest !== 'object' || Array.isArray(rest) || rest === null) throw new Error('not an object');
  } catch (e) {
    return { error: { field: 'rest', message: t('config.json_invalid', { message: e.message }) } };
  }
  const body = {
    ...rest,
    ...policyBody(f),
    ...compact({
      name: f.name,
      [f.matchKind]: f.match,
      methods: f.methods,
      upstreams: f.upstreams.filter((u) => u.url.trim() || str(u.weight).trim() !== '1')
        .map((u) => ({ url: u.url.trim(), weight: num(u.weight) ?? 1 })),
      lb: f.lb,
      connect_timeout_ms: num(f.connect_timeout_ms),
      timeout_ms: num(f.timeout_ms),
      retries: num(f.retries),
      auth: f.auth,
      scopes: scopeList(f.scopes),
      family: f.family.trim(),
      version: f.version.trim(),
      node_groups: lines(f.nodeGroups),
    }),
  };
  if (f.deprecated) {
    // Sent as typed (even empty `since`), so the API names the field that is wrong.
    body.deprecation = { since: f.depSince.trim(), ...compact({ sunset: f.depSunset.trim(), link: f.depLink.trim() }) };
  }
  if (f.retired) body.retired = true;
  const portal = portalBody(f);
  if (portal.error) return portal;
  if (portal.body) body.portal = portal.body;
  if (!body.upstreams) body.upstreams = [];
  body.strip_prefix = f.strip;
  body.enabled = f.enabled;
  if (f.hcOn) {
    body.health_check = compact({
      path: f.hcPath,
      interval_ms: num(f.hcInterval),
      timeout_ms: num(f.hcTimeout),
      healthy_threshold: num(f.hcHealthy),
      unhealthy_threshold: num(f.hcUnhealthy),
    });
  }
  // Only what was set: an API without TLS settings keeps none (verify is written only off).
  const tls = compact({
    ca_file: f.tlsCa.trim(),
    server_name: f.tlsServerName.trim(),
    cert_file: f.tlsCert.trim(),
    key_file: f.tlsKey.trim(),
  });
  if (!f.tlsVerify) tls.verify = false;
  if (Object.keys(tls).length) body.upstream_tls = tls;
  return { body };
}

export function ApiEditor({ id, onDone }) {
  const isNew = !id;
  const families = useEntities('api-families', 0);
  const [entity, setEntity] = useState(isNew ? { body: null } : null);
  const [f, setF] = useState(isNew ? formOf('', null) : null);
  const [err, setErr] = useState(null);
  const [busy, setBusy] = useState(false);
  const [confirm, setConfirm] = useState(false);
  useEffect(() => {
    if (isNew) return;
    get(`/api/v1/apis/${encodeURIComponent(id)}`)
      .then((e) => { setEntity(e); setF(formOf(e.id, e.body)); })
      .catch(setErr);
  }, [id]);
  if (!f) return html`<${Card}>${err ? html`<${Alert}>${err.message}<//>` : html`<${Loading} />`}<//>`;
  const set = (k) => (v) => setF({ ...f, [k]: v });
  const setUp = (i, k, v) => setF({ ...f, upstreams: f.upstreams.map((u, j) => (j === i ? { ...u, [k]: v } : u)) });

  const submit = async (ev) => {
    ev.preventDefault();
    const { body, error } = bodyOf(f);
    if (error) { setErr(error); revealError(); return; }
    setBusy(true);
    setErr(null);
    try {
      const saved = await saveEntity('apis', isNew ? f.id.trim() : id, body, entity.version);
      toast(isNew ? t('config.created_toast', { id: saved.id }) : t('config.saved_toast', { id: saved.id, n: saved.version }), 'success');
      onDone(saved.id);
    } catch (x) {
      setErr(x);
      setBusy(false);
      revealError();
    }
  };
  const shown = ['id', 'name', 'prefix', 'path', 'methods', 'upstreams', 'lb', 'connect_timeout_ms', 'timeout_ms',
    'retries', 'auth', 'scopes', 'health_check', 'upstream_tls', 'rest', 'module', 'version', 'family', 'deprecation',
    'retired', 'node_groups', 'portal', 'strip_prefix', 'passive', 'capture', 'masking', 'enabled', 'forward_credentials', ...POLICY_FIELDS];
  const restErr = errorAt(err, 'rest', 'module', 'strip_prefix', 'passive', 'capture', 'masking', 'enabled', 'forward_credentials');
  const upErr = err && err.field && /^upstreams(\[\d+\])?$/.test(err.field) && !/\]\./.test(err.field) ? err.message : null;
  const upRowErr = (i) => errorAt(err, `upstreams[${i}]`);

  return html`<form class="form editor" id="api-form" onSubmit=${submit} novalidate>
    <${Card} title=${isNew ? t('config.api_new') : t('config.api_edit', { name: entity.body.name })}
      actions=${!isNew && html`<span class="muted small">${t('config.version', { n: entity.version })}</span>`}>
      <${Stale} err=${err} />
      <${Alert} id="api-form-error">${formError(err, shown)}<//>
      <div class="form-grid">
        <${IdField} name="api-id" isNew=${isNew} value=${f.id} onInput=${set('id')} err=${err} hint=${t('config.id_hint')} />
        <${Field} name="api-name" label=${t('config.field_name')} value=${f.name} onInput=${set('name')} error=${errorAt(err, 'name')} />
      </div>
      <div class="form-grid">
        <div class="field">
          <span class="label">${t('config.field_match')}</span>
          <${Segmented} id="api-match-kind" label=${t('config.field_match')} value=${f.matchKind} onChange=${set('matchKind')}
            options=${[{ value: 'prefix', label: t('config.match_prefix') }, { value: 'path', label: t('config.match_path') }]} />
        </div>
        <${Field} name="api-match" label=${f.matchKind === 'prefix' ? t('config.match_prefix') : t('config.match_path')}
          value=${f.match} onInput=${set('match')} error=${errorAt(err, 'prefix', 'path')}
          hint=${f.matchKind === 'prefix' ? t('config.prefix_hint') : t('config.path_hint')} />
      </div>
      <${CheckGroup} name="api-methods" label=${t('config.field_methods')} value=${f.methods} onChange=${set('methods')}
        options=${METHODS.map((m) => ({ value: m, label: m }))} error=${errorAt(err, 'methods')} hint=${t('config.methods_hint')} />
      <label class="check switch">
        <input type="checkbox" id="api-enabled" checked=${f.enabled} onChange=${(e) => setF({ ...f, enabled: e.currentTarget.checked })} />
        <span>${t('config.field_enabled')}</span>
      </label>
    <//>

    <${Card} title=${t('config.upstreams')}>
      <div class=${upErr ? 'field field-error' : 'field'} id="f-upstreams">
        <div class="upstream-rows">
          ${f.upstreams.map((u, i) => html`<div class="upstream-row" key=${i}>
            <${Field} name=${`up-url-${i}`} label=${t('config.upstream_url')} value=${u.url}
              onInput=${(v) => setUp(i, 'url', v)} error=${errorAt(err, `upstreams[${i}].url`) || (upRowErr(i) && !errorAt(err, `upstreams[${i}].weight`) ? upRowErr(i) : null)} />
            <${Field} name=${`up-weight-${i}`} label=${t('config.upstream_weight')} value=${u.weight}
              onInput=${(v) => setUp(i, 'weight', v)} error=${errorAt(err, `upstreams[${i}].weight`)} />
            <${Button} onClick=${() => setF({ ...f, upstreams: f.upstreams.filter((_, j) => j !== i) })}
              disabled=${f.upstreams.length === 1}>${t('config.remove')}<//>
          </div>`)}
        </div>
        ${upErr && html`<div class="field-message" role="alert">${upErr}</div>`}
        <div><${Button} id="up-add" onClick=${() => setF({ ...f, upstreams: [...f.upstreams, { url: '', weight: '1' }] })}>${t('config.upstream_add')}<//></div>
      </div>
      <label class="check switch">
        <input type="checkbox" id="api-strip" checked=${f.strip} onChange=${(e) => setF({ ...f, strip: e.currentTarget.checked })} />
        <span>${t('config.field_strip')}</span>
      </label>
      <div class="form-grid four">
        <${Select} name="api-lb" label=${t('config.field_lb')} value=${f.lb} onChange=${set('lb')} error=${errorAt(err, 'lb')}
          options=${['round_robin', 'weighted', 'least_connections'].map((v) => ({ value: v, label: lbLabel(v) }))} />
        <${Field} name="api-connect-timeout" label=${t('config.field_connect_timeout')} value=${f.connect_timeout_ms}
          onInput=${set('connect_timeout_ms')} error=${errorAt(err, 'connect_timeout_ms')} hint=${t('config.default_hint')} />
        <${Field} name="api-timeout" label=${t('config.field_timeout')} value=${f.timeout_ms}
          onInput=${set('timeout_ms')} error=${errorAt(err, 'timeout_ms')} hint=${t('config.default_hint')} />
        <${Field} name="api-retries" label=${t('config.field_retries')} value=${f.retries}
          onInput=${set('retries')} error=${errorAt(err, 'retries')} hint=${t('config.retries_hint')} />
      </div>
      <label class="check switch">
        <input type="checkbox" id="api-hc-on" checked=${f.hcOn} onChange=${(e) => setF({ ...f, hcOn: e.currentTarget.checked })} />
        <span>${t('config.health_check_on')}</span>
      </label>
      ${f.hcOn && html`<div class="form-grid five">
        <${Field} name="hc-path" label=${t('config.hc_path')} value=${f.hcPath} onInput=${set('hcPath')} error=${errorAt(err, 'health_check.path')} />
        <${Field} name="hc-interval" label=${t('config.hc_interval')} value=${f.hcInterval} onInput=${set('hcInterval')} error=${errorAt(err, 'health_check.interval_ms')} />
        <${Field} name="hc-timeout" label=${t('config.hc_timeout')} value=${f.hcTimeout} onInput=${set('hcTimeout')} error=${errorAt(err, 'health_check.timeout_ms')} />
        <${Field} name="hc-healthy" label=${t('config.hc_healthy')} value=${f.hcHealthy} onInput=${set('hcHealthy')} error=${errorAt(err, 'health_check.healthy_threshold')} />
        <${Field} name="hc-unhealthy" label=${t('config.hc_unhealthy')} value=${f.hcUnhealthy} onInput=${set('hcUnhealthy')} error=${errorAt(err, 'health_check.unhealthy_threshold')} />
      </div>`}
      ${errorAt(err, 'health_check') && !/^health_check\./.test(err.field) && html`<div class="field-message" role="alert">${err.message}</div>`}
    <//>

    <${Card} title=${t('config.upstream_tls')} id="api-tls">
      <p class="muted small card-note">${t('config.upstream_tls_note')}</p>
      <div class="form-grid">
        <${Field} name="api-tls-ca" label=${t('config.tls_ca_file')} value=${f.tlsCa} onInput=${set('tlsCa')}
          error=${errorAt(err, 'upstream_tls.ca_file')} hint=${t('config.tls_ca_file_hint')} />
        <${Field} name="api-tls-server-name" label=${t('config.tls_server_name')} value=${f.tlsServerName}
          onInput=${set('tlsServerName')} error=${errorAt(err, 'upstream_tls.server_name')} hint=${t('config.tls_server_name_hint')} />
      </div>
      <div class="form-grid">
        <${Field} name="api-tls-cert" label=${t('config.tls_cert_file')} value=${f.tlsCert} onInput=${set('tlsCert')}
          error=${errorAt(err, 'upstream_tls.cert_file')} hint=${t('config.tls_cert_file_hint')} />
        <${Field} name="api-tls-key" label=${t('config.tls_key_file')} value=${f.tlsKey} onInput=${set('tlsKey')}
          error=${errorAt(err, 'upstream_tls.key_file')} />
      </div>
      <label class="check switch">
        <input type="checkbox" id="api-tls-verify" checked=${f.tlsVerify} onChange=${(e) => setF({ ...f, tlsVerify: e.currentTarget.checked })} />
        <span>${t('config.tls_verify')}</span>
      </label>
      ${!f.tlsVerify && html`<${Alert} kind="warn" id="api-tls-verify-warning">${t('config.tls_verify_off_warning')}<//>`}
      ${errorAt(err, 'upstream_tls') && !/^upstream_tls\.(ca_file|server_name|cert_file|key_file)$/.test(err.field)
        && html`<div class="field-message" role="alert">${err.field}: ${err.message}</div>`}
    <//>

    <${VersionCard} f=${f} setF=${setF} err=${err} families=${families.items} />

    <${PortalCard} f=${f} setF=${setF} err=${err} />

    <${Card} title=${t('config.access')}>
      <${CheckGroup} name="api-auth" label=${t('config.field_auth')} value=${f.auth} onChange=${set('auth')}
        options=${AUTH_METHODS.map((v) => ({ value: v, label: authLabel(v) }))}
        error=${errorAt(err, 'auth')} hint=${f.auth.length ? t('config.auth_hint') : t('config.auth_public_hint')} />
      ${(f.auth.includes('oauth2') || f.scopes.trim() || errorAt(err, 'scopes')) && html`<${ScopesField} name="api-scopes"
        value=${f.scopes} onInput=${set('scopes')} err=${err} hint=${t('config.scopes_hint_api')} />`}
      <${TextArea} name="api-rest" mono rows=${8} label=${t('config.field_rest')} value=${f.rest} onInput=${set('rest')}
        error=${restErr && (err.field === 'rest' ? err.message : `${err.field}: ${err.message}`)} hint=${t('config.rest_hint')} />
    <//>

    <${PolicyFields} f=${f} setF=${setF} err=${err} />

    <div class="form-actions sticky-actions">
      <${Button} kind="primary" type="submit" id="api-save" disabled=${busy}>${isNew ? t('config.create') : t('config.save')}<//>
      <${Button} onClick=${() => onDone(null)}>${t('config.cancel')}<//>
      ${!isNew && html`<span class="spacer"></span><${Button} kind="danger" id="api-delete" onClick=${() => setConfirm(true)}>${t('config.delete')}<//>`}
    </div>
    ${confirm && html`<${Confirm} id="confirm-dialog" title=${t('config.delete_title', { id })} message=${t('config.delete_api_text')}
      confirmLabel=${t('config.delete')} onClose=${() => setConfirm(false)}
      onConfirm=${async () => { await deleteEntity('apis', id, entity.version); toast(t('config.deleted_toast', { id }), 'success'); onDone(null); }} />`}
  </form>`;
}

/** The API's family and version, deprecation, retirement and node groups, each with the
 *  admin API's error for its field (`deprecation.sunset`, `node_groups[1]`…) beside it. */
function VersionCard({ f, setF, err, families }) {
  const set = (k) => (v) => setF({ ...f, [k]: v });
  const groupsMsg = errorAt(err, 'node_groups');
  const m = groupsMsg && /^node_groups\[(\d+)\]/.exec(err.field);
  const groupsErr = m ? t('version.groups_item', { n: Number(m[1]) + 1, message: groupsMsg }) : groupsMsg;
  const depErr = errorAt(err, 'deprecation') && !/^deprecation\.(since|sunset|link)$/.test(err.field)
    ? `${err.field}: ${err.message}` : null;
  return html`<${Card} title=${t('version.card')} id="api-versioning">
    <p class="muted small card-note">${t('version.card_note')}</p>
    <div class="form-grid">
      <${Select} name="api-family" label=${t('version.field_family')} value=${f.family} onChange=${set('family')}
        error=${errorAt(err, 'family')} hint=${t('version.family_hint')}
        options=${[{ value: '', label: t('version.no_family') },
          ...(families || []).map((x) => ({ value: x.id, label: `${x.body.name} (${x.id})` }))]} />
      <${Field} name="api-version" label=${t('version.field_version')} value=${f.version} onInput=${set('version')}
        error=${errorAt(err, 'version')} hint=${f.family ? t('version.version_hint_family') : t('version.version_hint')} />
    </div>
    <label class="check switch">
      <input type="checkbox" id="api-deprecated" checked=${f.deprecated}
        onChange=${(e) => setF({ ...f, deprecated: e.currentTarget.checked })} />
      <span>${t('version.deprecated_on')}</span>
    </label>
    ${f.deprecated && html`<div class="form-grid three">
      <${Field} name="api-dep-since" label=${t('version.field_since')} value=${f.depSince} onInput=${set('depSince')}
        error=${errorAt(err, 'deprecation.since')} hint=${t('version.time_hint')} />
      <${Field} name="api-dep-sunset" label=${t('version.field_sunset')} value=${f.depSunset} onInput=${set('depSunset')}
        error=${errorAt(err, 'deprecation.sunset')} hint=${t('version.sunset_hint')} />
      <${Field} name="api-dep-link" label=${t('version.field_link')} value=${f.depLink} onInput=${set('depLink')}
        error=${errorAt(err, 'deprecation.link')} hint=${t('version.link_hint')} />
    </div>`}
    ${depErr && html`<div class="field-message" role="alert">${depErr}</div>`}
    <label class="check switch">
      <input type="checkbox" id="api-retired" checked=${f.retired}
        onChange=${(e) => setF({ ...f, retired: e.currentTarget.checked })} />
      <span>${t('version.retired_on')}</span>
    </label>
    ${errorAt(err, 'retired') && html`<div class="field-message" role="alert">${err.message}</div>`}
    ${f.retired && html`<${Alert} kind="warn" id="api-retired-warning">${t('version.retired_warning')}<//>`}
    <${TextArea} name="api-node-groups" mono rows=${2} label=${t('version.field_node_groups')} value=${f.nodeGroups}
      onInput=${set('nodeGroups')} error=${groupsErr} hint=${t('version.node_groups_hint')} placeholder="edge" />
  <//>`;
}

/** The portal fields as the form holds them. */
function portalForm(p) {
  return {
    portalPublished: !!(p && p.published),
    portalCategory: str(p && p.category),
    portalSummary: str(p && p.summary),
    portalTags: ((p && p.tags) || []).join('\n'),
    portalDescription: str(p && p.description),
    portalOpenapi: p && p.openapi ? JSON.stringify(p.openapi, null, 2) : '',
  };
}

/** `portal` to send: nothing when every field is empty and unpublished; a document that does
 *  not parse is an error of `portal.openapi`. */
function portalBody(f) {
  let openapi;
  if (f.portalOpenapi.trim()) {
    try {
      openapi = JSON.parse(f.portalOpenapi);
    } catch (e) {
      return { error: { field: 'portal.openapi', message: t('config.json_invalid', { message: e.message }) } };
    }
  }
  const p = compact({
    category: f.portalCategory.trim(),
    summary: f.portalSummary.trim(),
    tags: lines(f.portalTags),
    description: f.portalDescription,
    openapi,
  });
  if (f.portalPublished) p.published = true;
  return Object.keys(p).length ? { body: p } : {};
}

/** What the developer portal shows of the API, each field with the admin API's error beside it. */
function PortalCard({ f, setF, err }) {
  const set = (k) => (v) => setF({ ...f, [k]: v });
  const other = errorAt(err, 'portal') && !/^portal\.(category|summary|tags|description|openapi)/.test(err.field)
    ? `${err.field}: ${err.message}` : null;
  return html`<${Card} title=${t('portal.card')} id="api-portal">
    <p class="muted small card-note">${t('portal.card_note')}</p>
    <label class="check switch">
      <input type="checkbox" id="api-portal-published" checked=${f.portalPublished}
        onChange=${(e) => setF({ ...f, portalPublished: e.currentTarget.checked })} />
      <span>${t('portal.published_on')}</span>
    </label>
    <div class="form-grid">
      <${Field} name="api-portal-category" label=${t('portal.field_category')} value=${f.portalCategory}
        onInput=${set('portalCategory')} error=${errorAt(err, 'portal.category')} />
      <${Field} name="api-portal-summary" label=${t('portal.field_summary')} value=${f.portalSummary}
        onInput=${set('portalSummary')} error=${errorAt(err, 'portal.summary')} />
    </div>
    <${TextArea} name="api-portal-tags" rows=${2} label=${t('portal.field_tags')} value=${f.portalTags}
      onInput=${set('portalTags')} error=${errorAt(err, 'portal.tags')} hint=${t('portal.tags_hint')} />
    <${TextArea} name="api-portal-description" mono rows=${8} label=${t('portal.field_description')}
      value=${f.portalDescription} onInput=${set('portalDescription')} error=${errorAt(err, 'portal.description')}
      hint=${t('portal.description_hint')} />
    <${TextArea} name="api-portal-openapi" mono rows=${8} label=${t('portal.field_openapi')}
      value=${f.portalOpenapi} onInput=${set('portalOpenapi')} error=${errorAt(err, 'portal.openapi')}
      hint=${t('portal.openapi_hint')} />
    ${other && html`<div class="field-message" role="alert">${other}</div>`}
  <//>`;
}
