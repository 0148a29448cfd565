//! The keys of one gateway: those in flight and the first answers kept, bounded in entries
//! and in bytes (see [`Limits`] for what happens when full).

use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use bytes::Bytes;
use http::{HeaderMap, StatusCode};

/// A key's scope and text, hashed: SHA-256 of client, API and key (fixed size, whatever the
/// key's length).
pub(crate) type KeyHash = [u8; 32];
/// SHA-256 of a call's method, target and body: a repeat must have the same.
pub(crate) type Fingerprint = [u8; 32];

/// How much one gateway keeps.
///
/// - `max_bytes` of answers: past it the oldest answers are shed first, their keys kept
///   (a repeat of a shed key is refused 409, never run again);
/// - `max_entries` keys (in flight and kept): past it, kept keys whose TTL is over go, then
///   the oldest kept keys (a repeat of those runs again: counted in [`Counts::evicted`]);
///   keys in flight are never evicted (they are bounded by the calls open at once).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Limits {
    pub max_bytes: usize,
    pub max_entries: usize,
}

impl Default for Limits {
    fn default() -> Limits {
        Limits {
            max_bytes: 64 << 20,
            max_entries: 200_000,
        }
    }
}

/// A first answer, as replayed.
#[derive(Debug)]
pub(crate) struct Answer {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Bytes,
}

impl Answer {
    /// Bytes it holds, roughly (what the memory bound counts).
    pub fn size(&self) -> usize {
        let headers: usize = self
            .headers
            .iter()
            .map(|(n, v)| n.as_str().len() + v.len() + 32)
            .sum();
        self.body.len() + headers + 64
    }
}

/// What a key holds.
enum Slot {
    /// The first call is running (`gen` tells it from a later holder of the same key).
    Running { fingerprint: Fingerprint, gen: u64 },
    /// The first call's answer: `None` when it was larger than the API keeps, or shed.
    Kept {
        fingerprint: Fingerprint,
        gen: u64,
        expires: Instant,
        answer: Option<std::sync::Arc<Answer>>,
        /// Why `answer` is `None`.
        gone: Gone,
    },
}

/// Why a kept key has no answer to give.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Gone {
    TooLarge,
    Shed,
}

/// What a call's key finds.
#[derive(Debug)]
pub(crate) enum Found {
    /// New (or its TTL is over): the call runs, holding the key as `gen`.
    First(u64),
    /// The first call with this key is still running.
    Running,
    /// The key's first call had another method, target or body.
    Mismatch,
    Replay(std::sync::Arc<Answer>),
    /// Kept but without its answer.
    NotKept(Gone),
}

/// What the store did, for tests and metrics.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Counts {
    /// Answers dropped to stay under `max_bytes` (their keys kept).
    pub shed: u64,
    /// Kept keys dropped to stay under `max_entries` before their TTL was over.
    pub evicted: u64,
}

struct Inner {
    map: HashMap<KeyHash, Slot>,
    /// Kept keys in the order kept (stale ones skipped by `gen`): the oldest go first.
    kept: VecDeque<(KeyHash, u64)>,
    /// Keys with an answer, in the order kept: the oldest answers are shed first.
    answers: VecDeque<(KeyHash, u64)>,
    bytes: usize,
    next_gen: u64,
    counts: Counts,
}

/// See the module doc.
pub(crate) struct Kept {
    limits: Limits,
    inner: Mutex<Inner>,
}

