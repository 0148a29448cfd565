//! Retention: raw data (`api_calls`, the per-minute rollup `api_calls_1m`, `node_metrics`;
//! daily partitions) is kept `raw_days`, the hourly rollups (`api_calls_1h`, `client_api_1h`;
//! monthly partitions) `rollup_days`. Whole partitions are dropped (`ALTER TABLE … DROP
//! PARTITION`, which 18.16 has; it has no `TTL`), and only those wholly older than the cut:
//! a day or month is dropped once its last second is before `now - days`.
//!
//! `toYYYYMMDD(ts)` cuts days in the server's zone, so partition ends are worked out there
//! (`SELECT timezone()`). The reports role runs this once at start and once a day.

use chrono::{DateTime, Datelike, Duration, NaiveDate, TimeZone, Utc};
use chrono_tz::Tz;
use gatewatch_store::{retention, Store};

/// How long data is kept.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetentionPolicy {
    pub raw_days: u32,
    pub rollup_days: u32,
}

impl Default for RetentionPolicy {
    fn default() -> Self {
        RetentionPolicy {
            raw_days: 90,
            rollup_days: 400,
        }
    }
}

/// How a table is partitioned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Grain {
    Day,
    Month,
}

/// The tables retention looks after: name, partition grain, whether the rollup period applies.
const TABLES: [(&str, Grain, bool); 5] = [
    ("api_calls", Grain::Day, false),
    ("api_calls_1m", Grain::Day, false),
    ("node_metrics", Grain::Day, false),
    ("api_calls_1h", Grain::Month, true),
    ("client_api_1h", Grain::Month, true),
];

/// A dropped partition.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Dropped {
    pub table: &'static str,
    pub partition: u32,
    pub rows: u64,
}

/// Drops every partition wholly older than its table's cut at `now`; what was dropped.
pub async fn enforce(
    store: &Store,
    policy: &RetentionPolicy,
    now: DateTime<Utc>,
) -> Result<Vec<Dropped>, gatewatch_store::Error> {
    let tz: Tz = retention::server_timezone(store)
        .await?
        .parse()
        .unwrap_or(Tz::UTC);
    let mut dropped = Vec::new();
    for (table, grain, rollup) in TABLES {
        let days = if rollup {
            policy.rollup_days
        } else {
            policy.raw_days
        };
        let cut = now - Duration::days(i64::from(days));
        for p in retention::partitions(store, table).await? {
            let Ok(id) = p.partition.parse::<u32>() else {
                continue;
            };
            if partition_end(id, grain, tz).is_some_and(|end| end <= cut) {
                retention::drop_partition(store, table, id).await?;
                dropped.push(Dropped {
                    table,
                    partition: id,
                    rows: p.rows,
                });
            }
        }
    }
    Ok(dropped)
}

/// The first instant after partition `id` (`YYYYMMDD` or `YYYYMM`) in `tz`.
fn partition_end(id: u32, grain: Grain, tz: Tz) -> Option<DateTime<Utc>> {
    let next = match grain {
        Grain::Day => {
            NaiveDate::from_ymd_opt((id / 10_000) as i32, id / 100 % 100, id % 100)?.succ_opt()?
        }
        Grain::Month => {
            let first = NaiveDate::from_ymd_opt((id / 100) as i32, id % 100, 1)?;
            let (y, m) = if first.month() == 12 {
                (first.year() + 1, 1)
            } else {
                (first.year(), first.month() + 1)
            };
            NaiveDate::from_ymd_opt(y, m, 1)?
        }
    };
    let midnight = next.and_hms_opt(0, 0, 0)?;
    // A midnight that a DST change skips: the earliest valid time after it.
    tz.from_local_datetime(&midnight)
        .earliest()
        .or_else(|| {
            tz.from_local_datetime(&(midnight + Duration::hours(1)))
                .earliest()
        })
        .map(|t| t.with_timezone(&Utc))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn partitions_end_at_the_next_midnight_in_the_zone() {
        let utc = Tz::UTC;
        assert_eq!(
            partition_end(20261124, Grain::Day, utc),
            Some(Utc.with_ymd_and_hms(2026, 11, 25, 0, 0, 0).unwrap())
        );
        assert_eq!(
            partition_end(202612, Grain::Month, utc),
            Some(Utc.with_ymd_and_hms(2027, 1, 1, 0, 0, 0).unwrap())
        );
        let taipei: Tz = "Asia/Taipei".parse().unwrap();
        assert_eq!(
            partition_end(20261124, Grain::Day, taipei),
            Some(Utc.with_ymd_and_hms(2026, 11, 24, 16, 0, 0).unwrap())
        );
        assert_eq!(partition_end(20261340, Grain::Day, utc), None);
    }
}
