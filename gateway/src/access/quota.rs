//! Quotas: calls per calendar window (minute, hour, day, month in the client's zone).
//!
//! Each window keeps three counts:
//! - `local`: calls this gateway process admitted in the window (exact);
//! - `own_stored`: this node's calls in the window as ClickHouse has them (only for `shared`
//!   scope; it covers calls made before a restart, which `local` forgot);
//! - `others`: the calls of every *other* node in the window as ClickHouse has them (only for
//!   `shared` scope), refreshed by the background sync in [`super::sync`].
//!
//! A call is admitted while `max(local, own_stored) + others < limit`. With `node` scope the
//! last two stay 0: each process counts alone and forgets on restart. When a window ends the
//! next one starts from zero (rollover is checked on each call against the window's bounds).
//!
//! With `shared` scope the count can overshoot the limit by the calls other nodes admitted but
//! ClickHouse did not show yet: their shipping and insert lag (flush interval + collector
//! insert period, about 1–2 s by default) plus the sync interval (1 s). See the crate doc.

use chrono::{DateTime, Utc};
use chrono_tz::Tz;
use gatewatch_model::client::{Quota, QuotaWindow};

/// The four windows, in [`QuotaWindow`] order.
pub(crate) const WINDOWS: [QuotaWindow; 4] = [
    QuotaWindow::Minute,
    QuotaWindow::Hour,
    QuotaWindow::Day,
    QuotaWindow::Month,
];

fn index(w: QuotaWindow) -> usize {
    match w {
        QuotaWindow::Minute => 0,
        QuotaWindow::Hour => 1,
        QuotaWindow::Day => 2,
        QuotaWindow::Month => 3,
    }
}

/// One window's counts; see the module doc.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct WindowCount {
    /// Unix seconds, start inclusive, end exclusive.
    pub start_s: i64,
    pub end_s: i64,
    pub local: u64,
    pub own_stored: u64,
    pub others: u64,
}

impl WindowCount {
    fn used(&self) -> u64 {
        self.local.max(self.own_stored).saturating_add(self.others)
    }
}

/// The windows of one client (or one key × product).
#[derive(Debug, Clone, Default)]
pub(crate) struct QuotaCounter {
    windows: [WindowCount; 4],
}

impl QuotaCounter {
    /// Moves each limited window to the one holding `now`; a new window starts from zero.
    fn roll(&mut self, quota: &Quota, now: DateTime<Utc>, tz: Tz) {
        let now_s = now.timestamp();
        for (w, _) in quota.limits() {
            let c = &mut self.windows[index(w)];
            if now_s < c.start_s || now_s >= c.end_s {
                let (s, e) = w.bounds(now, tz);
                *c = WindowCount {
                    start_s: s.timestamp(),
                    end_s: e.timestamp(),
                    ..WindowCount::default()
                };
            }
        }
    }

    /// Counts a call in every limited window, or refuses with the seconds until the end of
    /// the fullest window that is used up (nothing is counted then).
    pub fn try_take(&mut self, quota: &Quota, now: DateTime<Utc>, tz: Tz) -> Result<(), u64> {
        self.roll(quota, now, tz);
        let now_s = now.timestamp();
        let mut refuse: Option<u64> = None;
        for (w, limit) in quota.limits() {
            let c = &self.windows[index(w)];
            if c.used() >= limit {
                let wait = (c.end_s - now_s).max(1) as u64;
                refuse = Some(refuse.map_or(wait, |r| r.max(wait)));
            }
        }
        if let Some(wait) = refuse {
            return Err(wait);
        }
        for (w, _) in quota.limits() {
            self.windows[index(w)].local += 1;
        }
        Ok(())
    }

    /// Gives back a call counted by [`QuotaCounter::try_take`] that never reached an upstream
    /// (refused further on, by the admission gate).
    pub fn refund(&mut self, quota: &Quota) {
        for (w, _) in quota.limits() {
            let c = &mut self.windows[index(w)];
            c.local = c.local.saturating_sub(1);
        }
    }

    /// The limited windows as they stand (for the shared-quota sync).
    pub fn windows(&self, quota: &Quota) -> Vec<(QuotaWindow, WindowCount)> {
        quota
            .limits()
            .map(|(w, _)| (w, self.windows[index(w)]))
            .filter(|(_, c)| c.end_s > 0)
            .collect()
    }

