//! The audit log against a real ClickHouse: rows written are read back by window and actor.

use gatewatch_migrations::testing::migrated_store;
use gatewatch_store::audit::{self, AuditEvent, AuditQuery};

const T0: i64 = 1_764_000_000_000_000;

fn event(ts_us: i64, actor: &str, action: &str) -> AuditEvent {
    AuditEvent {
        ts_us,
        actor: actor.into(),
        action: action.into(),
        entity: "api".into(),
        id: "orders".into(),
        change_id: uuid::Uuid::now_v7(),
        client_ip: "127.0.0.1".into(),
        detail: r#"{"version":1,"note":"it's 查詢"}"#.into(),
    }
}

#[tokio::test]
async fn events_are_read_back_by_window_and_actor_newest_first() {
    let store = migrated_store("audit_rw").await;
    let events = vec![
        event(T0, "alice", "create"),
        event(T0 + 1_000_000, "bob", "login"),
        event(T0 + 2_000_000, "alice", "update"),
        event(T0 + 90_000_000_000, "alice", "delete"),
    ];
    audit::write(&store, &events).await.unwrap();
    let q = AuditQuery {
        from_us: T0,
        to_us: T0 + 3_000_000,
        actor: None,
        action: None,
        limit: 100,
    };
    let got = audit::read(&store, &q).await.unwrap();
    assert_eq!(
        got.iter().map(|e| e.action.as_str()).collect::<Vec<_>>(),
        ["update", "login", "create"]
    );
    assert_eq!(got[2], events[0]);
    let alice = audit::read(
        &store,
        &AuditQuery {
            actor: Some("alice".into()),
            ..q.clone()
        },
    )
    .await
    .unwrap();
    assert_eq!(alice.len(), 2);
    // A quote in the actor is a value, not SQL.
    let none = audit::read(
        &store,
        &AuditQuery {
            actor: Some("x' OR 1=1 --".into()),
            ..q
        },
    )
    .await
    .unwrap();
    assert!(none.is_empty());
}

#[tokio::test]
async fn pages_follow_the_keyset_cursor_through_ties_and_filter_by_action() {
    let store = migrated_store("audit_page").await;
    // Five rows, three of them at one time (one change of three entities).
    let mut events = vec![
        event(T0, "alice", "create"),
        event(T0 + 1_000_000, "bob", "login"),
        event(T0 + 1_000_000, "alice", "update"),
        event(T0 + 1_000_000, "alice", "delete"),
        event(T0 + 2_000_000, "bob", "login"),
    ];
    events[3].id = "pay".into();
    audit::write(&store, &events).await.unwrap();
    let q = AuditQuery {
        from_us: T0,
        to_us: T0 + 3_000_000,
        actor: None,
        action: None,
        limit: 2,
    };
    let mut seen = Vec::new();
    let mut after = None;
    for _ in 0..10 {
        let page = audit::page(&store, &q, after).await.unwrap();
        if page.is_empty() {
            break;
        }
        assert!(page.len() <= 2);
        after = page.last().map(|p| p.cursor);
        seen.extend(page.into_iter().map(|p| p.event));
    }
    // Every row once, newest first, none lost or repeated at the tie.
    assert_eq!(seen.len(), 5, "{seen:?}");
    assert!(seen.windows(2).all(|w| w[0].ts_us >= w[1].ts_us));
    for e in &events {
        assert_eq!(seen.iter().filter(|s| *s == e).count(), 1, "{e:?}");
    }
    // A row newer than the first page does not shift the next one.
    let first = audit::page(&store, &q, None).await.unwrap();
    audit::write(&store, &[event(T0 + 2_500_000, "carol", "login")])
        .await
        .unwrap();
    let second = audit::page(&store, &q, first.last().map(|p| p.cursor))
        .await
        .unwrap();
    assert_eq!(second[0].event, seen[2]);

    let logins = audit::read(
        &store,
        &AuditQuery {
            action: Some("login".into()),
            limit: 100,
            ..q
        },
    )
    .await
    .unwrap();
    assert_eq!(
        logins.iter().map(|e| e.actor.as_str()).collect::<Vec<_>>(),
        ["carol", "bob", "bob"]
    );
}
