//! The rule of this crate, checked on the sources: outside `store/` (and the migrations'
//! DDL runner), no production code talks to ClickHouse directly — no client, no raw query, no
//! SQL text of its own. Tests (`#[cfg(test)]` modules, `tests/`) may use a raw client.

use std::path::{Path, PathBuf};

/// What only the store may write.
const FORBIDDEN: &[&str] = &[
    ".client()",
    "server_client()",
    "query_raw(",
    "fetch_u64(",
    ".execute(&",
    ".query(\"",
    ".query(&",
    "clickhouse::Client",
    "sql::quote_string",
];

/// Known callers that another change moves into the store (remove the line when it lands).
const PENDING: &[(&str, &str)] = &[];

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for e in entries.flatten() {
        let p = e.path();
        if p.is_dir() {
            rust_files(&p, out);
        } else if p.extension().is_some_and(|x| x == "rs") {
            out.push(p);
        }
    }
}

#[test]
fn no_sql_outside_the_store() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let mut files = Vec::new();
    for krate in [
        "model",
        "gateway",
        "collector",
        "alerter",
        "reports",
        "dashboards",
        ".",
    ] {
        rust_files(&root.join(krate).join("src"), &mut files);
    }
    assert!(
        files.len() > 50,
        "sources not found under {}",
        root.display()
    );
    let mut found = Vec::new();
    for f in &files {
        let text = std::fs::read_to_string(f).unwrap();
        // Test modules sit at the end of a file.
        let code = text.split("#[cfg(test)]").next().unwrap_or("");
        let rel = f
            .strip_prefix(&root)
            .unwrap_or(f)
            .to_string_lossy()
            .replace("./", "");
        for pat in FORBIDDEN {
            if code.contains(pat) && !PENDING.contains(&(rel.as_str(), *pat)) {
                found.push(format!("{rel}: {pat}"));
            }
        }
    }
    assert!(
        found.is_empty(),
        "SQL outside the store (add a typed function to gatewatch-store instead): {found:#?}"
    );
}
