//! `gatewatch config export` and `gatewatch config apply FILE`: the configuration log as a
//! declarative file.
//!
//! The file has one array of tables per entity kind — `[[api]]`, `[[client]]`, `[[group]]`,
//! `[[product]]` — each table an entity with its `id`:
//!
//! ```toml
//! [[api]]
//! id = "orders"
//! name = "訂單查詢"
//! prefix = "/orders"
//! upstreams = ["http://10.0.0.5:9000"]
//! strip_prefix = true
//!
//! [[client]]
//! id = "acme"
//! name = "Acme"
//! quota = { per_day = 10000 }
//! ```
//!
//! `apply` checks every entity first (an error names `client[2].quota.per_day`, and nothing
//! is written), shows what would change (`--dry-run` stops there), and writes all changes as
//! one change in the log, each with the version it was compared against: if someone changed
//! an entity in between, nothing is written and the command says so. As in the admin API, a
//! client certificate's fingerprint belongs to one client: one that two clients would list
//! (in the file, or one in the file and another kept in the log) is refused. Entities missing from the
//! file are left alone unless `--prune` is given; then those of every kind the file has a key
//! for are deleted (`client = []` prunes every client; a file without `client` leaves them).
//!
//! Secrets stay out of files: API keys and users are neither exported nor applied (they are
//! made through the admin API, which shows a key or password once), and a client's
//! `secret_hash` and (sealed) `signing_secret` are not exported and may not be set from a
//! file — `apply` keeps the ones the log has. A webhook's credential headers are exported sealed (`sealed:v1:…`, see
//! `model::sealed`: they open only with this site's pepper, for the same host and port);
//! `apply` takes them back sealed, or in plain text and seals them.

use anyhow::{bail, Context};
use gatewatch_model::sealed::SealKey;
use gatewatch_model::{ChannelSpec, Entity, EntityKind};
use gatewatch_store::config_log::{self, Change};
use gatewatch_store::Store;
use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

/// The kinds a file holds, in the order they are exported: those of a release (keys, users and
/// silences stay out — keys and users carry hashes, silences are one-off and short-lived), so
/// what a file moves and what a rollback restores are one list.
pub const FILE_KINDS: [EntityKind; 10] = gatewatch_model::release::RELEASE_KINDS;

/// Fields a file may not set, per kind.
fn secret_fields(kind: EntityKind) -> &'static [&'static str] {
    match kind {
        EntityKind::Client => &["secret_hash", "signing_secret"],
        _ => &[],
    }
}

/// A problem with the file: exits with status 2.
#[derive(Debug, thiserror::Error)]
#[error("{file}: {key}: {message}")]
pub struct FileError {
    pub file: String,
    pub key: String,
    pub message: String,
}

/// One entity read from the file.
pub(crate) struct Wanted {
    pub(crate) kind: EntityKind,
    pub(crate) id: String,
    /// Checked and normalized (`Entity::to_json`).
    pub(crate) body: serde_json::Value,
}

/// TOML to JSON, with TOML dates and times as their RFC 3339 text.
fn toml_to_json(v: toml::Value) -> serde_json::Value {
    use serde_json::Value as J;
    match v {
        toml::Value::String(s) => J::String(s),
        toml::Value::Integer(i) => J::from(i),
        toml::Value::Float(f) => serde_json::Number::from_f64(f).map_or(J::Null, J::Number),
        toml::Value::Boolean(b) => J::Bool(b),
        toml::Value::Datetime(d) => J::String(d.to_string()),
        toml::Value::Array(a) => J::Array(a.into_iter().map(toml_to_json).collect()),
        toml::Value::Table(t) => {
            J::Object(t.into_iter().map(|(k, v)| (k, toml_to_json(v))).collect())
        }
    }
}

