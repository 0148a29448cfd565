//! A known data set for the aggregate report tests, and the figures expected from it worked
//! out in Rust from the seeded rows (never with the reports' SQL).
//!
//! Two days of minutes from 2026-10-31T00:00Z (New York leaves DST on 2026-11-01): one to three
//! calls a minute over four APIs with Chinese names (one with a comma and quotes), four
//! clients (one anonymous), three nodes, every outcome code, two upstream hosts, latencies from
//! 2 ms to 302 ms; a node sample per node and minute with two mounts. The configuration log
//! holds the APIs (with their modules) and the clients (with quotas).

#![allow(dead_code)]

use std::collections::BTreeMap;

use chrono::{DateTime, TimeZone, Utc};
use gatewatch_model::EntityKind;
use gatewatch_model::{CallRecord, DiskUsage, NodeSample, Outcome};
use gatewatch_store::config_log::{self, Change};
use gatewatch_store::rows::{ApiCallRow, NodeMetricRow};
use gatewatch_store::Store;
use serde_json::json;
use uuid::Uuid;

/// (id, name, module)
pub const APIS: [(&str, &str, &str); 4] = [
    ("orders", "訂單查詢", "商務"),
    ("pay", "付款 \"快速\", 二版", "金流"),
    ("users", "使用者資料", "會員"),
    ("legacy", "舊版服務", ""),
];
pub const CLIENTS: [&str; 4] = ["c-alpha", "c-beta", "c-gamma", ""];
pub const NODES: [&str; 3] = ["gw-1", "gw-2", "gw-3"];
pub const UPSTREAMS: [&str; 2] = ["http://10.0.0.1:9000", "http://10.0.0.2:9000"];
pub const MINUTES: i64 = 2 * 1_440;

pub fn t0() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 10, 31, 0, 0, 0).unwrap()
}

pub fn at(secs_from_t0: i64) -> DateTime<Utc> {
    t0() + chrono::Duration::seconds(secs_from_t0)
}

