//! Refusals: the status, outcome and stable code of every "no" the access phases answer, and
//! the headers their answer carries (the answer itself is `phase::Answer`).

use std::borrow::Cow;

use gatewatch_model::Outcome;
use http::header::{HeaderName, HeaderValue};
use http::StatusCode;

/// Why a call was refused. Each has one status, one outcome and one code (see the crate doc's
/// table); the codes are part of the API and never change.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Refusal {
    AuthRequired,
    InvalidCredentials,
    KeyRevoked,
    /// An `mtls` API called without a client certificate (the plain listener, or none shown).
    ClientCertificateRequired,
    /// A client certificate that no client lists.
    UnknownCertificate,
    /// The certificate and the other credential of an `["mtls", …]` API name two clients.
    CertificateMismatch,
    ClientSuspended,
    ApiNotGranted,
    ProductNotApproved,
    IpNotAllowed,
    OutsideServiceHours,
    ClientExpired,
    ClientNotYetValid,
    KeyExpired,
    /// Over the TPS limit; retry after this many seconds.
    RateLimited {
        retry_after: u64,
    },
    /// A quota window is used up; it ends in this many seconds.
    QuotaExceeded {
        retry_after: u64,
    },
    /// The admission gate was full or the wait for a place ran out.
    Busy,
    /// An `oauth2` API's Bearer token is not valid: bad signature, expired, wrong `iss` or
    /// `aud`, an untrusted issuer, revoked, or a client gatewatch does not know (RFC 6750 §3.1).
    InvalidToken,
    /// The token lacks a scope the API lists (RFC 6750 §3.1).
    InsufficientScope,
}

impl Refusal {
    pub fn status(self) -> StatusCode {
        match self.outcome() {
            Outcome::RefusedAuth => StatusCode::UNAUTHORIZED,
            Outcome::RefusedRate | Outcome::RefusedQuota => StatusCode::TOO_MANY_REQUESTS,
            Outcome::RefusedBusy => StatusCode::SERVICE_UNAVAILABLE,
            _ => StatusCode::FORBIDDEN,
        }
    }

    pub fn outcome(self) -> Outcome {
        use Refusal::*;
        match self {
            AuthRequired
            | InvalidCredentials
            | KeyRevoked
            | ClientCertificateRequired
            | UnknownCertificate
            | CertificateMismatch
            | InvalidToken => Outcome::RefusedAuth,
            ClientSuspended | ApiNotGranted | ProductNotApproved | InsufficientScope => {
                Outcome::RefusedNotAllowed
            }
            IpNotAllowed => Outcome::RefusedIp,
            OutsideServiceHours => Outcome::RefusedHours,
            ClientExpired | ClientNotYetValid | KeyExpired => Outcome::RefusedExpired,
            RateLimited { .. } => Outcome::RefusedRate,
            QuotaExceeded { .. } => Outcome::RefusedQuota,
            Busy => Outcome::RefusedBusy,
        }
    }