/// Reads and checks every entity of `path` (offline: the checks `apply` runs before it reads
/// the log); also returns the kinds the file has keys for.
pub(crate) fn read_file(path: &Path) -> Result<(Vec<Wanted>, BTreeSet<EntityKind>), FileError> {
    let err = |key: &str, message: String| FileError {
        file: path.display().to_string(),
        key: key.to_string(),
        message,
    };
    // Errors name the line of a syntax error.
    let table = crate::config::parse_toml(path).map_err(|e| err("file", e.message))?;
    let mut out: Vec<Wanted> = Vec::new();
    let mut kinds = BTreeSet::new();
    for (key, value) in table {
        let kind: EntityKind = key
            .parse()
            .map_err(|e: gatewatch_model::entity::UnknownKind| err(&key, e.to_string()))?;
        if !FILE_KINDS.contains(&kind) {
            return Err(err(
                &key,
                format!("{kind} entities are not kept in files (only api, client, group, product, channel, alert_rule, report_subscription); use the admin API"),
            ));
        }
        kinds.insert(kind);
        let items = value
            .as_array()
            .ok_or_else(|| err(&key, format!("must be an array of tables ([[{key}]])")))?;
        for (i, item) in items.iter().enumerate() {
            let at = |field: &str| {
                if field.is_empty() {
                    format!("{key}[{i}]")
                } else {
                    format!("{key}[{i}].{field}")
                }
            };
            let mut t = item
                .as_table()
                .cloned()
                .ok_or_else(|| err(&at(""), "must be a table".into()))?;
            let id = match t.remove("id") {
                Some(toml::Value::String(s)) if !s.is_empty() => s,
                Some(_) => return Err(err(&at("id"), "must be a non-empty string".into())),
                None => return Err(err(&at("id"), "is missing".into())),
            };
            for f in secret_fields(kind) {
                if t.contains_key(*f) {
                    return Err(err(
                        &at(f),
                        "is a secret and cannot come from a file (set it through the admin API)"
                            .into(),
                    ));
                }
            }
            let json = toml_to_json(toml::Value::Table(t)).to_string();
            let entity =
                Entity::parse(kind, &id, &json).map_err(|e| err(&at(&e.field), e.message))?;
            if out.iter().any(|w| w.kind == kind && w.id == id) {
                return Err(err(&at("id"), format!("{id:?} appears twice")));
            }
            let body = serde_json::from_str(&entity.to_json()).unwrap_or(serde_json::Value::Null);
            out.push(Wanted { kind, id, body });
        }
    }
    Ok((out, kinds))
}

/// What applying would do to one entity.
enum Plan {
    Add(Wanted),
    Change {
        wanted: Wanted,
        version: u64,
        diff: Vec<String>,
    },
    Delete {
        kind: EntityKind,
        id: String,
        version: u64,
    },
}

/// A stored body as JSON, normalized like a file's.
/// A certificate fingerprint identifies one client (as the admin API holds it): one that two
/// clients of the file list, or a file's client and one the log keeps (`others`, unless they
/// are pruned), is refused naming the file's entry (`client[i].certificates[j]`).
pub(crate) fn certificates_clash(
    wanted: &[Wanted],
    others: impl Iterator<Item = (String, serde_json::Value)>,
) -> Result<(), (String, String)> {
    let fingerprints = |body: &serde_json::Value| -> Vec<String> {
        body["certificates"]
            .as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|v| v.as_str().map(str::to_ascii_lowercase))
                    .collect()
            })
            .unwrap_or_default()
    };
    let clients: Vec<&Wanted> = wanted
        .iter()
        .filter(|w| w.kind == EntityKind::Client)
        .collect();
    let in_file: BTreeSet<&str> = clients.iter().map(|w| w.id.as_str()).collect();
    let mut owner: BTreeMap<String, String> = BTreeMap::new();
    for (id, body) in others.filter(|(id, _)| !in_file.contains(id.as_str())) {
        for fp in fingerprints(&body) {
            owner.entry(fp).or_insert_with(|| id.clone());
        }
    }
    for (i, w) in clients.iter().enumerate() {
        for (j, fp) in fingerprints(&w.body).into_iter().enumerate() {
            match owner.get(&fp) {
                Some(other) if *other != w.id => {
                    return Err((
                        format!("client[{i}].certificates[{j}]"),
                        format!("{fp} is client {other:?}'s: a certificate identifies one client"),
                    ))
                }
                _ => {
                    owner.insert(fp, w.id.clone());
                }
            }
        }
    }
    Ok(())
}

fn stored_json(e: &config_log::Entry) -> serde_json::Value {
    let text =
        Entity::parse(e.kind, &e.id, &e.body).map_or_else(|_| e.body.clone(), |x| x.to_json());
    serde_json::from_str(&text).unwrap_or(serde_json::Value::Null)
}

