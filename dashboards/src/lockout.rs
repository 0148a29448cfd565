//! Failed logins, counted three ways, so that guessing is slow and a lockout is hard to aim
//! at someone else:
//!
//! - **one address at one account** (the pair): 5 failures within 15 minutes lock the pair
//!   for 15 minutes. The real user elsewhere is not affected.
//! - **one address at any account**: 20 failures within 15 minutes lock the address for 15
//!   minutes (a spray of names from one place).
//! - **one account from many addresses**: 10 failures within 15 minutes, from at least 3
//!   addresses, lock the account for 1 minute, then 2, 4, 8, at most 15 for each further lock
//!   in a row (the streak is forgotten after 15 quiet minutes). The account lock does not
//!   apply to an address the account logged in from successfully in the last 30 days
//!   ("known good"), and failures from such an address do not count towards it.
//!
//! One address alone can therefore never lock an account for everyone: it is stopped by the
//! pair lock at 5 failures, below the account's threshold, and the account lock needs 3
//! addresses anyway. A flood from many addresses locks the account for strangers only; its
//! owner, from an address they used before, still gets in. Clients that share one address (a
//! NAT, or a proxy not listed in `[dashboards] trusted_proxies`) share its locks. An IPv6
//! client counts as its /64, the block one subscriber usually holds.
//!
//! Kept in memory, per process: a restart forgets it (known-good addresses too), and several
//! dashboards processes each count their own. Memory stays bounded: idle entries are dropped
//! when a map grows large, and failures can come no faster than the password checks allow.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;

pub const WINDOW_SECS: i64 = 15 * 60;
pub const PAIR_LOCK_AFTER: u32 = 5;
pub const PAIR_LOCK_SECS: i64 = 15 * 60;
pub const ADDRESS_LOCK_AFTER: u32 = 20;
pub const ADDRESS_LOCK_SECS: i64 = 15 * 60;
pub const ACCOUNT_LOCK_AFTER: u32 = 10;
pub const ACCOUNT_LOCK_ADDRESSES: usize = 3;
pub const ACCOUNT_LOCK_FIRST_SECS: i64 = 60;
pub const ACCOUNT_LOCK_MAX_SECS: i64 = 15 * 60;
pub const KNOWN_GOOD_SECS: i64 = 30 * 24 * 3600;
/// Past this many entries in a map, idle ones are dropped.
const PRUNE_ABOVE: usize = 100_000;

/// What is locked, and for how many more seconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Locked {
    Pair(i64),
    Address(i64),
    Account(i64),
}

impl Locked {
    pub fn wait(self) -> i64 {
        match self {
            Locked::Pair(s) | Locked::Address(s) | Locked::Account(s) => s,
        }
    }

    /// For the 429's message and the audit row.
    pub fn describe(self, user: &str, ip: &str) -> String {
        match self {
            Locked::Pair(_) => format!("too many failed logins for {user:?} from {ip}"),
            Locked::Address(_) => format!("too many failed logins from {ip}"),
            Locked::Account(_) => {
                format!("too many failed logins for {user:?} from many addresses")
            }
        }
    }
}

#[derive(Debug, Clone, Copy, Default)]
struct Window {
    count: u32,
    first: i64,
    locked_until: i64,
}

impl Window {
    /// Counts one failure; true when it locks (for `lock_secs`).
    fn fail(&mut self, now: i64, after: u32, lock_secs: i64) -> bool {
        if now - self.first >= WINDOW_SECS {
            self.count = 0;
            self.first = now;
        }
        self.count += 1;
        if self.count >= after {
            self.locked_until = now + lock_secs;
            self.count = 0;
            self.first = now;
            return true;
        }
        false
    }

    fn locked(&self, now: i64) -> Option<i64> {
        (self.locked_until > now).then_some(self.locked_until - now)
    }

    fn idle(&self, now: i64) -> bool {
        self.locked_until <= now && now - self.first >= WINDOW_SECS
    }
}

