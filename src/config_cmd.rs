//! `gatewatch config export` and `gatewatch config apply FILE`: the configuration log as a
//! declarative file.
//!
//! The file has one array of tables per entity kind, each table an entity with its `id`:
//!
//! ```toml
//! [[api]]
//! id = "orders"
//! name = "訂單查詢"
//! prefix = "/orders"
//! upstreams = ["http://10.0.0.5:9000"]
//! strip_prefix = true
//! ```
//!
//! `apply` checks every entity first (an error names `api[2].prefix`, and nothing is written),
//! shows what would change (`--dry-run` stops there), and writes all changes as one change in
//! the log, each with the version it was compared against: if someone changed an entity in
//! between, nothing is written and the command says so. Entities missing from the file are
//! left alone unless `--prune` is given. Only `api` entities are modelled so far.

use anyhow::{bail, Context};
use gatewatch_model::{ApiSpec, EntityKind};
use gatewatch_store::config_log::{self, Change};
use gatewatch_store::Store;
use std::collections::BTreeMap;
use std::path::Path;

/// A problem with the file: exits with status 2.
#[derive(Debug, thiserror::Error)]
#[error("{file}: {key}: {message}")]
pub struct FileError {
    pub file: String,
    pub key: String,
    pub message: String,
}

/// One entity read from the file.
struct Wanted {
    id: String,
    spec: ApiSpec,
}

/// Reads and checks every entity of `path`.
fn read_file(path: &Path) -> Result<Vec<Wanted>, FileError> {
    let err = |key: &str, message: String| FileError {
        file: path.display().to_string(),
        key: key.to_string(),
        message,
    };
    let text =
        std::fs::read_to_string(path).map_err(|e| err("file", format!("cannot read: {e}")))?;
    let table: toml::Table = text
        .parse()
        .map_err(|e: toml::de::Error| err("file", e.message().to_string()))?;
    let mut out = Vec::new();
    for (key, value) in table {
        let kind: EntityKind = key
            .parse()
            .map_err(|e: gatewatch_model::entity::UnknownKind| err(&key, e.to_string()))?;
        if kind != EntityKind::Api {
            return Err(err(
                &key,
                format!("{kind} entities cannot be applied from a file yet (only api)"),
            ));
        }
        let items = value
            .as_array()
            .ok_or_else(|| err(&key, "must be an array of tables ([[api]])".into()))?;
        for (i, item) in items.iter().enumerate() {
            let at = |field: &str| format!("{key}[{i}].{field}");
            let mut t = item
                .as_table()
                .cloned()
                .ok_or_else(|| err(&format!("{key}[{i}]"), "must be a table".into()))?;
            let id = match t.remove("id") {
                Some(toml::Value::String(s)) if !s.is_empty() => s,
                Some(_) => return Err(err(&at("id"), "must be a non-empty string".into())),
                None => return Err(err(&at("id"), "is missing".into())),
            };
            let spec = ApiSpec::deserialize(toml::Value::Table(t))
                .map_err(|e| err(&format!("{key}[{i}]"), e.message().to_string()))?;
            spec.validate().map_err(|e| err(&at(&e.field), e.message))?;
            if out.iter().any(|w: &Wanted| w.id == id) {
                return Err(err(&at("id"), format!("{id:?} appears twice")));
            }
            out.push(Wanted { id, spec });
        }
    }
    Ok(out)
}

use serde::Deserialize;

/// What applying would do to one entity.
enum Plan {
    Add(Wanted),
    Change {
        wanted: Wanted,
        version: u64,
        diff: Vec<String>,
    },
    Delete {
        id: String,
        version: u64,
    },
}

/// `gatewatch config apply`.
pub async fn apply(
    store: &Store,
    path: &Path,
    dry_run: bool,
    prune: bool,
    author: &str,
) -> anyhow::Result<()> {
    let wanted =
        read_file(path).map_err(|e| anyhow::Error::new(e).context("bad configuration file"))?;
    let current: BTreeMap<String, config_log::Entry> = config_log::current(store)
        .await
        .context("reading the configuration log")?
        .into_iter()
        .filter(|e| e.kind == EntityKind::Api)
        .map(|e| (e.id.clone(), e))
        .collect();
    let mut plans = Vec::new();
    let mut in_file = std::collections::HashSet::new();
    for w in wanted {
        in_file.insert(w.id.clone());
        match current.get(&w.id) {
            Some(e) if !e.deleted => {
                let now: serde_json::Value =
                    serde_json::from_str(&e.body).unwrap_or(serde_json::Value::Null);
                let new = serde_json::to_value(&w.spec)?;
                let diff = field_diff(&now, &new);
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
        for (id, e) in &current {
            if !e.deleted && !in_file.contains(id) {
                plans.push(Plan::Delete {
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
                println!("+ api {}", w.id);
                changes.push(change(&w.id, Some(&w.spec), 0)?);
            }
            Plan::Change {
                wanted,
                version,
                diff,
            } => {
                println!("~ api {} (version {version})", wanted.id);
                for d in diff {
                    println!("    {d}");
                }
                changes.push(change(&wanted.id, Some(&wanted.spec), *version)?);
            }
            Plan::Delete { id, version } => {
                println!("- api {id} (version {version})");
                changes.push(change(id, None, *version)?);
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
    println!(
        "applied {} change(s) as change {}",
        changes.len(),
        receipt.change_id
    );
    Ok(())
}

fn change(id: &str, spec: Option<&ApiSpec>, expected: u64) -> anyhow::Result<Change> {
    Ok(Change {
        kind: EntityKind::Api,
        id: id.to_string(),
        body: match spec {
            Some(s) => serde_json::to_string(s)?,
            None => String::new(),
        },
        deleted: spec.is_none(),
        expected_version: Some(expected),
    })
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

/// `gatewatch config export`: every current entity as a file `apply` takes back.
pub async fn export(store: &Store) -> anyhow::Result<String> {
    let mut apis = Vec::new();
    for e in config_log::current(store)
        .await
        .context("reading the configuration log")?
    {
        if e.kind != EntityKind::Api || e.deleted {
            continue;
        }
        let spec: ApiSpec = match serde_json::from_str(&e.body) {
            Ok(s) => s,
            Err(err) => bail!(
                "api {:?} (version {}) is not a valid API: {err}",
                e.id,
                e.version
            ),
        };
        let mut t = toml::Table::new();
        t.insert("id".into(), toml::Value::String(e.id));
        if let toml::Value::Table(fields) = toml::Value::try_from(&spec)? {
            t.extend(fields);
        }
        apis.push(toml::Value::Table(t));
    }
    let mut root = toml::Table::new();
    root.insert("api".into(), toml::Value::Array(apis));
    Ok(format!(
        "# gatewatch configuration, exported from the configuration log\n{}",
        toml::to_string_pretty(&root)?
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

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
            ("[[client]]\nid = \"a\"", "only api"),
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
