// A test-send's answer (rule or channel): one row per recipient with what the far end said.
import { html } from '../../vendor/preact-htm.module.js';
import { t, fmtNumber } from '../../i18n.js';
import { Table, Badge } from '../../components.js';

const channelLabel = {
  email: () => t('alerts.ch_email'), line: () => t('alerts.ch_line'), webhook: () => t('alerts.ch_webhook'),
};

export function SendResults({ answer }) {
  if (!answer) return null;
  const rows = answer.results || [];
  const columns = [
    { key: 'channel', label: t('alerts.col_channel'), render: (r) => (channelLabel[r.channel] ? channelLabel[r.channel]() : r.channel) },
    { key: 'recipient', label: t('alerts.col_recipient'), render: (r) => html`<span class="strong">${r.recipient}</span>` },
    { key: 'sent', label: t('alerts.col_result'), render: (r) => (r.sent
      ? html`<${Badge} tone="good">${t('alerts.res_sent')}<//>` : html`<${Badge} tone="bad">${t('alerts.res_failed')}<//>`) },
    { key: 'status', label: t('alerts.col_status'), align: 'right', render: (r) => (r.status === null || r.status === undefined ? '—' : String(r.status)) },
    { key: 'answer', label: t('alerts.col_answer'), render: (r) => html`<span class="detail">${r.answer || ''}</span>` },
    { key: 'attempts', label: t('alerts.col_attempts'), align: 'right', render: (r) => fmtNumber(r.attempts ?? null) },
  ];
  return html`<div class="send-results" id="send-results">
    <${Table} columns=${columns} rows=${rows} pageSize=${50} empty=${t('alerts.test_no_results')} />
  </div>`;
}