#[derive(Debug, Clone, Default)]
struct Account {
    window: Window,
    /// Distinct addresses among the window's failures (at most [`ACCOUNT_LOCK_ADDRESSES`]).
    addresses: Vec<String>,
    /// Locks in a row: each lasts twice the one before.
    streak: u32,
}

#[derive(Default)]
struct Inner {
    pairs: HashMap<(String, String), Window>,
    addresses: HashMap<String, Window>,
    accounts: HashMap<String, Account>,
    /// (user, address) → the last successful login from there.
    known_good: HashMap<(String, String), i64>,
    /// (user, address) → the end of the lock whose first refusal there was audited.
    refusals: HashMap<(String, String), i64>,
}

/// Failed logins per pair, address and account.
#[derive(Default)]
pub struct Lockout {
    inner: Mutex<Inner>,
}

/// The key an address is counted under: itself, or its /64 for IPv6. Text that is not an
/// address (no peer known) is its own key.
pub fn address_key(ip: &str) -> String {
    match ip.parse::<IpAddr>() {
        Ok(IpAddr::V6(v6)) => match ipnet::Ipv6Net::new(v6, 64) {
            Ok(n) => n.trunc().to_string(),
            Err(_) => v6.to_string(),
        },
        Ok(v4) => v4.to_string(),
        Err(_) => ip.to_string(),
    }
}

impl Lockout {
    /// The longest lock that keeps `user` at `ip` out now, if any.
    pub fn check(&self, user: &str, ip: &str, now: i64) -> Option<Locked> {
        let m = self.inner.lock().ok()?;
        let addr = address_key(ip);
        let pair = (user.to_string(), addr.clone());
        let mut found = Vec::new();
        if let Some(w) = m.pairs.get(&pair).and_then(|w| w.locked(now)) {
            found.push(Locked::Pair(w));
        }
        if let Some(w) = m.addresses.get(&addr).and_then(|w| w.locked(now)) {
            found.push(Locked::Address(w));
        }
        if !known_good(&m, &pair, now) {
            if let Some(w) = m.accounts.get(user).and_then(|a| a.window.locked(now)) {
                found.push(Locked::Account(w));
            }
        }
        found.into_iter().max_by_key(|l| l.wait())
    }

    /// Counts a failed login of `user` from `ip`; returns the locks it set.
    pub fn failed(&self, user: &str, ip: &str, now: i64) -> Vec<Locked> {
        let Ok(mut m) = self.inner.lock() else {
            return Vec::new();
        };
        prune(&mut m, now);
        let addr = address_key(ip);
        let pair = (user.to_string(), addr.clone());
        let mut set = Vec::new();
        if m.pairs
            .entry(pair.clone())
            .or_default()
            .fail(now, PAIR_LOCK_AFTER, PAIR_LOCK_SECS)
        {
            set.push(Locked::Pair(PAIR_LOCK_SECS));
        }
        if m.addresses.entry(addr.clone()).or_default().fail(
            now,
            ADDRESS_LOCK_AFTER,
            ADDRESS_LOCK_SECS,
        ) {
            set.push(Locked::Address(ADDRESS_LOCK_SECS));
        }
        if !known_good(&m, &pair, now) {
            let a = m.accounts.entry(user.to_string()).or_default();
            if now - a.window.first >= WINDOW_SECS {
                if now - a.window.locked_until >= WINDOW_SECS {
                    a.streak = 0;
                }
                a.window.count = 0;
                a.window.first = now;
                a.addresses.clear();
            }
            a.window.count += 1;
            if a.addresses.len() < ACCOUNT_LOCK_ADDRESSES && !a.addresses.contains(&addr) {
                a.addresses.push(addr);
            }
            if a.window.count >= ACCOUNT_LOCK_AFTER && a.addresses.len() >= ACCOUNT_LOCK_ADDRESSES {
                let secs = ACCOUNT_LOCK_FIRST_SECS
                    .saturating_mul(1 << a.streak.min(10))
                    .min(ACCOUNT_LOCK_MAX_SECS);
                a.window = Window {
                    count: 0,
                    first: now,
                    locked_until: now + secs,
                };
                a.addresses.clear();
                a.streak += 1;
                set.push(Locked::Account(secs));
            }
        }
        set
    }

