//! The API's own rate (`rate = { per_second, burst }`): one token bucket for every caller
//! together, per gateway. 429 `rate_limited`, outcome `refused_rate`, with `Retry-After` and
//! the IETF httpapi draft's `RateLimit-Policy` / `RateLimit` (draft-ietf-httpapi-ratelimit-headers),
//! which allowed answers carry too.
//!
//! The bucket holds `burst` calls and refills at `per_second`. In the draft's terms that is
//! the policy `"default";q=<burst>;w=<burst / per_second, rounded up, at least 1>`: `q` calls
//! at once, back in full after `w` seconds. `RateLimit: "default";r=<calls left>;t=<seconds
//! until the bucket is full again>`.
//!
//! Buckets are kept by API id in the gateway-wide [`State`], so a configuration reload (a new
//! router) keeps the calls already counted; a changed `rate` applies its new figures to the
//! bucket as it stands. Each gateway has its own buckets: `n` gateways let up to `n` times the
//! rate through, as for the clients' TPS limits.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Instant;

use gatewatch_model::{ApiSpec, Outcome};
use http::header::{self, HeaderName, HeaderValue};
use http::StatusCode;

use crate::access::limits::TokenBucket;
use crate::phase::{Answer, Ctx, Stop};
use crate::route::Route;

/// The error code of a call over the API's rate.
pub(crate) const CODE: &str = "rate_limited";
pub(crate) static RATELIMIT_POLICY: HeaderName = HeaderName::from_static("ratelimit-policy");
pub(crate) static RATELIMIT: HeaderName = HeaderName::from_static("ratelimit");

/// The buckets, by API id (they outlive router swaps). Grows by one small entry per API
/// with a `rate` ever served by this gateway.
#[derive(Default)]
pub(crate) struct State {
    buckets: Mutex<HashMap<String, Arc<Mutex<Bucket>>>>,
}

impl State {
    fn bucket(&self, api_id: &str) -> Arc<Mutex<Bucket>> {
        let mut map = self.buckets.lock().unwrap_or_else(|e| e.into_inner());
        map.entry(api_id.to_string())
            .or_insert_with(|| Arc::new(Mutex::new(Bucket::default())))
            .clone()
    }
}

/// The clients' TPS bucket ([`TokenBucket`]), made full on the API's first call, on a
/// monotonic clock that starts there.
#[derive(Debug, Default)]
struct Bucket {
    started: Option<(Instant, TokenBucket)>,
}

/// What one take found.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Taken {
    /// Allowed: calls left, seconds until full.
    Allowed { left: u64, reset: u64 },
    /// Refused: seconds until a call is allowed again, seconds until full.
    Refused { wait: u64, reset: u64 },
}

impl Bucket {
    fn take(&mut self, per_second: u32, burst: u32, now: Instant) -> Taken {
        let (start, bucket) = self
            .started
            .get_or_insert_with(|| (now, TokenBucket::new(per_second, burst, 0)));
        // A call from the past (calls start in parallel) does not move the clock back: the
        // bucket keeps the latest time it saw.
        let now_ns =
            u64::try_from(now.saturating_duration_since(*start).as_nanos()).unwrap_or(u64::MAX);
        let taken = bucket.try_take(per_second, burst, now_ns);
        let tokens = bucket.tokens();
        let reset = ((f64::from(burst) - tokens) / f64::from(per_second))
            .ceil()
            .max(0.0) as u64;
        match taken {
            Ok(()) => Taken::Allowed {
                left: tokens.floor() as u64,
                reset,
            },
            Err(wait) => Taken::Refused { wait, reset },
        }
    }
}

#[derive(Debug)]
pub(crate) struct Compiled {
    per_second: u32,
    burst: u32,
    /// `RateLimit-Policy`, made once.
    policy: HeaderValue,
    /// This API's bucket in the [`State`], found on the first call.
    bucket: OnceLock<Arc<Mutex<Bucket>>>,
}

pub(crate) fn compile(spec: &ApiSpec) -> Option<Compiled> {
    let rate = spec.rate.as_ref()?;
    let per_second = rate.per_second.max(1);
    let burst = rate.burst();
    let window = burst.div_ceil(per_second).max(1);
    let policy = HeaderValue::from_str(&format!("\"default\";q={burst};w={window}")).ok()?;
    Some(Compiled {
        per_second,
        burst,
        policy,
        bucket: OnceLock::new(),
    })
}

/// Takes one call from the API's bucket.
pub(crate) fn take(
    state: &State,
    rate: &Compiled,
    route: &Route,
    ctx: &mut Ctx,
) -> Result<(), Stop> {
    let bucket = rate.bucket.get_or_init(|| state.bucket(&route.api_id));
    let taken = bucket.lock().unwrap_or_else(|e| e.into_inner()).take(
        rate.per_second,
        rate.burst,
        ctx.start,
    );
    match taken {
        Taken::Allowed { left, reset } => {
            ctx.answer_headers
                .push((RATELIMIT_POLICY.clone(), rate.policy.clone()));
            ctx.answer_headers
                .push((RATELIMIT.clone(), remaining(left, reset)));
            Ok(())
        }
        Taken::Refused { wait, reset } => {
            let told = format!(
                "the API takes {} calls per second from all callers together; retry in {wait} s",
                rate.per_second
            );
            let answer = Answer::new(
                StatusCode::TOO_MANY_REQUESTS,
                Outcome::RefusedRate,
                CODE,
                told,
            )
            .header(header::RETRY_AFTER, HeaderValue::from(wait))
            .header(RATELIMIT_POLICY.clone(), rate.policy.clone())
            .header(RATELIMIT.clone(), remaining(0, reset.max(wait)));
            Err(Stop::Refuse(answer))
        }
    }
}

