//! The evaluation loop and its I/O. The decisions are the stages' (pure functions, tested
//! alone): [`crate::lease`], [`crate::evaluate`], [`crate::mute`], [`crate::group`],
//! [`crate::notice`]. Every `eval_interval`:
//!
//! 1. **Lease**: take or renew the sending lease (`store::alerts::acquire`, within the probe's
//!    timeout plus the settle time). Only the holder evaluates and sends; the others idle and
//!    try again next round. A process that newly holds it loads the saved states (alerts' and
//!    groups') first (`load_states`), so pending durations survive a restart or a change of
//!    holder, and what was sent is not sent again. The database probe runs at the same time.
//! 2. **Sources**: rules, silences, policies, inhibit rules, users' addresses and channels are
//!    re-read when the configuration log's revision moves, and written to a snapshot on disk
//!    ([`crate::source`]); at start the snapshot is read first. The acks are read each round.
//! 3. **Evaluate**, 4. **Mute**, 5. **Group** (`engine/round.rs`): per rule and scope key an
//!    observation; windows, silences, inhibit rules (against this round's firing alerts), then
//!    `model::alert::step` with `suppressed` = muted, a repeat of an acknowledged episode held
//!    back; alerts no policy takes are notified alone, the others join their policy's groups.
//! 6. **Notify** (`engine/act.rs`): each message is sent once (deterministic ids), after
//!    checking the lease, as a task recorded when it finishes; every transition and attempt is
//!    an `alert_events` row.
//! 7. **Persist**: changed states (`save_states`) and the events. Every ClickHouse call has a
//!    timeout (`query_timeout`); the first that finds no answer marks ClickHouse away for the
//!    rest of the round, so a server that hangs costs one wait, not one per call.
//!
//! Besides the tick, a round runs when a pending alert reaches its duration or a group its
//! wait, and at once after a round in which ClickHouse stopped answering.
//!
//! # ClickHouse away
//!
//! The database rule must fire exactly when ClickHouse does not answer, and e-mail and LINE do
//! not need it. So while ClickHouse is unreachable:
//! - a process that held the lease at its last successful check **keeps acting as holder**
//!   ([`crate::lease`]); a process that did not hold it (or started during the outage) stays
//!   idle;
//! - rules come from memory (the snapshot at start);
//! - each round makes one ClickHouse call, a ping within `probe_timeout`, to learn whether it
//!   is back (then the buffered events are written and the lease checked as usual), while the
//!   probe runs alongside;
//! - the probe observes the failure, from when ClickHouse stopped answering (the probe's start,
//!   or the first call that got no answer) until the probe gave up
//!   ([`crate::evaluate::step_failure`]), so `for_secs` counts from the hang, not from the
//!   round that noticed it (measured end to end: the firing mail at most about 7 s after hang +
//!   `for_secs` with the defaults; `ops/bench/RESULTS.md`); the other kinds observe nothing:
//!   no data keeps their state as it is;
//! - events and states are kept in memory — events bounded by `buffer_events`, the oldest
//!   dropped and counted beyond it — and written when ClickHouse answers again.

use chrono::{DateTime, Utc};
use chrono_tz::Tz;
use gatewatch_model::alert::Lang;
use gatewatch_store::acks::{self, Ack};
use gatewatch_store::alerts::{self, AlertEvent, SavedState};
use gatewatch_store::{Store, StoreConfig};
use std::collections::{HashMap, VecDeque};
use std::future::Future;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use crate::dispatch::{Delivery, Dispatcher};
use crate::evaluate::needs_probe;
use crate::lease::{self, LeaseView};
pub use crate::metrics::Metrics;
use crate::notice::Send;
use crate::probe::{self, Probed};
use crate::source::Sources;

mod act;
mod round;

/// How long a stopping engine waits for sends under way.
const SHUTDOWN_WAIT: Duration = Duration::from_secs(30);

