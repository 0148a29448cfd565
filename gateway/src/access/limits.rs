//! The TPS limit: a token bucket per client, per gateway process.
//!
//! The bucket holds up to `burst` tokens and gains `per_second` a second; a call takes one.
//! Time is a monotonic count of nanoseconds passed in by the caller, so tests drive it.

/// One client's bucket.
#[derive(Debug, Clone)]
pub(crate) struct TokenBucket {
    tokens: f64,
    last_ns: u64,
    per_second: u32,
    burst: u32,
}

impl TokenBucket {
    /// A full bucket.
    pub fn new(per_second: u32, burst: u32, now_ns: u64) -> TokenBucket {
        TokenBucket {
            tokens: burst as f64,
            last_ns: now_ns,
            per_second,
            burst,
        }
    }

    /// Tokens held after the last take (fractional while refilling).
    pub fn tokens(&self) -> f64 {
        self.tokens
    }

    /// Takes a token, or says how many whole seconds until one is there (at least 1).
    /// A changed rate or burst (the client was edited) applies at once, keeping the tokens
    /// the bucket has.
    pub fn try_take(&mut self, per_second: u32, burst: u32, now_ns: u64) -> Result<(), u64> {
        if (per_second, burst) != (self.per_second, self.burst) {
            self.per_second = per_second;
            self.burst = burst;
        }
        let elapsed = now_ns.saturating_sub(self.last_ns) as f64 / 1e9;
        self.last_ns = self.last_ns.max(now_ns);
        self.tokens = (self.tokens + elapsed * per_second as f64).min(burst as f64);
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            Ok(())
        } else {
            let wait = (1.0 - self.tokens) / per_second.max(1) as f64;
            Err((wait.ceil() as u64).max(1))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const S: u64 = 1_000_000_000;

    #[test]
    fn a_burst_passes_then_calls_wait_for_the_refill() {
        let t0 = 5 * S;
        let mut b = TokenBucket::new(1, 5, t0);
        for i in 0..5 {
            assert_eq!(b.try_take(1, 5, t0), Ok(()), "call {i} of the burst");
        }
        assert_eq!(b.try_take(1, 5, t0), Err(1));
        // Half a second later: still no whole token.
        assert!(b.try_take(1, 5, t0 + S / 2).is_err());
        // One second after the burst: one token, exactly.
        assert_eq!(b.try_take(1, 5, t0 + S), Ok(()));
        assert!(b.try_take(1, 5, t0 + S).is_err());
        // A long quiet spell refills up to the burst, not beyond.
        let later = t0 + 100 * S;
        for _ in 0..5 {
            assert_eq!(b.try_take(1, 5, later), Ok(()));
        }
        assert!(b.try_take(1, 5, later).is_err());
    }

    #[test]
    fn a_faster_rate_refills_faster_and_a_clock_going_back_is_harmless() {
        let mut b = TokenBucket::new(10, 1, 0);
        assert_eq!(b.try_take(10, 1, 0), Ok(()));
        assert!(b.try_take(10, 1, S / 20).is_err());
        assert_eq!(b.try_take(10, 1, S / 10), Ok(()));
        assert!(b.try_take(10, 1, 0).is_err());
        // Raising the limit applies at once.
        assert_eq!(b.try_take(100, 1, S / 10 + S / 100), Ok(()));
    }
}
