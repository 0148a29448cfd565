//! What one record may be, beyond being well-formed: its time within a window around now, its
//! text within the size caps of `gatewatch_model` (`CallRecord::check_bounds`,
//! `NodeSample::check_bounds`). A record outside them is a field error for its line (207); the
//! other lines of the request are stored.
//!
//! Why a time window: a record's `ts` chooses its ClickHouse partition (one per day), and an
//! insert spread over many partitions is slow on every server and refused outright by current
//! releases (`max_partitions_per_insert_block`, 100 by default). Forged or broken clocks should
//! not be able to do that. Batches a gateway replays from its spool (`x-gatewatch-replay: 1`)
//! are exempt from the age bound: a collector outage longer than `max_record_age` loses nothing.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use gatewatch_model::{CallRecord, NodeSample};

/// How far ahead of the collector's clock a record may be: 5 minutes of clock skew.
pub const MAX_FUTURE: Duration = Duration::from_secs(5 * 60);

/// The default of `[collector] max_record_age`: 7 days.
pub const DEFAULT_MAX_RECORD_AGE: Duration = Duration::from_secs(7 * 86_400);

/// A record the collector checks the bounds of.
pub trait Bounded {
    /// When it happened, microseconds since the epoch.
    fn ts_us(&self) -> i64;
    /// Its size caps: `Err((field, what is wrong))`.
    fn check_bounds(&self) -> Result<(), (String, String)>;
    /// The node that sent it (`[collector] registered_nodes_only` checks it).
    fn node(&self) -> &str;
}

impl Bounded for CallRecord {
    fn ts_us(&self) -> i64 {
        self.ts_us
    }
    fn check_bounds(&self) -> Result<(), (String, String)> {
        CallRecord::check_bounds(self)
    }
    fn node(&self) -> &str {
        &self.node
    }
}

impl Bounded for NodeSample {
    fn ts_us(&self) -> i64 {
        self.ts_us
    }
    fn check_bounds(&self) -> Result<(), (String, String)> {
        NodeSample::check_bounds(self)
    }
    fn node(&self) -> &str {
        &self.node
    }
}

/// The window of accepted times for one request, fixed when it arrives.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TimeWindow {
    /// Earliest accepted `ts_us`; `None`: no lower bound (a replay).
    pub oldest_us: Option<i64>,
    /// Latest accepted `ts_us`.
    pub newest_us: i64,
    /// `max_record_age`, for the message.
    pub max_age: Duration,
}

impl TimeWindow {
    /// The window at `now` for a request that is (`replay`) or is not a spool replay.
    pub fn at(now: SystemTime, max_age: Duration, replay: bool) -> TimeWindow {
        let now_us = now
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_micros().min(i64::MAX as u128) as i64);
        let us = |d: Duration| d.as_micros().min(i64::MAX as u128) as i64;
        TimeWindow {
            oldest_us: (!replay).then(|| now_us.saturating_sub(us(max_age))),
            newest_us: now_us.saturating_add(us(MAX_FUTURE)),
            max_age,
        }
    }

    /// The window for a request arriving now.
    pub fn now(max_age: Duration, replay: bool) -> TimeWindow {
        TimeWindow::at(SystemTime::now(), max_age, replay)
    }

    /// `Err(("ts_us", what is wrong))` when `ts_us` is outside the window.
    pub fn check(&self, ts_us: i64) -> Result<(), (String, String)> {
        if ts_us > self.newest_us {
            return Err((
                "ts_us".into(),
                format!(
                    "{} is more than 5 minutes ahead of the collector's clock (latest taken: {}); check the sender's clock",
                    rfc3339(ts_us),
                    rfc3339(self.newest_us)
                ),
            ));
        }
        if let Some(oldest) = self.oldest_us {
            if ts_us < oldest {
                return Err((
                    "ts_us".into(),
                    format!(
                        "{} is older than [collector] max_record_age ({}) allows (earliest taken: {}); batches replayed from a spool (x-gatewatch-replay: 1) are exempt",
                        rfc3339(ts_us),
                        format_duration(self.max_age),
                        rfc3339(oldest)
                    ),
                ));
            }
        }
        Ok(())
    }

    /// The time window and the size caps of `r`.
    pub fn check_record<R: Bounded>(&self, r: &R) -> Result<(), (String, String)> {
        self.check(r.ts_us())?;
        r.check_bounds()
    }
}