/// Seals a channel body's plain credential headers. A header whose value `stored` already
/// holds, sealed for the same destination, keeps that sealed text, so applying an unchanged
/// file changes nothing. Errors name the field (`webhook.headers.X`).
pub(crate) fn seal_channel(
    key: &SealKey,
    body: &mut serde_json::Value,
    stored: Option<&serde_json::Value>,
) -> Result<(), gatewatch_model::FieldError> {
    let Ok(mut spec) = serde_json::from_value::<ChannelSpec>(body.clone()) else {
        return Ok(());
    };
    let Some(w) = &mut spec.webhook else {
        return Ok(());
    };
    let old = stored
        .and_then(|v| serde_json::from_value::<ChannelSpec>(v.clone()).ok())
        .and_then(|c| c.webhook)
        .filter(|o| {
            gatewatch_model::channel::destination_of(&o.url)
                == gatewatch_model::channel::destination_of(&w.url)
        });
    if let Some(old) = &old {
        let opened: BTreeMap<String, String> = old
            .headers
            .iter()
            .filter_map(|(n, v)| {
                let one = gatewatch_model::channel::WebhookTarget {
                    headers: [(n.clone(), v.clone())].into(),
                    ..old.clone()
                };
                let plain = one.open_headers(Some(key)).ok()?.pop()?.1;
                Some((n.clone(), plain))
            })
            .collect();
        for (name, value) in w.headers.iter_mut() {
            if gatewatch_model::channel::is_secret_header(name)
                && !gatewatch_model::sealed::is_sealed(value)
                && opened.get(name) == Some(value)
            {
                if let Some(sealed) = old.headers.get(name) {
                    *value = sealed.clone();
                }
            }
        }
    }
    // A PagerDuty routing key given as stored (opened) keeps its sealed value, as headers do.
    if let Some(old) = &old {
        if let (Some(plain), Some(sealed)) = (&w.routing_key, &old.routing_key) {
            if !gatewatch_model::sealed::is_sealed(plain)
                && old.open_routing_key(Some(key)).ok().flatten().as_ref() == Some(plain)
            {
                w.routing_key = Some(sealed.clone());
            }
        }
    }
    // One fresh 24-byte nonce per value it may seal (headers, routing key), from the OS.
    let mut random = vec![0u8; 24 * w.sealable().max(1)];
    getrandom::fill(&mut random).map_err(|e| {
        gatewatch_model::FieldError::new(
            "webhook.headers",
            format!("no randomness from the OS: {e}"),
        )
    })?;
    let mut chunks = random.chunks_exact(24);
    w.seal_headers(key, || {
        let mut n = [0u8; 24];
        if let Some(c) = chunks.next() {
            n.copy_from_slice(c);
        }
        n
    })
    .map_err(|e| e.under("webhook"))?;
    *body = serde_json::to_value(&spec).unwrap_or(serde_json::Value::Null);
    Ok(())
}