fn mix(mut x: u64) -> u64 {
    // splitmix64: a fixed, well-spread sequence.
    x = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
    x = (x ^ (x >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    x ^ (x >> 31)
}

fn status_of(o: Outcome, h: u64) -> u16 {
    match o {
        Outcome::Ok => [200, 201, 304][(h % 3) as usize],
        Outcome::ClientError => [400, 404, 422][(h % 3) as usize],
        Outcome::UpstreamError => [500, 503][(h % 2) as usize],
        Outcome::Timeout => 504,
        Outcome::UpstreamUnreachable => 502,
        Outcome::NoRoute => 404,
        Outcome::ClientAborted => 499,
        Outcome::GatewayError => 500,
        Outcome::RefusedAuth | Outcome::RefusedExpired => 401,
        Outcome::RefusedRate | Outcome::RefusedQuota => 429,
        Outcome::RefusedBadRequest => 400,
        Outcome::RefusedBusy => 503,
        _ => 403,
    }
}

/// The seeded calls.
pub fn calls() -> Vec<CallRecord> {
    let mut out = Vec::new();
    let mut i = 0u64;
    for m in 0..MINUTES {
        for j in 0..(1 + m % 3) {
            let h = mix(i);
            i += 1;
            let (api, name, module) = APIS[(h % 4) as usize];
            let pick = (h >> 24) % 40;
            let outcome = if pick < 22 {
                Outcome::Ok
            } else {
                Outcome::ALL[1 + ((pick - 22) % 17) as usize]
            };
            let secs = t0().timestamp() + m * 60 + ((h >> 32) % 60) as i64;
            let ts_us = secs * 1_000_000 + j;
            let id = Uuid::new_v7(uuid::Timestamp::from_unix(
                uuid::NoContext,
                secs as u64,
                j as u32 * 1_000,
            ));
            let path = format!("/{api}/items/{}", (h >> 20) % 7);
            let mut r = CallRecord::new(id, ts_us, NODES[((h >> 16) % 3) as usize], "GET", &path);
            r.api_id = api.into();
            r.api_name = name.into();
            r.module = module.into();
            r.client_id = CLIENTS[((h >> 8) % 4) as usize].into();
            r.outcome = outcome;
            r.status = status_of(outcome, h >> 44);
            r.latency_us = 2_000 + (h >> 40) % 300_000;
            let reached_upstream = !outcome.is_refusal() && outcome != Outcome::NoRoute;
            if reached_upstream {
                r.upstream = UPSTREAMS[((h >> 12) % 2) as usize].into();
                r.upstream_latency_us = r.latency_us * 7 / 10;
            }
            r.overhead_us = r.latency_us - r.upstream_latency_us;
            r.request_bytes = (h >> 50) % 5_000;
            r.response_bytes = (h >> 36) % 20_000;
            out.push(r);
        }
    }
    out
}

/// The seeded node samples: one per node and minute, at the minute's 30th second.
pub fn samples() -> Vec<NodeSample> {
    let mut out = Vec::new();
    for m in 0..MINUTES {
        for (k, node) in NODES.iter().enumerate() {
            let k = k as i64;
            out.push(NodeSample {
                ts_us: (t0().timestamp() + m * 60 + 30) * 1_000_000,
                node: (*node).into(),
                role: "gateway".into(),
                // Halves only: sums of these are exact in f32 and f64.
                cpu_pct: ((m * 7 + k * 13) % 200) as f32 * 0.5,
                mem_used_bytes: (1 << 30) + ((m + k) % 100) as u64 * (1 << 20),
                mem_total_bytes: 8 << 30,
                rss_bytes: (100 << 20) + ((m * 3 + k) % 50) as u64 * (1 << 20),
                disks: vec![
                    DiskUsage {
                        mount: "/".into(),
                        used_bytes: (10 + (m % 10) as u64) << 30,
                        total_bytes: 100 << 30,
                    },
                    DiskUsage {
                        mount: "/data".into(),
                        used_bytes: (5 + ((m + k) % 30) as u64) << 30,
                        total_bytes: 50 << 30,
                    },
                ],
                backlog: Default::default(),
            });
        }
    }
    out
}

/// The configuration: APIs with their modules, clients with quotas.
pub async fn configure(store: &Store) {
    let mut changes = Vec::new();
    for (id, name, module) in APIS {
        let mut spec = gatewatch_model::ApiSpec::prefixed(name, &format!("/{id}"), &[UPSTREAMS[0]]);
        spec.module = module.into();
        changes.push(Change {
            kind: EntityKind::Api,
            id: id.into(),
            body: serde_json::to_string(&spec).unwrap(),
            deleted: false,
            expected_version: None,
        });
    }
    let clients = [
        (
            "c-alpha",
            json!({"name": "阿爾法銀行", "timezone": "Asia/Taipei", "quota": {"per_hour": 50, "per_day": 1000}}),
        ),
        (
            "c-beta",
            json!({"name": "Beta, Inc.", "timezone": "America/New_York", "quota": {"per_month": 100000, "scope": "shared"}}),
        ),
        // A zone off the hour: its day is counted from whole hours plus raw half hours.
        (
            "c-gamma",
            json!({"name": "伽瑪", "timezone": "Asia/Kolkata", "quota": {"per_day": 500}}),
        ),
    ];
    for (id, body) in clients {
        let spec = gatewatch_model::Entity::parse(EntityKind::Client, id, &body.to_string())
            .unwrap_or_else(|e| panic!("{id}: {e}"));
        let gatewatch_model::Entity::Client(spec) = spec else {
            unreachable!()
        };
        changes.push(Change {
            kind: EntityKind::Client,
            id: id.into(),
            body: serde_json::to_string(&spec).unwrap(),
            deleted: false,
            expected_version: None,
        });
    }
    config_log::write(store, "seed", "", &changes, Utc::now().timestamp_micros())
        .await
        .unwrap();
}

/// Inserts the calls and samples (the rollups fill themselves) and the configuration.
pub async fn load(store: &Store) -> (Vec<CallRecord>, Vec<NodeSample>) {
    let (calls, samples) = (calls(), samples());
    let mut ins = gatewatch_migrations::testing::raw_client(store)
        .insert::<ApiCallRow<'_>>("api_calls")
        .await
        .unwrap();
    for r in &calls {
        ins.write(&ApiCallRow::new(r, Uuid::nil())).await.unwrap();
    }
    ins.end().await.unwrap();
    let mut ins = gatewatch_migrations::testing::raw_client(store)
        .insert::<NodeMetricRow<'_>>("node_metrics")
        .await
        .unwrap();
    for s in &samples {
        ins.write(&NodeMetricRow::new(s, Uuid::nil()))
            .await
            .unwrap();
    }
    ins.end().await.unwrap();
    configure(store).await;
    (calls, samples)
}

/// Which seeded calls a test's filters keep.
#[derive(Debug, Clone, Default)]
pub struct Keep {
    pub from: i64,
    pub to: i64,
    pub apis: Vec<String>,
    pub modules: Vec<String>,
    pub clients: Vec<String>,
    pub nodes: Vec<String>,
    pub status_classes: Vec<u8>,
    pub outcomes: Vec<Outcome>,
}

impl Keep {
    pub fn window(from: DateTime<Utc>, to: DateTime<Utc>) -> Keep {
        Keep {
            from: from.timestamp(),
            to: to.timestamp(),
            ..Keep::default()
        }
    }

    pub fn keeps(&self, r: &CallRecord) -> bool {
        let t = r.ts_secs() as i64;
        let has = |list: &[String], v: &str| list.is_empty() || list.iter().any(|x| x == v);
        t >= self.from
            && t < self.to
            && has(&self.apis, &r.api_id)
            && has(&self.modules, &r.module)
            && has(&self.clients, &r.client_id)
            && has(&self.nodes, &r.node)
            && (self.status_classes.is_empty() || self.status_classes.contains(&r.status_class()))
            && (self.outcomes.is_empty() || self.outcomes.contains(&r.outcome))
    }
}

/// The class of an outcome, written out again here (not the crate's `Class::of`).
pub fn class_key(o: Outcome) -> &'static str {
    use Outcome::*;
    match o {
        Ok => "success",
        ClientError | NoRoute | ClientAborted => "client_error",
        UpstreamError | Timeout | UpstreamUnreachable | GatewayError => "server_error",
        _ => "refused",
    }
}

/// Calls, per-class counts and latency sums of a group.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Tally {
    pub calls: u64,
    pub by_class: BTreeMap<&'static str, u64>,
    pub latency_sum: u64,
    pub upstream_sum: u64,
    pub latency_max: u64,
    pub latencies: Vec<u64>,
}

