//! `gatewatch config release|releases|diff|rollback|promote`: named points of the whole
//! configuration (`store::releases`), the diff between two, the rollback to one as a single new
//! change, and moving chosen entities from one site to another.
//!
//! `promote --from-site A.toml --to-site B.toml` reads the current entities of site A's
//! database, shows what would change in site B's, and writes them there as one change (each
//! with the version it was compared against). Channel credentials sealed under A's pepper are
//! opened and sealed again under B's; client secrets never travel (a client B has keeps B's;
//! a new one arrives without secrets), and a client certificate another client of B holds is
//! refused as `config apply` refuses it. Entities B has and A does not are left alone. Each site
//! file is read as it is written: `GATEWATCH_*` variables are not applied to it, so one
//! environment cannot point both sites at the same database.

use anyhow::Context;
use gatewatch_model::call::now_us;
use gatewatch_model::release::{Difference, EntityDiff, RELEASE_KINDS};
use gatewatch_model::sealed::SealKey;
use gatewatch_model::{ChannelSpec, Entity, EntityKind};
use gatewatch_store::config_log::{self, Change};
use gatewatch_store::releases::{self, Point, ReleaseError};
use gatewatch_store::Store;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// A bad argument (an unknown release, a bad name or site file): exits with status 2.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct UsageError(pub String);

/// Release errors a user fixes by changing the arguments exit 2; the others 1.
fn usage(e: ReleaseError) -> anyhow::Error {
    match e {
        ReleaseError::Bad(_) | ReleaseError::NotFound(_) | ReleaseError::Exists(_) => {
            anyhow::Error::new(UsageError(e.to_string()))
        }
        other => anyhow::Error::new(other),
    }
}

/// Prints a diff as `+`/`-`/`~` lines with the changed fields under each.
pub fn print_diff(diff: &[EntityDiff]) {
    for d in diff {
        match d.change {
            Difference::Added => println!("+ {} {}", d.kind, d.id),
            Difference::Removed => println!(
                "- {} {} (version {})",
                d.kind,
                d.id,
                d.from_version.unwrap_or(0)
            ),
            Difference::Changed => {
                println!(
                    "~ {} {} (version {} → {})",
                    d.kind,
                    d.id,
                    d.from_version.unwrap_or(0),
                    d.to_version.unwrap_or(0)
                );
                for f in &d.fields {
                    if f.secret {
                        println!("    {}: (secret changed)", f.path);
                    } else {
                        let show = |v: &Option<serde_json::Value>| {
                            v.as_ref().map_or("(none)".to_string(), |v| v.to_string())
                        };
                        println!("    {}: {} → {}", f.path, show(&f.old), show(&f.new));
                    }
                }
            }
        }
    }
}

/// `gatewatch config release NAME`.
pub async fn make(store: &Store, name: &str, comment: &str, author: &str) -> anyhow::Result<()> {
    let (r, receipt) = releases::make(store, name, comment, author, now_us())
        .await
        .map_err(usage)?;
    let ev = gatewatch_store::audit::AuditEvent {
        ts_us: r.created_us,
        actor: author.to_string(),
        action: "release.create".into(),
        entity: "release".into(),
        id: r.name.clone(),
        change_id: receipt.change_id,
        client_ip: "local".into(),
        detail:
            serde_json::json!({"comment": comment, "entities": r.spec.entities.len(), "via": "cli"})
                .to_string(),
    };
    if let Err(e) = gatewatch_store::audit::write(store, &[ev]).await {
        tracing::error!(error = %e, "the release is made, but its audit row was not stored");
    }
    println!(
        "release {} made: {} entities (change {})",
        r.name,
        r.spec.entities.len(),
        receipt.change_id
    );
    Ok(())
}

