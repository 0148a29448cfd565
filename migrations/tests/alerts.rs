//! The alerter's tables and observations against a real ClickHouse: events, saved states,
//! the lease's race, and the node and API readings rules are evaluated on.

use gatewatch_migrations::testing::migrated_store;
use gatewatch_model::{Backlog, CallRecord, DiskUsage, NodeSample, Outcome};
use gatewatch_store::alerts::{self, AlertEvent, EventQuery, SavedState};
use gatewatch_store::observe;
use gatewatch_store::rows::{ApiCallRow, NodeMetricRow};
use std::time::Duration;
use uuid::Uuid;

const T0: i64 = 1_764_000_000_000_000; // 2025-11-24T16:00:00Z

fn event(rule: &str, ts_us: i64, event: &str, result: &str, id: Uuid) -> AlertEvent {
    AlertEvent {
        ts_us,
        rule_id: rule.into(),
        rule_version: 1,
        scope_key: "node=gw1".into(),
        event: event.into(),
        phase: "firing".into(),
        severity: "critical".into(),
        value: 93.5,
        threshold: 90.0,
        channel: "line".into(),
        recipient: "U123".into(),
        notification_id: id,
        attempt: 1,
        result: result.into(),
        detail: "200".into(),
        alerter: "a1".into(),
    }
}

#[tokio::test]
async fn events_round_trip_and_sent_notifications_are_found() {
    let store = migrated_store("alerts_events").await;
    let (sent, failed) = (Uuid::now_v7(), Uuid::now_v7());
    let evs = vec![
        event("cpu", T0, "firing", "", Uuid::nil()),
        event("cpu", T0 + 1, "notify", "sent", sent),
        event("cpu", T0 + 2, "notify", "failed", failed),
        event("disk", T0 + 3, "pending", "", Uuid::nil()),
    ];
    alerts::write_events(&store, &evs).await.unwrap();
    let got = alerts::read_events(
        &store,
        &EventQuery {
            from_us: T0,
            to_us: T0 + 10,
            rule_id: Some("cpu".into()),
            limit: 10,
        },
    )
    .await
    .unwrap();
    assert_eq!(got.len(), 3);
    assert_eq!(got[0], evs[2], "newest first, every field kept");
    let found = alerts::sent_notifications(&store, &[sent, failed, Uuid::now_v7()], T0)
        .await
        .unwrap();
    assert_eq!(found.into_iter().collect::<Vec<_>>(), vec![sent]);
}

#[tokio::test]
async fn event_pages_walk_every_row_once_ties_included_and_last_values_are_per_key() {
    let store = migrated_store("alerts_event_pages").await;
    // Five rows at one moment (one evaluation's notices), two before, one of another rule.
    let mut evs: Vec<AlertEvent> = (0..5)
        .map(|i| {
            let mut e = event("cpu", T0 + 10, "notify", "sent", Uuid::from_u128(i));
            e.recipient = format!("U{i}");
            e
        })
        .collect();
    evs.push(event("cpu", T0 + 5, "firing", "", Uuid::nil()));
    evs.push(event("cpu", T0, "pending", "", Uuid::nil()));
    let mut other = event("disk", T0 + 7, "pending", "", Uuid::nil());
    other.value = 81.0;
    other.scope_key = "node=gw1,mount=/".into();
    evs.push(other);
    alerts::write_events(&store, &evs).await.unwrap();
    let q = |limit| EventQuery {
        from_us: T0,
        to_us: T0 + 11,
        rule_id: Some("cpu".into()),
        limit,
    };
    let all = alerts::page_events(&store, &q(100), None).await.unwrap();
    assert_eq!(all.len(), 7);
    assert!(all[..5].iter().all(|p| p.event.ts_us == T0 + 10));
    assert_eq!(
        (all[5].event.event.as_str(), all[6].event.event.as_str()),
        ("firing", "pending")
    );
    for size in [1, 2, 3] {
        let (mut walked, mut after) = (Vec::new(), None);
        loop {
            let page = alerts::page_events(&store, &q(size), after).await.unwrap();
            let Some(last) = page.last() else { break };
            after = Some(last.cursor);
            walked.extend(page);
        }
        assert_eq!(walked, all, "pages of {size}");
    }
    let v = alerts::last_values(&store, &["cpu".into(), "disk".into()], T0)
        .await
        .unwrap();
    assert_eq!(
        v.iter()
            .map(|v| (v.rule_id.as_str(), v.scope_key.as_str(), v.ts_us, v.value))
            .collect::<Vec<_>>(),
        [
            ("cpu", "node=gw1", T0 + 10, 93.5),
            ("disk", "node=gw1,mount=/", T0 + 7, 81.0)
        ]
    );
    assert!(alerts::last_values(&store, &[], T0)
        .await
        .unwrap()
        .is_empty());
}

