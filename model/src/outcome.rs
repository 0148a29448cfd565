//! Outcome codes: what happened to a call, from the gateway's point of view.

use serde::{Deserialize, Serialize};
use std::fmt;

/// What happened to one call. The numeric values are the ClickHouse `Enum8` values of
/// `api_calls.outcome`: they never change; new codes take new numbers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[repr(i8)]
pub enum Outcome {
    /// The upstream answered with a 1xx–3xx status.
    Ok = 1,
    /// The upstream answered with a 4xx status.
    ClientError = 2,
    /// The upstream answered with a 5xx status.
    UpstreamError = 3,
    /// The upstream did not answer in time (the gateway answered 504).
    Timeout = 4,
    /// No connection to any upstream could be made (the gateway answered 502).
    UpstreamUnreachable = 5,
    /// No route matched the request (404 from the gateway itself).
    NoRoute = 6,
    /// The client went away before the response was complete.
    ClientAborted = 7,
    /// The gateway failed for a reason of its own.
    GatewayError = 8,
    /// Refused: missing or wrong credentials.
    RefusedAuth = 20,
    /// Refused: the client may not call this API.
    RefusedNotAllowed = 21,
    /// Refused: over the TPS limit.
    RefusedRate = 22,
    /// Refused: quota used up.
    RefusedQuota = 23,
    /// Refused: client IP not allowed.
    RefusedIp = 24,
    /// Refused: outside the client's service hours.
    RefusedHours = 25,
    /// Refused: client or key expired.
    RefusedExpired = 26,
    /// Refused: malformed request.
    RefusedBadRequest = 27,
    /// Refused: blocked by a message check.
    RefusedBlocked = 28,
    /// Refused: the gateway was saturated and the call's place in the priority queue did not
    /// come in time (503).
    RefusedBusy = 29,
}

impl Outcome {
    /// Every code, in numeric order (the migration's `Enum8` lists these).
    pub const ALL: [Outcome; 18] = [
        Outcome::Ok,
        Outcome::ClientError,
        Outcome::UpstreamError,
        Outcome::Timeout,
        Outcome::UpstreamUnreachable,
        Outcome::NoRoute,
        Outcome::ClientAborted,
        Outcome::GatewayError,
        Outcome::RefusedAuth,
        Outcome::RefusedNotAllowed,
        Outcome::RefusedRate,
        Outcome::RefusedQuota,
        Outcome::RefusedIp,
        Outcome::RefusedHours,
        Outcome::RefusedExpired,
        Outcome::RefusedBadRequest,
        Outcome::RefusedBlocked,
        Outcome::RefusedBusy,
    ];

    /// The wire and database name.
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Ok => "ok",
            Outcome::ClientError => "client_error",
            Outcome::UpstreamError => "upstream_error",
            Outcome::Timeout => "timeout",
            Outcome::UpstreamUnreachable => "upstream_unreachable",
            Outcome::NoRoute => "no_route",
            Outcome::ClientAborted => "client_aborted",
            Outcome::GatewayError => "gateway_error",
            Outcome::RefusedAuth => "refused_auth",
            Outcome::RefusedNotAllowed => "refused_not_allowed",
            Outcome::RefusedRate => "refused_rate",
            Outcome::RefusedQuota => "refused_quota",
            Outcome::RefusedIp => "refused_ip",
            Outcome::RefusedHours => "refused_hours",
            Outcome::RefusedExpired => "refused_expired",
            Outcome::RefusedBadRequest => "refused_bad_request",
            Outcome::RefusedBlocked => "refused_blocked",
            Outcome::RefusedBusy => "refused_busy",
        }
    }

    /// The `Enum8` value.
    pub fn code(self) -> i8 {
        self as i8
    }

    /// The outcome of a call the upstream answered with `status`.
    pub fn from_upstream_status(status: u16) -> Outcome {
        match status {
            500..=599 => Outcome::UpstreamError,
            400..=499 => Outcome::ClientError,
            _ => Outcome::Ok,
        }
    }

    /// True for codes where the gateway refused the call before any upstream saw it.
    pub fn is_refusal(self) -> bool {
        (self as i8) >= 20
    }

    /// The `Enum8(...)` type text for ClickHouse DDL, built from [`Outcome::ALL`] so the schema
    /// and the code cannot disagree.
    pub fn clickhouse_enum() -> String {
        let members: Vec<String> = Outcome::ALL
            .iter()
            .map(|o| format!("'{}' = {}", o.as_str(), o.code()))
            .collect();
        format!("Enum8({})", members.join(", "))
    }
}

impl fmt::Display for Outcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wire_name_matches_serde_name() {
        for o in Outcome::ALL {
            let json = serde_json::to_string(&o).unwrap();
            assert_eq!(json, format!("\"{}\"", o.as_str()));
            let back: Outcome = serde_json::from_str(&json).unwrap();
            assert_eq!(back, o);
        }
    }

    #[test]
    fn codes_are_unique() {
        let mut codes: Vec<i8> = Outcome::ALL.iter().map(|o| o.code()).collect();
        codes.sort();
        codes.dedup();
        assert_eq!(codes.len(), Outcome::ALL.len());
    }

    #[test]
    fn upstream_status_maps_to_outcome() {
        assert_eq!(Outcome::from_upstream_status(200), Outcome::Ok);
        assert_eq!(Outcome::from_upstream_status(302), Outcome::Ok);
        assert_eq!(Outcome::from_upstream_status(404), Outcome::ClientError);
        assert_eq!(Outcome::from_upstream_status(503), Outcome::UpstreamError);
    }

    #[test]
    fn enum_ddl_lists_every_code() {
        let ddl = Outcome::clickhouse_enum();
        assert!(ddl.starts_with("Enum8('ok' = 1, "));
        assert!(ddl.contains("'refused_blocked' = 28"));
    }
}