/// How the evaluator runs.
#[derive(Debug, Clone)]
pub struct EngineConfig {
    /// This process's name in the lease and in `alert_events.alerter`; unique per process.
    pub holder: String,
    /// Name of the lease (one per site).
    pub lease_name: String,
    pub eval_interval: Duration,
    pub lease_ttl: Duration,
    /// Wait after a new claim before reading who won (longer than an insert takes to show).
    pub lease_settle: Duration,
    /// `<data_dir>/alerter/` holds the snapshot of rules and recipients.
    pub data_dir: PathBuf,
    pub site_tz: Tz,
    pub site_lang: Lang,
    /// `{{link}}`: the dashboards URL, e.g. `http://127.0.0.1:8090`; empty: none.
    pub link_base: String,
    /// The server the database probe checks (normally the store's).
    pub probe: StoreConfig,
    pub probe_timeout: Duration,
    /// Longest wait for one rule's reads.
    pub query_timeout: Duration,
    /// Events kept in memory while ClickHouse is away.
    pub buffer_events: usize,
}

impl EngineConfig {
    /// The defaults: every 5 s, a 15 s lease, 1 s settle, 3 s probe timeout.
    pub fn new(holder: impl Into<String>, data_dir: PathBuf, store: &StoreConfig) -> EngineConfig {
        EngineConfig {
            holder: holder.into(),
            lease_name: "alerter".into(),
            eval_interval: Duration::from_secs(5),
            lease_ttl: Duration::from_secs(15),
            lease_settle: Duration::from_secs(1),
            data_dir,
            site_tz: chrono_tz::Asia::Taipei,
            site_lang: Lang::ZhTw,
            link_base: String::new(),
            probe: store.clone(),
            probe_timeout: Duration::from_secs(3),
            query_timeout: Duration::from_secs(5),
            buffer_events: 10_000,
        }
    }
}

/// The evaluator. Build with [`Engine::new`], run with [`Engine::run`].
pub struct Engine<D> {
    store: Store,
    cfg: EngineConfig,
    dispatcher: Arc<D>,
    metrics: Arc<Metrics>,
    sources: Sources,
    /// Per (rule id, scope key text): the key and its state.
    states: lease::AlertStates,
    states_loaded: bool,
    /// Held the lease at the last successful check.
    holder: bool,
    ch_up: bool,
    events: VecDeque<AlertEvent>,
    /// Changed states to save, per (rule id, scope key) (groups: `group:<policy>`, group key).
    dirty: HashMap<(String, String), SavedState>,
    /// Sends under way; recorded when they finish (a slow channel does not hold up the
    /// rounds, which renew the lease).
    inflight: tokio::task::JoinSet<(Send, Delivery, Duration)>,
    /// Consecutive failed sends per channel kind (`email`, `line`, `webhook`), and since when
    /// a "channel failing" notice is out for the current run of failures.
    channel_health: HashMap<&'static str, act::ChannelHealth>,
    /// Events recorded elsewhere in the process (test-sends while ClickHouse was away),
    /// written with this engine's own.
    handed_in: (EventSink, tokio::sync::mpsc::Receiver<AlertEvent>),
    /// Group states per (policy id, group key) (see [`crate::group`]).
    groups: lease::GroupStates,
    /// The newest ack row per episode, read each round while ClickHouse answers (the last
    /// read is kept while it does not).
    acks: Vec<Ack>,
    /// A ClickHouse call of this round found no answer within its time: the rest of the
    /// round does not wait on it again (a server that hangs costs one wait per round).
    away: AtomicBool,
    /// When a group next has something to decide (wakes the loop before the next tick).
    group_due: Option<DateTime<Utc>>,
    /// ClickHouse went away during the last round: the next starts at once, so the probe
    /// confirms it without waiting out a round.
    rerun: bool,
    /// The start of the last ClickHouse call that failed (µs; 0: none).
    failed_call_us: AtomicI64,
    /// Since when ClickHouse has not answered (the start of the first call that got no
    /// answer); `None` while it answers.
    away_since: Option<DateTime<Utc>>,
    /// The time the last evaluation stepped to (a due moment at or before it is done).
    last_eval: DateTime<Utc>,
    /// How long the last database probe took (a round that probes a hung server learns the
    /// outcome only that long after it starts).
    last_probe_took: Duration,
}

/// How far back acks are read at least; further when a firing episode began earlier (an ack
/// "until it resolves" of a long episode is written after that episode's start).
const ACKS_LOOKBACK_US: i64 = 8 * 24 * 3600 * 1_000_000;

