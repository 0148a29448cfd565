// The Gateway config page (issue 7), admin only: APIs with their upstreams' health, API
// families with their versions (issue 19), clients
// with their keys, groups, products, the grants waiting for approval, the OAuth 2.0 signing
// keys, the releases (make, diff, roll back), and every entity's history. Tabs and editors are hash sub-routes (`#/config?tab=clients&id=acme&view=edit`),
// so Back and links work; everything is read and written through the admin API.
import { html, useState } from '../vendor/preact-htm.module.js';
import { t } from '../i18n.js';
import { PageHeader, Tabs } from '../components.js';
import { useRoute, go, useEntities, History } from './config/common.js';
import { ApiList, ApiEditor } from './config/apis.js';
import { ClientList, ClientEditor } from './config/clients.js';
import { SetList, SetEditor, Pending } from './config/sets.js';
import { SigningKeys } from './config/signing_keys.js';
import { Releases } from './config/releases.js';
import { FamilyList, FamilyEditor } from './config/families.js';

const TABS = ['apis', 'families', 'clients', 'groups', 'products', 'approvals', 'keys', 'releases'];

function pendingCount(keys) {
  let n = 0;
  for (const k of keys.items) {
    if (k.body.revoked) continue;
    n += (k.body.products || []).filter((g) => g.status === 'pending').length;
  }
  return n;
}

export default function ConfigPage() {
  const route = useRoute();
  const [tick, setTick] = useState(0);
  const keys = useEntities('api-keys', tick);
  const tab = TABS.includes(route.tab) ? route.tab : 'apis';
  // After a save or delete: back to the list, which reloads.
  const done = () => {
    setTick((x) => x + 1);
    go({ tab });
  };
  const back = () => go({ tab });
  const tabs = [
    { id: 'apis', label: t('config.tab_apis') },
    { id: 'families', label: t('version.tab_families') },
    { id: 'clients', label: t('config.tab_clients') },
    { id: 'groups', label: t('config.tab_groups') },
    { id: 'products', label: t('config.tab_products') },
    { id: 'approvals', label: t('config.tab_approvals'), count: pendingCount(keys) || null },
    { id: 'keys', label: t('config.tab_keys') },
    { id: 'releases', label: t('config.tab_releases') },
  ];
  const editing = route.view === 'new' || (route.view === 'edit' && route.id);
  let body;
  if (tab === 'keys') {
    body = html`<${SigningKeys} tick=${tick} setTick=${setTick} />`;
  } else if (tab === 'releases') {
    body = html`<${Releases} tick=${tick} setTick=${setTick} />`;
  } else if (route.view === 'history' && route.id && tab !== 'approvals') {
    body = html`<${History} key=${`${tab}/${route.id}`} seg=${tab === 'families' ? 'api-families' : tab} id=${route.id}
      title=${t('config.history_of', { id: route.id })} onBack=${back} />`;
  } else if (tab === 'apis') {
    body = editing ? html`<${ApiEditor} key=${route.id || 'new'} id=${route.view === 'new' ? '' : route.id} onDone=${done} />`
      : html`<${ApiList} tick=${tick} />`;
  } else if (tab === 'families') {
    body = editing ? html`<${FamilyEditor} key=${route.id || 'new'} id=${route.view === 'new' ? '' : route.id} onDone=${done} />`
      : html`<${FamilyList} tick=${tick} />`;
  } else if (tab === 'clients') {
    body = editing ? html`<${ClientEditor} key=${route.id || 'new'} id=${route.view === 'new' ? '' : route.id}
        onDone=${done} tick=${tick} setTick=${setTick} />`
      : html`<${ClientList} tick=${tick} />`;
  } else if (tab === 'approvals') {
    body = html`<${Pending} tick=${tick} setTick=${setTick} />`;
  } else {
    body = editing ? html`<${SetEditor} key=${`${tab}/${route.id || 'new'}`} seg=${tab} id=${route.view === 'new' ? '' : route.id} onDone=${done} />`
      : html`<${SetList} seg=${tab} tick=${tick} />`;
  }
  return html`<div class="page" data-page="config" data-tab=${tab}>
    <${PageHeader} title=${t('config.title')} subtitle=${t('config.subtitle')} />
    <${Tabs} id="config-tabs" label=${t('config.title')} tabs=${tabs} value=${tab} onChange=${(v) => go({ tab: v })} />
    <div class="tab-body">${body}</div>
  </div>`;
}
