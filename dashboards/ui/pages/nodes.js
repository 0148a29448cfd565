// The Nodes page (issue 7). A stub until its module lands: the header and an empty state.
import { html } from '../vendor/preact-htm.module.js';
import { t } from '../i18n.js';
import { PageHeader, Card, Empty } from '../components.js';

export default function NodesPage() {
  return html`<div class="page" data-page="nodes">
    <${PageHeader} title=${t('nodes.title')} subtitle=${t('nodes.subtitle')} />
    <${Card}><${Empty} title=${t('page.coming_title')} hint=${t('page.coming_hint')} /><//>
  </div>`;
}