/// Where to start reading acks: the start of the oldest firing episode, or
/// [`ACKS_LOOKBACK_US`] back, whichever is earlier.
fn acks_since(states: &lease::AlertStates, now_us: i64) -> i64 {
    states
        .values()
        .filter_map(|(_, st)| match st.phase {
            gatewatch_model::alert::Phase::Firing { since, .. } => Some(since.timestamp_micros()),
            _ => None,
        })
        .fold(now_us - ACKS_LOOKBACK_US, i64::min)
}

/// Hands an event to the engine, which writes it with its own (buffered while ClickHouse is
/// away). Bounded: a full sink refuses (`try_send`).
pub type EventSink = tokio::sync::mpsc::Sender<AlertEvent>;

/// Events waiting in an [`EventSink`] before the next round takes them.
const HANDED_IN_MAX: usize = 1024;

/// A channel kind that failed this many sends in a row raises its own notice on the others.
pub const CHANNEL_FAILURES_TO_ALERT: u32 = 3;

pub use crate::lease::parse_key;

impl<D: Dispatcher> Engine<D> {
    /// Reads the snapshot (if any); touches nothing else until it runs.
    pub fn new(store: Store, cfg: EngineConfig, dispatcher: Arc<D>) -> Engine<D> {
        let mut from_snapshot = false;
        let sources = match Sources::read(&cfg.data_dir) {
            Ok(Some(s)) => {
                tracing::info!(rules = s.rules.len(), "alert rules from the snapshot");
                from_snapshot = true;
                s
            }
            Ok(None) => Sources::default(),
            Err(e) => {
                tracing::warn!(error = %e, "ignoring the alerter snapshot");
                Sources::default()
            }
        };
        let metrics = Arc::new(Metrics::default());
        metrics
            .rules
            .store(sources.rules.len() as u64, Ordering::Relaxed);
        // Readiness (`Metrics::readiness`): rules from the snapshot count as loaded.
        metrics
            .rules_loaded
            .store(u64::from(from_snapshot), Ordering::Relaxed);
        metrics
            .snapshot
            .store(u64::from(from_snapshot), Ordering::Relaxed);
        Engine {
            store,
            cfg,
            dispatcher,
            metrics,
            sources,
            states: HashMap::new(),
            states_loaded: false,
            holder: false,
            // Assumed up until a call fails (so the first failure is logged).
            ch_up: true,
            events: VecDeque::new(),
            dirty: HashMap::new(),
            inflight: tokio::task::JoinSet::new(),
            channel_health: HashMap::new(),
            handed_in: tokio::sync::mpsc::channel(HANDED_IN_MAX),
            groups: HashMap::new(),
            acks: Vec::new(),
            away: AtomicBool::new(false),
            group_due: None,
            rerun: false,
            failed_call_us: AtomicI64::new(0),
            away_since: None,
            last_eval: DateTime::<Utc>::MIN_UTC,
            last_probe_took: Duration::ZERO,
        }
    }

    /// Where other parts of the process hand events to be written (see [`EventSink`]).
    pub fn event_sink(&self) -> EventSink {
        self.handed_in.0.clone()
    }

    /// Takes the events handed in since the last round.
    fn take_handed_in(&mut self) {
        while let Ok(e) = self.handed_in.1.try_recv() {
            self.record(e);
        }
    }

    pub fn metrics(&self) -> Arc<Metrics> {
        self.metrics.clone()
    }