#[tokio::test]
async fn the_newest_state_of_each_key_is_loaded() {
    let store = migrated_store("alerts_states").await;
    let s = |rule: &str, key: &str, ts: i64, state: &str| SavedState {
        rule_id: rule.into(),
        scope_key: key.into(),
        ts_us: ts,
        state: state.into(),
    };
    alerts::save_states(
        &store,
        "a1",
        &[
            s("cpu", "node=a", T0, "{\"p\":1}"),
            s("cpu", "node=b", T0, "{\"p\":2}"),
        ],
    )
    .await
    .unwrap();
    alerts::save_states(&store, "a2", &[s("cpu", "node=a", T0 + 5, "{\"p\":3}")])
        .await
        .unwrap();
    let got = alerts::load_states(&store).await.unwrap();
    assert_eq!(
        got,
        vec![
            s("cpu", "node=a", T0 + 5, "{\"p\":3}"),
            s("cpu", "node=b", T0, "{\"p\":2}")
        ]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_of_two_contenders_holds_the_lease_and_it_passes_on_expiry() {
    let store = migrated_store("alerts_lease").await;
    let ttl = Duration::from_secs(10);
    let settle = Duration::from_millis(300);
    let now = T0;
    // Two contenders at the same moment: exactly one wins, and both agree on which.
    let (a, b) = tokio::join!(
        alerts::acquire(&store, "send", "alerter-a", now, ttl, settle),
        alerts::acquire(&store, "send", "alerter-b", now, ttl, settle),
    );
    let (a, b) = (a.unwrap(), b.unwrap());
    assert!(a ^ b, "exactly one holder: a={a} b={b}");
    let (winner, loser) = if a {
        ("alerter-a", "alerter-b")
    } else {
        ("alerter-b", "alerter-a")
    };
    assert!(alerts::holds(&store, "send", winner, now + 1)
        .await
        .unwrap());
    assert!(!alerts::holds(&store, "send", loser, now + 1).await.unwrap());
    // The holder renews; the other is refused while it lives.
    let later = now + 5_000_000;
    assert!(alerts::acquire(&store, "send", winner, later, ttl, settle)
        .await
        .unwrap());
    assert!(!alerts::acquire(&store, "send", loser, later, ttl, settle)
        .await
        .unwrap());
    // Past the renewed expiry the other takes it, with the next term.
    let expired = later + 10_000_001;
    assert!(alerts::acquire(&store, "send", loser, expired, ttl, settle)
        .await
        .unwrap());
    let top = alerts::top_claim(&store, "send").await.unwrap().unwrap();
    assert_eq!((top.term, top.holder.as_str()), (2, loser));
    assert!(!alerts::holds(&store, "send", winner, expired)
        .await
        .unwrap());
}

#[tokio::test]
async fn node_readings_and_call_windows() {
    let store = migrated_store("alerts_observe").await;
    let sample = |node: &str, ts_us: i64, cpu: f32| NodeSample {
        ts_us,
        node: node.into(),
        role: "gateway".into(),
        cpu_pct: cpu,
        mem_used_bytes: 6,
        mem_total_bytes: 8,
        rss_bytes: 100,
        disks: vec![
            DiskUsage {
                mount: "/".into(),
                used_bytes: 90,
                total_bytes: 100,
            },
            DiskUsage {
                mount: "/data".into(),
                used_bytes: 1,
                total_bytes: 4,
            },
        ],
        backlog: Backlog {
            queue_depth: 3,
            spool_bytes: ts_us as u64 % 1000,
            spool_batches: 2,
            records_dropped: 0,
        },
    };
    let samples = [
        sample("gw1", T0, 10.0),
        sample("gw1", T0 + 5_000_000, 95.0),
        sample("gw2", T0 + 1_000_000, 20.0),
    ];
    let mut ins = gatewatch_migrations::testing::raw_client(&store)
        .insert::<NodeMetricRow>("node_metrics")
        .await
        .unwrap();
    for s in &samples {
        ins.write(&NodeMetricRow::new(s, Uuid::now_v7()))
            .await
            .unwrap();
    }
    ins.end().await.unwrap();
    let t0 = (T0 / 1_000_000) as u32;
    let r = observe::latest_node_readings(&store, t0).await.unwrap();
    assert_eq!(r.len(), 2);
    assert_eq!((r[0].node.as_str(), r[0].cpu_pct), ("gw1", 95.0));
    assert_eq!(r[0].disks[1].mount, "/data");
    assert_eq!(
        (r[0].disks[0].used_bytes, r[0].disks[0].total_bytes),
        (90, 100)
    );
    assert_eq!(r[0].backlog.spool_batches, 2);
    assert_eq!(r[0].backlog.queue_depth, 3);
    let seen = observe::node_last_seen(&store, t0).await.unwrap();
    assert_eq!(
        seen,
        vec![
            ("gw1".into(), T0 + 5_000_000),
            ("gw2".into(), T0 + 1_000_000)
        ]
    );

    // 10 calls of "orders" in one minute, 3 failed (timeout, 502, 500), 1 refused (not a
    // failure), all by client "acme".
    let mut ins = gatewatch_migrations::testing::raw_client(&store)
        .insert::<ApiCallRow>("api_calls")
        .await
        .unwrap();
    let outcomes = [
        Outcome::Ok,
        Outcome::Ok,
        Outcome::Ok,
        Outcome::Ok,
        Outcome::Ok,
        Outcome::ClientError,
        Outcome::RefusedRate,
        Outcome::Timeout,
        Outcome::UpstreamUnreachable,
        Outcome::UpstreamError,
    ];
    let records: Vec<CallRecord> = outcomes
        .iter()
        .enumerate()
        .map(|(i, o)| {
            let mut r = CallRecord::new(Uuid::now_v7(), T0 + i as i64 * 1000, "gw1", "GET", "/o");
            r.api_id = "orders".into();
            r.client_id = "acme".into();
            r.outcome = *o;
            r.latency_us = 1000 * (i as u64 + 1);
            r
        })
        .collect();
    for r in &records {
        ins.write(&ApiCallRow::new(r, Uuid::now_v7()))
            .await
            .unwrap();
    }
    ins.end().await.unwrap();
    let minute = t0 - t0 % 60;
    for w in [
        observe::api_windows(&store, minute, minute + 60)
            .await
            .unwrap(),
        observe::client_windows(&store, minute, minute + 60)
            .await
            .unwrap(),
    ] {
        assert_eq!(w.len(), 1);
        assert_eq!((w[0].calls, w[0].failed), (10, 3));
        assert_eq!(w[0].error_rate_pct(), 30.0);
        assert_eq!(w[0].latency_sum_us, 55_000);
        assert!(
            w[0].p99_us >= w[0].p95_us && w[0].p95_us > 5_000.0,
            "{:?}",
            w[0]
        );
    }
    assert!(observe::api_windows(&store, minute + 60, minute + 120)
        .await
        .unwrap()
        .is_empty());
}

/// `observe::upstream_windows` (the config page's health badges) against a real ClickHouse:
/// calls per (API, upstream) since a time, failures and timeouts counted, whether the newest
/// call failed, refused calls (no upstream) and older calls left out.
#[tokio::test]
async fn upstream_windows_per_api_and_host() {
    let store = migrated_store("upstream_windows").await;
    let t0 = (T0 / 1_000_000) as u32;
    let mut ins = gatewatch_migrations::testing::raw_client(&store)
        .insert::<ApiCallRow>("api_calls")
        .await
        .unwrap();
    let calls = [
        // (seconds after t0, upstream, outcome)
        (-120, "http://a:1", Outcome::UpstreamError), // before the window
        (1, "http://a:1", Outcome::Ok),
        (2, "http://a:1", Outcome::ClientError),
        (3, "http://a:1", Outcome::Ok),
        (1, "http://b:2", Outcome::Ok),
        (2, "http://b:2", Outcome::Timeout),
        (3, "http://b:2", Outcome::UpstreamUnreachable),
        (4, "", Outcome::RefusedAuth),
    ];
    for (s, up, o) in calls {
        let mut r = CallRecord::new(Uuid::now_v7(), T0 + s * 1_000_000, "gw1", "GET", "/o");
        r.api_id = "orders".into();
        r.upstream = up.into();
        r.outcome = o;
        ins.write(&ApiCallRow::new(&r, Uuid::now_v7()))
            .await
            .unwrap();
    }
    ins.end().await.unwrap();
    let w = observe::upstream_windows(&store, t0).await.unwrap();
    let got: Vec<(&str, u64, u64, u64, u8)> = w
        .iter()
        .map(|w| {
            (
                w.upstream.as_str(),
                w.calls,
                w.failed,
                w.timeouts,
                w.last_failed,
            )
        })
        .collect();
    assert_eq!(
        got,
        [("http://a:1", 3, 0, 0, 0), ("http://b:2", 3, 2, 1, 1)],
        "{w:?}"
    );
    assert!(w.iter().all(|w| w.api_id == "orders"));
    assert_eq!(w[1].last_us, T0 + 3_000_000);
}
