//! The evaluation loop. Every `eval_interval`:
//!
//! 1. **Lease**: take or renew the sending lease (`store::alerts::acquire`, within the probe's
//!    timeout plus the settle time). Only the holder evaluates and sends; the others idle and
//!    try again next round. A process that newly holds it loads the saved states first
//!    (`load_states`), so pending durations survive a restart or a change of holder, and what
//!    was sent is not sent again. The database probe runs at the same time.
//! 2. **Sources**: rules, silences, users' addresses and channels are re-read when the
//!    configuration log's revision moves, and written to a snapshot on disk
//!    ([`crate::source`]); at start the snapshot is read first.
//! 3. **Evaluate**: per rule and scope key an observation ([`crate::evaluate`]), then
//!    `model::alert::step` with `suppressed` = an exception window of the rule (in its zone) or
//!    a matching silence.
//! 4. **Act**: every transition and every notice attempt becomes an `alert_events` row (`value`
//!    is 0 when there was none, e.g. a failed probe, whose error is in `detail`); each
//!    `Notify` is rendered, resolved to single recipients, given a deterministic
//!    [`crate::dispatch::notification_id`], skipped when `alert_events` already shows it sent,
//!    and handed to the [`Dispatcher`] after checking that the lease is still held. Sends run
//!    as tasks and are recorded when they finish (at the next round), so a slow channel does
//!    not hold up the rounds that renew the lease. `Suppressed` notices are recorded per
//!    recipient with result `suppressed`.
//! 5. **Persist**: changed states (`save_states`) and the events. Every ClickHouse call has a
//!    timeout (`query_timeout`): a server that hangs counts as away.
//!
//! # ClickHouse away
//!
//! The database rule must fire exactly when ClickHouse does not answer, and e-mail and LINE do
//! not need it. So while ClickHouse is unreachable:
//! - a process that held the lease at its last successful check **keeps acting as holder**:
//!   nobody can take the lease over without ClickHouse either (claims are rows in it), so no
//!   second sender can appear until it is back, and then the usual check settles it. A
//!   process that did not hold it (or started during the outage) stays idle;
//! - rules come from memory (the snapshot at start);
//! - each round makes one ClickHouse call, a ping within `probe_timeout`, to learn whether it
//!   is back (then the buffered events are written and the lease checked as usual), while the
//!   probe runs alongside; so a server that hangs rather than refuses costs one short wait per
//!   round (measured end to end: the firing mail about 8–10 s after hang + `for_secs` with
//!   5 s rounds, against 30 s or more when every call waited its own timeout);
//! - the probe observes the failure (the other kinds observe nothing: no data keeps their
//!   state as it is);
//! - events and states are kept in memory — events bounded by `buffer_events`, the oldest
//!   dropped and counted beyond it — and written when ClickHouse answers again.

use chrono::{DateTime, Utc};
use chrono_tz::Tz;
use gatewatch_model::alert::DbCheck;
use gatewatch_model::alert::{
    render_notice, step, Action, AlertState, Lang, NoticeKind, Observation, PhaseName, RuleKind,
    ScopeKey, Vars,
};
use gatewatch_store::alerts::{self, AlertEvent, SavedState};
use gatewatch_store::{Store, StoreConfig};
use std::collections::{BTreeMap, HashMap, HashSet, VecDeque};
use std::future::Future;
use std::path::PathBuf;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};
use uuid::Uuid;

use crate::dispatch::{self, Delivery, Dispatcher, Outgoing, Recipient};
use crate::evaluate::{Observed, Observer};
pub use crate::metrics::Metrics;
use crate::probe::{self, ProbeResult};
use crate::source::Sources;

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

type StateKey = (String, String);