impl Tally {
    pub fn add(&mut self, r: &CallRecord) {
        self.calls += 1;
        *self.by_class.entry(class_key(r.outcome)).or_default() += 1;
        self.latency_sum += r.latency_us;
        self.upstream_sum += r.upstream_latency_us;
        self.latency_max = self.latency_max.max(r.latency_us);
        self.latencies.push(r.latency_us);
    }

    pub fn class(&self, k: &str) -> u64 {
        self.by_class.get(k).copied().unwrap_or(0)
    }

    pub fn errors(&self) -> u64 {
        self.calls - self.class("success")
    }

    /// The exact quantile (nearest rank) in microseconds.
    pub fn quantile(&self, q: f64) -> f64 {
        let mut v = self.latencies.clone();
        v.sort_unstable();
        if v.is_empty() {
            return 0.0;
        }
        let idx = ((q * v.len() as f64).ceil() as usize).clamp(1, v.len()) - 1;
        v[idx] as f64
    }
}

/// Tallies of the kept calls by a key.
pub fn tally_by<K: Ord>(
    calls: &[CallRecord],
    keep: &Keep,
    key: impl Fn(&CallRecord) -> K,
) -> BTreeMap<K, Tally> {
    let mut out: BTreeMap<K, Tally> = BTreeMap::new();
    for r in calls.iter().filter(|r| keep.keeps(r)) {
        out.entry(key(r)).or_default().add(r);
    }
    out
}

/// Percent to two decimals, as a reader would round it.
pub fn pct(part: u64, whole: u64) -> f64 {
    if whole == 0 {
        0.0
    } else {
        (part as f64 * 100.0 / whole as f64 * 100.0).round() / 100.0
    }
}

/// Mean of microseconds in milliseconds, to the microsecond.
pub fn mean_ms(sum: u64, n: u64) -> f64 {
    (sum as f64 / n as f64).round() / 1_000.0
}