/// `gatewatch config apply`. `pepper`: the site's, to seal webhook credential headers.
pub async fn apply(
    store: &Store,
    pepper: &[u8],
    path: &Path,
    dry_run: bool,
    prune: bool,
    author: &str,
) -> anyhow::Result<()> {
    let (mut wanted, kinds) =
        read_file(path).map_err(|e| anyhow::Error::new(e).context("bad configuration file"))?;
    let current: BTreeMap<(EntityKind, String), config_log::Entry> = config_log::current(store)
        .await
        .context("reading the configuration log")?
        .into_iter()
        .filter(|e| FILE_KINDS.contains(&e.kind))
        .map(|e| ((e.kind, e.id.clone()), e))
        .collect();
    let key = SealKey::from_pepper(pepper);
    for w in wanted.iter_mut().filter(|w| w.kind == EntityKind::Channel) {
        let stored = current
            .get(&(w.kind, w.id.clone()))
            .filter(|e| !e.deleted)
            .map(stored_json);
        seal_channel(&key, &mut w.body, stored.as_ref()).map_err(|e| {
            anyhow::Error::new(FileError {
                file: path.display().to_string(),
                key: format!("channel {:?}: {}", w.id, e.field),
                message: e.message,
            })
            .context("bad configuration file")
        })?;
    }
    let others = current
        .values()
        .filter(|e| e.kind == EntityKind::Client && !e.deleted && !prune)
        .map(|e| (e.id.clone(), stored_json(e)));
    certificates_clash(&wanted, others).map_err(|(key, message)| {
        anyhow::Error::new(FileError {
            file: path.display().to_string(),
            key,
            message,
        })
        .context("bad configuration file")
    })?;
    let mut plans = Vec::new();
    let mut in_file = BTreeSet::new();
    for mut w in wanted {
        in_file.insert((w.kind, w.id.clone()));
        match current.get(&(w.kind, w.id.clone())) {
            Some(e) if !e.deleted => {
                let now = stored_json(e);
                // Secrets the file cannot hold stay as they are.
                for f in secret_fields(w.kind) {
                    if let (Some(v), Some(o)) = (now.get(*f), w.body.as_object_mut()) {
                        o.insert(f.to_string(), v.clone());
                    }
                }
                let diff = field_diff(&now, &w.body);
                if !diff.is_empty() {
                    plans.push(Plan::Change {
                        version: e.version,
                        diff,
                        wanted: w,
                    });
                }
            }
            Some(e) => plans.push(Plan::Change {
                version: e.version,
                diff: vec!["(re-created)".into()],
                wanted: w,
            }),
            None => plans.push(Plan::Add(w)),
        }
    }
    if prune {
        for ((kind, id), e) in &current {
            if kinds.contains(kind) && !e.deleted && !in_file.contains(&(*kind, id.clone())) {
                plans.push(Plan::Delete {
                    kind: *kind,
                    id: id.clone(),
                    version: e.version,
                });
            }
        }
    }
    if plans.is_empty() {
        println!(
            "nothing to change: the configuration log already matches {}",
            path.display()
        );
        return Ok(());
    }
    let mut changes = Vec::new();
    for p in &plans {
        match p {
            Plan::Add(w) => {
                println!("+ {} {}", w.kind, w.id);
                changes.push(change(w.kind, &w.id, Some(&w.body), 0));
            }
            Plan::Change {
                wanted,
                version,
                diff,
            } => {
                println!("~ {} {} (version {version})", wanted.kind, wanted.id);
                for d in diff {
                    println!("    {d}");
                }
                changes.push(change(
                    wanted.kind,
                    &wanted.id,
                    Some(&wanted.body),
                    *version,
                ));
            }
            Plan::Delete { kind, id, version } => {
                println!("- {kind} {id} (version {version})");
                changes.push(change(*kind, id, None, *version));
            }
        }
    }
    if dry_run {
        println!("dry run: {} change(s) not applied", changes.len());
        return Ok(());
    }
    let now_us = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_micros() as i64)
        .unwrap_or(0);
    let comment = format!("gatewatch config apply {}", path.display());
    let receipt = config_log::write(store, author, &comment, &changes, now_us)
        .await
        .context("writing the configuration log (nothing was written)")?;
    let events: Vec<_> = receipt
        .versions
        .iter()
        .zip(&changes)
        .map(|((kind, id, version), c)| gatewatch_store::audit::AuditEvent {
            ts_us: now_us,
            actor: author.to_string(),
            action: if c.deleted { "delete" } else if *version == 1 { "create" } else { "update" }.to_string(),
            entity: kind.as_str().to_string(),
            id: id.clone(),
            change_id: receipt.change_id,
            client_ip: "local".into(),
            detail: serde_json::json!({ "version": version, "comment": comment, "via": "config apply" }).to_string(),
        })
        .collect();
    if let Err(e) = gatewatch_store::audit::write(store, &events).await {
        tracing::error!(error = %e, "the change is applied, but its audit rows were not stored");
    }
    println!(
        "applied {} change(s) as change {}",
        changes.len(),
        receipt.change_id
    );
    Ok(())
}

fn change(kind: EntityKind, id: &str, body: Option<&serde_json::Value>, expected: u64) -> Change {
    Change {
        kind,
        id: id.to_string(),
        body: body.map_or_else(String::new, |b| b.to_string()),
        deleted: body.is_none(),
        expected_version: Some(expected),
    }
}

/// `field: old → new` for each top-level field that differs.
fn field_diff(old: &serde_json::Value, new: &serde_json::Value) -> Vec<String> {
    let (Some(o), Some(n)) = (old.as_object(), new.as_object()) else {
        return if old == new {
            Vec::new()
        } else {
            vec![format!("{old} → {new}")]
        };
    };
    let mut keys: Vec<&String> = o.keys().chain(n.keys()).collect();
    keys.sort();
    keys.dedup();
    keys.into_iter()
        .filter_map(|k| {
            let (a, b) = (o.get(k), n.get(k));
            (a != b).then(|| {
                let show = |v: Option<&serde_json::Value>| {
                    v.map_or("(none)".to_string(), |v| v.to_string())
                };
                format!("{k}: {} → {}", show(a), show(b))
            })
        })
        .collect()
}

