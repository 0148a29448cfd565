//! The README as a contract: every TOML sample (of the README and every other Markdown file)
//! passes `gatewatch config check`, every shell example of the README runs, as a user would
//! paste it, against a real site (`gatewatch up --demo` with a ClickHouse database of its
//! own), and every link stays inside the repository.
//!
//! Shell blocks (```sh) run in order in one bash (`set -euo pipefail`), as a user pastes them
//! into one terminal: later blocks use the variables and the cookie jar of earlier ones. The
//! README's default addresses (127.0.0.1:8080 …) are rewritten to the test site's ports, and
//! `gatewatch.` tables in `clickhouse-client` queries to the test database; nothing else is
//! changed. A block may be left out only with `<!-- not run: why -->` on the line before it
//! (it is still parsed with `bash -n`); `<!-- file: NAME -->` before a block saves it as NAME
//! in the directory the examples run in.

use crate::helpers::*;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// One fenced block of a Markdown file.
struct Block {
    lang: String,
    /// 1-based line of the opening fence.
    line: usize,
    text: String,
    /// The `<!-- … -->` comment on the line before the fence, without `<!--` and `-->`.
    marker: Option<String>,
}

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn readme() -> String {
    std::fs::read_to_string(root().join("README.md")).unwrap()
}

/// Fenced blocks, indented ones (in list items) too, with their indentation removed.
fn blocks(md: &str) -> Vec<Block> {
    let lines: Vec<&str> = md.lines().collect();
    let mut out = Vec::new();
    let mut i = 0;
    while i < lines.len() {
        let trimmed = lines[i].trim_start();
        if let Some(lang) = trimmed.strip_prefix("```") {
            let indent = lines[i].len() - trimmed.len();
            let marker = lines[..i]
                .iter()
                .rev()
                .find(|l| !l.trim().is_empty())
                .map(|l| l.trim())
                .filter(|l| l.starts_with("<!--") && l.ends_with("-->"))
                .map(|l| l["<!--".len()..l.len() - "-->".len()].trim().to_string());
            let mut text = String::new();
            let mut j = i + 1;
            while j < lines.len() && !lines[j].trim_start().starts_with("```") {
                let l = lines[j];
                let cut = l.len() - l.trim_start().len();
                text.push_str(&l[cut.min(indent)..]);
                text.push('\n');
                j += 1;
            }
            assert!(j < lines.len(), "line {}: unclosed fence", i + 1);
            out.push(Block {
                lang: lang.trim().to_string(),
                line: i + 1,
                text,
                marker,
            });
            i = j;
        }
        i += 1;
    }
    out
}

fn is_shell(lang: &str) -> bool {
    matches!(lang, "sh" | "bash" | "shell" | "console")
}

/// `gatewatch config check` on a file; exit code and output.
fn config_check(path: &Path) -> (i32, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_gatewatch"))
        .args(["config", "check"])
        .arg(path)
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ),
    )
}

#[test]
fn every_toml_sample_of_the_readme_and_docs_passes_config_check() {
    let root = root();
    let dir = tempfile::tempdir().unwrap();
    let mut files = Vec::new();
    repository_files(&root, &mut files);
    let mut checked = 0;
    for file in files
        .iter()
        .filter(|f| f.extension().is_some_and(|e| e == "md"))
    {
        let shown = file.strip_prefix(&root).unwrap().display().to_string();
        let md = std::fs::read_to_string(file).unwrap();
        for b in blocks(&md).into_iter().filter(|b| b.lang == "toml") {
            let p = dir.path().join(format!("sample-{checked}.toml"));
            std::fs::write(&p, &b.text).unwrap();
            let (code, out) = config_check(&p);
            assert_eq!(code, 0, "{shown}:{}: {out}", b.line);
            assert!(out.starts_with("ok: "), "{shown}:{}: {out}", b.line);
            checked += 1;
        }
    }
    // The README's site configuration and entities file, the alerter's settings.
    assert!(checked >= 3, "only {checked} TOML samples found");
}