    /// Evaluates every `eval_interval` until `shutdown`; then writes what is buffered and
    /// gives the lease up, so another alerter takes over at once.
    pub async fn run(mut self, shutdown: impl Future<Output = ()>) {
        tokio::pin!(shutdown);
        let mut tick = tokio::time::interval(self.cfg.eval_interval);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut first = true;
        loop {
            // Besides the tick: at once after ClickHouse went away, and when a pending alert
            // reaches its duration or a group its wait (so a notice does not wait for the
            // next tick).
            let wake = self.next_wake(Utc::now());
            if first {
                // The interval's first tick is immediate.
                first = false;
                tick.tick().await;
            } else {
                tokio::select! {
                    _ = tick.tick() => {}
                    _ = tokio::time::sleep_until(wake.unwrap_or_else(|| tokio::time::Instant::now() + Duration::from_secs(3600))), if wake.is_some() => {}
                    _ = &mut shutdown => break,
                }
            }
            self.round(Utc::now()).await;
        }
        self.take_handed_in();
        // Sends under way are waited for (a while) and recorded.
        let deadline = tokio::time::Instant::now() + SHUTDOWN_WAIT;
        while let Ok(Some(done)) =
            tokio::time::timeout_at(deadline, self.inflight.join_next()).await
        {
            if let Ok(done) = done {
                self.record_send(done);
            }
        }
        self.flush().await;
        if self.holder && self.ch_up {
            let now_us = Utc::now().timestamp_micros();
            let _ = self
                .ch(alerts::acquire(
                    &self.store,
                    &self.cfg.lease_name,
                    &self.cfg.holder,
                    now_us,
                    Duration::ZERO,
                    Duration::ZERO,
                ))
                .await;
        }
    }

    /// A ClickHouse call with the query timeout: a server that hangs counts as away.
    async fn ch<T, E: std::fmt::Display>(
        &self,
        fut: impl Future<Output = Result<T, E>>,
    ) -> Result<T, String> {
        self.ch_within(self.cfg.query_timeout, fut).await
    }

    async fn ch_within<T, E: std::fmt::Display>(
        &self,
        limit: Duration,
        fut: impl Future<Output = Result<T, E>>,
    ) -> Result<T, String> {
        if self.away.load(Ordering::Relaxed) {
            return Err("ClickHouse did not answer earlier in this round".into());
        }
        let started = Utc::now().timestamp_micros();
        let r = match tokio::time::timeout(limit, fut).await {
            Ok(r) => r.map_err(|e| e.to_string()),
            Err(_) => {
                self.away.store(true, Ordering::Relaxed);
                Err(format!("no answer within {} ms", limit.as_millis()))
            }
        };
        if r.is_err() {
            self.failed_call_us.store(started, Ordering::Relaxed);
        }
        r
    }

    /// When the loop should run a round before its next tick, if at all: at once after
    /// ClickHouse went away mid-round, else the earliest moment a pending alert reaches its
    /// duration or a group its wait/interval.
    fn next_wake(&self, now: DateTime<Utc>) -> Option<tokio::time::Instant> {
        if !self.holder {
            return None;
        }
        if self.rerun {
            return Some(tokio::time::Instant::now());
        }
        let pending = crate::evaluate::next_pending_due(
            self.states.iter().map(|((r, _), (_, st))| (r.as_str(), st)),
            &self.sources.rules,
            self.last_eval,
        );
        let due = [pending, self.group_due]
            .into_iter()
            .flatten()
            .filter(|d| *d > self.last_eval)
            .min()?;
        // While ClickHouse is away a round learns the probe's outcome only after the probe's
        // timeout: start that much earlier, so the outcome is known at the due moment (the
        // failure's time is the probe's end, see `evaluate::step_failure`).
        let lead = if self.ch_up {
            Duration::ZERO
        } else {
            self.last_probe_took
        };
        // A millisecond past, so the round's clock has surely reached it.
        let wait = (due - now).to_std().unwrap_or_default() + Duration::from_millis(1);
        Some(tokio::time::Instant::now() + wait.saturating_sub(lead))
    }

    /// One round at `now`.
    pub async fn round(&mut self, now: DateTime<Utc>) {
        let now_us = now.timestamp_micros();
        while let Some(done) = self.inflight.try_join_next() {
            if let Ok(done) = done {
                self.record_send(done);
            }
        }
        self.take_handed_in();
        self.away.store(false, Ordering::Relaxed);
        let was_up = self.ch_up;
        // The database probe runs alongside the lease check, so a server that hangs costs one
        // wait per round, not two.
        let probe = self.probe_task();
        let ((), probe) = tokio::join!(self.check_in(now_us), probe);
        self.metrics
            .lease_held
            .store(u64::from(self.holder), Ordering::Relaxed);
        self.metrics
            .clickhouse_up
            .store(u64::from(self.ch_up), Ordering::Relaxed);
        self.metrics.rounds.fetch_add(1, Ordering::Relaxed);
        if !self.holder {
            self.states.clear();
            self.groups.clear();
            self.dirty.clear();
            self.end_round(was_up);
            return;
        }
        if self.ch_up {
            if !self.states_loaded && !self.load_states().await {
                self.end_round(was_up);
                return;
            }
            self.refresh_sources().await;
            self.read_acks(now_us).await;
        }
        self.metrics.evaluations.fetch_add(1, Ordering::Relaxed);
        self.evaluate(now, probe).await;
        if !self.holder {
            // Lost the lease mid-round: the new holder owns the states now.
            self.dirty.clear();
        }
        if self.ch_up {
            self.flush().await;
        } else {
            // Written when it answers again (next round's check-in).
            self.update_buffered();
        }
        self.end_round(was_up);
    }

