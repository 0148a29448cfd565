// The Reports page (issue 7). A stub until its module lands: the header and an empty state.
import { html } from '../vendor/preact-htm.module.js';
import { t } from '../i18n.js';
import { PageHeader, Card, Empty } from '../components.js';

export default function ReportsPage() {
  return html`<div class="page" data-page="reports">
    <${PageHeader} title=${t('reports.title')} subtitle=${t('reports.subtitle')} />
    <${Card}><${Empty} title=${t('page.coming_title')} hint=${t('page.coming_hint')} /><//>
  </div>`;
}
