// Reports (manager, admin): each report with its range and filter pickers, chart, table and
// CSV/PNG downloads; report subscriptions with their runs. The view lives in the hash, so it
// can be bookmarked and shared:
//   #/reports/<report>?range=7d&api=orders   one report (default: usage over 24 hours)
//   #/reports/subscriptions                 the subscriptions
//   #/reports/subscriptions/new             a new one
//   #/reports/subscriptions/<id>            one subscription: its runs, Send now, its editor
// Modules: reports/params.js (pickers), reports/viewer.js, reports/subscriptions.js, reports/cron.js.
import { html, useState, useEffect } from '../vendor/preact-htm.module.js';
import { get } from '../api.js';
import { t } from '../i18n.js';
import { PageHeader, Tabs, Loading } from '../components.js';
import { KIND_LABELS, fromQuery, toQuery } from './reports/params.js';
import { ReportView } from './reports/viewer.js';
import { SubscriptionList, SubscriptionDetail, SubscriptionNew } from './reports/subscriptions.js';

/** `#/reports/<path>?<query>` → { path: [...], params }. */
function parseHash() {
  const h = location.hash.replace(/^#\/?reports\/?/, '');
  const [path, qs] = h.split('?');
  return { path: path ? path.split('/').map(decodeURIComponent) : [], params: fromQuery(qs) };
}

function useHash() {
  const [h, setH] = useState(parseHash());
  useEffect(() => {
    const on = () => setH(parseHash());
    window.addEventListener('hashchange', on);
    return () => window.removeEventListener('hashchange', on);
  }, []);
  return h;
}

const LIST_LIMIT = 1000;

/** The API, client and node lists for the pickers, where the user may read them (else null:
 *  the pickers take free text). */
function useLists(perms) {
  const [lists, setLists] = useState({});
  useEffect(() => {
    let live = true;
    const names = (page) => (page.items || []).map((e) => ({ id: e.id, name: e.body && e.body.name }));
    const read = perms.has('read_gateway_config');
    Promise.all([
      read ? get(`/api/v1/apis?limit=${LIST_LIMIT}`).then(names).catch(() => null) : null,
      read ? get(`/api/v1/clients?limit=${LIST_LIMIT}`).then(names).catch(() => null) : null,
      perms.has('read_nodes') ? get('/api/v1/nodes').then((d) => (d.items || []).map((n) => ({ id: n.node })))
        .catch(() => null) : null,
    ]).then(([apis, clients, nodes]) => live && setLists({ apis, clients, nodes }));
    return () => { live = false; };
  }, []);
  return lists;
}

export default function ReportsPage({ me }) {
  const { path, params } = useHash();
  const perms = new Set(me.permissions);
  const canWrite = perms.has('write_report_subscriptions');
  const [kinds, setKinds] = useState(null);
  const lists = useLists(perms);
  const [lastKind, setLastKind] = useState('usage');

  useEffect(() => {
    get('/api/v1/reports').then((d) => setKinds((d.reports || [])
      .map((r) => r.report).filter((k) => KIND_LABELS[k] && perms.has('read_reports'))))
      .catch(() => setKinds(Object.keys(KIND_LABELS)));
  }, []);

  const subs = path[0] === 'subscriptions';
  const kind = !subs && path[0] ? path[0] : 'usage';
  useEffect(() => { if (!subs) setLastKind(kind); }, [kind, subs]);

  const go = (k, p) => {
    const q = p ? toQuery(p) : '';
    location.hash = `#/reports/${k}${q ? `?${q}` : ''}`;
  };

  const tabs = [
    { id: 'view', label: t('reports.tab_reports'), href: `#/reports/${lastKind}` },
    { id: 'subs', label: t('reports.tab_subscriptions'), href: '#/reports/subscriptions' },
  ];
  let body;
  if (!kinds) body = html`<${Loading} />`;
  else if (!subs) {
    body = html`<${ReportView} me=${me} kind=${kind} params=${path[0] ? params : { range: '24h', ...params }}
      kinds=${kinds} lists=${lists} go=${go} />`;
  } else if (path[1] === 'new' && canWrite) {
    body = html`<${SubscriptionNew} me=${me} kinds=${kinds.filter((k) => k !== 'calls')} lists=${lists} go=${go} />`;
  } else if (path[1]) {
    body = html`<${SubscriptionDetail} key=${path[1]} me=${me} id=${path[1]} kinds=${kinds} lists=${lists}
      canWrite=${canWrite} go=${go} />`;
  } else body = html`<${SubscriptionList} canWrite=${canWrite} />`;

  return html`<div class="page" data-page="reports">
    <${PageHeader} title=${t('reports.title')} subtitle=${t('reports.subtitle')}
      actions=${subs && canWrite && path[1] !== 'new'
        ? html`<a class="btn btn-primary" id="new-subscription" href="#/reports/subscriptions/new">${t('reports.sub_new')}</a>`
        : null} />
    <${Tabs} id="reports-tabs" tabs=${tabs} value=${subs ? 'subs' : 'view'} />
    ${body}
  </div>`;
}
