//! `gatewatch config export` / `apply`: the configuration log as a declarative file.

use crate::helpers::*;
use gatewatch_model::EntityKind;
use gatewatch_store::config_log;

fn run(site: &Site, args: &[&str]) -> (i32, String) {
    let out = gatewatch(args, &site.config_path()).output().unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.code().unwrap_or(-1), text)
}

const TWO: &str = r#"
[[api]]
id = "orders"
name = "訂單查詢"
prefix = "/orders"
upstreams = ["http://127.0.0.1:9"]
strip_prefix = true

[[api]]
id = "users"
name = "users"
prefix = "/users"
upstreams = ["http://127.0.0.1:9"]
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn export_and_apply_round_trip_with_dry_run_diff_and_prune() {
    let site = Site::new(
        "config_file",
        &gatewatch_migrations::testing::clickhouse_url(),
        "",
    );
    let store = site.migrate().await;
    let file = site.dir.path().join("apis.toml");
    std::fs::write(&file, TWO).unwrap();
    let f = file.to_str().unwrap();

    let (code, text) = run(&site, &["config", "apply", f, "--dry-run"]);
    assert_eq!(code, 0, "{text}");
    assert!(
        text.contains("+ api orders") && text.contains("+ api users") && text.contains("dry run"),
        "{text}"
    );
    assert_eq!(config_log::revision(&store).await.unwrap().rows, 0);

    let (code, text) = run(&site, &["config", "apply", f, "--author", "ops-alice"]);
    assert_eq!(code, 0, "{text}");
    assert!(text.contains("applied 2 change(s)"), "{text}");
    let orders = config_log::get(&store, EntityKind::Api, "orders")
        .await
        .unwrap()
        .unwrap();
    assert_eq!((orders.version, orders.author.as_str()), (1, "ops-alice"));

    let (code, text) = run(&site, &["config", "apply", f]);
    assert_eq!(code, 0);
    assert!(text.contains("nothing to change"), "{text}");

    // export → apply changes nothing
    let (code, exported) = run(&site, &["config", "export"]);
    assert_eq!(code, 0, "{exported}");
    assert!(exported.contains("訂單查詢"));
    let back = site.dir.path().join("exported.toml");
    std::fs::write(&back, &exported).unwrap();
    let (code, text) = run(&site, &["config", "apply", back.to_str().unwrap()]);
    assert_eq!(code, 0, "{text}");
    assert!(text.contains("nothing to change"), "{text}");

    // change one field, drop one API, prune
    let one = TWO
        .split("[[api]]\nid = \"users\"")
        .next()
        .unwrap()
        .replace("/orders", "/v2/orders");
    std::fs::write(&file, one).unwrap();
    let (code, text) = run(&site, &["config", "apply", f, "--prune"]);
    assert_eq!(code, 0, "{text}");
    assert!(text.contains("~ api orders (version 1)"), "{text}");
    assert!(
        text.contains("prefix: \"/orders\" → \"/v2/orders\""),
        "{text}"
    );
    assert!(text.contains("- api users (version 1)"), "{text}");
    assert!(
        config_log::get(&store, EntityKind::Api, "users")
            .await
            .unwrap()
            .unwrap()
            .deleted
    );
    let h = config_log::history(&store, EntityKind::Api, "orders")
        .await
        .unwrap();
    assert_eq!(h.len(), 2);

    // a bad file: exit 2, the field named, nothing written
    let rows = config_log::revision(&store).await.unwrap().rows;
    std::fs::write(
        &file,
        "[[api]]\nid = \"x\"\nname = \"x\"\nprefix = \"x\"\nupstreams = [\"http://a\"]\n",
    )
    .unwrap();
    let (code, text) = run(&site, &["config", "apply", f]);
    assert_eq!(code, 2, "{text}");
    assert!(text.contains("api[0].prefix"), "{text}");
    assert_eq!(config_log::revision(&store).await.unwrap().rows, rows);
}

const MIXED: &str = r#"
[[group]]
id = "partners"
name = "合作夥伴"
apis = ["orders*"]

[[product]]
id = "gold"
name = "Gold"
apis = ["*"]
approval = "manual"
quota = { per_day = 1000 }