    /// Takes ClickHouse's counts for the window starting at `start_s`; ignored when the
    /// window has rolled over since the query was made.
    pub fn apply_stored(&mut self, w: QuotaWindow, start_s: i64, own: u64, others: u64) {
        let c = &mut self.windows[index(w)];
        if c.start_s == start_s {
            c.own_stored = own;
            c.others = others;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn taipei() -> Tz {
        "Asia/Taipei".parse().unwrap()
    }

    #[test]
    fn a_minute_quota_is_exhausted_then_rolls_over_at_the_boundary() {
        let q = Quota {
            per_minute: Some(3),
            ..Quota::default()
        };
        let mut c = QuotaCounter::default();
        let t = Utc.with_ymd_and_hms(2026, 11, 25, 16, 0, 50).unwrap();
        for _ in 0..3 {
            assert_eq!(c.try_take(&q, t, taipei()), Ok(()));
        }
        // Refused until the minute ends: 10 s left.
        assert_eq!(c.try_take(&q, t, taipei()), Err(10));
        let almost = Utc.with_ymd_and_hms(2026, 11, 25, 16, 0, 59).unwrap();
        assert_eq!(c.try_take(&q, almost, taipei()), Err(1));
        // The next minute starts from zero.
        let next = Utc.with_ymd_and_hms(2026, 11, 25, 16, 1, 0).unwrap();
        for _ in 0..3 {
            assert_eq!(c.try_take(&q, next, taipei()), Ok(()));
        }
        assert_eq!(c.try_take(&q, next, taipei()), Err(60));
    }

    #[test]
    fn a_day_quota_rolls_over_at_midnight_in_the_clients_zone() {
        let q = Quota {
            per_day: Some(1),
            ..Quota::default()
        };
        let mut c = QuotaCounter::default();
        // 15:59:30 UTC is 23:59:30 in Taipei.
        let t = Utc.with_ymd_and_hms(2026, 11, 25, 15, 59, 30).unwrap();
        assert_eq!(c.try_take(&q, t, taipei()), Ok(()));
        assert_eq!(c.try_take(&q, t, taipei()), Err(30));
        // Midnight in Taipei (16:00 UTC): a new day.
        let midnight = Utc.with_ymd_and_hms(2026, 11, 25, 16, 0, 0).unwrap();
        assert_eq!(c.try_take(&q, midnight, taipei()), Ok(()));
        // The same instant in UTC's own zone is still the old day there.
        let mut u = QuotaCounter::default();
        assert_eq!(u.try_take(&q, t, chrono_tz::UTC), Ok(()));
        assert!(u.try_take(&q, midnight, chrono_tz::UTC).is_err());
    }

    #[test]
    fn the_tightest_window_refuses_and_nothing_is_counted_then() {
        let q = Quota {
            per_minute: Some(10),
            per_hour: Some(2),
            ..Quota::default()
        };
        let mut c = QuotaCounter::default();
        let t = Utc.with_ymd_and_hms(2026, 11, 25, 16, 30, 0).unwrap();
        assert!(c.try_take(&q, t, taipei()).is_ok());
        assert!(c.try_take(&q, t, taipei()).is_ok());
        assert_eq!(c.try_take(&q, t, taipei()), Err(1800));
        let minute = c.windows(&q)[0].1;
        assert_eq!(minute.local, 2);
        c.refund(&q);
        assert!(c.try_take(&q, t, taipei()).is_ok());
    }

    #[test]
    fn stored_counts_of_other_nodes_add_up_and_a_restart_keeps_its_own() {
        let q = Quota {
            per_minute: Some(10),
            ..Quota::default()
        };
        let mut c = QuotaCounter::default();
        let t = Utc.with_ymd_and_hms(2026, 11, 25, 16, 30, 5).unwrap();
        assert!(c.try_take(&q, t, taipei()).is_ok());
        let start = c.windows(&q)[0].1.start_s;
        // ClickHouse has 4 of ours (from before a restart) and 5 of other nodes'.
        c.apply_stored(QuotaWindow::Minute, start, 4, 5);
        // max(local, 4) + 5: local (1 so far) is part of the stored 4, so 4 more pass.
        for _ in 0..4 {
            assert!(c.try_take(&q, t, taipei()).is_ok());
        }
        assert!(c.try_take(&q, t, taipei()).is_err());
        // A stale answer for another window is ignored.
        c.apply_stored(QuotaWindow::Minute, start - 60, 0, 0);
        assert!(c.try_take(&q, t, taipei()).is_err());
    }
}