    /// Whether this refusal under `lock` is the first of `user` at `ip` during that lock:
    /// only that one is audited, so a flood at a locked account writes one audit row per
    /// address, not one per request.
    pub fn first_refusal(&self, user: &str, ip: &str, lock: Locked, now: i64) -> bool {
        let Ok(mut m) = self.inner.lock() else {
            return false;
        };
        if m.refusals.len() > PRUNE_ABOVE {
            m.refusals.retain(|_, until| *until > now);
        }
        let until = now + lock.wait();
        let noted = m
            .refusals
            .insert((user.to_string(), address_key(ip)), until);
        noted != Some(until)
    }

    /// A successful login: the pair starts afresh and the address is known good for the
    /// account. The account's own count and lock stay (others may still be guessing).
    pub fn succeeded(&self, user: &str, ip: &str, now: i64) {
        if let Ok(mut m) = self.inner.lock() {
            let pair = (user.to_string(), address_key(ip));
            m.pairs.remove(&pair);
            if m.known_good.len() > PRUNE_ABOVE {
                m.known_good.retain(|_, t| now - *t < KNOWN_GOOD_SECS);
            }
            m.known_good.insert(pair, now);
        }
    }
}

fn known_good(m: &Inner, pair: &(String, String), now: i64) -> bool {
    m.known_good
        .get(pair)
        .is_some_and(|t| now - *t < KNOWN_GOOD_SECS)
}