/// The evaluator. Build with [`Engine::new`], run with [`Engine::run`].
pub struct Engine<D> {
    store: Store,
    cfg: EngineConfig,
    dispatcher: Arc<D>,
    metrics: Arc<Metrics>,
    sources: Sources,
    /// Per (rule id, scope key text): the key and its state.
    states: HashMap<StateKey, (ScopeKey, AlertState)>,
    states_loaded: bool,
    /// Held the lease at the last successful check.
    holder: bool,
    ch_up: bool,
    events: VecDeque<AlertEvent>,
    dirty: HashMap<StateKey, SavedState>,
    /// Sends under way; recorded when they finish (a slow channel does not hold up the
    /// rounds, which renew the lease).
    inflight: tokio::task::JoinSet<(Send, Delivery, Duration)>,
    /// Consecutive failed sends per channel kind (`email`, `line`, `webhook`), and whether a
    /// "channel failing" notice went out for the current run of failures.
    channel_health: HashMap<&'static str, ChannelHealth>,
    /// Events recorded elsewhere in the process (test-sends while ClickHouse was away),
    /// written with this engine's own.
    handed_in: (EventSink, tokio::sync::mpsc::Receiver<AlertEvent>),
}

/// Hands an event to the engine, which writes it with its own (buffered while ClickHouse is
/// away). Bounded: a full sink refuses (`try_send`).
pub type EventSink = tokio::sync::mpsc::Sender<AlertEvent>;

/// Events waiting in an [`EventSink`] before the next round takes them.
const HANDED_IN_MAX: usize = 1024;

/// A channel kind that failed this many sends in a row raises its own notice on the others.
pub const CHANNEL_FAILURES_TO_ALERT: u32 = 3;

#[derive(Debug, Default)]
struct ChannelHealth {
    failures: u32,
    alerted: bool,
}

/// Whether a rule reads the alerter's own database probe.
fn needs_probe(spec: &gatewatch_model::alert::AlertRuleSpec) -> bool {
    spec.enabled
        && matches!(
            spec.kind,
            RuleKind::Database {
                check: DbCheck::ConnectMs | DbCheck::Failure
            }
        )
}

/// Parses a scope key's text form (`node=gw1,mount=/var`).
pub fn parse_key(s: &str) -> ScopeKey {
    let mut k = ScopeKey::default();
    for part in s.split(',') {
        if let Some((name, v)) = part.split_once('=') {
            let v = Some(v.to_string());
            match name {
                "node" => k.node = v,
                "mount" => k.mount = v,
                "api" => k.api = v,
                "client" => k.client = v,
                _ => {}
            }
        }
    }
    k
}

