//! Choosing an upstream for a call, per the API's `lb` policy, among the upstreams a caller
//! deems eligible (healthy, not yet tried by this call).
//!
//! - `round_robin`: each in turn; an ineligible one is passed over for the next.
//! - `weighted`: nginx's smooth weighted round robin — every pick adds each eligible
//!   upstream's weight to its running score, takes the highest, and subtracts the total from
//!   it. Over a cycle of `sum(weights)` picks each upstream gets exactly its weight, spread
//!   out (3:1 gives a a b a, not a a a b).
//! - `least_connections`: the fewest calls in flight from this gateway relative to weight
//!   (`in_flight / weight`, compared by cross-multiplying); ties go round robin.

use std::sync::atomic::{AtomicUsize, Ordering::Relaxed};
use std::sync::Mutex;

use gatewatch_model::api::LbPolicy;

use super::Upstream;

#[derive(Debug)]
pub(crate) enum Balancer {
    RoundRobin(AtomicUsize),
    /// Running scores, one per upstream.
    Weighted(Mutex<Vec<i64>>),
    /// The counter rotates where ties are broken.
    LeastConnections(AtomicUsize),
}

impl Balancer {
    pub fn new(policy: LbPolicy, upstreams: usize) -> Balancer {
        match policy {
            LbPolicy::RoundRobin => Balancer::RoundRobin(AtomicUsize::new(0)),
            LbPolicy::Weighted => Balancer::Weighted(Mutex::new(vec![0; upstreams])),
            LbPolicy::LeastConnections => Balancer::LeastConnections(AtomicUsize::new(0)),
        }
    }

    /// The index of the upstream for the next attempt among those `eligible`; `None` when
    /// none is.
    pub fn pick(&self, ups: &[Upstream], eligible: impl Fn(usize) -> bool) -> Option<usize> {
        let n = ups.len();
        if n == 1 {
            return eligible(0).then_some(0);
        }
        match self {
            Balancer::RoundRobin(next) => {
                // Relaxed: the counter only spreads load; no other memory depends on it.
                let start = next.fetch_add(1, Relaxed);
                (0..n).map(|k| (start + k) % n).find(|&i| eligible(i))
            }
            Balancer::Weighted(scores) => {
                let mut scores = scores.lock().unwrap_or_else(|p| p.into_inner());
                let mut total = 0i64;
                let mut best: Option<usize> = None;
                for (i, u) in ups.iter().enumerate() {
                    if !eligible(i) {
                        continue;
                    }
                    let w = i64::from(u.weight);
                    scores[i] += w;
                    total += w;
                    if best.is_none_or(|b| scores[i] > scores[b]) {
                        best = Some(i);
                    }
                }
                if let Some(b) = best {
                    scores[b] -= total;
                }
                best
            }
            Balancer::LeastConnections(next) => {
                let start = next.fetch_add(1, Relaxed);
                let mut best: Option<(usize, u64)> = None;
                for i in (0..n).map(|k| (start + k) % n) {
                    if !eligible(i) {
                        continue;
                    }
                    let load = ups[i].state.in_flight();
                    let lighter = best.is_none_or(|(b, b_load)| {
                        u128::from(load) * u128::from(ups[b].weight)
                            < u128::from(b_load) * u128::from(ups[i].weight)
                    });
                    if lighter {
                        best = Some((i, load));
                    }
                }
                best.map(|(i, _)| i)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ups(weights: &[u32]) -> Vec<Upstream> {
        weights
            .iter()
            .enumerate()
            .map(|(i, w)| {
                super::super::parse(
                    &format!("http://u{i}:1"),
                    *w,
                    std::time::Duration::from_secs(1),
                    None,
                )
                .unwrap()
            })
            .collect()
    }

    fn picks(b: &Balancer, u: &[Upstream], n: usize) -> Vec<usize> {
        (0..n).map(|_| b.pick(u, |_| true).unwrap()).collect()
    }

    #[test]
    fn round_robin_visits_each_in_turn_and_passes_over_the_ineligible() {
        let u = ups(&[1, 1, 1]);
        let b = Balancer::new(LbPolicy::RoundRobin, 3);
        assert_eq!(picks(&b, &u, 6), [0, 1, 2, 0, 1, 2]);
        let got: Vec<usize> = (0..4).map(|_| b.pick(&u, |i| i != 1).unwrap()).collect();
        assert_eq!(got, [0, 2, 2, 0]);
        assert_eq!(b.pick(&u, |_| false), None);
    }

    #[test]
    fn weighted_three_to_one_gives_exact_shares_spread_over_each_cycle() {
        let u = ups(&[3, 1]);
        let b = Balancer::new(LbPolicy::Weighted, 2);
        let p = picks(&b, &u, 8);
        assert_eq!(p, [0, 0, 1, 0, 0, 0, 1, 0]);
        let u = ups(&[5, 1, 1]);
        let b = Balancer::new(LbPolicy::Weighted, 3);
        // nginx's own example for {5, 1, 1}.
        assert_eq!(picks(&b, &u, 7), [0, 0, 1, 0, 2, 0, 0]);
        let u = ups(&[7, 2, 1]);
        let b = Balancer::new(LbPolicy::Weighted, 3);
        let p = picks(&b, &u, 100);
        let count = |i| p.iter().filter(|&&x| x == i).count();
        assert_eq!((count(0), count(1), count(2)), (70, 20, 10));
    }

    #[test]
    fn weighted_shares_the_rest_when_one_is_out() {
        let u = ups(&[3, 1, 2]);
        let b = Balancer::new(LbPolicy::Weighted, 3);
        let p: Vec<usize> = (0..6).map(|_| b.pick(&u, |i| i != 0).unwrap()).collect();
        assert_eq!(p.iter().filter(|&&x| x == 2).count(), 4);
        assert_eq!(p.iter().filter(|&&x| x == 1).count(), 2);
    }

    #[test]
    fn least_connections_picks_the_least_loaded_and_rotates_ties() {
        let u = ups(&[1, 1, 1]);
        let b = Balancer::new(LbPolicy::LeastConnections, 3);
        let _g0 = u[0].state.begin();
        let _g0b = u[0].state.begin();
        let _g2 = u[2].state.begin();
        assert_eq!(b.pick(&u, |_| true), Some(1));
        let g1 = u[1].state.begin();
        let _g1b = u[1].state.begin();
        assert_eq!(b.pick(&u, |_| true), Some(2));
        drop(g1);
        // Now 2, 1, 1 in flight: 1 and 2 tie and take turns.
        let mut seen: Vec<usize> = (0..4).map(|_| b.pick(&u, |_| true).unwrap()).collect();
        seen.sort_unstable();
        assert_eq!(seen, [1, 1, 2, 2]);
        assert_eq!(b.pick(&u, |i| i == 0), Some(0));
    }

    #[test]
    fn least_connections_counts_load_per_weight() {
        let u = ups(&[4, 1]);
        let b = Balancer::new(LbPolicy::LeastConnections, 2);
        let _a: Vec<_> = (0..3).map(|_| u[0].state.begin()).collect();
        let _b = u[1].state.begin();
        // 3/4 < 1/1
        assert_eq!(b.pick(&u, |_| true), Some(0));
    }
}