    /// A call that found no answer this round means ClickHouse is away from now on (the
    /// next round pings it first); when it went away just now, the next round starts at once.
    fn end_round(&mut self, was_up: bool) {
        if self.away.load(Ordering::Relaxed) && self.ch_up {
            tracing::warn!(keep_sending = self.holder, "ClickHouse stopped answering");
            self.ch_up = false;
        }
        self.note_away();
        self.rerun = was_up && !self.ch_up;
    }

    /// Keeps since when ClickHouse has not answered: the start of the first failed call.
    fn note_away(&mut self) {
        if self.ch_up {
            self.away_since = None;
        } else if self.away_since.is_none() {
            let us = self.failed_call_us.load(Ordering::Relaxed);
            self.away_since = DateTime::from_timestamp_micros(us).filter(|_| us > 0);
        }
    }

    /// The newest acks (kept as they were when ClickHouse does not answer).
    async fn read_acks(&mut self, now_us: i64) {
        match self
            .ch(acks::newest_since(
                &self.store,
                acks_since(&self.states, now_us),
            ))
            .await
        {
            Ok(a) => self.acks = a,
            Err(e) => tracing::warn!(error = %e, "cannot read acks; keeping the last read"),
        }
    }

    /// Writes what is buffered, then takes or renews the lease. While ClickHouse is away, a
    /// ping with the probe's short timeout first says whether it is back; if not, nothing else
    /// is tried this round (the process stays holder if it was, see the module doc), so a
    /// server that hangs costs one short wait per round instead of several long ones.
    async fn check_in(&mut self, now_us: i64) {
        if !self.ch_up {
            if let Err(e) = self
                .ch_within(self.cfg.probe_timeout, self.store.ping())
                .await
            {
                tracing::debug!(error = %e, "ClickHouse still away");
                return;
            }
        }
        // What this process did while ClickHouse was away lands before the lease is decided
        // again, so a new holder sees what was sent.
        if !self.events.is_empty() || !self.dirty.is_empty() {
            self.flush().await;
        }
        let c = &self.cfg;
        // The lease's reads and writes are tiny: one that takes longer than the probe may
        // means the server is away (as the database rule will say), not busy.
        let outcome = self
            .ch_within(
                c.probe_timeout + c.lease_settle,
                alerts::acquire(
                    &self.store,
                    &c.lease_name,
                    &c.holder,
                    now_us,
                    c.lease_ttl,
                    c.lease_settle,
                ),
            )
            .await;
        let prev = LeaseView {
            holder: self.holder,
            ch_up: self.ch_up,
        };
        let checked = lease::after_check(prev, &outcome);
        if checked.load_states {
            tracing::info!(holder = %c.holder, "holding the alerter lease");
            self.states_loaded = false;
        }
        if checked.lost {
            tracing::info!(holder = %c.holder, "another alerter holds the lease");
        }
        match (&outcome, prev.ch_up) {
            (Ok(_), false) => tracing::info!("ClickHouse answers"),
            (Err(e), true) => {
                tracing::warn!(error = %e, keep_sending = self.holder, "ClickHouse is unreachable")
            }
            _ => {}
        }
        self.holder = checked.view.holder;
        self.ch_up = checked.view.ch_up;
        self.note_away();
    }