/// `gatewatch config releases`: a table, newest first.
pub async fn list(store: &Store) -> anyhow::Result<()> {
    let all = releases::list(store).await.map_err(usage)?;
    println!(
        "{:<24} {:<20} {:<12} {:>8}  COMMENT",
        "NAME", "CREATED (UTC)", "BY", "ENTITIES"
    );
    for r in all {
        let created = chrono::DateTime::from_timestamp_micros(r.created_us)
            .map_or_else(String::new, |t| t.format("%Y-%m-%d %H:%M:%S").to_string());
        let comment = r.spec.comment.replace('\n', " ");
        println!(
            "{:<24} {:<20} {:<12} {:>8}  {}",
            r.name,
            created,
            r.author,
            r.spec.entities.len(),
            comment
        );
    }
    Ok(())
}

/// `gatewatch config diff A B` (each a release name or `current`).
pub async fn diff(store: &Store, a: &str, b: &str) -> anyhow::Result<()> {
    let from = releases::state(store, &Point::parse(a))
        .await
        .map_err(usage)?;
    let to = releases::state(store, &Point::parse(b))
        .await
        .map_err(usage)?;
    let d = releases::diff(&from, &to);
    if d.is_empty() {
        println!("no differences between {a} and {b}");
    } else {
        print_diff(&d);
    }
    Ok(())
}

/// Asks on the terminal; anything but `yes` declines. Without a terminal it declines.
fn confirm(question: &str) -> bool {
    use std::io::{BufRead, IsTerminal, Write};
    if !std::io::stdin().is_terminal() {
        return false;
    }
    print!("{question} [type yes] ");
    let _ = std::io::stdout().flush();
    let mut line = String::new();
    std::io::stdin().lock().read_line(&mut line).is_ok() && line.trim() == "yes"
}

/// `gatewatch config rollback --to NAME [--dry-run] [--yes]`.
pub async fn rollback(
    store: &Store,
    to: &str,
    dry_run: bool,
    yes: bool,
    author: &str,
) -> anyhow::Result<()> {
    let plan = releases::plan_rollback(store, to).await.map_err(usage)?;
    if plan.changes.is_empty() {
        println!("nothing to roll back: the configuration matches release {to}");
        return Ok(());
    }
    print_diff(&plan.diff);
    if dry_run {
        println!("dry run: {} change(s) not applied", plan.changes.len());
        return Ok(());
    }
    if !yes
        && !confirm(&format!(
            "roll back {} entities to {to}?",
            plan.changes.len()
        ))
    {
        return Err(anyhow::Error::new(UsageError(
            "not confirmed: nothing was written (give --yes, or --dry-run to only look)".into(),
        )));
    }
    let now = now_us();
    let receipt = releases::apply(store, &plan, author, now)
        .await
        .context("rolling back (nothing was written)")?;
    let Some(receipt) = receipt else {
        return Ok(());
    };
    let events = releases::audit_events(&plan, &receipt, author, "local", now);
    if let Err(e) = gatewatch_store::audit::write(store, &events).await {
        tracing::error!(error = %e, "the rollback is written, but its audit rows were not stored");
    }
    println!(
        "rolled back to {to}: {} change(s) as change {}",
        plan.changes.len(),
        receipt.change_id
    );
    Ok(())
}

/// One site of a promote: its database and sealing key.
struct Site {
    file: PathBuf,
    store: Store,
    key: SealKey,
}

fn site(file: &Path, flag: &str) -> anyhow::Result<Site> {
    let bad = |m: String| anyhow::Error::new(UsageError(format!("{flag} {}: {m}", file.display())));
    let cfg = crate::config::load(Some(file), &[]).map_err(|e| bad(e.to_string()))?;
    let cfg = cfg.validate().map_err(|e| bad(e.to_string()))?;
    let pepper = crate::pepper::load_pepper(&cfg.data_dir, &cfg.security)
        .map_err(|e| bad(format!("{e:#}")))?;
    Ok(Site {
        file: file.to_path_buf(),
        store: Store::new(cfg.store.clone()),
        key: SealKey::from_pepper(&pepper),
    })
}