impl Kept {
    pub fn new(limits: Limits) -> Kept {
        Kept {
            limits,
            inner: Mutex::new(Inner {
                map: HashMap::new(),
                kept: VecDeque::new(),
                answers: VecDeque::new(),
                bytes: 0,
                next_gen: 1,
                counts: Counts::default(),
            }),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        // A panic while holding the lock leaves consistent maps (no step unwinds halfway).
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Looks `key` up; a new key (or one past its TTL) is taken as running.
    pub fn begin(&self, key: KeyHash, fingerprint: Fingerprint, now: Instant) -> Found {
        let mut inner = self.lock();
        let inner = &mut *inner;
        match inner.map.get(&key) {
            Some(Slot::Running { fingerprint: f, .. }) => {
                return if *f == fingerprint {
                    Found::Running
                } else {
                    Found::Mismatch
                };
            }
            Some(Slot::Kept {
                fingerprint: f,
                expires,
                answer,
                gone,
                ..
            }) if *expires > now => {
                return if *f != fingerprint {
                    Found::Mismatch
                } else {
                    match answer {
                        Some(a) => Found::Replay(a.clone()),
                        None => Found::NotKept(*gone),
                    }
                };
            }
            // Past its TTL: forgotten (its bytes given back), the call runs as a first one.
            Some(Slot::Kept {
                answer: Some(a), ..
            }) => inner.bytes -= a.size(),
            Some(Slot::Kept { answer: None, .. }) | None => {}
        }
        let gen = inner.next_gen;
        inner.next_gen += 1;
        if inner.map.len() >= self.limits.max_entries && !inner.map.contains_key(&key) {
            inner.make_room(self.limits.max_entries, now);
        }
        inner.map.insert(key, Slot::Running { fingerprint, gen });
        Found::First(gen)
    }

    /// The first call ended without an answer to keep: the key is free again.
    pub fn release(&self, key: &KeyHash, gen: u64) {
        let mut inner = self.lock();
        if matches!(inner.map.get(key), Some(Slot::Running { gen: g, .. }) if *g == gen) {
            inner.map.remove(key);
        }
    }

    /// The first call's answer (`None`: too large to keep), kept until `expires`.
    pub fn keep(&self, key: KeyHash, gen: u64, answer: Option<Answer>, expires: Instant) {
        let mut inner = self.lock();
        let inner = &mut *inner;
        let fingerprint = match inner.map.get(&key) {
            Some(Slot::Running {
                fingerprint,
                gen: g,
                ..
            }) if *g == gen => *fingerprint,
            _ => return,
        };
        let size = answer.as_ref().map_or(0, Answer::size);
        let answer = match answer {
            // An answer larger than the whole budget is never kept.
            Some(a) if size <= self.limits.max_bytes => {
                inner.shed_until(self.limits.max_bytes - size);
                inner.bytes += size;
                inner.answers.push_back((key, gen));
                Some(std::sync::Arc::new(a))
            }
            _ => None,
        };
        let gone = if size > self.limits.max_bytes {
            Gone::Shed
        } else {
            Gone::TooLarge
        };
        inner.kept.push_back((key, gen));
        inner.map.insert(
            key,
            Slot::Kept {
                fingerprint,
                gen,
                expires,
                answer,
                gone,
            },
        );
        inner.compact(self.limits.max_entries);
    }

    #[cfg(test)]
    pub fn counts(&self) -> Counts {
        self.lock().counts
    }

    #[cfg(test)]
    pub fn bytes(&self) -> usize {
        self.lock().bytes
    }

    #[cfg(test)]
    pub fn len(&self) -> usize {
        self.lock().map.len()
    }
}

impl Inner {
    /// Sheds the oldest answers until at most `budget` bytes are held.
    fn shed_until(&mut self, budget: usize) {
        while self.bytes > budget {
            let Some((key, gen)) = self.answers.pop_front() else {
                break;
            };
            if let Some(Slot::Kept {
                gen: g,
                answer,
                gone,
                ..
            }) = self.map.get_mut(&key)
            {
                if *g == gen {
                    if let Some(a) = answer.take() {
                        self.bytes -= a.size();
                        *gone = Gone::Shed;
                        self.counts.shed += 1;
                    }
                }
            }
        }
    }

    /// One key more is to be held and the map is full: keys past their TTL go, then the
    /// oldest kept ones.
    fn make_room(&mut self, max_entries: usize, now: Instant) {
        let mut freed = 0usize;
        self.map.retain(|_, slot| match slot {
            Slot::Kept {
                expires, answer, ..
            } if *expires <= now => {
                freed += answer.as_ref().map_or(0, |a| a.size());
                false
            }
            _ => true,
        });
        self.bytes -= freed;
        while self.map.len() >= max_entries {
            let Some((key, gen)) = self.kept.pop_front() else {
                break; // every key is in flight
            };
            if let Some(Slot::Kept { gen: g, answer, .. }) = self.map.get(&key) {
                if *g == gen {
                    self.bytes -= answer.as_ref().map_or(0, |a| a.size());
                    self.map.remove(&key);
                    self.counts.evicted += 1;
                }
            }
        }
    }

    /// The order queues hold stale entries (keys replaced or gone); kept at most twice the
    /// entries.
    fn compact(&mut self, max_entries: usize) {
        let live = |map: &HashMap<KeyHash, Slot>, (key, gen): &(KeyHash, u64)| matches!(map.get(key), Some(Slot::Kept { gen: g, .. }) if g == gen);
        if self.kept.len() > 2 * max_entries.max(self.map.len()) {
            let map = &self.map;
            self.kept.retain(|e| live(map, e));
        }
        if self.answers.len() > 2 * max_entries.max(self.map.len()) {
            let map = &self.map;
            self.answers.retain(|e| live(map, e));
        }
    }
}

/// How long a TTL of `secs` is.
pub(crate) fn ttl(secs: u32) -> Duration {
    Duration::from_secs(u64::from(secs))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn answer(body: &'static [u8]) -> Answer {
        Answer {
            status: StatusCode::CREATED,
            headers: HeaderMap::new(),
            body: Bytes::from_static(body),
        }
    }

    fn k(n: u8) -> KeyHash {
        [n; 32]
    }

    #[test]
    fn a_key_runs_once_then_replays_until_its_ttl_and_another_body_is_a_mismatch() {
        let kept = Kept::new(Limits::default());
        let t0 = Instant::now();
        let Found::First(gen) = kept.begin(k(1), k(10), t0) else {
            panic!()
        };
        assert!(matches!(kept.begin(k(1), k(10), t0), Found::Running));
        assert!(matches!(kept.begin(k(1), k(11), t0), Found::Mismatch));
        kept.keep(k(1), gen, Some(answer(b"{}")), t0 + ttl(10));
        assert!(matches!(kept.begin(k(1), k(10), t0), Found::Replay(a) if a.status == 201));
        assert!(matches!(kept.begin(k(1), k(11), t0), Found::Mismatch));
        // Another key (another client, another API) is its own.
        assert!(matches!(kept.begin(k(2), k(10), t0), Found::First(_)));
        // Past the TTL: a first call again, its bytes given back.
        assert!(matches!(
            kept.begin(k(1), k(10), t0 + ttl(10)),
            Found::First(_)
        ));
        assert_eq!(kept.bytes(), 0);
    }

    #[test]
    fn a_released_key_runs_again_and_a_stale_holder_neither_keeps_nor_releases() {
        let kept = Kept::new(Limits::default());
        let t0 = Instant::now();
        let Found::First(g1) = kept.begin(k(1), k(10), t0) else {
            panic!()
        };
        kept.release(&k(1), g1);
        let Found::First(g2) = kept.begin(k(1), k(10), t0) else {
            panic!()
        };
        // The first holder is done with the key: what it says no longer counts.
        kept.release(&k(1), g1);
        kept.keep(k(1), g1, Some(answer(b"old")), t0 + ttl(10));
        assert!(matches!(kept.begin(k(1), k(10), t0), Found::Running));
        kept.keep(k(1), g2, None, t0 + ttl(10));
        assert!(matches!(
            kept.begin(k(1), k(10), t0),
            Found::NotKept(Gone::TooLarge)
        ));
    }

    #[test]
    fn of_many_calls_racing_with_one_key_exactly_one_runs() {
        let kept = std::sync::Arc::new(Kept::new(Limits::default()));
        let t0 = Instant::now();
        let firsts: usize = (0..8)
            .map(|_| {
                let kept = kept.clone();
                std::thread::spawn(move || {
                    (0..1000)
                        .filter(|_| matches!(kept.begin(k(9), k(9), t0), Found::First(_)))
                        .count()
                })
            })
            .collect::<Vec<_>>()
            .into_iter()
            .map(|h| h.join().unwrap())
            .sum();
        assert_eq!(firsts, 1);
    }

    #[test]
    fn past_the_byte_bound_the_oldest_answers_are_shed_and_their_keys_refuse_repeats() {
        let size = answer(b"0123456789").size();
        let kept = Kept::new(Limits {
            max_bytes: 3 * size,
            max_entries: 100,
        });
        let t0 = Instant::now();
        for n in 0..5 {
            let Found::First(g) = kept.begin(k(n), k(n), t0) else {
                panic!()
            };
            kept.keep(k(n), g, Some(answer(b"0123456789")), t0 + ttl(60));
            assert!(kept.bytes() <= 3 * size);
        }
        assert!(matches!(
            kept.begin(k(0), k(0), t0),
            Found::NotKept(Gone::Shed)
        ));
        assert!(matches!(
            kept.begin(k(1), k(1), t0),
            Found::NotKept(Gone::Shed)
        ));
        for n in 2..5 {
            assert!(matches!(kept.begin(k(n), k(n), t0), Found::Replay(_)));
        }
        assert_eq!(kept.counts().shed, 2);
        assert_eq!(kept.counts().evicted, 0);
    }

    #[test]
    fn past_the_entry_bound_expired_keys_go_first_then_the_oldest_never_one_in_flight() {
        let kept = Kept::new(Limits {
            max_bytes: 1 << 20,
            max_entries: 3,
        });
        let t0 = Instant::now();
        let run = |n: u8, secs: u32| {
            let Found::First(g) = kept.begin(k(n), k(n), t0) else {
                panic!()
            };
            kept.keep(k(n), g, Some(answer(b"x")), t0 + ttl(secs));
        };
        run(1, 60);
        run(2, 1);
        run(3, 60);
        // Full; key 2 is past its TTL a second later: it goes, nothing else.
        let later = t0 + ttl(2);
        assert!(matches!(kept.begin(k(4), k(4), later), Found::First(_)));
        assert_eq!(kept.counts().evicted, 0);
        assert!(matches!(kept.begin(k(1), k(1), later), Found::Replay(_)));
        // Full again, none expired: the oldest kept (1) goes; key 4 is in flight and stays.
        assert!(matches!(kept.begin(k(5), k(5), later), Found::First(_)));
        assert_eq!(kept.counts().evicted, 1);
        assert!(matches!(kept.begin(k(4), k(4), later), Found::Running));
        assert_eq!(kept.len(), 3);
    }
}
