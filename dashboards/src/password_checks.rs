//! A bound on argon2 work in this process: at most `max_password_checks` hashes or
//! verifications at once (default 2). Each costs ~19 MiB and tens of milliseconds of one core,
//! and `gatewatch up` runs the gateway in the same process, so an unbounded login flood would
//! starve it. Others wait up to `password_check_wait` (default 1 s) for a place, then get 429
//! `busy` with `Retry-After: 1`. The work runs on the blocking pool and keeps its place until
//! it is done, even when the client goes away. `gatewatch user add` hashes outside this bound
//! (another process, one hash).
//!
//! Metrics: `gatewatch_dashboards_password_checks_in_flight` (now),
//! `gatewatch_dashboards_password_checks_in_flight_peak` (most at once since start),
//! `gatewatch_dashboards_password_checks_total` (done) and
//! `gatewatch_dashboards_password_checks_refused_total` (429).

use axum::http::StatusCode;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use crate::error::ApiError;

pub const DEFAULT_MAX: usize = 2;
pub const DEFAULT_WAIT: Duration = Duration::from_secs(1);

#[derive(Default)]
struct Counters {
    in_flight: AtomicU64,
    peak: AtomicU64,
    total: AtomicU64,
    refused: AtomicU64,
}

/// The bound and its counters.
pub struct PasswordChecks {
    places: Arc<Semaphore>,
    wait: Duration,
    counters: Arc<Counters>,
}

/// Counts one check while it runs.
struct Running {
    counters: Arc<Counters>,
    _place: OwnedSemaphorePermit,
}

impl Running {
    fn start(counters: Arc<Counters>, place: OwnedSemaphorePermit) -> Running {
        let now = counters.in_flight.fetch_add(1, Ordering::SeqCst) + 1;
        counters.peak.fetch_max(now, Ordering::SeqCst);
        Running {
            counters,
            _place: place,
        }
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        self.counters.in_flight.fetch_sub(1, Ordering::SeqCst);
        self.counters.total.fetch_add(1, Ordering::Relaxed);
    }
}

impl PasswordChecks {
    /// `max` places (at least 1); a caller waits up to `wait` for one (zero: not at all).
    pub fn new(max: usize, wait: Duration) -> PasswordChecks {
        PasswordChecks {
            places: Arc::new(Semaphore::new(max.max(1))),
            wait,
            counters: Arc::default(),
        }
    }

    /// Runs `work` on the blocking pool once a place is free, or refuses (429 `busy`).
    async fn run<T: Send + 'static>(
        &self,
        work: impl FnOnce() -> T + Send + 'static,
    ) -> Result<T, ApiError> {
        let place = match self.places.clone().try_acquire_owned() {
            Ok(p) => Some(p),
            Err(_) if self.wait.is_zero() => None,
            Err(_) => tokio::time::timeout(self.wait, self.places.clone().acquire_owned())
                .await
                .ok()
                .and_then(Result::ok),
        };
        let Some(place) = place else {
            self.counters.refused.fetch_add(1, Ordering::Relaxed);
            let mut e = ApiError::new(
                StatusCode::TOO_MANY_REQUESTS,
                "busy",
                "too many password checks at once; try again in a second",
            );
            e.retry_after = Some(1);
            return Err(e);
        };
        let counters = self.counters.clone();
        // The place moves into the blocking task: it is given back when the work ends, not
        // when the request does.
        tokio::task::spawn_blocking(move || {
            let _running = Running::start(counters, place);
            work()
        })
        .await
        .map_err(ApiError::internal)
    }

    /// Whether `password` matches the PHC string `stored`.
    pub async fn verify(&self, password: String, stored: String) -> Result<bool, ApiError> {
        self.run(move || crate::auth::verify_now(&password, &stored))
            .await
    }

    /// The argon2id PHC string of `password`.
    pub async fn hash(&self, password: String) -> Result<String, ApiError> {
        let salt = crate::random::bytes(16)?;
        self.run(move || crate::auth::hash_now(&password, &salt))
            .await?
    }

    /// The counters for `/metrics` (see [`crate::metrics`]).
    pub fn figures(&self) -> Figures {
        Figures(self.counters.clone())
    }

    /// Prometheus text of the counters alone.
    #[cfg(test)]
    fn metrics(&self) -> String {
        gatewatch_listen::metrics::text_of(self.figures())
    }
}