/// One send of a round, with the event row it will be recorded as.
struct Send {
    event: AlertEvent,
    to: Recipient,
    msg: Outgoing,
}

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
        loop {
            tokio::select! {
                _ = tick.tick() => {}
                _ = &mut shutdown => break,
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
        self.ch_within(self.cfg.query_timeout + self.cfg.lease_settle, fut)
            .await
    }

    async fn ch_within<T, E: std::fmt::Display>(
        &self,
        limit: Duration,
        fut: impl Future<Output = Result<T, E>>,
    ) -> Result<T, String> {
        match tokio::time::timeout(limit, fut).await {
            Ok(r) => r.map_err(|e| e.to_string()),
            Err(_) => Err(format!("no answer within {} ms", limit.as_millis())),
        }
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
            self.dirty.clear();
            return;
        }
        if self.ch_up {
            if !self.states_loaded && !self.load_states().await {
                return;
            }
            self.refresh_sources().await;
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
        match self
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
            .await
        {
            Ok(held) => {
                if held && !self.holder {
                    tracing::info!(holder = %c.holder, "holding the alerter lease");
                    self.states_loaded = false;
                }
                if !held && self.holder {
                    tracing::info!(holder = %c.holder, "another alerter holds the lease");
                }
                self.holder = held;
                if !self.ch_up {
                    tracing::info!("ClickHouse answers");
                }
                self.ch_up = true;
            }
            Err(e) => {
                if self.ch_up {
                    tracing::warn!(error = %e, keep_sending = self.holder, "ClickHouse is unreachable");
                }
                self.ch_up = false;
            }
        }
    }

    /// The database probe of this round, when a rule needs it: a task of its own (owning what
    /// it needs), so it can run while the lease is checked.
    fn probe_task(&self) -> impl Future<Output = Option<ProbeResult>> + 'static {
        // A process that is not the holder and cannot reach ClickHouse will not evaluate.
        let needed =
            (self.holder || self.ch_up) && self.sources.rules.iter().any(|r| needs_probe(&r.spec));
        let (cfg, limit) = (self.cfg.probe.clone(), self.cfg.probe_timeout);
        async move {
            if needed {
                Some(probe::probe(&cfg, limit).await)
            } else {
                None
            }
        }
    }

    async fn load_states(&mut self) -> bool {
        match self.ch(alerts::load_states(&self.store)).await {
            Ok(saved) => {
                self.states.clear();
                for s in saved {
                    match serde_json::from_str::<AlertState>(&s.state) {
                        Ok(st) => {
                            let k = parse_key(&s.scope_key);
                            self.states.insert((s.rule_id, s.scope_key), (k, st));
                        }
                        Err(e) => {
                            tracing::warn!(rule = %s.rule_id, key = %s.scope_key, error = %e, "ignoring a saved state")
                        }
                    }
                }
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

    /// Evaluates every rule at `now`; `probe` is this round's database probe if it ran
    /// already (else it runs here when a rule needs it, e.g. rules just loaded).
    async fn evaluate(&mut self, now: DateTime<Utc>, probe: Option<ProbeResult>) {
        let now_us = now.timestamp_micros();
        let rules = self.sources.rules.clone();
        let probe = match probe {
            Some(p) => Some(p),
            None if rules.iter().any(|r| needs_probe(&r.spec)) => {
                Some(probe::probe(&self.cfg.probe, self.cfg.probe_timeout).await)
            }
            None => None,
        };
        if let Some(ProbeResult::Failed(why)) = &probe {
            tracing::warn!(%why, "database probe failed");
        }
        let store = self.store.clone();
        let mut observer = Observer::new(&store, now, probe);
        let mut sends: Vec<Send> = Vec::new();
        // Drop states of rules that no longer exist.
        let ids: HashSet<&str> = rules.iter().map(|r| r.id.as_str()).collect();
        self.states.retain(|(r, _), _| ids.contains(r.as_str()));

        for entry in &rules {
            let spec = &entry.spec;
            let observed = if !spec.enabled {
                Observed::default()
            } else if !self.ch_up && !spec.kind.error_breaches() {
                Observed {
                    values: Vec::new(),
                    error: Some("ClickHouse is unreachable".into()),
                }
            } else {
                match tokio::time::timeout(self.cfg.query_timeout, observer.observe(spec)).await {
                    Ok(o) => o,
                    Err(_) => Observed {
                        values: Vec::new(),
                        error: Some("the reads timed out".into()),
                    },
                }
            };
            if let Some(e) = &observed.error {
                tracing::debug!(rule = %entry.id, error = %e, "no observation");
            }
            // Keys the rule had before and did not observe now: no data (or the read's error).
            let mut work = observed.values;
            for ((rid, _), (k, _)) in self.states.iter() {
                if rid == &entry.id && !work.iter().any(|(w, _)| w == k) {
                    let o = match &observed.error {
                        Some(e) => Observation::Error(e.clone()),
                        None => Observation::NoData,
                    };
                    work.push((k.clone(), o));
                }
            }
            let in_window = spec.in_window(self.cfg.site_tz, now);
            for (key, obs) in work {
                let skey = (entry.id.clone(), key.as_key());
                let prev = self
                    .states
                    .get(&skey)
                    .map(|s| s.1.clone())
                    .unwrap_or_default();
                let silence = self
                    .sources
                    .silences
                    .iter()
                    .find(|s| s.matches(&entry.id, &key, now))
                    .map(|s| format!("held back by a silence ({}: {})", s.who, s.why));
                let (next, actions) = step(&prev, &obs, now, spec, in_window || silence.is_some());
                if next != prev {
                    let state = serde_json::to_string(&next).unwrap_or_default();
                    self.dirty.insert(
                        skey.clone(),
                        SavedState {
                            rule_id: entry.id.clone(),
                            scope_key: skey.1.clone(),
                            ts_us: now_us,
                            state,
                        },
                    );
                }
                let value = match &obs {
                    Observation::Value(v) => Some(*v),
                    _ => None,
                };
                let detail = match &obs {
                    Observation::Error(e) => e.clone(),
                    _ => String::new(),
                };
                let base = AlertEvent {
                    ts_us: now_us,
                    rule_id: entry.id.clone(),
                    rule_version: entry.version,
                    scope_key: skey.1.clone(),
                    event: String::new(),
                    phase: next.phase.name().as_str().into(),
                    severity: spec.severity.as_str().into(),
                    value: value.unwrap_or(0.0),
                    threshold: spec.threshold,
                    channel: String::new(),
                    recipient: String::new(),
                    notification_id: Uuid::nil(),
                    attempt: 0,
                    result: String::new(),
                    detail,
                    alerter: self.cfg.holder.clone(),
                };
                for a in actions {
                    match a {
                        Action::Transition { to, .. } => {
                            tracing::info!(rule = %entry.id, key = %key, to = to.as_str(), "alert transition");
                            let mut e = base.clone();
                            e.event = to.as_str().into();
                            if to == PhaseName::Resolved {
                                e.phase = PhaseName::Ok.as_str().into();
                            }
                            self.record(e);
                        }
                        Action::Notify { kind, since } | Action::Suppressed { kind, since } => {
                            let held = matches!(a, Action::Suppressed { .. });
                            let reason = match &silence {
                                _ if in_window => "held back by an exception window".to_string(),
                                Some(why) => why.clone(),
                                None => String::new(),
                            };
                            let notices = self.notices(entry, &key, value, kind, since, now, &base);
                            if notices.is_empty() {
                                let mut e = base.clone();
                                e.event = "notify".into();
                                e.result = if held { "suppressed" } else { "failed" }.into();
                                e.detail = "the rule has no recipients".into();
                                self.record(e);
                            }
                            for s in notices {
                                if held {
                                    let mut e = s.event;
                                    e.result = "suppressed".into();
                                    e.detail = reason.clone();
                                    self.metrics.suppressed.fetch_add(1, Ordering::Relaxed);
                                    self.record(e);
                                } else {
                                    sends.push(s);
                                }
                            }
                        }
                    }
                }
                self.states.insert(skey, (key, next));
            }
        }
        drop(observer);
        self.send_all(sends, now).await;
    }

    /// The rendered notice for each recipient of the rule.
    #[allow(clippy::too_many_arguments)]
    fn notices(
        &self,
        entry: &crate::source::RuleEntry,
        key: &ScopeKey,
        value: Option<f64>,
        kind: NoticeKind,
        since: DateTime<Utc>,
        now: DateTime<Utc>,
        base: &AlertEvent,
    ) -> Vec<Send> {
        let spec = &entry.spec;
        let scope = key.to_string();
        let node = key.node.clone().unwrap_or_default();
        let vars = Vars::for_notice(
            spec,
            &scope,
            &node,
            value,
            kind,
            since,
            &self.cfg.link_base,
            self.cfg.site_tz,
            self.cfg.site_lang,
        );
        let (subject, text) = render_notice(spec, &vars);
        // Webhook placeholders: every rule placeholder as the mail shows it (`duration`,
        // `interval`, …), with data fields where a receiver wants numbers and UTC times.
        let mut map = vars.values();
        for (k, v) in [
            ("rule", spec.name.clone()),
            ("rule_id", entry.id.clone()),
            ("scope", scope.clone()),
            ("node", node.clone()),
            ("value", value.map(|v| v.to_string()).unwrap_or_default()),
            ("threshold", spec.threshold.to_string()),
            ("unit", spec.kind.unit().to_string()),
            ("state", kind.as_str().to_string()),
            ("status", kind.as_str().to_string()),
            ("severity", spec.severity.as_str().to_string()),
            ("started_at", since.to_rfc3339()),
            ("link", self.cfg.link_base.clone()),
            // The evaluation round that decided this notice.
            ("at", now.to_rfc3339()),
        ] {
            map.insert(k.to_string(), v);
        }
        let slot = dispatch::repeat_slot(kind, since, now, spec.repeat_secs);
        dispatch::resolve(
            &spec.recipients,
            &self.sources.directory,
            &self.sources.channels,
        )
        .into_iter()
        .map(|to| {
            let id = dispatch::notification_id(&entry.id, key, since, kind, slot, &to);
            let mut event = base.clone();
            event.event = "notify".into();
            event.channel = to.channel().into();
            event.recipient = to.address().into();
            event.notification_id = id;
            event.detail = format!("{}: {}", kind.as_str(), event.detail)
                .trim_end_matches(": ")
                .to_string();
            let mut vars = map.clone();
            vars.insert("notification_id".into(), id.to_string());
            Send {
                event,
                msg: Outgoing {
                    subject: subject.clone(),
                    text: text.clone(),
                    html: None,
                    dedup_key: id.to_string(),
                    vars,
                    notification_id: id,
                    group: None,
                },
                to,
            }
        })
        .collect()
    }

    /// Starts the round's sends (skipping those already sent), each after checking the lease;
    /// they are recorded when they finish.
    async fn send_all(&mut self, sends: Vec<Send>, now: DateTime<Utc>) {
        if sends.is_empty() {
            return;
        }
        let mut sends = sends;
        if self.ch_up {
            let ids: Vec<Uuid> = sends.iter().map(|s| s.event.notification_id).collect();
            // Ids are tied to their episode's start, so a week back is plenty.
            let since_us = now.timestamp_micros() - 7 * 24 * 3600 * 1_000_000;
            match self
                .ch(alerts::sent_notifications(&self.store, &ids, since_us))
                .await
            {
                Ok(done) => sends.retain(|s| {
                    let skip = done.contains(&s.event.notification_id);
                    if skip {
                        tracing::info!(id = %s.event.notification_id, "already sent; skipped");
                    }
                    !skip
                }),
                Err(e) => tracing::warn!(error = %e, "cannot check what was sent"),
            }
        }
        for s in sends {
            if self.ch_up {
                let now_us = Utc::now().timestamp_micros();
                let c = &self.cfg;
                match self
                    .ch(alerts::holds(&self.store, &c.lease_name, &c.holder, now_us))
                    .await
                {
                    Ok(true) => {}
                    Ok(false) => {
                        tracing::warn!(
                            "lost the alerter lease before sending; leaving it to the holder"
                        );
                        self.holder = false;
                        break;
                    }
                    // ClickHouse went away mid-round: still the holder (see the module doc).
                    Err(_) => self.ch_up = false,
                }
            }
            let d = self.dispatcher.clone();
            self.inflight.spawn(async move {
                let started = Instant::now();
                let delivery = d.send(&s.to, &s.msg).await;
                (s, delivery, started.elapsed())
            });
        }
    }

    /// Records a finished send.
    fn record_send(&mut self, (s, delivery, took): (Send, Delivery, Duration)) {
        let Delivery {
            sent,
            attempts,
            detail,
        } = delivery;
        let mut e = s.event;
        e.attempt = attempts;
        e.result = if sent { "sent" } else { "failed" }.into();
        e.detail = detail;
        e.ts_us = Utc::now().timestamp_micros();
        if sent {
            self.metrics.sent.fetch_add(1, Ordering::Relaxed);
            tracing::info!(rule = %e.rule_id, key = %e.scope_key, channel = %e.channel, to = %e.recipient, ms = took.as_millis() as u64, "notice sent");
        } else {
            self.metrics.failed.fetch_add(1, Ordering::Relaxed);
            tracing::warn!(rule = %e.rule_id, key = %e.scope_key, channel = %e.channel, to = %e.recipient, detail = %e.detail, "notice failed");
        }
        let channel = s.to.channel();
        let h = self.channel_health.entry(channel).or_default();
        let change = if sent {
            let was_alerted = h.alerted;
            *h = ChannelHealth::default();
            was_alerted.then_some(false)
        } else {
            h.failures += 1;
            let raise = h.failures >= CHANNEL_FAILURES_TO_ALERT && !h.alerted;
            h.alerted |= raise;
            raise.then_some(true)
        };
        if let Some(failing) = change {
            self.channel_notice(channel, failing, &e);
        }
        self.record(e);
    }

    /// "Channel X keeps failing" (or "works again"), sent to the recipients of the rule whose
    /// notice showed it on every *other* channel kind, and recorded under the rule id
    /// `channel:X`. Its own sends count toward their channels like any other.
    fn channel_notice(&mut self, channel: &'static str, failing: bool, last: &AlertEvent) {
        let Some(rule) = self.sources.rules.iter().find(|r| r.id == last.rule_id) else {
            return;
        };
        let recipients: Vec<Recipient> = dispatch::resolve(
            &rule.spec.recipients,
            &self.sources.directory,
            &self.sources.channels,
        )
        .into_iter()
        .filter(|to| to.channel() != channel)
        .collect();
        let now = Utc::now();
        let (subject, text) = if failing {
            (
                format!("[gatewatch] {channel} notices keep failing"),
                format!(
                    "{CHANNEL_FAILURES_TO_ALERT} {channel} notices in a row failed; the last, to {} for rule {}: {}",
                    last.recipient, last.rule_id, last.detail
                ),
            )
        } else {
            (
                format!("[gatewatch] {channel} notices work again"),
                format!("a {channel} notice went out again (to {})", last.recipient),
            )
        };
        tracing::warn!(
            channel,
            failing,
            others = recipients.len(),
            "channel health changed"
        );
        let mut base = last.clone();
        base.ts_us = now.timestamp_micros();
        base.rule_id = format!("channel:{channel}");
        base.rule_version = 0;
        base.scope_key = String::new();
        base.event = if failing { "firing" } else { "resolved" }.into();
        base.phase = if failing { "firing" } else { "ok" }.into();
        base.value = 0.0;
        base.threshold = f64::from(CHANNEL_FAILURES_TO_ALERT);
        base.channel = channel.into();
        base.recipient = String::new();
        base.notification_id = Uuid::nil();
        base.attempt = 0;
        base.result = String::new();
        base.detail = text.clone();
        self.record(base.clone());
        for to in recipients {
            // Each raise or recovery is its own notice: fresh ids, nothing to deduplicate.
            let id = Uuid::new_v4();
            let mut event = base.clone();
            event.event = "notify".into();
            event.channel = to.channel().into();
            event.recipient = to.address().into();
            event.notification_id = id;
            let msg = Outgoing {
                subject: subject.clone(),
                text: text.clone(),
                html: None,
                dedup_key: id.to_string(),
                vars: BTreeMap::new(),
                notification_id: id,
                group: None,
            };
            let d = self.dispatcher.clone();
            self.inflight.spawn(async move {
                let started = Instant::now();
                let delivery = d.send(&to, &msg).await;
                (Send { event, to, msg }, delivery, started.elapsed())
            });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scope_keys_read_back_from_their_text() {
        for k in [
            ScopeKey::default(),
            ScopeKey::node("gw1"),
            ScopeKey {
                mount: Some("/var/lib".into()),
                ..ScopeKey::node("gw1")
            },
            ScopeKey::api("orders"),
            ScopeKey::client("acme"),
        ] {
            assert_eq!(parse_key(&k.as_key()), k);
        }
    }
}
