// Outcome codes (model/src/outcome.rs) in words: a short label for the results table and a
// sentence for the detail, which for a refusal is the reason the gateway refused the call.
import { t } from '../../i18n.js';

const OUTCOMES = {
  ok: () => [t('calls.o_ok'), t('calls.od_ok')],
  client_error: () => [t('calls.o_client_error'), t('calls.od_client_error')],
  upstream_error: () => [t('calls.o_upstream_error'), t('calls.od_upstream_error')],
  timeout: () => [t('calls.o_timeout'), t('calls.od_timeout')],
  upstream_unreachable: () => [t('calls.o_upstream_unreachable'), t('calls.od_upstream_unreachable')],
  no_route: () => [t('calls.o_no_route'), t('calls.od_no_route')],
  client_aborted: () => [t('calls.o_client_aborted'), t('calls.od_client_aborted')],
  gateway_error: () => [t('calls.o_gateway_error'), t('calls.od_gateway_error')],
  refused_auth: () => [t('calls.o_refused_auth'), t('calls.od_refused_auth')],
  refused_not_allowed: () => [t('calls.o_refused_not_allowed'), t('calls.od_refused_not_allowed')],
  refused_rate: () => [t('calls.o_refused_rate'), t('calls.od_refused_rate')],
  refused_quota: () => [t('calls.o_refused_quota'), t('calls.od_refused_quota')],
  refused_ip: () => [t('calls.o_refused_ip'), t('calls.od_refused_ip')],
  refused_hours: () => [t('calls.o_refused_hours'), t('calls.od_refused_hours')],
  refused_expired: () => [t('calls.o_refused_expired'), t('calls.od_refused_expired')],
  refused_bad_request: () => [t('calls.o_refused_bad_request'), t('calls.od_refused_bad_request')],
  refused_blocked: () => [t('calls.o_refused_blocked'), t('calls.od_refused_blocked')],
  refused_busy: () => [t('calls.o_refused_busy'), t('calls.od_refused_busy')],
};

export const OUTCOME_CODES = Object.keys(OUTCOMES);

export const isRefusal = (code) => (code || '').startsWith('refused_');

/** The outcome's short label (the code itself when this page does not know it). */
export function outcomeLabel(code) {
  return OUTCOMES[code] ? OUTCOMES[code]()[0] : code;
}

/** What the outcome means, in a sentence. */
export function outcomeText(code) {
  return OUTCOMES[code] ? OUTCOMES[code]()[1] : '';
}

/** good | neutral | warn | bad for a status code, as its badge shows it. */
export function statusTone(status) {
  if (status >= 500) return 'bad';
  if (status >= 400) return 'warn';
  if (status >= 300) return 'neutral';
  return 'good';
}

/** good | warn | bad for an outcome. */
export function outcomeTone(code) {
  if (code === 'ok') return 'good';
  if (code === 'client_error' || code === 'client_aborted' || isRefusal(code)) return 'warn';
  return 'bad';
}

/** Milliseconds from microseconds, to at most one decimal under 100 ms. */
export function ms(us) {
  if (us === null || us === undefined) return null;
  return us / 1000;
}
