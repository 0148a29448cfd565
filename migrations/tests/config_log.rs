//! The configuration log against a real ClickHouse: versions, conflicts, history, revisions.

use gatewatch_migrations::testing::migrated_store;
use gatewatch_model::EntityKind;
use gatewatch_store::config_log::{self, Change, ConfigLogError};

fn change(kind: EntityKind, id: &str, body: &str, expected: Option<u64>) -> Change {
    Change {
        kind,
        id: id.to_string(),
        body: body.to_string(),
        deleted: false,
        expected_version: expected,
    }
}

const T0: i64 = 1_764_000_000_000_000;

#[tokio::test]
async fn versions_history_and_current_state() {
    let store = migrated_store("config_log_versions").await;
    let r = config_log::write(
        &store,
        "alice",
        "first APIs",
        &[
            change(EntityKind::Api, "orders", r#"{"name":"訂單"}"#, Some(0)),
            change(EntityKind::Client, "acme", r#"{"tps":10}"#, Some(0)),
        ],
        T0,
    )
    .await
    .unwrap();
    assert_eq!(r.versions[0].2, 1);
    assert_eq!(r.versions[1].2, 1);
    let rev1 = config_log::revision(&store).await.unwrap();
    assert_eq!(rev1.rows, 2);

    config_log::write(
        &store,
        "bob",
        "rename",
        &[change(
            EntityKind::Api,
            "orders",
            r#"{"name":"訂單 v2"}"#,
            Some(1),
        )],
        T0 + 1,
    )
    .await
    .unwrap();
    let rev2 = config_log::revision(&store).await.unwrap();
    assert_ne!(rev1, rev2);

    let now = config_log::get(&store, EntityKind::Api, "orders")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        (now.version, now.author.as_str(), now.body.as_str()),
        (2, "bob", r#"{"name":"訂單 v2"}"#)
    );
    let h = config_log::history(&store, EntityKind::Api, "orders")
        .await
        .unwrap();
    assert_eq!(h.len(), 2);
    assert_eq!(h[0].body, r#"{"name":"訂單"}"#);
    assert_eq!(h[0].comment, "first APIs");

    // delete: a new version, flagged
    let mut del = change(EntityKind::Client, "acme", "", Some(1));
    del.deleted = true;
    config_log::write(&store, "alice", "gone", &[del], T0 + 2)
        .await
        .unwrap();
    let all = config_log::current(&store).await.unwrap();
    assert_eq!(all.len(), 2);
    let acme = all.iter().find(|e| e.id == "acme").unwrap();
    assert!(acme.deleted);
    assert_eq!(acme.version, 2);
    assert!(config_log::get(&store, EntityKind::Client, "nobody")
        .await
        .unwrap()
        .is_none());
}

#[tokio::test]
async fn a_stale_version_is_refused_and_nothing_of_the_change_is_written() {
    let store = migrated_store("config_log_conflict").await;
    config_log::write(
        &store,
        "a",
        "",
        &[change(EntityKind::Api, "x", "{}", Some(0))],
        T0,
    )
    .await
    .unwrap();
    config_log::write(
        &store,
        "b",
        "",
        &[change(EntityKind::Api, "x", "{\"v\":2}", Some(1))],
        T0 + 1,
    )
    .await
    .unwrap();
    // c read version 1 and is late; its change also touches y
    let err = config_log::write(
        &store,
        "c",
        "",
        &[
            change(EntityKind::Api, "y", "{}", Some(0)),
            change(EntityKind::Api, "x", "{\"v\":3}", Some(1)),
        ],
        T0 + 2,
    )
    .await
    .unwrap_err();
    match err {
        ConfigLogError::Conflict {
            expected, actual, ..
        } => assert_eq!((expected, actual), (1, 2)),
        other => panic!("{other}"),
    }
    assert!(config_log::get(&store, EntityKind::Api, "y")
        .await
        .unwrap()
        .is_none());
    // creating what exists is a conflict too
    let err = config_log::write(
        &store,
        "d",
        "",
        &[change(EntityKind::Api, "x", "{}", Some(0))],
        T0 + 3,
    )
    .await;
    assert!(matches!(err, Err(ConfigLogError::Conflict { .. })));
}

#[tokio::test]
async fn bad_ids_and_duplicates_are_named() {
    let store = migrated_store("config_log_bad_ids").await;
    let err = config_log::write(
        &store,
        "a",
        "",
        &[change(EntityKind::Api, "", "{}", None)],
        T0,
    )
    .await
    .unwrap_err();
    assert!(matches!(err, ConfigLogError::BadId { .. }));
    let err = config_log::write(
        &store,
        "a",
        "",
        &[
            change(EntityKind::Api, "a", "{}", None),
            change(EntityKind::Api, "a", "{}", None),
        ],
        T0,
    )
    .await
    .unwrap_err();
    assert!(err.to_string().contains("twice"), "{err}");
    // quotes in ids are data, not SQL
    let id = "it's'); DROP TABLE config_log; --";
    config_log::write(
        &store,
        "a",
        "",
        &[change(EntityKind::Api, id, "{}", Some(0))],
        T0,
    )
    .await
    .unwrap();
    assert_eq!(
        config_log::get(&store, EntityKind::Api, id)
            .await
            .unwrap()
            .unwrap()
            .id,
        id
    );
    assert_eq!(config_log::revision(&store).await.unwrap().rows, 1);
}

#[tokio::test]
async fn concurrent_writers_of_one_version_get_one_winner() {
    let store = migrated_store("config_log_race").await;
    config_log::write(
        &store,
        "a",
        "",
        &[change(EntityKind::Api, "x", "{}", Some(0))],
        T0,
    )
    .await
    .unwrap();
    let (s1, s2) = (store.clone(), store.clone());
    let w1 = tokio::spawn(async move {
        config_log::write(
            &s1,
            "p1",
            "",
            &[change(EntityKind::Api, "x", "{\"by\":1}", Some(1))],
            T0 + 1,
        )
        .await
    });
    let w2 = tokio::spawn(async move {
        config_log::write(
            &s2,
            "p2",
            "",
            &[change(EntityKind::Api, "x", "{\"by\":2}", Some(1))],
            T0 + 1,
        )
        .await
    });
    let (r1, r2) = (w1.await.unwrap(), w2.await.unwrap());
    // Writers in one process are serialized: exactly one succeeds, the other is told.
    assert!(
        r1.is_ok() != r2.is_ok(),
        "one must win, one must lose: {r1:?} {r2:?}"
    );
    let now = config_log::get(&store, EntityKind::Api, "x")
        .await
        .unwrap()
        .unwrap();
    let winner = if r1.is_ok() { "p1" } else { "p2" };
    assert_eq!(now.version, 2);
    assert_eq!(now.author, winner);
}
