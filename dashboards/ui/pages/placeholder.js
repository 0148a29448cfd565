// A page of the navigation whose module has not landed yet: its header and an empty state.
import { html } from '../vendor/preact-htm.module.js';
import { t } from '../i18n.js';
import { PageHeader, Card, Empty } from '../components.js';

export function Placeholder({ page }) {
  return html`<div class="page" data-page=${page.id}>
    <${PageHeader} title=${page.label()} />
    <${Card}><${Empty} title=${t('page.coming_title')} hint=${t('page.coming_hint')} /><//>
  </div>`;
}