fn prune(m: &mut Inner, now: i64) {
    if m.pairs.len() > PRUNE_ABOVE {
        m.pairs.retain(|_, w| !w.idle(now));
    }
    if m.addresses.len() > PRUNE_ABOVE {
        m.addresses.retain(|_, w| !w.idle(now));
    }
    if m.accounts.len() > PRUNE_ABOVE {
        m.accounts
            .retain(|_, a| !a.window.idle(now) || now - a.window.locked_until < WINDOW_SECS);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_pair_locks_after_five_failures_in_the_window() {
        let l = Lockout::default();
        for i in 0..4 {
            assert!(l.failed("a", "1.2.3.4", 100 + i).is_empty());
        }
        assert!(l.check("a", "1.2.3.4", 104).is_none());
        assert_eq!(
            l.failed("a", "1.2.3.4", 105),
            vec![Locked::Pair(PAIR_LOCK_SECS)]
        );
        assert_eq!(
            l.check("a", "1.2.3.4", 105),
            Some(Locked::Pair(PAIR_LOCK_SECS))
        );
        assert!(l.check("a", "5.6.7.8", 105).is_none());
        assert!(l.check("b", "1.2.3.4", 105).is_none());
        assert!(l.check("a", "1.2.3.4", 105 + PAIR_LOCK_SECS).is_none());
        // Failures spread wider than the window do not add up.
        let l = Lockout::default();
        for i in 0..10 {
            assert!(l
                .failed("a", "ip", i * WINDOW_SECS / 4 + i * 200)
                .is_empty());
        }
    }

    #[test]
    fn an_address_spraying_names_locks_itself_only() {
        let l = Lockout::default();
        for i in 0..ADDRESS_LOCK_AFTER - 1 {
            assert!(l.failed(&format!("u{i}"), "9.9.9.9", 10).is_empty());
        }
        assert_eq!(
            l.failed("last", "9.9.9.9", 10),
            vec![Locked::Address(ADDRESS_LOCK_SECS)]
        );
        assert_eq!(
            l.check("anyone", "9.9.9.9", 11),
            Some(Locked::Address(ADDRESS_LOCK_SECS - 1))
        );
        assert!(l.check("anyone", "9.9.9.8", 11).is_none());
    }

    #[test]
    fn refusals_under_one_lock_are_noted_once_per_pair() {
        let l = Lockout::default();
        for _ in 0..PAIR_LOCK_AFTER {
            l.failed("a", "1.2.3.4", 10);
        }
        let lock = |now| l.check("a", "1.2.3.4", now).unwrap();
        assert!(l.first_refusal("a", "1.2.3.4", lock(11), 11));
        assert!(!l.first_refusal("a", "1.2.3.4", lock(12), 12));
        assert!(!l.first_refusal("a", "1.2.3.4", lock(500), 500));
        // The next lock is noted again.
        let later = 10 + PAIR_LOCK_SECS;
        for _ in 0..PAIR_LOCK_AFTER {
            l.failed("a", "1.2.3.4", later);
        }
        assert!(l.first_refusal("a", "1.2.3.4", lock(later), later));
    }

    #[test]
    fn ipv6_counts_per_64() {
        assert_eq!(address_key("2001:db8:1:2:aaaa::1"), "2001:db8:1:2::/64");
        assert_eq!(address_key("2001:db8:1:2:bbbb::9"), "2001:db8:1:2::/64");
        assert_eq!(address_key("192.0.2.1"), "192.0.2.1");
        assert_eq!(address_key("unknown"), "unknown");
        let l = Lockout::default();
        for i in 0..PAIR_LOCK_AFTER {
            l.failed("a", &format!("2001:db8::{i}"), 10);
        }
        assert!(matches!(
            l.check("a", "2001:db8::ffff", 10),
            Some(Locked::Pair(_))
        ));
    }

    #[test]
    fn one_address_never_locks_the_account() {
        let l = Lockout::default();
        // Every 15 minutes, as many failures as the pair lock lets through, for a day.
        let mut now = 0;
        for _ in 0..96 {
            for _ in 0..PAIR_LOCK_AFTER {
                l.failed("admin", "6.6.6.6", now);
            }
            now += PAIR_LOCK_SECS;
            assert!(l.check("admin", "10.0.0.1", now).is_none());
        }
        // Even if its failures were not stopped at the pair, two addresses are not enough.
        let l = Lockout::default();
        for i in 0..3 * ACCOUNT_LOCK_AFTER {
            l.failed("admin", ["6.6.6.6", "6.6.6.7"][i as usize % 2], 5);
        }
        assert!(l.check("admin", "10.0.0.1", 5).is_none());
    }

    #[test]
    fn many_addresses_lock_the_account_for_strangers_with_a_growing_time() {
        let l = Lockout::default();
        l.succeeded("admin", "10.0.0.1", 0);
        let mut now = 100;
        let mut want = ACCOUNT_LOCK_FIRST_SECS;
        for round in 0..6 {
            let mut set = Vec::new();
            for i in 0..ACCOUNT_LOCK_AFTER {
                set = l.failed("admin", &format!("203.0.{round}.{i}"), now);
            }
            assert_eq!(set, vec![Locked::Account(want)], "round {round}");
            // A stranger with the right password waits; the known-good address does not.
            assert_eq!(
                l.check("admin", "198.51.100.1", now),
                Some(Locked::Account(want))
            );
            assert!(l.check("admin", "10.0.0.1", now).is_none());
            now += want;
            assert!(l.check("admin", "198.51.100.1", now).is_none());
            want = (want * 2).min(ACCOUNT_LOCK_MAX_SECS);
        }
        // Failures from the known-good address do not count towards the account.
        let l = Lockout::default();
        l.succeeded("admin", "10.0.0.1", 0);
        for i in 0..ACCOUNT_LOCK_AFTER {
            let ip = if i < 2 {
                format!("203.0.113.{i}")
            } else {
                "10.0.0.1".into()
            };
            l.failed("admin", &ip, 1);
        }
        assert!(l.check("admin", "198.51.100.1", 1).is_none());
        // After a quiet spell the streak starts again from the first length.
        let l = Lockout::default();
        for i in 0..ACCOUNT_LOCK_AFTER {
            l.failed("x", &format!("203.0.113.{i}"), 0);
        }
        let later = ACCOUNT_LOCK_FIRST_SECS + WINDOW_SECS + 1;
        let mut set = Vec::new();
        for i in 0..ACCOUNT_LOCK_AFTER {
            set = l.failed("x", &format!("203.0.113.{i}"), later);
        }
        assert_eq!(set, vec![Locked::Account(ACCOUNT_LOCK_FIRST_SECS)]);
    }
}
