//! Keyset paging over time-ordered rows (the alert timeline, the audit log): where a page
//! ended, as the last row's time and a tie-breaker for rows that share it. Written in links
//! as `<ts_us>.<tie>`.

use std::fmt;
use std::str::FromStr;

/// Where a newest-first page ended: the last row's `ts_us` and its tie-breaker (a hash of
/// what makes the row unique).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TimeCursor {
    pub ts_us: i64,
    pub tie: u64,
}

impl fmt::Display for TimeCursor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}", self.ts_us, self.tie)
    }
}

impl TimeCursor {
    /// The condition (after a `WHERE`) for the rows after this cursor in the order
    /// [`NEWEST_FIRST`], where `tie` is the SQL of the tie-breaker; bind it with
    /// [`TimeCursor::bind`].
    pub fn after_sql(tie: &str) -> String {
        format!(" AND (ts_us < ? OR (ts_us = ? AND {tie} > ?))")
    }

    /// Binds the values of [`TimeCursor::after_sql`], in its order.
    pub fn bind(self, q: clickhouse::query::Query) -> clickhouse::query::Query {
        q.bind(self.ts_us).bind(self.ts_us).bind(self.tie)
    }
}

/// The order of a newest-first page (the tie-breaker selected `AS tie`) and its `LIMIT ?`.
pub const NEWEST_FIRST: &str = " ORDER BY ts_us DESC, tie ASC LIMIT ?";

/// Not a cursor this module wrote.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0:?} is not a cursor from a previous page")]
pub struct BadCursor(pub String);

impl FromStr for TimeCursor {
    type Err = BadCursor;

    fn from_str(s: &str) -> Result<TimeCursor, BadCursor> {
        s.split_once('.')
            .and_then(|(t, h)| {
                Some(TimeCursor {
                    ts_us: t.parse().ok()?,
                    tie: h.parse().ok()?,
                })
            })
            .ok_or_else(|| BadCursor(s.to_string()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_and_refuses_what_it_did_not_write() {
        let c = TimeCursor {
            ts_us: -5,
            tie: u64::MAX,
        };
        assert_eq!(c.to_string().parse::<TimeCursor>(), Ok(c));
        for bad in ["", "1", "1.", ".2", "a.b", "1.-2", "1.2.3"] {
            assert!(bad.parse::<TimeCursor>().is_err(), "{bad}");
        }
    }
}
