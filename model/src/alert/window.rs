//! Exception windows: when a rule does not notify (it still evaluates and records).
//!
//! Every window is read on the **wall clock of the rule's zone**: `now` is turned into local
//! time and compared with the days and `HH:MM` times written in the rule. That settles DST:
//!
//! - **Skipped hour** (spring forward): local times that do not exist that day are covered by
//!   no window. A window 01:30–02:30 on the day America/New_York jumps from 02:00 to 03:00 is
//!   open from 01:30 EST until the jump (30 real minutes) and closed from 03:00 EDT on.
//! - **Repeated hour** (fall back): local times that occur twice are covered both times. A
//!   window 01:00–01:59 on the day the clock goes from 02:00 EDT back to 01:00 EST is open
//!   01:00–01:59 EDT and again 01:00–01:59 EST.
//!
//! `until` is exclusive; `from` after `until` crosses midnight (the window opens on a listed
//! day at `from` and closes the next day at `until`); 24:00 is the end of the day.

use chrono::{DateTime, Datelike, NaiveDate, NaiveDateTime, Timelike, Utc};
use chrono_tz::Tz;
use serde::{Deserialize, Serialize};

use crate::client::{ClockTime, Day};
use crate::field::{bad, FieldError};

/// One exception window.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum ExceptionWindow {
    /// On some days of the week (`["sat", "sun"]`), all day or from–until.
    Weekly {
        #[schema(min_items = 1)]
        days: Vec<Day>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        from: Option<ClockTime>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        until: Option<ClockTime>,
    },
    /// On days of the month (1–31; a day a month lacks is skipped that month).
    MonthDays {
        #[schema(schema_with = crate::schema::month_days)]
        days: Vec<u8>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        from: Option<ClockTime>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        until: Option<ClockTime>,
    },
    /// On specific dates (`2026-12-25`).
    Dates {
        #[schema(min_items = 1)]
        dates: Vec<NaiveDate>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        from: Option<ClockTime>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        until: Option<ClockTime>,
    },
    /// Every day from–until (`22:00`–`06:00` crosses midnight).
    Daily { from: ClockTime, until: ClockTime },
}

impl ExceptionWindow {
    fn times(&self) -> (Option<ClockTime>, Option<ClockTime>) {
        match self {
            ExceptionWindow::Weekly { from, until, .. }
            | ExceptionWindow::MonthDays { from, until, .. }
            | ExceptionWindow::Dates { from, until, .. } => (*from, *until),
            ExceptionWindow::Daily { from, until } => (Some(*from), Some(*until)),
        }
    }

    /// Whether the window opens on local date `d`.
    fn on(&self, d: NaiveDate) -> bool {
        match self {
            ExceptionWindow::Weekly { days, .. } => days.contains(&Day::of(d.weekday())),
            ExceptionWindow::MonthDays { days, .. } => {
                days.iter().any(|&m| u32::from(m) == d.day())
            }
            ExceptionWindow::Dates { dates, .. } => dates.contains(&d),
            ExceptionWindow::Daily { .. } => true,
        }
    }

    /// Whether local wall-clock time `t` is inside the window.
    pub fn contains_local(&self, t: NaiveDateTime) -> bool {
        let date = t.date();
        match self.times() {
            (Some(from), Some(until)) => {
                let minute = (t.hour() * 60 + t.minute()) as u16;
                let (from, until) = (from.minutes(), until.minutes());
                if from < until {
                    self.on(date) && (from..until).contains(&minute)
                } else {
                    // The morning part belongs to the window that opened the evening before.
                    (minute >= from && self.on(date))
                        || (minute < until && date.pred_opt().is_some_and(|y| self.on(y)))
                }
            }
            _ => self.on(date),
        }
    }

    /// Whether the window holds instant `now`, read in zone `tz`.
    pub fn active_at(&self, tz: Tz, now: DateTime<Utc>) -> bool {
        self.contains_local(now.with_timezone(&tz).naive_local())
    }

    pub fn validate(&self) -> Result<(), FieldError> {
        match self {
            ExceptionWindow::Weekly { days, .. } if days.is_empty() => {
                return bad("days", "name at least one day (or use a daily window)");
            }
            ExceptionWindow::MonthDays { days, .. } => {
                if days.is_empty() {
                    return bad("days", "name at least one day of the month");
                }
                if let Some(i) = days.iter().position(|d| !(1..=31).contains(d)) {
                    return bad(format!("days[{i}]"), "must be 1 to 31");
                }
            }
            ExceptionWindow::Dates { dates, .. } if dates.is_empty() => {
                return bad("dates", "name at least one date");
            }
            _ => {}
        }
        match self.times() {
            (Some(f), Some(u)) if f == u => bad(
                "until",
                "must differ from `from` (leave both out for the whole day)",
            ),
            (Some(_), None) => bad("until", "is needed with `from`"),
            (None, Some(_)) => bad("from", "is needed with `until`"),
            _ => Ok(()),
        }
    }
}