/// The counters of a [`PasswordChecks`], read at each scrape.
pub struct Figures(Arc<Counters>);

impl std::fmt::Debug for Figures {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("password check figures")
    }
}

impl gatewatch_listen::metrics::Collector for Figures {
    fn encode(&self, mut enc: gatewatch_listen::metrics::DescriptorEncoder) -> std::fmt::Result {
        Figures::encode(self, &mut enc)
    }
}

impl Figures {
    pub fn encode(
        &self,
        enc: &mut gatewatch_listen::metrics::DescriptorEncoder,
    ) -> std::fmt::Result {
        use gatewatch_listen::metrics::{counter, gauge};
        let c = &self.0;
        let load = |a: &AtomicU64| a.load(Ordering::SeqCst);
        gauge(
            enc,
            "gatewatch_dashboards_password_checks_in_flight",
            "Argon2 hashes and verifications running now.",
            load(&c.in_flight),
        )?;
        gauge(
            enc,
            "gatewatch_dashboards_password_checks_in_flight_peak",
            "Most argon2 checks running at once since start.",
            load(&c.peak),
        )?;
        counter(
            enc,
            "gatewatch_dashboards_password_checks",
            "Argon2 checks done.",
            load(&c.total),
        )?;
        counter(
            enc,
            "gatewatch_dashboards_password_checks_refused",
            "Requests refused (429 busy) for want of a place.",
            load(&c.refused),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn at_most_max_at_once_and_the_rest_refused_or_served() {
        let checks = Arc::new(PasswordChecks::new(2, Duration::ZERO));
        let (tx, rx) = std::sync::mpsc::channel::<()>();
        let rx = Arc::new(std::sync::Mutex::new(rx));
        // Two checks that hold their places until told to finish.
        let mut held = Vec::new();
        for _ in 0..2 {
            let c = checks.clone();
            let rx = rx.clone();
            held.push(tokio::spawn(async move {
                c.run(move || {
                    let _ = rx.lock().map(|r| r.recv());
                })
                .await
            }));
        }
        while checks.counters.in_flight.load(Ordering::SeqCst) < 2 {
            tokio::task::yield_now().await;
        }
        // A third is refused at once, counted, with Retry-After.
        let e = checks.run(|| ()).await.unwrap_err();
        assert_eq!(e.status, StatusCode::TOO_MANY_REQUESTS);
        assert_eq!(e.code, "busy");
        assert_eq!(e.retry_after, Some(1));
        tx.send(()).unwrap();
        tx.send(()).unwrap();
        for h in held {
            h.await.unwrap().unwrap();
        }
        checks.run(|| ()).await.unwrap();
        let m = checks.metrics();
        assert!(
            m.contains("gatewatch_dashboards_password_checks_in_flight 0\n"),
            "{m}"
        );
        assert!(m.contains("_in_flight_peak 2\n"), "{m}");
        assert!(m.contains("_checks_total 3\n"), "{m}");
        assert!(m.contains("_refused_total 1\n"), "{m}");
    }

    #[tokio::test]
    async fn a_waiting_check_gets_the_next_free_place() {
        let checks = Arc::new(PasswordChecks::new(1, Duration::from_secs(30)));
        let h = checks.hash("correct horse battery".into()).await.unwrap();
        let (a, b) = tokio::join!(
            checks.verify("correct horse battery".into(), h.clone()),
            checks.verify("wrong".into(), h)
        );
        assert!(a.unwrap());
        assert!(!b.unwrap());
        assert!(checks.metrics().contains("_in_flight_peak 1\n"));
    }
}
