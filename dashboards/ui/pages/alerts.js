// The Alerts page (issue 7; ops and admin): what is firing now and its timeline, the rules and
// their editor (every field of an alert rule, a preview of the notices, test-send), the
// notification channels, and silences. Tabs are hash sub-routes: `#/alerts?tab=rules&id=x`.
import { html } from '../vendor/preact-htm.module.js';
import { t } from '../i18n.js';
import { PageHeader, Tabs } from '../components.js';
import { useHashParams, go } from './alerts/shared.js';
import { ActiveTab } from './alerts/active.js';
import { RulesTab } from './alerts/rules.js';
import { ChannelsTab } from './alerts/channels.js';
import { SilencesTab } from './alerts/silences.js';

export default function AlertsPage({ me }) {
  const params = useHashParams();
  const tab = ['active', 'rules', 'channels', 'silences'].includes(params.tab) ? params.tab : 'active';
  const tabs = [
    { id: 'active', label: t('alerts.tab_active') },
    { id: 'rules', label: t('alerts.tab_rules') },
    { id: 'channels', label: t('alerts.tab_channels') },
    { id: 'silences', label: t('alerts.tab_silences') },
  ];
  let body;
  if (tab === 'rules') body = html`<${RulesTab} me=${me} id=${params.id} />`;
  else if (tab === 'channels') body = html`<${ChannelsTab} me=${me} id=${params.id} />`;
  else if (tab === 'silences') body = html`<${SilencesTab} me=${me} params=${params} />`;
  else body = html`<${ActiveTab} me=${me} rule=${params.rule} />`;
  return html`<div class="page" data-page="alerts">
    <${PageHeader} title=${t('alerts.title')} subtitle=${t('alerts.subtitle')} />
    <${Tabs} id="alerts-tabs" label=${t('alerts.tabs_label')} tabs=${tabs} value=${tab}
      onChange=${(x) => go({ tab: x === 'active' ? undefined : x })} />
    <div class="alerts-body" data-tab=${tab}>${body}</div>
  </div>`;
}