[[client]]
id = "acme"
name = "Acme 公司"
valid_from = 2026-01-01
timezone = "Asia/Taipei"
groups = ["partners"]
quota = { per_minute = 60, scope = "shared" }
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn clients_groups_and_products_round_trip_without_secrets() {
    let site = Site::new(
        "config_file_mixed",
        &gatewatch_migrations::testing::clickhouse_url(),
        "",
    );
    let store = site.migrate().await;
    let file = site.dir.path().join("mixed.toml");
    std::fs::write(&file, MIXED).unwrap();
    let f = file.to_str().unwrap();
    let (code, text) = run(&site, &["config", "apply", f]);
    assert_eq!(code, 0, "{text}");
    assert!(
        text.contains("+ client acme")
            && text.contains("+ group partners")
            && text.contains("+ product gold"),
        "{text}"
    );
    // A secret set through the admin API: never exported, kept by apply.
    let acme = config_log::get(&store, EntityKind::Client, "acme")
        .await
        .unwrap()
        .unwrap();
    let mut body: serde_json::Value = serde_json::from_str(&acme.body).unwrap();
    assert_eq!(body["valid_from"], "2026-01-01");
    body["secret_hash"] = serde_json::json!(format!("hmac-sha256:{}", "ab".repeat(32)));
    config_log::write(
        &store,
        "admin",
        "secret",
        &[config_log::Change {
            kind: EntityKind::Client,
            id: "acme".into(),
            body: body.to_string(),
            deleted: false,
            expected_version: Some(1),
        }],
        1_764_000_000_000_000,
    )
    .await
    .unwrap();
    let (code, exported) = run(&site, &["config", "export"]);
    assert_eq!(code, 0, "{exported}");
    assert!(
        exported.contains("Acme 公司") && exported.contains("[[product]]"),
        "{exported}"
    );
    assert!(
        !exported.contains("hmac-sha256") && !exported.contains("secret_hash"),
        "{exported}"
    );
    let back = site.dir.path().join("back.toml");
    std::fs::write(&back, &exported).unwrap();
    let (code, text) = run(&site, &["config", "apply", back.to_str().unwrap()]);
    assert_eq!(code, 0, "{text}");
    assert!(text.contains("nothing to change"), "{text}");

    // Prune acts on the kinds the file names: `client = []` removes clients only.
    std::fs::write(&back, "client = []\n").unwrap();
    let (code, text) = run(
        &site,
        &["config", "apply", back.to_str().unwrap(), "--prune"],
    );
    assert_eq!(code, 0, "{text}");
    assert!(
        text.contains("- client acme (version 2)") && !text.contains("- group"),
        "{text}"
    );
    let rows = store
        .fetch_u64("SELECT count() FROM audit_log WHERE entity = 'client' AND id = 'acme' AND action = 'delete'")
        .await
        .unwrap();
    assert_eq!(rows, 1);
}

const ALERTING: &str = r#"
[[channel]]
id = "ops-line"
name = "值班 LINE 群組"
line = { to = ["C0123456789abcdef0123456789abcdef"] }

[[alert_rule]]
id = "cpu-high"
name = "CPU 過高"
threshold = 90
recovery = 80
for_secs = 180
repeat_secs = 180
timezone = "Asia/Taipei"
kind = { type = "node_cpu" }
windows = [
  { type = "weekly", days = ["sat", "sun"], from = "22:00", until = "06:00" },
  { weekdays = ["monday:friday"], times = [{ start_time = "09:00", end_time = "17:00" }], location = "Australia/Sydney" },
  { days_of_month = ["-3:-1"], months = ["november"], years = ["2027"] },
  { type = "yearly", dates = ["06-07"] },
]
recipients = { roles = ["ops"], line = ["C0123456789abcdef0123456789abcdef"] }

[[report_subscription]]
id = "weekly-usage"
name = "每週用量"
report = "usage"
params = { range = "last_week" }
cron = "0 8 * * mon"
timezone = "Asia/Taipei"
recipients = { roles = ["manager"] }
formats = ["chart", "csv"]
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn alert_rules_channels_and_report_subscriptions_round_trip() {
    let site = Site::new(
        "config_file_alerting",
        &gatewatch_migrations::testing::clickhouse_url(),
        "",
    );
    let store = site.migrate().await;
    let file = site.dir.path().join("alerting.toml");
    std::fs::write(&file, ALERTING).unwrap();
    let f = file.to_str().unwrap();
    let (code, text) = run(&site, &["config", "apply", f]);
    assert_eq!(code, 0, "{text}");
    assert!(
        text.contains("+ channel ops-line")
            && text.contains("+ alert_rule cpu-high")
            && text.contains("+ report_subscription weekly-usage"),
        "{text}"
    );
    let (code, exported) = run(&site, &["config", "export"]);
    assert_eq!(code, 0, "{exported}");
    assert!(
        exported.contains("[[alert_rule]]") && exported.contains("每週用量"),
        "{exported}"
    );
    let back = site.dir.path().join("back.toml");
    std::fs::write(&back, &exported).unwrap();
    let (code, text) = run(&site, &["config", "apply", back.to_str().unwrap()]);
    assert_eq!(code, 0, "{text}");
    assert!(text.contains("nothing to change"), "{text}");

    // A bad cron is named by its path; nothing is written.
    let rows = config_log::revision(&store).await.unwrap().rows;
    std::fs::write(&file, ALERTING.replace("0 8 * * mon", "every monday")).unwrap();
    let (code, text) = run(&site, &["config", "apply", f]);
    assert_eq!(code, 2, "{text}");
    assert!(text.contains("report_subscription[0].cron"), "{text}");
    assert_eq!(config_log::revision(&store).await.unwrap().rows, rows);
    // So is a bad Alertmanager window (a negative start needs a negative end).
    std::fs::write(&file, ALERTING.replace("\"-3:-1\"", "\"-3:1\"")).unwrap();
    let (code, text) = run(&site, &["config", "apply", f]);
    assert_eq!(code, 2, "{text}");
    assert!(
        text.contains("alert_rule[0].windows[2].days_of_month[0]"),
        "{text}"
    );
    assert_eq!(config_log::revision(&store).await.unwrap().rows, rows);
}
