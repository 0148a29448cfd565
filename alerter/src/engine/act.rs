//! The notify stage's I/O: starting the round's sends, recording them when they finish, and
//! the channel-health notices ("… notices keep failing" / "work again",
//! [`crate::notice::channel_health`]).
//!
//! Every transition and every notice attempt becomes an `alert_events` row (`value` is 0 when
//! there was none, e.g. a failed probe, whose error is in `detail`); each message (rendered,
//! resolved to single recipients, with a deterministic id by [`crate::notice`]) is skipped
//! when `alert_events` already shows it sent, and handed to the [`Dispatcher`] after checking
//! that the lease is still held. Sends run as tasks and are recorded when they finish (at the
//! next round), so a slow channel does not hold up the rounds that renew the lease. Held-back
//! notices are recorded per recipient with result `suppressed` and why (by the round).

use chrono::{DateTime, Utc};
use gatewatch_store::alerts::{self, AlertEvent};
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};
use uuid::Uuid;

use super::{Engine, CHANNEL_FAILURES_TO_ALERT};
use crate::dispatch::{self, Delivery, Dispatcher};
use crate::notice::{self, Send};

/// One channel kind's run of failed sends.
#[derive(Debug, Default)]
pub(super) struct ChannelHealth {
    failures: u32,
    /// Since when its "keeps failing" notice is out (`None`: not raised).
    since: Option<DateTime<Utc>>,
}

impl ChannelHealth {
    /// After a send through the channel (`sent` or not) at `now`: `Some((true, now))` when
    /// this failure raises the "keeps failing" notice ([`CHANNEL_FAILURES_TO_ALERT`] in a
    /// row, once per run), `Some((false, raised at))` when this send clears a raised one.
    pub(super) fn after(
        &mut self,
        sent: bool,
        now: DateTime<Utc>,
    ) -> Option<(bool, DateTime<Utc>)> {
        if sent {
            let raised = self.since;
            *self = ChannelHealth::default();
            return raised.map(|at| (false, at));
        }
        self.failures += 1;
        if self.failures >= CHANNEL_FAILURES_TO_ALERT && self.since.is_none() {
            self.since = Some(now);
            return Some((true, now));
        }
        None
    }
}

impl<D: Dispatcher> Engine<D> {
    /// Starts the round's sends (skipping those already sent), each after checking the lease;
    /// they are recorded when they finish.
    pub(super) async fn send_all(&mut self, sends: Vec<Send>, now: DateTime<Utc>) {
        if sends.is_empty() {
            return;
        }
        let mut sends = sends;
        if self.ch_up {
            let ids: Vec<Uuid> = sends.iter().map(|s| s.msg.notification_id).collect();
            // Ids are tied to their episode's start, so a week back is plenty.
            let since_us = now.timestamp_micros() - 7 * 24 * 3600 * 1_000_000;
            match self
                .ch(alerts::sent_notifications(&self.store, &ids, since_us))
                .await
            {
                Ok(done) => sends.retain(|s| {
                    let skip = done.contains(&s.msg.notification_id);
                    if skip {
                        tracing::info!(id = %s.msg.notification_id, "already sent; skipped");
                    }
                    !skip
                }),
                Err(e) => tracing::warn!(error = %e, "cannot check what was sent"),
            }
        }
        for s in sends {
            if self.ch_up {
                let now_us = Utc::now().timestamp_micros();
                let c = &self.cfg;
                match self
                    .ch(alerts::holds(&self.store, &c.lease_name, &c.holder, now_us))
                    .await
                {
                    Ok(true) => {}
                    Ok(false) => {
                        tracing::warn!(
                            "lost the alerter lease before sending; leaving it to the holder"
                        );
                        self.holder = false;
                        break;
                    }
                    // ClickHouse went away mid-round: still the holder (see the module doc).
                    Err(_) => self.ch_up = false,
                }
            }
            let d = self.dispatcher.clone();
            self.inflight.spawn(async move {
                let started = Instant::now();
                let delivery = d.send(&s.to, &s.msg).await;
                (s, delivery, started.elapsed())
            });
        }
    }

    /// Records a finished send.
    pub(super) fn record_send(&mut self, (s, delivery, took): (Send, Delivery, Duration)) {
        let Delivery {
            sent,
            attempts,
            detail,
        } = delivery;
        let ts_us = Utc::now().timestamp_micros();
        let mut rows = s.events;
        for e in &mut rows {
            e.attempt = attempts;
            e.result = if sent { "sent" } else { "failed" }.into();
            e.detail = match e.detail.split_once(": group ") {
                // A group message's rows keep which group they were about.
                Some((_, group)) => format!("{detail} (group {group})"),
                None => detail.clone(),
            };
            e.ts_us = ts_us;
        }
        let Some(e) = rows.first().cloned() else {
            return;
        };
        if sent {
            self.metrics.sent.fetch_add(1, Ordering::Relaxed);
            tracing::info!(rule = %e.rule_id, key = %e.scope_key, channel = %e.channel, to = %e.recipient, alerts = rows.len(), ms = took.as_millis() as u64, "notice sent");
        } else {
            self.metrics.failed.fetch_add(1, Ordering::Relaxed);
            tracing::warn!(rule = %e.rule_id, key = %e.scope_key, channel = %e.channel, to = %e.recipient, detail = %detail, "notice failed");
        }
        let channel = s.to.channel();
        let now = Utc::now();
        let change = self
            .channel_health
            .entry(channel)
            .or_default()
            .after(sent, now);
        if let Some((failing, since)) = change {
            let mut last = e.clone();
            last.detail = detail;
            self.channel_notice(channel, failing, since, &last);
        }
        for e in rows {
            self.record(e);
        }
    }

    /// "Channel X keeps failing" (or "works again"), sent to the recipients of the rule whose
    /// notice showed it on every *other* channel kind, and recorded under the rule id
    /// `channel:X`. Its own sends count toward their channels like any other.
    fn channel_notice(
        &mut self,
        channel: &'static str,
        failing: bool,
        since: DateTime<Utc>,
        last: &AlertEvent,
    ) {
        let Some(rule) = self.sources.rule(&last.rule_id) else {
            return;
        };
        let recipients = dispatch::resolve(
            &rule.spec.recipients,
            &self.sources.directory,
            &self.sources.channels,
        );
        let (event, sends) = notice::channel_health(
            channel,
            failing,
            last,
            recipients,
            since,
            Utc::now(),
            &self.cfg.link_base,
        );
        tracing::warn!(
            channel,
            failing,
            others = sends.len(),
            "channel health changed"
        );
        self.record(event);
        for s in sends {
            let d = self.dispatcher.clone();
            self.inflight.spawn(async move {
                let started = Instant::now();
                let delivery = d.send(&s.to, &s.msg).await;
                (s, delivery, started.elapsed())
            });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_channel_raises_once_per_run_of_failures_and_clears_with_the_raise_time() {
        let t0: DateTime<Utc> = "2026-12-07T10:00:00Z".parse().unwrap();
        let at = |s| t0 + chrono::Duration::seconds(s);
        let mut h = ChannelHealth::default();
        assert_eq!(h.after(false, at(0)), None);
        assert_eq!(h.after(false, at(1)), None);
        assert_eq!(h.after(false, at(2)), Some((true, at(2))));
        assert_eq!(h.after(false, at(3)), None, "once per run");
        assert_eq!(h.after(true, at(4)), Some((false, at(2))));
        assert_eq!(h.after(true, at(5)), None);
        assert_eq!(h.after(false, at(6)), None, "a new run counts from zero");
    }
}
