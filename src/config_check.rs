//! `gatewatch config check FILE`: checks a file offline, without starting anything or reading
//! ClickHouse, and says which kind of file it was.
//!
//! A file with an entity table at the top (`[[api]]`, `[[client]]`, …) is an entities file
//! and gets the checks `gatewatch config apply` runs before it reads the configuration log;
//! any other file is a site configuration (`gatewatch.toml`) and gets every check `gatewatch
//! up` runs before it starts. The environment (`GATEWATCH_*`) is not applied: the file is
//! checked as it is. Errors are worded as `up` and `apply` word them and name the key.

use crate::config;
use crate::config_cmd;
use anyhow::Context;
use gatewatch_model::EntityKind;
use std::collections::BTreeMap;
use std::path::Path;

/// Checks `path`; the line to print when it is good.
pub fn check(path: &Path) -> anyhow::Result<String> {
    let shown = path.display();
    let table = config::parse_toml(path).context("bad configuration")?;
    let entity_key = table.keys().find(|k| k.parse::<EntityKind>().is_ok());
    let Some(entity_key) = entity_key else {
        config::from_table(table)
            .and_then(|f| f.validate())
            .context("bad configuration")?;
        return Ok(format!("ok: {shown}: site configuration"));
    };
    // A site key next to entity tables: one file cannot be both.
    if let Some(site_key) = table
        .keys()
        .find(|k| k.parse::<EntityKind>().is_err() && is_site_key(k))
    {
        return Err(anyhow::Error::new(config_cmd::FileError {
            file: shown.to_string(),
            key: site_key.clone(),
            message: format!(
                "a site configuration key in a file of entities ([[{entity_key}]]); keep them in two files"
            ),
        })
        .context("bad configuration file"));
    }
    let (wanted, kinds) = config_cmd::read_file(path)
        .map_err(|e| anyhow::Error::new(e).context("bad configuration file"))?;
    let mut counts: BTreeMap<EntityKind, usize> = kinds.iter().map(|k| (*k, 0)).collect();
    for w in &wanted {
        *counts.entry(w.kind).or_default() += 1;
    }
    let listed: Vec<String> = counts.iter().map(|(k, n)| format!("{n} {k}")).collect();
    Ok(format!(
        "ok: {shown}: entities file ({}), checked offline",
        listed.join(", ")
    ))
}

/// A top-level key of the site configuration (`gateway`, `routes`, `data_dir`, …).
fn is_site_key(key: &str) -> bool {
    match toml::Value::try_from(config::FileConfig::default()) {
        Ok(toml::Value::Table(t)) => t.contains_key(key) || key == "routes",
        _ => false,
    }
}
