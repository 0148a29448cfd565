//! Call ids: UUIDv7 built from the call's start time.
//!
//! The `uuid` crate's own v7 constructor reads the OS random source on every call (one syscall
//! per request here); a call id needs uniqueness, not secrecy, so its 74 random bits come from
//! a per-thread SplitMix64 stream seeded from the OS once per thread.

use std::cell::Cell;
use std::hash::{BuildHasher, Hasher};
use std::time::Duration;

use http::HeaderValue;
use uuid::Uuid;

thread_local! {
    static STATE: Cell<u64> = Cell::new(seed());
}

fn seed() -> u64 {
    // std's RandomState keys come from the OS random source, fresh per thread.
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u64(0x5eed);
    h.finish()
}

/// 64 random bits from the per-thread stream (call ids, trace and span ids).
pub(crate) fn random_u64() -> u64 {
    STATE.with(|s| {
        let mut z = s.get().wrapping_add(0x9e37_79b9_7f4a_7c15);
        s.set(z);
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    })
}

/// A UUIDv7 whose time prefix is `since_epoch` (to the millisecond).
pub(crate) fn v7_at(since_epoch: Duration) -> Uuid {
    let mut random = [0u8; 10];
    random[..8].copy_from_slice(&random_u64().to_le_bytes());
    random[8..].copy_from_slice(&random_u64().to_le_bytes()[..2]);
    let millis = u64::try_from(since_epoch.as_millis()).unwrap_or(u64::MAX);
    uuid::Builder::from_unix_timestamp_millis(millis, &random).into_uuid()
}

/// The id as a header value (lower-case hyphenated text).
pub(crate) fn header_value(id: &Uuid) -> HeaderValue {
    let mut buf = [0u8; uuid::fmt::Hyphenated::LENGTH];
    let text = id.hyphenated().encode_lower(&mut buf);
    // Hyphenated hex is always a valid header value.
    HeaderValue::from_str(text).unwrap_or(HeaderValue::from_static("invalid"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn time_prefix_matches_the_start_time() {
        let t = Duration::from_micros(1_764_000_000_123_456);
        let id = v7_at(t);
        assert_eq!(id.get_version_num(), 7);
        let (secs, nanos) = id.get_timestamp().unwrap().to_unix();
        assert_eq!(secs, 1_764_000_000);
        assert_eq!(nanos / 1_000_000, 123);
        assert_ne!(v7_at(t), id, "ids of the same millisecond still differ");
    }

    #[test]
    fn header_value_is_the_hyphenated_text() {
        let id = v7_at(Duration::from_secs(1_764_000_000));
        assert_eq!(header_value(&id).to_str().unwrap(), id.to_string());
    }
}
