//! Outcome classes: the four columns every aggregate report splits calls into.
//!
//! | class | outcomes |
//! | --- | --- |
//! | `success` | `ok` (the upstream answered 1xx–3xx) |
//! | `client_error` | `client_error` (upstream 4xx), `no_route`, `client_aborted` |
//! | `server_error` | `upstream_error` (upstream 5xx), `timeout`, `upstream_unreachable`, `gateway_error` |
//! | `refused` | every refusal code (20–29: auth, not allowed, rate, quota, IP, hours, expired, …) |
//!
//! Classes go by outcome, not by status: a refusal answered 429 is `refused`, not a client
//! error, and a timeout answered 504 is a server error whatever the upstream did.

use gatewatch_model::Outcome;
use gatewatch_store::reports::ClassOutcomes;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Class {
    Success,
    ClientError,
    ServerError,
    Refused,
}

impl Class {
    pub const ALL: [Class; 4] = [
        Class::Success,
        Class::ClientError,
        Class::ServerError,
        Class::Refused,
    ];

    pub fn of(o: Outcome) -> Class {
        match o {
            Outcome::Ok => Class::Success,
            Outcome::ClientError | Outcome::NoRoute | Outcome::ClientAborted => Class::ClientError,
            Outcome::UpstreamError
            | Outcome::Timeout
            | Outcome::UpstreamUnreachable
            | Outcome::GatewayError => Class::ServerError,
            o if o.is_refusal() => Class::Refused,
            // Every code below 20 is named above; a new one counts as the gateway's fault
            // until it is sorted here.
            _ => Class::ServerError,
        }
    }

    /// Column key and series name.
    pub fn key(self) -> &'static str {
        match self {
            Class::Success => "success",
            Class::ClientError => "client_error",
            Class::ServerError => "server_error",
            Class::Refused => "refused",
        }
    }

    pub fn label(self) -> &'static str {
        match self {
            Class::Success => "Success",
            Class::ClientError => "Client error",
            Class::ServerError => "Server error",
            Class::Refused => "Refused",
        }
    }

    /// The outcomes of the class.
    pub fn outcomes(self) -> Vec<Outcome> {
        Outcome::ALL
            .iter()
            .copied()
            .filter(|o| Class::of(*o) == self)
            .collect()
    }

    /// The outcomes of each class, in [`Class::ALL`]'s order (the order of the store's count
    /// columns).
    pub fn outcome_lists() -> ClassOutcomes {
        Class::ALL.map(Class::outcomes)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_outcome_has_one_class() {
        let mut n = 0;
        for (c, outcomes) in Class::ALL.iter().zip(Class::outcome_lists()) {
            for o in Outcome::ALL {
                let named = outcomes.contains(&o);
                assert_eq!(named, Class::of(o) == *c, "{o} in {c:?}");
                n += usize::from(named);
            }
        }
        assert_eq!(n, Outcome::ALL.len());
        assert_eq!(Class::of(Outcome::RefusedBusy), Class::Refused);
        assert_eq!(Class::of(Outcome::Timeout), Class::ServerError);
    }
}