#[test]
fn every_shell_block_is_run_or_marked_and_parses() {
    for b in blocks(&readme()).into_iter().filter(|b| is_shell(&b.lang)) {
        match &b.marker {
            Some(m) if m.starts_with("not run:") => {
                assert!(
                    m.len() > "not run:".len() + 3,
                    "README.md:{}: say why the block is not run",
                    b.line
                );
            }
            Some(m) => panic!(
                "README.md:{}: unknown marker {m:?} on a shell block",
                b.line
            ),
            None => {}
        }
        let out = Command::new("bash")
            .args(["-n", "-c", &b.text])
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "README.md:{}: {}",
            b.line,
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

/// `up --demo` prints where its upstream listens (127.0.0.1:9080 when free).
async fn demo_upstream(up: &Proc) -> String {
    for _ in 0..150 {
        let log = up.log_text();
        if let Some(i) = log.find("demo upstream") {
            let rest = log[i..].split("http://").nth(1).unwrap_or("");
            let addr: String = rest.chars().take_while(|c| !c.is_whitespace()).collect();
            if !addr.is_empty() {
                return addr;
            }
        }
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
    panic!("the demo upstream was not announced: {}", up.log_text());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_shell_example_of_the_readme_runs_against_a_demo_site() {
    let site = Site::new(
        "readme",
        &gatewatch_migrations::testing::clickhouse_url(),
        "",
    );
    let store = site.migrate().await;
    // The admin's password, as a user would have noted it.
    let password = "readme-admin-password-2026";
    let mut add = gatewatch(
        &[
            "user",
            "add",
            "admin",
            "--role",
            "admin",
            "--password-stdin",
        ],
        &site.config_path(),
    );
    let mut child = add
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    {
        use std::io::Write;
        let mut stdin = child.stdin.take().unwrap();
        writeln!(stdin, "{password}").unwrap();
    }
    assert!(child.wait().unwrap().success(), "user add");

    let up = site.start_args(&["up", "--demo"]).await;
    let upstream = demo_upstream(&up).await;
    // The examples read recorded calls: wait for the demo's first.
    eventually(&store, "SELECT toUInt64(count() > 0) FROM api_calls", 1, 60).await;

    let dir = site.dir.path();
    // A batch the collector set aside, for the resend example.
    let quarantined = uuid::Uuid::now_v7();
    let record = gatewatch_model::CallRecord::new(
        quarantined,
        chrono::Utc::now().timestamp_micros(),
        "readme",
        "GET",
        "/quarantined",
    );
    let q = dir.join("data/wal/quarantine");
    std::fs::create_dir_all(&q).unwrap();
    std::fs::write(
        q.join(format!("20261206T230000Z-{}.ndjson", uuid::Uuid::new_v4())),
        serde_json::to_string(&record).unwrap() + "\n",
    )
    .unwrap();
    let pepper = std::fs::read(dir.join("data/secret/pepper")).unwrap();
    let ingest_token = gatewatch_model::secret::ingest_token(&pepper);
    // `./target/release/gatewatch` in the examples is the binary under test.
    std::fs::create_dir_all(dir.join("target/release")).unwrap();
    std::os::unix::fs::symlink(
        env!("CARGO_BIN_EXE_gatewatch"),
        dir.join("target/release/gatewatch"),
    )
    .unwrap();

    let ch_host = gatewatch_migrations::testing::clickhouse_url()
        .trim_start_matches("http://")
        .split(':')
        .next()
        .unwrap()
        .to_string();
    let rewrite = |text: &str| -> String {
        let mut t = text.to_string();
        for (from, to) in [
            ("127.0.0.1:8080", site.gateway.to_string()),
            ("127.0.0.1:8081", site.gateway_admin.to_string()),
            ("127.0.0.1:8090", site.dashboards.to_string()),
            ("127.0.0.1:8091", site.collector.to_string()),
            ("127.0.0.1:8092", site.alerter.to_string()),
            ("127.0.0.1:8093", site.reports.to_string()),
            ("127.0.0.1:8094", site.portal.to_string()),
            ("127.0.0.1:9080", upstream.clone()),
            ("FROM gatewatch.", format!("FROM {}.", site.database)),
            (
                "clickhouse-client -q",
                format!("clickhouse-client --host {ch_host} -q"),
            ),
        ] {
            t = t.replace(from, &to);
        }
        t
    };

    let mut script = String::from("set -euo pipefail\n");
    let mut ran = 0;
    for b in blocks(&readme()) {
        if let Some(name) = b.marker.as_deref().and_then(|m| m.strip_prefix("file:")) {
            std::fs::write(dir.join(name.trim()), rewrite(&b.text)).unwrap();
            continue;
        }
        if !is_shell(&b.lang) || b.marker.is_some() {
            continue;
        }
        script.push_str(&format!(
            "echo '=== README.md:{} ===' >&2\n{}\n",
            b.line,
            rewrite(&b.text)
        ));
        ran += 1;
    }
    script.push_str("echo '=== all blocks ran ===' >&2\n");
    std::fs::write(dir.join("readme.sh"), &script).unwrap();
    let out = Command::new("bash")
        .arg("readme.sh")
        .current_dir(dir)
        .env("ADMIN_PASSWORD", password)
        .env("INGEST_TOKEN", &ingest_token)
        .env("GATEWATCH_CONFIG", site.config_path())
        .env_remove("GATEWATCH_CLICKHOUSE_URL")
        .stdin(Stdio::null())
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    // Shown with --nocapture, or with a failure.
    eprintln!("{stderr}\n{}", String::from_utf8_lossy(&out.stdout));
    assert!(
        out.status.success() && stderr.contains("=== all blocks ran ==="),
        "a README example failed (the last === line names its block):\n{stderr}\n--- stdout:\n{}\n--- site log:\n{}",
        String::from_utf8_lossy(&out.stdout),
        up.log_text()
    );
    assert!(ran >= 8, "only {ran} shell blocks ran");
    // The resend example stored the quarantined batch.
    eventually(
        &store,
        &format!("SELECT count() FROM api_calls WHERE call_id = '{quarantined}'"),
        1,
        30,
    )
    .await;
}

/// Every file under the repository root, but for build output and version control.
fn repository_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap().to_string_lossy().to_string();
        if matches!(name.as_str(), "target" | ".git" | "node_modules") {
            continue;
        }
        if path.is_dir() {
            repository_files(&path, out);
        } else {
            out.push(path);
        }
    }
}

/// GitHub's anchors of a Markdown file's headings (`## Admin API` → `admin-api`).
fn anchors(md: &str) -> Vec<String> {
    let mut seen: Vec<String> = Vec::new();
    let mut in_fence = false;
    for line in md.lines() {
        if line.trim_start().starts_with("```") {
            in_fence = !in_fence;
        }
        if in_fence || !line.starts_with('#') {
            continue;
        }
        let text = line.trim_start_matches('#').trim();
        let slug: String = text
            .to_lowercase()
            .chars()
            .filter(|c| c.is_alphanumeric() || matches!(c, ' ' | '-' | '_'))
            .map(|c| if c == ' ' { '-' } else { c })
            .collect();
        let n = seen.iter().filter(|s| **s == slug).count();
        seen.push(slug.clone());
        if n > 0 {
            seen.push(format!("{slug}-{n}"));
        }
    }
    seen
}

/// The targets of a Markdown file's links, `[text](target)` and `[label]: target`, outside
/// code; with their line.
fn link_targets(md: &str) -> Vec<(usize, String)> {
    let mut out = Vec::new();
    let mut in_fence = false;
    for (n, line) in md.lines().enumerate() {
        if line.trim_start().starts_with("```") {
            in_fence = !in_fence;
            continue;
        }
        if in_fence {
            continue;
        }
        // Inline code is not a link.
        let text: String = line
            .split('`')
            .enumerate()
            .filter(|(i, _)| i % 2 == 0)
            .map(|(_, s)| s)
            .collect::<Vec<_>>()
            .join(" ");
        let mut rest = text.as_str();
        while let Some(i) = rest.find("](") {
            let after = &rest[i + 2..];
            let end = after.find(')').unwrap_or(after.len());
            let target = after[..end].split_whitespace().next().unwrap_or("");
            out.push((n + 1, target.to_string()));
            rest = &after[end..];
        }
        let t = text.trim_start();
        if let (true, Some(i)) = (t.starts_with('['), t.find("]: ")) {
            out.push((n + 1, t[i + 3..].trim().to_string()));
        }
    }
    out
}

#[test]
fn links_and_names_stay_inside_the_repository() {
    let root = root();
    let mut files = Vec::new();
    repository_files(&root, &mut files);
    let mut problems = Vec::new();
    for file in files
        .iter()
        .filter(|f| f.extension().is_some_and(|e| e == "md"))
    {
        let md = std::fs::read_to_string(file).unwrap();
        let shown = file.strip_prefix(&root).unwrap().display().to_string();
        for (line, target) in link_targets(&md) {
            let at = format!("{shown}:{line}: {target:?}");
            if target.contains("://") || target.starts_with("mailto:") || target.starts_with("//") {
                problems.push(format!("{at} points outside the repository"));
                continue;
            }
            let (path, anchor) = match target.split_once('#') {
                Some((p, a)) => (p, Some(a)),
                None => (target.as_str(), None),
            };
            let resolved = if path.is_empty() {
                file.clone()
            } else {
                file.parent().unwrap().join(path)
            };
            let Ok(resolved) = resolved.canonicalize() else {
                problems.push(format!("{at}: no such file"));
                continue;
            };
            if !resolved.starts_with(root.canonicalize().unwrap()) {
                problems.push(format!("{at} points outside the repository"));
                continue;
            }
            if let Some(anchor) = anchor {
                let text = std::fs::read_to_string(&resolved).unwrap_or_default();
                if !anchors(&text).iter().any(|a| a == anchor) {
                    problems.push(format!("{at}: no heading with this anchor"));
                }
            }
        }
    }
    // Nothing names the design notes kept outside the repository.
    let outside = [
        concat!("DESIGN", ".md"),
        concat!("../", "shared"),
        concat!("/work", "/shared"),
    ];
    for file in &files {
        let Ok(text) = std::fs::read_to_string(file) else {
            continue; // not text
        };
        let shown = file.strip_prefix(&root).unwrap().display().to_string();
        for (n, line) in text.lines().enumerate() {
            for needle in outside {
                if line.contains(needle) {
                    problems.push(format!("{shown}:{}: names {needle:?}", n + 1));
                }
            }
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
    // What users need of the design is in the repository, and the README says where.
    assert!(readme().contains("](docs/design.md)"));
}
