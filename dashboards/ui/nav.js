// The navigation: ONE table of the app's pages and the permission (from GET /api/v1/me's
// `permissions`) that shows each. A page shows only to the roles that use it (issue 7):
//
// | page     | permission                   | roles            |
// | -------- | ---------------------------- | ---------------- |
// | overview | (none)                       | everyone         |
// | nodes    | read_nodes                   | ops, admin       |
// | alerts   | write_alert_rules            | ops, admin       |
// | reports  | write_report_subscriptions   | manager, admin   |
// | calls    | read_call_detail             | support, admin   |
// | config   | write_gateway_config         | admin            |
// | users    | manage_users                 | admin            |
// | audit    | read_audit_log               | admin            |
//
// Hiding is a courtesy: the API refuses each page's writes (and its reads where the role
// matrix says so) whatever the UI shows. A new page adds its row here and its module in
// `pages/`; `load` imports it when first shown.
import { t } from './i18n.js';

export const PAGES = [
  { id: 'overview', perm: null, label: () => t('nav.overview'), load: () => import('./pages/overview.js') },
  { id: 'nodes', perm: 'read_nodes', label: () => t('nav.nodes'), load: () => import('./pages/nodes.js') },
  { id: 'alerts', perm: 'write_alert_rules', label: () => t('nav.alerts'), load: () => import('./pages/alerts.js') },
  { id: 'reports', perm: 'write_report_subscriptions', label: () => t('nav.reports'), load: () => import('./pages/reports.js') },
  { id: 'calls', perm: 'read_call_detail', label: () => t('nav.calls'), load: () => import('./pages/calls.js') },
  { id: 'config', perm: 'write_gateway_config', label: () => t('nav.config'), load: () => import('./pages/config.js') },
  { id: 'users', perm: 'manage_users', label: () => t('nav.users'), load: () => import('./pages/users.js') },
  { id: 'audit', perm: 'read_audit_log', label: () => t('nav.audit'), load: () => import('./pages/audit.js') },
];

/** The pages `permissions` may use, in table order. */
export function visiblePages(permissions) {
  const have = new Set(permissions || []);
  return PAGES.filter((p) => p.perm === null || have.has(p.perm));
}

/** Pages under the user menu, open to everyone logged in. */
export const ACCOUNT_PAGES = [
  { id: 'password', label: () => t('nav.password'), load: () => import('./pages/password.js') },
];

export function roleName(role) {
  const names = {
    admin: () => t('role.admin'),
    ops: () => t('role.ops'),
    manager: () => t('role.manager'),
    support: () => t('role.support'),
  };
  return names[role] ? names[role]() : role;
}
