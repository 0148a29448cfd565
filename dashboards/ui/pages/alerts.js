// The Alerts page (issue 7; ops and admin): what is firing now and its timeline (with acks),
// the rules and their editor (every field of an alert rule, a preview of the notices, when the
// windows are open next, test-send), the notification channels, silences, notification
// policies and inhibit rules. Tabs are hash sub-routes: `#/alerts?tab=rules&id=x`;
// `#/alerts/ack?rule=…&key=…&episode=…` is the acknowledge page of alert messages.
import { html } from '../vendor/preact-htm.module.js';
import { t } from '../i18n.js';
import { PageHeader, Tabs } from '../components.js';
import { useHashParams, go } from './alerts/shared.js';
import { ActiveTab } from './alerts/active.js';
import { RulesTab } from './alerts/rules.js';
import { ChannelsTab } from './alerts/channels.js';
import { SilencesTab } from './alerts/silences.js';
import { PoliciesTab } from './alerts/policies.js';
import { InhibitTab } from './alerts/inhibit.js';
import { AckPage } from './alerts/ack.js';

export default function AlertsPage({ me }) {
  const params = useHashParams();
  // `#/alerts/ack?…`: the page the link in alert messages opens.
  if (location.hash.startsWith('#/alerts/ack')) {
    return html`<div class="page" data-page="alerts">
      <${PageHeader} title=${t('alerts.title')} subtitle=${t('alerts.subtitle')} />
      <${AckPage} params=${params} />
    </div>`;
  }
  const tab = ['active', 'rules', 'channels', 'silences', 'policies', 'inhibit'].includes(params.tab) ? params.tab : 'active';
  const tabs = [
    { id: 'active', label: t('alerts.tab_active') },
    { id: 'rules', label: t('alerts.tab_rules') },
    { id: 'channels', label: t('alerts.tab_channels') },
    { id: 'silences', label: t('alerts.tab_silences') },
    { id: 'policies', label: t('routing.tab_policies') },
    { id: 'inhibit', label: t('routing.tab_inhibit') },
  ];
  let body;
  if (tab === 'rules') body = html`<${RulesTab} me=${me} id=${params.id} />`;
  else if (tab === 'channels') body = html`<${ChannelsTab} me=${me} id=${params.id} />`;
  else if (tab === 'silences') body = html`<${SilencesTab} me=${me} params=${params} />`;
  else if (tab === 'policies') body = html`<${PoliciesTab} id=${params.id} />`;
  else if (tab === 'inhibit') body = html`<${InhibitTab} id=${params.id} />`;
  else body = html`<${ActiveTab} me=${me} rule=${params.rule} />`;
  return html`<div class="page" data-page="alerts">
    <${PageHeader} title=${t('alerts.title')} subtitle=${t('alerts.subtitle')} />
    <${Tabs} id="alerts-tabs" label=${t('alerts.tabs_label')} tabs=${tabs} value=${tab}
      onChange=${(x) => go({ tab: x === 'active' ? undefined : x })} />
    <div class="alerts-body" data-tab=${tab}>${body}</div>
  </div>`;
}
