//! Nonces seen, per gateway: a nonce is kept until its signature's window ends (`created` +
//! `max_age_secs`), after which the `created` check refuses a replay anyway. Bounded: when
//! full, the entry whose window ends first is dropped and the cache's *floor* rises to its
//! end; a signature whose window ends at or before the floor is refused as too old, so a
//! dropped nonce can never be replayed. Under a flood of signed calls the effective window
//! shrinks (to about capacity ÷ calls per second); it never lets a replay through.

use std::collections::{BTreeSet, HashMap};
use std::sync::Mutex;

/// Most nonces kept (about 60 bytes each with the index: ~16 MiB).
pub const CAPACITY: usize = 1 << 18;

/// What a nonce is kept as: SHA-256 of the client's id and the nonce, first 16 bytes (fixed
/// size whatever the client sends; collisions are out of reach).
type Fingerprint = [u8; 16];

#[derive(Debug, PartialEq, Eq)]
pub enum Seen {
    /// New: kept until its window ends.
    Fresh,
    /// Seen before within its window.
    Replayed,
    /// Its window ends before what the full cache still remembers.
    TooOld,
}

pub struct Nonces {
    capacity: usize,
    inner: Mutex<Inner>,
}

#[derive(Default)]
struct Inner {
    /// fingerprint → end of its window (Unix seconds).
    seen: HashMap<Fingerprint, i64>,
    /// (end, fingerprint), to drop the ended and the first to end.
    by_end: BTreeSet<(i64, Fingerprint)>,
    /// Windows ending at or before this are refused (see the module doc).
    floor: i64,
}

impl Default for Nonces {
    fn default() -> Nonces {
        Nonces::with_capacity(CAPACITY)
    }
}

impl Nonces {
    pub fn with_capacity(capacity: usize) -> Nonces {
        Nonces {
            capacity: capacity.max(1),
            inner: Mutex::new(Inner::default()),
        }
    }

    /// Records `nonce` of `client` whose window ends at `end`, at time `now`.
    pub fn check_and_keep(&self, client: &str, nonce: &str, end: i64, now: i64) -> Seen {
        let fp = fingerprint(client, nonce);
        // A poisoned lock only means another call panicked mid-update; the maps stay usable.
        let mut g = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        let inner = &mut *g;
        while let Some(&(e, f)) = inner.by_end.first() {
            if e >= now {
                break;
            }
            inner.by_end.pop_first();
            inner.seen.remove(&f);
        }
        if inner.seen.contains_key(&fp) {
            return Seen::Replayed;
        }
        if end <= inner.floor {
            return Seen::TooOld;
        }
        while inner.seen.len() >= self.capacity {
            let Some((e, f)) = inner.by_end.pop_first() else {
                break;
            };
            inner.seen.remove(&f);
            inner.floor = inner.floor.max(e);
        }
        if end <= inner.floor {
            return Seen::TooOld;
        }
        inner.seen.insert(fp, end);
        inner.by_end.insert((end, fp));
        Seen::Fresh
    }

    #[cfg(test)]
    pub fn len(&self) -> usize {
        self.inner.lock().unwrap().seen.len()
    }
}

fn fingerprint(client: &str, nonce: &str) -> Fingerprint {
    let mut ctx = ring::digest::Context::new(&ring::digest::SHA256);
    ctx.update(client.as_bytes());
    ctx.update(&[0]);
    ctx.update(nonce.as_bytes());
    let d = ctx.finish();
    let mut out = [0u8; 16];
    out.copy_from_slice(&d.as_ref()[..16]);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_nonce_is_refused_again_within_its_window_and_per_client() {
        let n = Nonces::with_capacity(10);
        assert_eq!(n.check_and_keep("a", "n1", 1300, 1000), Seen::Fresh);
        assert_eq!(n.check_and_keep("a", "n1", 1300, 1200), Seen::Replayed);
        assert_eq!(n.check_and_keep("b", "n1", 1300, 1200), Seen::Fresh);
        // The client/nonce boundary is not ambiguous.
        assert_eq!(n.check_and_keep("a\0n", "1", 1300, 1200), Seen::Fresh);
        // After its window the entry is gone (the created check refuses it then).
        assert_eq!(n.check_and_keep("c", "x", 1400, 1301), Seen::Fresh);
        assert_eq!(n.len(), 1);
    }

    #[test]
    fn a_full_cache_drops_the_first_to_end_and_refuses_what_it_can_no_longer_tell() {
        let n = Nonces::with_capacity(3);
        for (i, end) in [1300, 1310, 1320].into_iter().enumerate() {
            assert_eq!(
                n.check_and_keep("a", &i.to_string(), end, 1000),
                Seen::Fresh
            );
        }
        // Full: the nonce ending at 1300 is dropped, the floor is 1300.
        assert_eq!(n.check_and_keep("a", "new", 1330, 1000), Seen::Fresh);
        assert_eq!(n.len(), 3);
        // Nonce "0" is forgotten, but its window (end 1300) is at the floor: refused.
        assert_eq!(n.check_and_keep("a", "0", 1300, 1001), Seen::TooOld);
        assert_eq!(n.check_and_keep("a", "1", 1310, 1001), Seen::Replayed);
        // A fresh signature whose window ends after the floor is taken.
        assert_eq!(n.check_and_keep("a", "later", 1340, 1001), Seen::Fresh);
        assert_eq!(n.len(), 3);
    }
}