/// A channel body with its sealed credentials opened under `key` (plain text, in memory only).
fn open_channel(key: &SealKey, body: &mut serde_json::Value) -> Result<(), String> {
    let Ok(mut spec) = serde_json::from_value::<ChannelSpec>(body.clone()) else {
        return Ok(());
    };
    let Some(w) = &mut spec.webhook else {
        return Ok(());
    };
    w.headers = w.open_headers(Some(key))?.into_iter().collect();
    w.routing_key = w.open_routing_key(Some(key))?;
    *body = serde_json::to_value(&spec).map_err(|e| e.to_string())?;
    Ok(())
}

/// `gatewatch config promote --from-site A --to-site B [--kind K]… [--id ID]…`.
#[allow(clippy::too_many_arguments)]
pub async fn promote(
    from: &Path,
    to: &Path,
    kinds: &[String],
    ids: &[String],
    dry_run: bool,
    author: &str,
) -> anyhow::Result<()> {
    let mut wanted_kinds = Vec::new();
    for k in kinds {
        let kind: EntityKind = k
            .parse()
            .map_err(|e: gatewatch_model::entity::UnknownKind| {
                UsageError(format!("--kind: {e}"))
            })?;
        if !RELEASE_KINDS.contains(&kind) {
            return Err(UsageError(format!(
                "--kind: {kind} entities are not promoted (keys, users and silences stay on their site)"
            ))
            .into());
        }
        wanted_kinds.push(kind);
    }
    let a = site(from, "--from-site")?;
    let b = site(to, "--to-site")?;
    let chosen = |kind: EntityKind, id: &str| {
        RELEASE_KINDS.contains(&kind)
            && (wanted_kinds.is_empty() || wanted_kinds.contains(&kind))
            && (ids.is_empty() || ids.iter().any(|i| i == id))
    };
    let source: Vec<config_log::Entry> = config_log::current(&a.store)
        .await
        .with_context(|| format!("reading the configuration log of {}", a.file.display()))?
        .into_iter()
        .filter(|e| !e.deleted && chosen(e.kind, &e.id))
        .collect();
    for id in ids {
        if !source.iter().any(|e| &e.id == id) {
            return Err(UsageError(format!(
                "--id {id}: {} has no such entity{}",
                a.file.display(),
                if wanted_kinds.is_empty() {
                    ""
                } else {
                    " of the kinds given"
                }
            ))
            .into());
        }
    }
    let target: BTreeMap<(EntityKind, String), config_log::Entry> = config_log::current(&b.store)
        .await
        .with_context(|| format!("reading the configuration log of {}", b.file.display()))?
        .into_iter()
        .map(|e| ((e.kind, e.id.clone()), e))
        .collect();
    let mut diff_from = releases::State::new();
    let mut diff_to = releases::State::new();
    let mut changes = Vec::new();
    for e in &source {
        let key = (e.kind, e.id.clone());
        let mut body: serde_json::Value = serde_json::from_str(
            &Entity::parse(e.kind, &e.id, &e.body)
                .map_err(|x| anyhow::anyhow!("{} {:?} of {}: {x}", e.kind, e.id, a.file.display()))?
                .to_json(),
        )?;
        let there = target.get(&key).filter(|t| !t.deleted);
        let there_body: Option<serde_json::Value> =
            there.and_then(|t| serde_json::from_str(&t.body).ok());
        // Client secrets never travel: B's own stay, a new client comes without.
        if let Some(o) = body.as_object_mut() {
            for f in e.kind.managed_fields() {
                o.remove(*f);
                if let Some(v) = there_body.as_ref().and_then(|t| t.get(*f)) {
                    o.insert(f.to_string(), v.clone());
                }
            }
        }
        if e.kind == EntityKind::Channel {
            open_channel(&a.key, &mut body).map_err(|m| {
                anyhow::anyhow!(
                    "channel {:?} of {}: {m} (is its pepper the one it was sealed with?)",
                    e.id,
                    a.file.display()
                )
            })?;
            crate::config_cmd::seal_channel(&b.key, &mut body, there_body.as_ref())
                .map_err(|x| anyhow::anyhow!("channel {:?}: {x}", e.id))?;
        }
        let text = Entity::parse(e.kind, &e.id, &body.to_string())
            .map_err(|x| anyhow::anyhow!("{} {:?}: {x}", e.kind, e.id))?
            .to_json();
        if let Some(t) = there {
            diff_from.insert(
                key.clone(),
                releases::Stored {
                    version: t.version,
                    body: t.body.clone(),
                },
            );
        }
        diff_to.insert(
            key.clone(),
            releases::Stored {
                version: e.version,
                body: text.clone(),
            },
        );
        changes.push((key, text));
    }
    // As `config apply`: a certificate identifies one client on the target too.
    let promoted: Vec<crate::config_cmd::Wanted> = changes
        .iter()
        .filter(|((kind, _), _)| *kind == EntityKind::Client)
        .map(|((kind, id), text)| crate::config_cmd::Wanted {
            kind: *kind,
            id: id.clone(),
            body: serde_json::from_str(text).unwrap_or(serde_json::Value::Null),
        })
        .collect();
    let others = target
        .values()
        .filter(|t| t.kind == EntityKind::Client && !t.deleted)
        .map(|t| {
            (
                t.id.clone(),
                serde_json::from_str(&t.body).unwrap_or(serde_json::Value::Null),
            )
        });
    if let Err((at, message)) = crate::config_cmd::certificates_clash(&promoted, others) {
        // `client[i]` counts the promoted clients: name the client instead.
        let who = at
            .strip_prefix("client[")
            .and_then(|r| r.split(']').next())
            .and_then(|i| i.parse::<usize>().ok())
            .and_then(|i| promoted.get(i))
            .map_or(at.clone(), |w| format!("client {:?}", w.id));
        return Err(UsageError(format!(
            "{who}: {message} on {} (nothing was written)",
            b.file.display()
        ))
        .into());
    }
    let d = releases::diff(&diff_from, &diff_to);
    if d.is_empty() {
        println!(
            "nothing to promote: {} already has these entities as {} has them",
            b.file.display(),
            a.file.display()
        );
        return Ok(());
    }
    print_diff(&d);
    let writes: Vec<Change> = d
        .iter()
        .filter_map(|x| {
            let key = (x.kind, x.id.clone());
            let body = changes.iter().find(|(k, _)| *k == key)?.1.clone();
            Some(Change {
                kind: x.kind,
                id: x.id.clone(),
                body,
                deleted: false,
                expected_version: Some(target.get(&key).map_or(0, |t| t.version)),
            })
        })
        .collect();
    if dry_run {
        println!("dry run: {} change(s) not applied", writes.len());
        return Ok(());
    }
    let now = now_us();
    let comment = format!("promote from {}", a.file.display());
    let receipt = config_log::write(&b.store, author, &comment, &writes, now)
        .await
        .context("writing the target's configuration log (nothing was written)")?;
    let events: Vec<_> = receipt
        .versions
        .iter()
        .map(|(kind, id, version)| gatewatch_store::audit::AuditEvent {
            ts_us: now,
            actor: author.to_string(),
            action: if *version == 1 { "create" } else { "update" }.to_string(),
            entity: kind.as_str().to_string(),
            id: id.clone(),
            change_id: receipt.change_id,
            client_ip: "local".into(),
            detail:
                serde_json::json!({"version": version, "comment": comment, "via": "config promote"})
                    .to_string(),
        })
        .collect();
    if let Err(e) = gatewatch_store::audit::write(&b.store, &events).await {
        tracing::error!(error = %e, "the promotion is written, but its audit rows were not stored");
    }
    println!(
        "promoted {} change(s) to {} as change {}",
        writes.len(),
        b.file.display(),
        receipt.change_id
    );
    Ok(())
}