    /// The database probe of this round, when a rule needs it: a task of its own (owning what
    /// it needs), so it can run while the lease is checked.
    fn probe_task(&self) -> impl Future<Output = Option<Probed>> + 'static {
        // A process that is not the holder and cannot reach ClickHouse will not evaluate.
        let needed =
            (self.holder || self.ch_up) && self.sources.rules.iter().any(|r| needs_probe(&r.spec));
        let (cfg, limit) = (self.cfg.probe.clone(), self.cfg.probe_timeout);
        async move {
            if needed {
                Some(probe::probe_timed(&cfg, limit).await)
            } else {
                None
            }
        }
    }

    async fn load_states(&mut self) -> bool {
        match self.ch(alerts::load_states(&self.store)).await {
            Ok(saved) => {
                (self.states, self.groups) = lease::restore(saved);
                self.states_loaded = true;
                true
            }
            Err(e) => {
                tracing::warn!(error = %e, "cannot load alert states yet");
                false
            }
        }
    }

    async fn refresh_sources(&mut self) {
        let rev = match self
            .ch(gatewatch_store::config_log::revision(&self.store))
            .await
        {
            Ok(r) => r,
            Err(e) => {
                tracing::warn!(error = %e, "cannot read the configuration revision");
                return;
            }
        };
        if !self.sources.is_stale(&rev) {
            return;
        }
        match self.ch(Sources::load(&self.store)).await {
            Ok(s) => {
                tracing::info!(
                    rules = s.rules.len(),
                    silences = s.silences.len(),
                    "alert rules loaded"
                );
                match s.save(&self.cfg.data_dir) {
                    Ok(()) => self.metrics.snapshot.store(1, Ordering::Relaxed),
                    Err(e) => tracing::warn!(error = %e, "cannot write the alerter snapshot"),
                }
                self.metrics
                    .rules
                    .store(s.rules.len() as u64, Ordering::Relaxed);
                self.metrics.rules_loaded.store(1, Ordering::Relaxed);
                self.sources = s;
            }
            Err(e) => tracing::warn!(error = %e, "cannot read alert rules"),
        }
    }

    /// Writes buffered events, then changed states; keeps them when ClickHouse fails.
    async fn flush(&mut self) {
        if !self.events.is_empty() {
            let batch: Vec<AlertEvent> = self.events.iter().cloned().collect();
            match self.ch(alerts::write_events(&self.store, &batch)).await {
                Ok(()) => self.events.clear(),
                Err(e) => tracing::debug!(error = %e, "events kept for later"),
            }
        }
        if self.events.is_empty() && !self.dirty.is_empty() {
            let batch: Vec<SavedState> = self.dirty.values().cloned().collect();
            match self
                .ch(alerts::save_states(&self.store, &self.cfg.holder, &batch))
                .await
            {
                Ok(()) => self.dirty.clear(),
                Err(e) => tracing::debug!(error = %e, "states kept for later"),
            }
        }
        self.update_buffered();
    }

    fn update_buffered(&self) {
        self.metrics
            .buffered_events
            .store(self.events.len() as u64, Ordering::Relaxed);
    }

    fn record(&mut self, e: AlertEvent) {
        if self.events.len() >= self.cfg.buffer_events.max(1) {
            self.events.pop_front();
            self.metrics.dropped_events.fetch_add(1, Ordering::Relaxed);
        }
        self.events.push_back(e);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn acks_are_read_from_the_oldest_firing_episode_or_eight_days_back() {
        use gatewatch_model::alert::{AlertState, Phase, ScopeKey};
        let now: DateTime<Utc> = "2026-12-20T00:00:00Z".parse().unwrap();
        let now_us = now.timestamp_micros();
        let mut states = lease::AlertStates::new();
        assert_eq!(acks_since(&states, now_us), now_us - ACKS_LOOKBACK_US);
        let since: DateTime<Utc> = "2026-11-20T00:00:00Z".parse().unwrap();
        let firing = AlertState {
            phase: Phase::Firing {
                since,
                fired_at: since,
                last_sent: None,
                last_held: None,
            },
            ..AlertState::default()
        };
        states.insert(
            ("disk".into(), "node=gw1".into()),
            (ScopeKey::node("gw1"), firing),
        );
        assert_eq!(acks_since(&states, now_us), since.timestamp_micros());
    }
}