/// `gatewatch config export`: every current API, client, group and product as a file `apply`
/// takes back (no API keys, users or client secrets; webhook credential headers sealed, those
/// stored in plain text before sealing existed too).
pub async fn export(store: &Store, pepper: &[u8]) -> anyhow::Result<String> {
    let key = SealKey::from_pepper(pepper);
    let mut by_kind: BTreeMap<EntityKind, Vec<toml::Value>> =
        FILE_KINDS.iter().map(|k| (*k, Vec::new())).collect();
    for e in config_log::current(store)
        .await
        .context("reading the configuration log")?
    {
        let Some(list) = by_kind.get_mut(&e.kind) else {
            continue;
        };
        if e.deleted {
            continue;
        }
        let entity = match Entity::parse(e.kind, &e.id, &e.body) {
            Ok(x) => x,
            Err(err) => bail!(
                "{} {:?} (version {}) is not valid: {err}",
                e.kind,
                e.id,
                e.version
            ),
        };
        let mut body: serde_json::Value = serde_json::from_str(&entity.to_json())?;
        if e.kind == EntityKind::Channel {
            let stored = body.clone();
            if let Err(err) = seal_channel(&key, &mut body, Some(&stored)) {
                bail!(
                    "channel {:?}: {}: {} (re-enter the value through the admin API)",
                    e.id,
                    err.field,
                    err.message
                );
            }
        }
        if let Some(o) = body.as_object_mut() {
            for f in secret_fields(e.kind) {
                o.remove(*f);
            }
        }
        let mut t = toml::Table::new();
        t.insert("id".into(), toml::Value::String(e.id));
        if let toml::Value::Table(fields) = toml::Value::try_from(&body)? {
            t.extend(fields);
        }
        list.push(toml::Value::Table(t));
    }
    let mut root = toml::Table::new();
    for k in FILE_KINDS {
        root.insert(
            k.as_str().into(),
            toml::Value::Array(by_kind.remove(&k).unwrap_or_default()),
        );
    }
    Ok(format!(
        "# gatewatch configuration, exported from the configuration log\n# (API keys, users and client secrets are not exported; webhook credential headers are\n# sealed: they open only with this site's pepper)\n{}",
        toml::to_string_pretty(&root)?
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_certificate_of_two_clients_is_refused_naming_the_entry() {
        let fp = |c: char| format!("sha256:{}", c.to_string().repeat(64));
        let client = |id: &str, certs: &[String]| Wanted {
            kind: EntityKind::Client,
            id: id.into(),
            body: serde_json::json!({"name": id, "certificates": certs}),
        };
        let file = [client("a", &[fp('a')]), client("b", &[fp('b'), fp('c')])];
        assert!(certificates_clash(&file, std::iter::empty()).is_ok());
        let clash = [client("a", &[fp('a')]), client("b", &[fp('b'), fp('a')])];
        let (key, message) = certificates_clash(&clash, std::iter::empty()).unwrap_err();
        assert_eq!(key, "client[1].certificates[1]");
        assert!(message.contains("\"a\""), "{message}");
        // With the log: another client's fingerprint (in another case) clashes; the file's own
        // client's old version does not.
        let logged = |id: &str, c: char| {
            (
                id.to_string(),
                serde_json::json!({"name": id, "certificates": [fp(c).to_uppercase().replace("SHA256", "sha256")]}),
            )
        };
        let (key, _) = certificates_clash(&file, [logged("z", 'c')].into_iter()).unwrap_err();
        assert_eq!(key, "client[1].certificates[1]");
        assert!(
            certificates_clash(&file, [logged("b", 'c'), logged("z", 'd')].into_iter()).is_ok()
        );
    }

    #[test]
    fn channel_credentials_are_sealed_and_kept_sealed_across_applies() {
        let key = SealKey::from_pepper(b"the site's pepper 0123456789");
        let plain = serde_json::json!({"webhook": {"url": "https://h.tw/x",
            "headers": {"Authorization": "Bearer s3cr3t", "X-Team": "ops"}}});
        let mut first = plain.clone();
        seal_channel(&key, &mut first, None).unwrap();
        let sealed = first["webhook"]["headers"]["Authorization"]
            .as_str()
            .unwrap();
        assert!(sealed.starts_with("sealed:v1:") && !first.to_string().contains("s3cr3t"));
        assert_eq!(first["webhook"]["headers"]["X-Team"], "ops");
        // The same plain value applied again keeps the stored sealed text: no change.
        let mut again = plain.clone();
        seal_channel(&key, &mut again, Some(&first)).unwrap();
        assert_eq!(again, first);
        // A sealed value (an export) is taken back as it is.
        let mut back = first.clone();
        seal_channel(&key, &mut back, None).unwrap();
        assert_eq!(back, first);
        // Another site's sealed value, or one moved to another host, is refused by name.
        let other = SealKey::from_pepper(b"another pepper 0123456789");
        let e = seal_channel(&other, &mut first.clone(), None).unwrap_err();
        assert_eq!(e.field, "webhook.headers.Authorization");
        let mut moved = first.clone();
        moved["webhook"]["url"] = serde_json::json!("https://evil.example/x");
        let e = seal_channel(&key, &mut moved, None).unwrap_err();
        assert_eq!(e.field, "webhook.headers.Authorization");
        // A PagerDuty routing key alike, with a fresh nonce of its own beside the headers'.
        let plain = serde_json::json!({"webhook": {"url": "https://events.pagerduty.com/v2/enqueue",
            "preset": "pagerduty", "routing_key": "R0123456789abcdefR0123456789abcd",
            "headers": {"X-Api-Key": "k1"}}});
        let mut first = plain.clone();
        seal_channel(&key, &mut first, None).unwrap();
        let rk = first["webhook"]["routing_key"]
            .as_str()
            .unwrap()
            .to_string();
        assert!(rk.starts_with("sealed:v1:") && !first.to_string().contains("R0123456789abcdef"));
        assert_ne!(
            rk[10..42],
            first["webhook"]["headers"]["X-Api-Key"].as_str().unwrap()[10..42]
        );
        let mut again = plain.clone();
        seal_channel(&key, &mut again, Some(&first)).unwrap();
        assert_eq!(again, first);
        // Other kinds of channel pass untouched.
        let mut mail = serde_json::json!({"email": {"to": ["a@b.tw"]}});
        seal_channel(&key, &mut mail, None).unwrap();
        assert_eq!(mail, serde_json::json!({"email": {"to": ["a@b.tw"]}}));
    }

    fn file(text: &str) -> (tempfile::TempDir, std::path::PathBuf) {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("apis.toml");
        std::fs::write(&p, text).unwrap();
        (dir, p)
    }

    #[test]
    fn each_bad_entity_is_named() {
        let cases = [
            ("[[api]]\nname = \"x\"\nprefix = \"/x\"\nupstreams = [\"http://a\"]", "api[0].id"),
            ("[[api]]\nid = \"a\"\nname = \"x\"\nprefix = \"x\"\nupstreams = [\"http://a\"]", "api[0].prefix"),
            ("[[api]]\nid = \"a\"\nname = \"x\"\nprefix = \"/x\"\nupstreams = [\"http://a\"]\nprefx = 1", "unknown field `prefx`"),
            ("[[apis]]\nid = \"a\"", "unknown entity kind \"apis\""),
            ("[[user]]\nid = \"a\"", "not kept in files"),
            ("[[client]]\nid = \"a\"\nname = \"A\"\nsecret_hash = \"x\"", "client[0].secret_hash"),
            ("[[client]]\nid = \"a\"\nname = \"A\"\nsigning_secret = \"sealed:v1:AAAA\"", "client[0].signing_secret"),
            ("[[client]]\nid = \"a\"\nname = \"A\"\nquota = { per_day = 0 }", "client[0].quota.per_day"),
            ("[[product]]\nid = \"p\"\nname = \"P\"\napis = []", "product[0].apis"),
            ("[[api]]\nid = \"a\"\nname = \"x\"\nprefix = \"/x\"\nupstreams = [\"http://a\"]\n[[api]]\nid = \"a\"\nname = \"y\"\nprefix = \"/y\"\nupstreams = [\"http://a\"]", "appears twice"),
        ];
        for (text, want) in cases {
            let (_d, p) = file(text);
            let e = read_file(&p).err().expect(text).to_string();
            assert!(e.contains(want), "{text:?} → {e}");
        }
    }

    #[test]
    fn diffs_name_the_fields() {
        let a = serde_json::json!({"name": "x", "prefix": "/a"});
        let b = serde_json::json!({"name": "x", "prefix": "/b", "module": "m"});
        assert_eq!(
            field_diff(&a, &b),
            vec!["module: (none) → \"m\"", "prefix: \"/a\" → \"/b\""]
        );
        assert!(field_diff(&a, &a).is_empty());
    }
}
