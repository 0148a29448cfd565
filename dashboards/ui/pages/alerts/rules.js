// The rules tab: every alert rule with its condition and current state, and the editor of one
// (`#/alerts?tab=rules&id=<id>`, `id=new` for a new rule).
import { html, useState, useEffect } from '../../vendor/preact-htm.module.js';
import { get } from '../../api.js';
import { t, fmtNumber } from '../../i18n.js';
import { Card, Table, Badge, Alert, Loading, Empty, Button } from '../../components.js';
import { kindLabel, scopeText, withUnit, unitOf, duration, go, listAll } from './shared.js';
import { RuleEditor } from './rule_editor.js';

function condition(b) {
  const unit = unitOf(b.kind);
  const op = b.comparison === 'below' ? '<' : '>';
  const line = `${op} ${withUnit(b.threshold, unit)}`;
  return b.for_secs ? t('alerts.cond_for', { line, dur: duration(b.for_secs) }) : line;
}

function lastState(rule, active) {
  const mine = active.filter((a) => a.rule_id === rule.id);
  if (mine.some((a) => a.state === 'firing')) {
    return html`<${Badge} tone="bad">${t('alert.firing')}${mine.length > 1 ? ` ×${fmtNumber(mine.length)}` : ''}<//>`;
  }
  if (mine.length) return html`<${Badge} tone="warn">${t('alert.pending')}<//>`;
  if (rule.body.enabled === false) return html`<${Badge}>${t('alerts.disabled')}<//>`;
  return html`<${Badge} tone="good">${t('alerts.state_ok')}<//>`;
}

function RuleList() {
  const [rules, setRules] = useState(null);
  const [active, setActive] = useState([]);
  const [err, setErr] = useState(null);
  useEffect(() => {
    Promise.all([listAll(get, '/api/v1/alert-rules'), get('/api/v1/alerts')])
      .then(([r, a]) => { setRules(r); setActive((a && a.items) || []); })
      .catch(setErr);
  }, []);
  const columns = [
    { key: 'name', label: t('alerts.col_rule'), render: (r) => html`<div>
      <a class="strong" href=${`#/alerts?tab=rules&id=${encodeURIComponent(r.id)}`} data-rule=${r.id}>${r.body.name || r.id}</a>
      <div class="muted small">${r.id}</div></div>` },
    { key: 'kind', label: t('alerts.col_kind'), render: (r) => html`<div>${kindLabel(r.body.kind && r.body.kind.type)}
      <div class="muted small">${scopeText(r.body.kind, r.body.scope)}</div></div>` },
    { key: 'cond', label: t('alerts.col_condition'), render: (r) => html`<span class="nowrap">${condition(r.body)}</span>` },
    { key: 'sev', label: t('alerts.col_severity'), render: (r) => (r.body.severity === 'critical'
      ? html`<${Badge} tone="bad">${t('alerts.sev_critical')}<//>` : html`<${Badge} tone="warn">${t('alerts.sev_warning')}<//>`) },
    { key: 'enabled', label: t('alerts.col_enabled'), render: (r) => (r.body.enabled === false ? t('alerts.no') : t('alerts.yes')) },
    { key: 'state', label: t('alerts.col_state'), render: (r) => lastState(r, active) },
  ];
  const add = html`<${Button} kind="primary" id="rule-new" onClick=${() => go({ tab: 'rules', id: 'new' })}>${t('alerts.rule_new')}<//>`;
  return html`<${Card} title=${t('alerts.rules')} id="card-rules" actions=${add}>
    <${Alert}>${err && err.message}<//>
    ${rules === null ? !err && html`<${Loading} />` : rules.length === 0
      ? html`<${Empty} title=${t('alerts.rules_none')} hint=${t('alerts.rules_none_hint')} />`
      : html`<${Table} cards id="rules-table" columns=${columns} rows=${rules} pageSize=${25} />`}
  <//>`;
}

export function RulesTab({ me, id }) {
  if (id) return html`<${RuleEditor} key=${id} me=${me} id=${id === 'new' ? null : id} />`;
  return html`<${RuleList} />`;
}
