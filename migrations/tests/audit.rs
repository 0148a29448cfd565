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