/// Whether any of `windows` holds `now` in zone `tz`.
pub fn active_at(windows: &[ExceptionWindow], tz: Tz, now: DateTime<Utc>) -> bool {
    windows.iter().any(|w| w.active_at(tz, now))
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn w(json: &str) -> ExceptionWindow {
        let w: ExceptionWindow = serde_json::from_str(json).unwrap();
        w.validate().unwrap();
        w
    }

    fn utc(s: &str) -> DateTime<Utc> {
        s.parse().unwrap()
    }

    const TAIPEI: Tz = chrono_tz::Asia::Taipei;
    const NY: Tz = chrono_tz::America::New_York;

    #[test]
    fn weekend_all_day_in_the_rules_zone() {
        let weekend = w(r#"{"type":"weekly","days":["sat","sun"]}"#);
        // 2026-11-27 is a Friday. 16:30Z Friday is 00:30 Saturday in Taipei.
        assert!(!weekend.active_at(TAIPEI, utc("2026-11-27T15:59:00Z")));
        assert!(weekend.active_at(TAIPEI, utc("2026-11-27T16:30:00Z")));
        assert!(!weekend.active_at(Tz::UTC, utc("2026-11-27T16:30:00Z")));
        assert!(weekend.active_at(TAIPEI, utc("2026-11-29T15:59:00Z")));
        assert!(!weekend.active_at(TAIPEI, utc("2026-11-29T16:00:00Z")));
    }

    #[test]
    fn a_date_and_days_of_the_month() {
        let xmas = w(r#"{"type":"dates","dates":["2026-12-25"]}"#);
        assert!(xmas.active_at(TAIPEI, utc("2026-12-24T16:00:00Z")));
        assert!(xmas.active_at(TAIPEI, utc("2026-12-25T15:59:59Z")));
        assert!(!xmas.active_at(TAIPEI, utc("2026-12-25T16:00:00Z")));
        assert!(!xmas.active_at(TAIPEI, utc("2026-12-24T15:59:59Z")));
        let first = w(r#"{"type":"month_days","days":[1,31],"from":"09:00","until":"10:00"}"#);
        assert!(first.active_at(Tz::UTC, utc("2026-12-01T09:30:00Z")));
        assert!(!first.active_at(Tz::UTC, utc("2026-12-01T10:00:00Z")));
        assert!(first.active_at(Tz::UTC, utc("2026-12-31T09:00:00Z")));
        assert!(!first.active_at(Tz::UTC, utc("2026-12-02T09:30:00Z")));
    }

    #[test]
    fn night_window_crosses_midnight() {
        let night = w(r#"{"type":"daily","from":"22:00","until":"06:00"}"#);
        let at = |h, m| {
            TAIPEI
                .with_ymd_and_hms(2026, 11, 25, h, m, 0)
                .unwrap()
                .with_timezone(&Utc)
        };
        assert!(!night.active_at(TAIPEI, at(21, 59)));
        assert!(night.active_at(TAIPEI, at(22, 0)));
        assert!(night.active_at(TAIPEI, at(23, 59)));
        assert!(night.active_at(TAIPEI, at(0, 0)));
        assert!(night.active_at(TAIPEI, at(5, 59)));
        assert!(!night.active_at(TAIPEI, at(6, 0)));
        assert!(!night.active_at(TAIPEI, at(12, 0)));
        // Friday night's window runs into Saturday morning, not Sunday night's.
        let fri = w(r#"{"type":"weekly","days":["fri"],"from":"22:00","until":"06:00"}"#);
        assert!(fri.active_at(Tz::UTC, utc("2026-11-27T23:00:00Z")));
        assert!(fri.active_at(Tz::UTC, utc("2026-11-28T05:00:00Z")));
        assert!(!fri.active_at(Tz::UTC, utc("2026-11-28T23:00:00Z")));
        assert!(!fri.active_at(Tz::UTC, utc("2026-11-27T05:00:00Z")));
    }

    #[test]
    fn spring_forward_skipped_times_are_not_covered() {
        // 2026-03-08: New York jumps 02:00 EST (07:00Z) → 03:00 EDT.
        let win = w(r#"{"type":"dates","dates":["2026-03-08"],"from":"01:30","until":"02:30"}"#);
        assert!(!win.active_at(NY, utc("2026-03-08T06:29:00Z"))); // 01:29 EST
        assert!(win.active_at(NY, utc("2026-03-08T06:30:00Z"))); // 01:30 EST
        assert!(win.active_at(NY, utc("2026-03-08T06:59:59Z"))); // 01:59:59 EST
        assert!(!win.active_at(NY, utc("2026-03-08T07:00:00Z"))); // 03:00 EDT
        assert!(!win.active_at(NY, utc("2026-03-08T07:30:00Z"))); // 03:30 EDT
                                                                  // A daily window inside the skipped hour is simply not open that day.
        let gap = w(r#"{"type":"daily","from":"02:10","until":"02:50"}"#);
        let open = (0..24 * 60)
            .map(|m| utc("2026-03-08T05:00:00Z") + chrono::Duration::minutes(m))
            .filter(|t| gap.active_at(NY, *t))
            .count();
        assert_eq!(open, 0);
    }

    #[test]
    fn fall_back_repeated_times_are_covered_twice() {
        // 2026-11-01: New York goes back 02:00 EDT (06:00Z) → 01:00 EST.
        let win = w(r#"{"type":"dates","dates":["2026-11-01"],"from":"01:00","until":"01:59"}"#);
        assert!(!win.active_at(NY, utc("2026-11-01T04:59:00Z"))); // 00:59 EDT
        assert!(win.active_at(NY, utc("2026-11-01T05:00:00Z"))); // 01:00 EDT
        assert!(win.active_at(NY, utc("2026-11-01T05:58:59Z"))); // 01:58 EDT
        assert!(!win.active_at(NY, utc("2026-11-01T05:59:00Z"))); // 01:59 EDT
        assert!(win.active_at(NY, utc("2026-11-01T06:00:00Z"))); // 01:00 EST
        assert!(win.active_at(NY, utc("2026-11-01T06:58:00Z"))); // 01:58 EST
        assert!(!win.active_at(NY, utc("2026-11-01T06:59:00Z"))); // 01:59 EST
        let open = (0..24 * 60)
            .map(|m| utc("2026-11-01T04:00:00Z") + chrono::Duration::minutes(m))
            .filter(|t| win.active_at(NY, *t))
            .count();
        assert_eq!(open, 2 * 59);
        // Europe/Berlin falls back the week before; the same rule holds there.
        let berlin = w(r#"{"type":"daily","from":"02:00","until":"03:00"}"#);
        let open = (0..24 * 60)
            .map(|m| utc("2026-10-24T22:00:00Z") + chrono::Duration::minutes(m))
            .filter(|t| berlin.active_at(chrono_tz::Europe::Berlin, *t))
            .count();
        assert_eq!(open, 120);
    }

    #[test]
    fn any_window_of_a_list() {
        let ws = vec![
            w(r#"{"type":"weekly","days":["sun"]}"#),
            w(r#"{"type":"dates","dates":["2026-11-25"]}"#),
        ];
        assert!(active_at(&ws, Tz::UTC, utc("2026-11-25T12:00:00Z")));
        assert!(active_at(&ws, Tz::UTC, utc("2026-11-29T12:00:00Z")));
        assert!(!active_at(&ws, Tz::UTC, utc("2026-11-26T12:00:00Z")));
        assert!(!active_at(&[], Tz::UTC, utc("2026-11-26T12:00:00Z")));
    }

    #[test]
    fn bad_windows_name_the_field() {
        let e = |json: &str| match serde_json::from_str::<ExceptionWindow>(json) {
            Ok(w) => w.validate().unwrap_err().field,
            Err(e) => format!("serde: {e}"),
        };
        assert_eq!(e(r#"{"type":"weekly","days":[]}"#), "days");
        assert_eq!(e(r#"{"type":"month_days","days":[1,32]}"#), "days[1]");
        assert_eq!(
            e(r#"{"type":"daily","from":"22:00","until":"22:00"}"#),
            "until"
        );
        assert_eq!(
            e(r#"{"type":"weekly","days":["mon"],"from":"22:00"}"#),
            "until"
        );
        assert!(e(r#"{"type":"weekly","days":["mon"],"form":"22:00"}"#).starts_with("serde"));
        assert!(e(r#"{"type":"daily","from":"25:00","until":"01:00"}"#).starts_with("serde"));
    }
}