fn rfc3339(us: i64) -> String {
    chrono::DateTime::<chrono::Utc>::from_timestamp_micros(us)
        .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true))
        .unwrap_or_else(|| format!("{us} µs"))
}

/// Parses a duration setting: one or more `<whole number><unit>` groups, unit `s`, `m`, `h` or
/// `d` (`7d`, `36h`, `1d12h`, `90m`). At least 1 minute, at most 3650 days.
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let bad = || {
        format!(
            "{text:?} is not a duration: write a whole number and a unit, s, m, h or d (\"7d\", \"36h\", \"1d12h\")"
        )
    };
    let s = text.trim();
    if s.is_empty() {
        return Err(bad());
    }
    let mut total: u64 = 0;
    let mut digits = String::new();
    for c in s.chars() {
        if c.is_ascii_digit() {
            digits.push(c);
            continue;
        }
        let unit = match c {
            's' => 1,
            'm' => 60,
            'h' => 3600,
            'd' => 86_400,
            _ => return Err(bad()),
        };
        let n: u64 = digits.parse().map_err(|_| bad())?;
        digits.clear();
        total = n
            .checked_mul(unit)
            .and_then(|v| total.checked_add(v))
            .ok_or_else(bad)?;
    }
    if !digits.is_empty() {
        return Err(bad());
    }
    if !(60..=3650 * 86_400).contains(&total) {
        return Err(format!(
            "{text:?} must be at least 1 minute and at most 3650 days"
        ));
    }
    Ok(Duration::from_secs(total))
}

/// Writes a duration back as [`parse_duration`] reads it, largest units first (`7d`, `1d12h`).
pub fn format_duration(d: Duration) -> String {
    let mut s = d.as_secs();
    if s == 0 {
        return "0s".into();
    }
    let mut out = String::new();
    for (unit, len) in [('d', 86_400), ('h', 3600), ('m', 60), ('s', 1)] {
        if s >= len {
            out.push_str(&format!("{}{unit}", s / len));
            s %= len;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_parse_and_print_back() {
        for (text, secs) in [
            ("7d", 7 * 86_400),
            ("36h", 36 * 3600),
            ("1d12h", 86_400 + 12 * 3600),
            ("90m", 5400),
            (" 3600s ", 3600),
            ("3650d", 3650 * 86_400),
        ] {
            assert_eq!(
                parse_duration(text),
                Ok(Duration::from_secs(secs)),
                "{text}"
            );
        }
        assert_eq!(format_duration(Duration::from_secs(7 * 86_400)), "7d");
        assert_eq!(
            format_duration(Duration::from_secs(86_400 + 3600 + 61)),
            "1d1h1m1s"
        );
        for bad in [
            "",
            "7",
            "d",
            "7w",
            "-1d",
            "1.5d",
            "7 d",
            "59s",
            "3651d",
            "99999999999999999999d",
        ] {
            assert!(parse_duration(bad).is_err(), "{bad}");
        }
        assert!(parse_duration("7x").unwrap_err().contains("\"7x\""));
    }

    #[test]
    fn the_window_bounds_age_and_skew_and_replays_skip_the_age() {
        let now = UNIX_EPOCH + Duration::from_secs(1_800_000_000);
        let now_us = 1_800_000_000_000_000i64;
        let day = 86_400_000_000i64;
        let w = TimeWindow::at(now, DEFAULT_MAX_RECORD_AGE, false);
        assert_eq!(w.check(now_us), Ok(()));
        assert_eq!(w.check(now_us - 7 * day), Ok(()));
        let (field, msg) = w.check(now_us - 7 * day - 1).unwrap_err();
        assert_eq!(field, "ts_us");
        assert!(msg.contains("max_record_age (7d)"), "{msg}");
        assert_eq!(w.check(now_us + 300_000_000), Ok(()));
        let (_, msg) = w.check(now_us + 300_000_001).unwrap_err();
        assert!(msg.contains("ahead"), "{msg}");
        let replay = TimeWindow::at(now, DEFAULT_MAX_RECORD_AGE, true);
        assert_eq!(replay.check(now_us - 400 * day), Ok(()));
        assert!(replay.check(now_us + 300_000_001).is_err());
    }
}
