//! Releases against a real ClickHouse: making one (names unique), the bodies of a release read
//! back, the diff between points (secrets named, never shown), a rollback as one change that
//! restores, deletes and re-creates, clients keeping their current secrets, and a concurrent
//! edit making the rollback fail with nothing written.

use gatewatch_migrations::testing::migrated_store;
use gatewatch_model::release::Difference;
use gatewatch_model::EntityKind;
use gatewatch_store::config_log::{self, Change, ConfigLogError};
use gatewatch_store::releases::{self, Point, ReleaseError};

const T0: i64 = 1_765_000_000_000_000;

fn put(kind: EntityKind, id: &str, body: serde_json::Value) -> Change {
    Change {
        kind,
        id: id.to_string(),
        body: body.to_string(),
        deleted: false,
        expected_version: None,
    }
}

fn del(kind: EntityKind, id: &str) -> Change {
    Change {
        kind,
        id: id.to_string(),
        body: String::new(),
        deleted: true,
        expected_version: None,
    }
}

fn api(prefix: &str) -> serde_json::Value {
    serde_json::json!({"name": "訂單", "prefix": prefix, "upstreams": ["http://127.0.0.1:9"]})
}

#[tokio::test]
async fn make_diff_and_roll_back() {
    let store = migrated_store("releases_rollback").await;
    config_log::write(
        &store,
        "alice",
        "first",
        &[
            put(EntityKind::Api, "orders", api("/orders")),
            put(EntityKind::Api, "gone", api("/gone")),
            put(
                EntityKind::Group,
                "partners",
                serde_json::json!({"name": "P", "apis": ["orders"]}),
            ),
            put(
                EntityKind::Client,
                "acme",
                serde_json::json!({"name": "Acme", "groups": ["partners"], "secret_hash": "hmac-sha256:old"}),
            ),
            // Not part of a release: a rollback leaves it alone.
            put(
                EntityKind::ApiKey,
                "k1",
                serde_json::json!({"client": "acme", "hash": "hmac-sha256:k"}),
            ),
        ],
        T0,
    )
    .await
    .unwrap();
    let (rel, _) = releases::make(&store, "v1", "before the launch", "alice", T0 + 1)
        .await
        .unwrap();
    assert_eq!(rel.spec.entities.len(), 4, "{:?}", rel.spec.entities);
    assert!(rel
        .spec
        .entities
        .iter()
        .all(|e| e.kind != EntityKind::ApiKey));
    // A name is taken once.
    let again = releases::make(&store, "v1", "", "bob", T0 + 2).await;
    assert!(matches!(again, Err(ReleaseError::Exists(n)) if n == "v1"));
    let bad = releases::make(&store, "../v2", "", "bob", T0 + 2).await;
    assert!(matches!(bad, Err(ReleaseError::Bad(e)) if e.field == "name"));
    let long = releases::make(&store, &"x".repeat(10_000), "", "bob", T0 + 2).await;
    assert!(matches!(long, Err(ReleaseError::Bad(e)) if e.field == "name"));

    // Since: the route moved, the client left its group and got a new secret, an API was
    // added, another deleted.
    config_log::write(
        &store,
        "bob",
        "changes",
        &[
            put(EntityKind::Api, "orders", api("/orders-v2")),
            put(EntityKind::Api, "fresh", api("/fresh")),
            del(EntityKind::Api, "gone"),
            put(
                EntityKind::Client,
                "acme",
                serde_json::json!({"name": "Acme", "secret_hash": "hmac-sha256:new"}),
            ),
        ],
        T0 + 3,
    )
    .await
    .unwrap();

    let from = releases::state(&store, &Point::Release("v1".into()))
        .await
        .unwrap();
    let to = releases::state(&store, &Point::Current).await.unwrap();
    let d = releases::diff(&from, &to);
    let seen: Vec<(String, Difference)> = d
        .iter()
        .map(|e| (format!("{}:{}", e.kind, e.id), e.change))
        .collect();
    assert_eq!(
        seen,
        [
            ("api:fresh".to_string(), Difference::Added),
            ("api:gone".to_string(), Difference::Removed),
            ("api:orders".to_string(), Difference::Changed),
            ("client:acme".to_string(), Difference::Changed),
        ]
    );
    let text = serde_json::to_string(&d).unwrap();
    assert!(!text.contains("hmac-sha256"), "{text}");
    let acme = &d[3];
    assert!(acme.fields.iter().any(|f| f.path == "secret" && f.secret));
    assert!(acme.fields.iter().any(|f| f.path == "groups"));
    // Unknown releases are named.
    let e = releases::state(&store, &Point::Release("nope".into())).await;
    assert!(matches!(e, Err(ReleaseError::NotFound(n)) if n == "nope"));

    // A concurrent edit between plan and write: refused, nothing written.
    let plan = releases::plan_rollback(&store, "v1").await.unwrap();
    assert_eq!(plan.changes.len(), 4);
    config_log::write(
        &store,
        "carol",
        "meanwhile",
        &[put(EntityKind::Api, "orders", api("/orders-v3"))],
        T0 + 4,
    )
    .await
    .unwrap();
    let rows_before = config_log::revision(&store).await.unwrap().rows;
    let e = releases::apply(&store, &plan, "alice", T0 + 5).await;
    assert!(
        matches!(e, Err(ReleaseError::Log(ConfigLogError::Conflict { ref id, .. })) if id == "orders"),
        "{e:?}"
    );
    assert_eq!(
        config_log::revision(&store).await.unwrap().rows,
        rows_before
    );

    // Planned again: one change restores everything.
    let plan = releases::plan_rollback(&store, "v1").await.unwrap();
    let receipt = releases::apply(&store, &plan, "alice", T0 + 6)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(receipt.versions.len(), 4);
    let now = releases::state(&store, &Point::Current).await.unwrap();
    let left = releases::diff(&from, &now);
    // Only the client's secret differs from the release: it keeps the current one.
    assert_eq!(left.len(), 1, "{left:?}");
    assert_eq!(left[0].id, "acme");
    assert_eq!(
        left[0]
            .fields
            .iter()
            .map(|f| f.path.as_str())
            .collect::<Vec<_>>(),
        ["secret"]
    );
    let acme = config_log::get(&store, EntityKind::Client, "acme")
        .await
        .unwrap()
        .unwrap();
    assert!(acme.body.contains("hmac-sha256:new"), "{}", acme.body);
    assert!(acme.body.contains("partners"), "{}", acme.body);
    assert_eq!(acme.comment, "rollback to v1");
    assert_eq!(acme.change_id, receipt.change_id);
    let fresh = config_log::get(&store, EntityKind::Api, "fresh")
        .await
        .unwrap()
        .unwrap();
    assert!(fresh.deleted);
    let gone = config_log::get(&store, EntityKind::Api, "gone")
        .await
        .unwrap()
        .unwrap();
    assert!(!gone.deleted && gone.body.contains("/gone"));
    // The key was not touched.
    let key = config_log::history(&store, EntityKind::ApiKey, "k1")
        .await
        .unwrap();
    assert_eq!(key.len(), 1);
    // Rolling back again changes nothing and writes nothing.
    let plan = releases::plan_rollback(&store, "v1").await.unwrap();
    assert!(plan.changes.is_empty());
    assert!(releases::apply(&store, &plan, "alice", T0 + 7)
        .await
        .unwrap()
        .is_none());

    let list = releases::list(&store).await.unwrap();
    assert_eq!(list.len(), 1);
    assert_eq!(
        (list[0].name.as_str(), list[0].author.as_str()),
        ("v1", "alice")
    );
}

#[tokio::test]
async fn a_release_body_this_build_cannot_read_is_refused_by_name() {
    let store = migrated_store("releases_unreadable").await;
    config_log::write(
        &store,
        "alice",
        "first",
        &[put(
            EntityKind::Api,
            "odd",
            serde_json::json!({"name": "x", "prefix": "/x", "upstreams": ["http://a"], "from_the_future": 1}),
        )],
        T0,
    )
    .await
    .unwrap();
    releases::make(&store, "r1", "", "alice", T0 + 1)
        .await
        .unwrap();
    config_log::write(
        &store,
        "alice",
        "fix",
        &[put(EntityKind::Api, "odd", api("/odd"))],
        T0 + 2,
    )
    .await
    .unwrap();
    let e = releases::plan_rollback(&store, "r1").await.unwrap_err();
    assert!(
        matches!(&e, ReleaseError::Unreadable { kind: EntityKind::Api, id, .. } if id == "odd"),
        "{e}"
    );
}