/// `"default";r=<left>;t=<reset>`, written without `format!` (on every allowed answer, it
/// was half the policy's cost).
fn remaining(left: u64, reset: u64) -> HeaderValue {
    let mut v = Vec::with_capacity(56);
    v.extend_from_slice(b"\"default\";r=");
    push_number(&mut v, left);
    v.extend_from_slice(b";t=");
    push_number(&mut v, reset);
    HeaderValue::from_maybe_shared(bytes::Bytes::from(v))
        .unwrap_or_else(|_| HeaderValue::from_static("\"default\""))
}

fn push_number(out: &mut Vec<u8>, mut n: u64) {
    let mut digits = [0u8; 20];
    let mut i = digits.len();
    loop {
        i -= 1;
        digits[i] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    out.extend_from_slice(&digits[i..]);
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn secs(n: f64) -> Duration {
        Duration::from_secs_f64(n)
    }

    #[test]
    fn a_full_bucket_allows_burst_calls_then_refuses_until_it_refills() {
        let t0 = Instant::now();
        let mut b = Bucket::default();
        // per_second 2, burst 3
        assert_eq!(b.take(2, 3, t0), Taken::Allowed { left: 2, reset: 1 });
        assert_eq!(b.take(2, 3, t0), Taken::Allowed { left: 1, reset: 1 });
        assert_eq!(b.take(2, 3, t0), Taken::Allowed { left: 0, reset: 2 });
        assert_eq!(b.take(2, 3, t0), Taken::Refused { wait: 1, reset: 2 });
        // Half a second later one call came back.
        let t1 = t0 + secs(0.5);
        assert_eq!(b.take(2, 3, t1), Taken::Allowed { left: 0, reset: 2 });
        assert!(matches!(b.take(2, 3, t1), Taken::Refused { .. }));
        // Long quiet: full again, not more than burst.
        let t2 = t1 + secs(60.0);
        assert_eq!(b.take(2, 3, t2), Taken::Allowed { left: 2, reset: 1 });
    }

    #[test]
    fn a_call_stamped_before_the_last_does_not_refill_or_rewind() {
        let t0 = Instant::now();
        let mut b = Bucket::default();
        let later = t0 + secs(1.0);
        assert!(matches!(b.take(1, 1, later), Taken::Allowed { .. }));
        assert!(matches!(b.take(1, 1, t0), Taken::Refused { .. }));
        assert!(matches!(b.take(1, 1, later), Taken::Refused { .. }));
        assert!(matches!(
            b.take(1, 1, later + secs(1.0)),
            Taken::Allowed { .. }
        ));
    }

    #[test]
    fn a_new_rate_applies_to_the_bucket_as_it_stands() {
        let t0 = Instant::now();
        let mut b = Bucket::default();
        for _ in 0..10 {
            assert!(matches!(b.take(1, 10, t0), Taken::Allowed { .. }));
        }
        // Reloaded with a bigger burst: the calls counted stay counted.
        assert!(matches!(b.take(1, 100, t0), Taken::Refused { .. }));
        // Reloaded with a smaller burst: the bucket never holds more than it.
        let mut b = Bucket::default();
        assert!(matches!(
            b.take(1, 100, t0),
            Taken::Allowed { left: 99, .. }
        ));
        assert_eq!(b.take(1, 2, t0), Taken::Allowed { left: 1, reset: 1 });
    }

    #[test]
    fn the_policy_header_names_burst_and_the_time_to_refill_it() {
        let mut spec = ApiSpec::prefixed("x", "/x", &["http://127.0.0.1:9"]);
        let policy = |spec: &ApiSpec| compile(spec).unwrap().policy;
        spec.rate = Some(gatewatch_model::client::Rate {
            per_second: 10,
            burst: None,
        });
        assert_eq!(policy(&spec), "\"default\";q=10;w=1");
        spec.rate = Some(gatewatch_model::client::Rate {
            per_second: 10,
            burst: Some(25),
        });
        assert_eq!(policy(&spec), "\"default\";q=25;w=3");
        spec.rate = Some(gatewatch_model::client::Rate {
            per_second: 10,
            burst: Some(2),
        });
        assert_eq!(policy(&spec), "\"default\";q=2;w=1");
        spec.rate = None;
        assert!(compile(&spec).is_none());
    }

    #[test]
    fn the_ratelimit_header_spells_its_numbers() {
        assert_eq!(remaining(0, 0), "\"default\";r=0;t=0");
        assert_eq!(remaining(7, 12), "\"default\";r=7;t=12");
        assert_eq!(
            remaining(u64::MAX, 1_000_000),
            "\"default\";r=18446744073709551615;t=1000000"
        );
    }

    #[test]
    fn buckets_are_kept_by_api_id_across_compiles() {
        let state = State::default();
        let a = state.bucket("orders");
        let b = state.bucket("orders");
        assert!(Arc::ptr_eq(&a, &b));
        assert!(!Arc::ptr_eq(&a, &state.bucket("users")));
    }
}