    pub fn code(self) -> &'static str {
        use Refusal::*;
        match self {
            AuthRequired => "auth_required",
            InvalidCredentials => "invalid_credentials",
            KeyRevoked => "key_revoked",
            ClientCertificateRequired => "client_certificate_required",
            UnknownCertificate => "unknown_certificate",
            CertificateMismatch => "certificate_mismatch",
            ClientSuspended => "client_suspended",
            ApiNotGranted => "api_not_granted",
            ProductNotApproved => "product_not_approved",
            IpNotAllowed => "ip_not_allowed",
            OutsideServiceHours => "outside_service_hours",
            ClientExpired => "client_expired",
            ClientNotYetValid => "client_not_yet_valid",
            KeyExpired => "key_expired",
            RateLimited { .. } => "rate_limited",
            QuotaExceeded { .. } => "quota_exceeded",
            Busy => "refused_busy",
            InvalidToken => "invalid_token",
            InsufficientScope => "insufficient_scope",
        }
    }

    pub fn message(self) -> Cow<'static, str> {
        use Refusal::*;
        Cow::Borrowed(match self {
            AuthRequired => "this API needs credentials (an API key, HTTP Basic or a bearer token)",
            InvalidCredentials => "the credentials are not valid",
            KeyRevoked => "the API key has been revoked",
            ClientCertificateRequired => "this API needs a client certificate (over TLS)",
            UnknownCertificate => "the client certificate is not registered",
            CertificateMismatch => {
                "the client certificate and the credentials are of different clients"
            }
            ClientSuspended => "the client is suspended",
            ApiNotGranted => "the client is not granted this API",
            ProductNotApproved => "the product granting this API is waiting for approval",
            IpNotAllowed => "calls from this address are not allowed for the client",
            OutsideServiceHours => "outside the client's service hours",
            ClientExpired => "the client's validity has ended",
            ClientNotYetValid => "the client is not valid yet",
            KeyExpired => "the API key has expired",
            RateLimited { .. } => "too many calls per second",
            QuotaExceeded { .. } => "the quota of this window is used up",
            Busy => "the gateway is saturated; try again shortly",
            InvalidToken => "the access token is not valid",
            InsufficientScope => "the access token lacks a scope this API needs",
        })
    }

    pub fn retry_after(self) -> Option<u64> {
        match self {
            Refusal::RateLimited { retry_after } | Refusal::QuotaExceeded { retry_after } => {
                Some(retry_after.max(1))
            }
            Refusal::Busy => Some(1),
            _ => None,
        }
    }
}

/// A refusal and, for the record only, what exactly happened (a certificate's fingerprint,
/// the two clients of a mismatch); the answer gives the code's fixed message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Refused {
    pub refusal: Refusal,
    pub detail: Option<String>,
    /// Headers of the answer besides the defaults (see [`Refused::header`]).
    pub headers: Vec<(HeaderName, HeaderValue)>,
}

impl From<Refusal> for Refused {
    fn from(refusal: Refusal) -> Refused {
        Refused {
            refusal,
            detail: None,
            headers: Vec::new(),
        }
    }
}

impl Refused {
    pub fn with(refusal: Refusal, detail: String) -> Refused {
        Refused {
            refusal,
            detail: Some(detail),
            headers: Vec::new(),
        }
    }

    /// The same refusal with a header added to its answer. A `WWW-Authenticate` replaces
    /// the default challenge of an authentication refusal (RFC 6750's `Bearer error=…`).
    pub fn header(mut self, name: HeaderName, value: HeaderValue) -> Refused {
        self.headers.push((name, value));
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_refusal_has_its_status_and_outcome() {
        use Refusal::*;
        let table = [
            (AuthRequired, 401, "refused_auth"),
            (InvalidCredentials, 401, "refused_auth"),
            (KeyRevoked, 401, "refused_auth"),
            (ClientCertificateRequired, 401, "refused_auth"),
            (UnknownCertificate, 401, "refused_auth"),
            (CertificateMismatch, 401, "refused_auth"),
            (ClientSuspended, 403, "refused_not_allowed"),
            (ApiNotGranted, 403, "refused_not_allowed"),
            (ProductNotApproved, 403, "refused_not_allowed"),
            (IpNotAllowed, 403, "refused_ip"),
            (OutsideServiceHours, 403, "refused_hours"),
            (ClientExpired, 403, "refused_expired"),
            (ClientNotYetValid, 403, "refused_expired"),
            (KeyExpired, 403, "refused_expired"),
            (RateLimited { retry_after: 1 }, 429, "refused_rate"),
            (QuotaExceeded { retry_after: 30 }, 429, "refused_quota"),
            (Busy, 503, "refused_busy"),
            (InvalidToken, 401, "refused_auth"),
            (InsufficientScope, 403, "refused_not_allowed"),
        ];
        for (r, status, outcome) in table {
            assert_eq!(r.status().as_u16(), status, "{r:?}");
            assert_eq!(r.outcome().as_str(), outcome, "{r:?}");
        }
        assert_eq!(QuotaExceeded { retry_after: 0 }.retry_after(), Some(1));
        assert_eq!(ApiNotGranted.retry_after(), None);
    }
}
