//! The deployment files, checked offline: no image can be pulled or built here (no Docker
//! engine), there is no cluster to apply manifests to, and no running systemd. What can be
//! checked without them is checked against the real binary and the real configuration loader:
//!
//! - `deploy/systemd/`: `systemd-analyze verify` on every unit (with `ExecStart` pointed at the
//!   binary this build made), the hardening every unit must carry, and the exposure score of
//!   `systemd-analyze security --offline=true`;
//! - `deploy/compose.yaml`: it parses and fits the Compose Specification's schema
//!   (`tests/data/compose-spec.json`); every role is a service running that role; its
//!   gatewatch.toml passes `gatewatch config check`; health checks and published ports point at
//!   the ports that configuration opens; `depends_on` conditions name services that can meet
//!   them; the mounted files exist (the ClickHouse and Keeper XML parses); exact image tags;
//! - `deploy/k8s/`: every document parses, fits the Kubernetes API's model of its kind (field
//!   names, types, required fields), and has apiVersion, kind, metadata.name; selectors
//!   match pod labels; probes and Services point at container ports, and those are the ports the
//!   ConfigMap's gatewatch.toml (which passes `config check`) opens; Secrets and ConfigMaps
//!   named by pods exist; the pepper lands where the configuration reads it;
//! - `Dockerfile`: its stages, the build command, the binary's path, `EXPOSE` against the
//!   binary's default ports and the baked-in configuration, user, health check, entrypoint,
//!   and the CJK font the charts look for.
//!
//! YAML is read with Debian's python3-yaml, the manifests are also checked against the
//! Kubernetes API's object models of Debian's python3-kubernetes (`tests/k8s_models.py`; both
//! installed by `ops/test.sh`), XML with Python's own parser; everything else here is Rust.

use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::Command;

const BIN: &str = env!("CARGO_BIN_EXE_gatewatch");
const VERSION: &str = env!("CARGO_PKG_VERSION");
const ROLES: [&str; 6] = [
    "gateway",
    "collector",
    "alerter",
    "reports",
    "dashboards",
    "portal",
];
/// Debian's python3, where ops/test.sh installs python3-yaml and python3-kubernetes (another
/// python3 earlier on PATH may lack them).
const PYTHON: &str = "/usr/bin/python3";

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn read(p: &Path) -> String {
    std::fs::read_to_string(p).unwrap_or_else(|e| panic!("cannot read {}: {e}", p.display()))
}

/// Every YAML document of each file, as JSON (python3-yaml's safe loader: anchors and `<<`
/// merges resolved as compose and kubectl resolve them).
fn yaml_docs(paths: &[PathBuf]) -> Vec<Vec<Value>> {
    let out = Command::new(PYTHON)
        .arg("-c")
        .arg(
            "import json, sys, yaml\n\
             json.dump([list(yaml.safe_load_all(open(p, encoding='utf-8'))) for p in sys.argv[1:]], sys.stdout)",
        )
        .args(paths)
        .output()
        .expect("python3 runs (ops/test.sh installs python3-yaml)");
    assert!(
        out.status.success(),
        "YAML does not parse: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("python3 printed JSON")
}

fn xml_parses(p: &Path) {
    let out = Command::new(PYTHON)
        .arg("-c")
        .arg("import sys, xml.etree.ElementTree as E; E.parse(sys.argv[1])")
        .arg(p)
        .output()
        .expect("python3 runs");
    assert!(
        out.status.success(),
        "{} is not well-formed XML: {}",
        p.display(),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// `gatewatch config check FILE` must accept the file as a site configuration.
fn config_check(p: &Path) {
    let out = Command::new(BIN)
        .args(["config", "check"])
        .arg(p)
        .env_remove("GATEWATCH_CONFIG")
        .output()
        .expect("gatewatch runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success() && stdout.contains("site configuration"),
        "gatewatch config check {} refused it: {}{}",
        p.display(),
        stdout,
        String::from_utf8_lossy(&out.stderr)
    );
}

fn toml_file(p: &Path) -> toml::Table {
    read(p)
        .parse()
        .unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

fn port_of(addr: &str) -> u16 {
    addr.rsplit(':')
        .next()
        .and_then(|p| p.parse().ok())
        .unwrap_or_else(|| panic!("{addr:?} has no port"))
}

fn get_str<'a>(t: &'a toml::Table, section: &str, key: &str) -> Option<&'a str> {
    t.get(section)?.get(key)?.as_str()
}

/// The ports each role opens under a configuration, where it sets them; the binary's
/// defaults (from `gatewatch config show` without a file) otherwise.
fn role_ports(t: &toml::Table) -> BTreeMap<&'static str, Vec<u16>> {
    let d = defaults();
    let pick = |section: &str, key: &str| {
        port_of(
            get_str(t, section, key)
                .or_else(|| get_str(&d, section, key))
                .unwrap_or_else(|| panic!("[{section}] {key} has no default")),
        )
    };
    BTreeMap::from([
        (
            "gateway",
            vec![pick("gateway", "listen"), pick("gateway", "admin_listen")],
        ),
        ("collector", vec![pick("collector", "listen")]),
        ("alerter", vec![pick("alerter", "listen")]),
        ("reports", vec![pick("reports", "listen")]),
        ("dashboards", vec![pick("dashboards", "listen")]),
        ("portal", vec![pick("portal", "listen")]),
    ])
}

/// The port a role's health endpoints answer on (the gateway: its admin port).
fn health_port(ports: &BTreeMap<&str, Vec<u16>>, role: &str) -> u16 {
    *ports[role].last().expect("a role opens a port")
}

/// The configuration the binary runs with when given none.
fn defaults() -> toml::Table {
    // No GATEWATCH_* variable of the test's environment may move a default.
    let out = Command::new(BIN)
        .args(["config", "show"])
        .env_clear()
        .current_dir(std::env::temp_dir())
        .output()
        .expect("gatewatch runs");
    assert!(out.status.success(), "gatewatch config show failed");
    let text = String::from_utf8_lossy(&out.stdout);
    let toml_part = text
        .split("# environment variables:")
        .next()
        .unwrap_or_default();
    toml_part.parse().expect("config show prints TOML")
}

fn url_host(url: &str) -> &str {
    let rest = url.split("://").nth(1).unwrap_or(url);
    rest.split(['/', ':']).next().unwrap_or(rest)
}

// ---------------------------------------------------------------------------------------------
// systemd

/// Hardening every unit carries (the roles and migrate alike).
const HARDENING: &[&str] = &[
    "DynamicUser=yes",
    "ProtectSystem=strict",
    "ProtectHome=yes",
    "PrivateTmp=yes",
    "PrivateDevices=yes",
    "NoNewPrivileges=yes",
    "CapabilityBoundingSet=",
    "AmbientCapabilities=",
    "RestrictAddressFamilies=AF_INET AF_INET6 AF_UNIX",
    "SystemCallFilter=@system-service",
    "MemoryDenyWriteExecute=yes",
    "LockPersonality=yes",
    "RestrictNamespaces=yes",
    "PrivateUsers=yes",
    "UMask=0077",
];

fn unit_lines(text: &str) -> Vec<&str> {
    text.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .collect()
}

#[test]
fn systemd_units_verify_and_are_hardened() {
    let dir = root().join("deploy/systemd");
    let tmp = tempfile::tempdir().expect("temp dir");
    let mut units = Vec::new();
    for role in ROLES.iter().chain(&["migrate"]) {
        let name = format!("gatewatch-{role}.service");
        let text = read(&dir.join(&name));
        let lines = unit_lines(&text);
        for h in HARDENING {
            assert!(lines.contains(h), "{name} lacks {h}");
        }
        let exec = lines
            .iter()
            .find_map(|l| l.strip_prefix("ExecStart="))
            .unwrap_or_else(|| panic!("{name} has no ExecStart"));
        let args: Vec<&str> = exec.split_whitespace().collect();
        assert_eq!(args[0], "/usr/local/bin/gatewatch", "{name}: ExecStart");
        assert_eq!(
            args.last().copied(),
            Some(*role),
            "{name} runs another command"
        );
        assert!(
            exec.contains("--config /etc/gatewatch/gatewatch.toml"),
            "{name}: config from /etc/gatewatch"
        );
        assert!(lines.contains(&"WantedBy=gatewatch.target"), "{name}");
        assert!(lines.contains(&"PartOf=gatewatch.target"), "{name}");
        if *role == "migrate" {
            assert!(lines.contains(&"Type=oneshot"), "{name}");
        } else {
            // Its own state directory, which is the data_dir it is given, and the pepper as a
            // credential where [security] pepper_file reads it.
            let state = format!("gatewatch-{role}");
            assert!(lines.contains(&format!("StateDirectory={state}").as_str()));
            assert!(
                exec.contains(&format!("--data-dir %S/{state}")),
                "{name}: data_dir is its StateDirectory"
            );
            assert!(lines.contains(&"LoadCredential=pepper:/etc/gatewatch/pepper"));
            assert!(lines.contains(&"Environment=GATEWATCH_SECURITY_PEPPER_FILE=%d/pepper"));
            assert!(lines.contains(&"Restart=on-failure"), "{name}");
            assert!(lines.contains(&"RestartPreventExitStatus=2"), "{name}");
            assert!(
                lines
                    .iter()
                    .any(|l| l.starts_with("After=") && l.contains("gatewatch-migrate.service")),
                "{name} starts after migrate"
            );
            assert!(
                !lines
                    .iter()
                    .any(|l| l.starts_with("Requires=") || l.starts_with("BindsTo=")),
                "{name}: a failed migrate must not keep a role down"
            );
            let nofile: u64 = lines
                .iter()
                .find_map(|l| l.strip_prefix("LimitNOFILE="))
                .and_then(|v| v.parse().ok())
                .unwrap_or_else(|| panic!("{name} has no LimitNOFILE"));
            if *role == "gateway" {
                // Every client connection (max_connections, 10 000 by default) and one
                // upstream connection each, with room to spare.
                assert!(nofile >= 2 * 10_000 + 1_024, "{name}: LimitNOFILE {nofile}");
            }
            // The subcommand exists in this binary.
            let help = Command::new(BIN)
                .args([role, "--help"])
                .output()
                .expect("runs");
            assert!(help.status.success(), "gatewatch {role} --help failed");
        }
        // The copy under test runs the binary this build made.
        let copy = text.replace("/usr/local/bin/gatewatch", BIN);
        std::fs::write(tmp.path().join(&name), copy).expect("write unit");
        units.push(name);
    }
    std::fs::copy(
        dir.join("gatewatch.target"),
        tmp.path().join("gatewatch.target"),
    )
    .expect("copy target");
    units.push("gatewatch.target".into());
    // The gateway's drop-in for ports below 1024, beside the unit as in /etc/systemd/system.
    let dropin = tmp.path().join("gatewatch-gateway.service.d");
    std::fs::create_dir(&dropin).expect("mkdir");
    let low = read(&dir.join("gatewatch-gateway.service.d/low-ports.conf"));
    assert!(unit_lines(&low).contains(&"AmbientCapabilities=CAP_NET_BIND_SERVICE"));
    assert!(unit_lines(&low).contains(&"CapabilityBoundingSet=CAP_NET_BIND_SERVICE"));
    std::fs::write(dropin.join("low-ports.conf"), low).expect("write drop-in");

    // `verify` loads the units into a manager of its own (no running systemd needed): it
    // fails on a missing or non-executable ExecStart binary and warns (exit 0) on unknown
    // keys or bad values, so any output at all is a failure here.
    let out = Command::new("systemd-analyze")
        .arg("verify")
        .args(units.iter().map(|u| tmp.path().join(u)))
        .env("SYSTEMD_LOG_COLOR", "0")
        .output()
        .expect("systemd-analyze runs (ops/test.sh installs Debian's systemd)");
    let said = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        out.status.success() && said.trim().is_empty(),
        "systemd-analyze verify: {said}"
    );

    // The exposure score (0 best, 10 worst) of each unit as written, without the drop-in for
    // the gateway; with it the gateway's is recorded too.
    let mut scores = Vec::new();
    for u in units.iter().filter(|u| u.ends_with(".service")) {
        let score = exposure(&tmp.path().join(u));
        scores.push((u.clone(), score));
        assert!(score <= 1.5, "{u}: exposure {score} (was 1.1 when written)");
    }
    let with_dropin = exposure(&tmp.path().join("gatewatch-gateway.service"));
    std::fs::remove_dir_all(&dropin).expect("rm drop-in");
    let gateway_plain = exposure(&tmp.path().join("gatewatch-gateway.service"));
    assert!(
        with_dropin <= 2.0,
        "gateway with low-ports.conf: {with_dropin}"
    );
    println!("systemd-analyze security --offline=true: {scores:?}; gateway without the drop-in {gateway_plain}, with low-ports.conf {with_dropin}");

    // The /etc/gatewatch/gatewatch.toml these units read.
    config_check(&dir.join("gatewatch.toml"));
}

/// `systemd-analyze security --offline=true UNIT`: the overall exposure level.
fn exposure(unit: &Path) -> f64 {
    let out = Command::new("systemd-analyze")
        .args(["security", "--offline=true", "--no-pager"])
        .arg(unit)
        .env("SYSTEMD_LOG_COLOR", "0")
        .output()
        .expect("systemd-analyze runs");
    let text = String::from_utf8_lossy(&out.stdout);
    text.lines()
        .find_map(|l| {
            let rest = l.split("Overall exposure level for ").nth(1)?;
            rest.split(": ")
                .nth(1)?
                .split_whitespace()
                .next()?
                .parse()
                .ok()
        })
        .unwrap_or_else(|| {
            panic!(
                "no exposure level for {}: {text}{}",
                unit.display(),
                String::from_utf8_lossy(&out.stderr)
            )
        })
}

// ---------------------------------------------------------------------------------------------
// compose

#[test]
fn compose_file_runs_every_role_with_a_checked_configuration() {
    let deploy = root().join("deploy");
    let docs = yaml_docs(&[deploy.join("compose.yaml")]);
    let doc = &docs[0][0];
    // The Compose Specification's own JSON schema (tests/data/compose-spec.json, from the
    // compose-spec/compose-spec repository at 170098b, Apache-2.0): a misspelt or misplaced key
    // or a value of the wrong type is an error here, as `docker compose config` would say.
    let schema: Value =
        serde_json::from_str(&read(&root().join("tests/data/compose-spec.json"))).expect("JSON");
    let validator = jsonschema::draft7::new(&schema).expect("the compose schema compiles");
    let problems: Vec<String> = validator
        .iter_errors(doc)
        .map(|e| format!("{}: {e}", e.instance_path()))
        .collect();
    assert!(
        problems.is_empty(),
        "compose.yaml against the Compose Specification: {problems:#?}"
    );
    let services = doc["services"].as_object().expect("services");
    let image = format!("gatewatch:{VERSION}");

    // Every role, and migrate, as a service of its own running that command from one image.
    let mut roles_seen = BTreeSet::new();
    let mut config_files = BTreeSet::new();
    let mut data_volumes = BTreeMap::new();
    for (name, s) in services {
        if s["image"] != image.as_str() {
            continue;
        }
        let cmd = s["command"][0].as_str().expect("a command");
        assert!(
            ROLES.contains(&cmd) || cmd == "migrate",
            "{name}: command {cmd}"
        );
        roles_seen.insert(cmd.to_string());
        let build = &s["build"];
        assert_eq!(build["context"], "..", "{name}: built from the repository");
        assert!(deploy
            .join("..")
            .join(build["dockerfile"].as_str().unwrap_or(""))
            .is_file());
        for v in s["volumes"].as_array().expect("volumes") {
            let v = v.as_str().expect("short volume syntax");
            let parts: Vec<&str> = v.split(':').collect();
            if parts[1] == "/etc/gatewatch/gatewatch.toml" {
                config_files.insert(parts[0].to_string());
            } else if parts[1] == "/var/lib/gatewatch" {
                // No two processes share a spool or a write-ahead log.
                if let Some(other) = data_volumes.insert(parts[0].to_string(), name.clone()) {
                    panic!("{name} and {other} share the data volume {}", parts[0]);
                }
            }
        }
        assert!(
            s["secrets"]
                .as_array()
                .is_some_and(|a| a.iter().any(|x| x == "gatewatch_pepper")),
            "{name}: the pepper secret"
        );
        if cmd != "migrate" {
            assert!(
                data_volumes.values().any(|n| n == name),
                "{name}: a data volume"
            );
            assert_eq!(
                s["depends_on"]["migrate"]["condition"], "service_completed_successfully",
                "{name} starts after migrate"
            );
        }
    }
    let want: BTreeSet<String> = ROLES
        .iter()
        .chain(&["migrate"])
        .map(|s| s.to_string())
        .collect();
    assert_eq!(roles_seen, want, "one service per role, and migrate");
    assert_eq!(config_files.len(), 1, "one gatewatch.toml for every role");
    let config_path = deploy.join(config_files.iter().next().expect("one"));
    config_check(&config_path);
    let config = toml_file(&config_path);
    let ports = role_ports(&config);

    // Health checks and published ports point at what the configuration opens.
    for role in ROLES {
        let s = &services[role];
        let test: Vec<&str> = s["healthcheck"]["test"]
            .as_array()
            .expect("a healthcheck")
            .iter()
            .filter_map(Value::as_str)
            .collect();
        let url = format!("http://127.0.0.1:{}/readyz", health_port(&ports, role));
        assert!(
            test.contains(&url.as_str()),
            "{role}: healthcheck {test:?} vs {url}"
        );
        for p in s["ports"].as_array().into_iter().flatten() {
            let container: u16 = p
                .as_str()
                .and_then(|p| p.rsplit(':').next())
                .and_then(|p| p.parse().ok())
                .expect("HOST:CONTAINER");
            assert!(
                ports[role].contains(&container),
                "{role} publishes {container}"
            );
        }
    }
    // Roles reach each other by service name.
    let collector = get_str(&config, "gateway", "collector_url").expect("collector_url");
    assert!(services.contains_key(url_host(collector)), "{collector}");
    assert_eq!(
        port_of(collector.trim_end_matches('/')),
        ports["collector"][0]
    );
    let alerter = get_str(&config, "dashboards", "alerter_url").expect("alerter_url");
    assert!(services.contains_key(url_host(alerter)), "{alerter}");
    let ch = get_str(&config, "clickhouse", "url").expect("clickhouse url");
    assert!(services.contains_key(url_host(ch)), "{ch}");

    // depends_on: a condition the named service can meet.
    for (name, s) in services {
        for (dep, cond) in s["depends_on"].as_object().into_iter().flatten() {
            let target = services
                .get(dep)
                .unwrap_or_else(|| panic!("{name} depends on unknown {dep}"));
            match cond["condition"].as_str() {
                Some("service_healthy") => {
                    assert!(
                        target["healthcheck"].is_object(),
                        "{dep} has no healthcheck"
                    )
                }
                Some("service_completed_successfully") => {
                    assert_eq!(target["restart"], "no", "{dep} is a one-shot")
                }
                Some("service_started") => {}
                other => panic!("{name} → {dep}: condition {other:?}"),
            }
        }
    }

    // The pepper: a secret file kept out of git and the image, read where the config says.
    let secret = &doc["secrets"]["gatewatch_pepper"]["file"];
    let secret = secret.as_str().expect("a file secret");
    assert!(secret.starts_with("./compose/secrets/"), "{secret}");
    assert_eq!(
        get_str(&config, "security", "pepper_file"),
        Some("/run/secrets/gatewatch_pepper")
    );
    let ignore = read(&deploy.join("compose/secrets/.gitignore"));
    assert!(
        unit_lines(&ignore).contains(&"*"),
        "secrets/ is git-ignored"
    );
    let dockerignore = read(&root().join(".dockerignore"));
    assert!(dockerignore
        .lines()
        .any(|l| l.trim() == "deploy/compose/secrets/"));

    // ClickHouse and Keeper: exact release tags (no `latest`, no moving branch tag), the same
    // release for both; their configuration files exist and parse.
    let mut releases = BTreeSet::new();
    for name in ["clickhouse", "keeper"] {
        let image = services[name]["image"].as_str().expect("image");
        let (repo, tag) = image.split_once(':').expect("a tag");
        assert!(repo.starts_with("clickhouse/clickhouse-"), "{image}");
        let parts: Vec<&str> = tag.split('.').collect();
        assert!(
            parts.len() == 4 && parts.iter().all(|p| p.parse::<u32>().is_ok()),
            "{image}: pin an exact release (A.B.C.D)"
        );
        releases.insert(tag.to_string());
        for v in services[name]["volumes"].as_array().expect("volumes") {
            let src = v
                .as_str()
                .expect("short syntax")
                .split(':')
                .next()
                .unwrap_or("");
            if src.starts_with("./") {
                let p = deploy.join(src);
                assert!(p.is_file(), "{} is missing", p.display());
                if src.ends_with(".xml") {
                    xml_parses(&p);
                }
            }
        }
    }
    assert_eq!(releases.len(), 1, "ClickHouse and Keeper of one release");

    // `[clickhouse] cluster` names a cluster the compose file's ClickHouse defines, whose
    // replica is that server, with the macros the replicated tables' paths use and Keeper.
    let cluster = get_str(&config, "clickhouse", "cluster").unwrap_or("");
    if !cluster.is_empty() {
        let xml = deploy.join("compose/clickhouse/config.d/gatewatch.xml");
        let out = Command::new(PYTHON)
            .arg("-c")
            .arg(
                "import sys, xml.etree.ElementTree as E\n\
                 r = E.parse(sys.argv[1]).getroot()\n\
                 hosts = [h.text for h in r.findall('remote_servers/' + sys.argv[2] + '/shard/replica/host')]\n\
                 macros = sorted(m.tag for m in r.findall('macros/*'))\n\
                 keeper = [h.text for h in r.findall('zookeeper/node/host')]\n\
                 print(','.join(hosts) + ';' + ','.join(macros) + ';' + ','.join(keeper))",
            )
            .arg(&xml)
            .arg(cluster)
            .output()
            .expect("python3 runs");
        let said = String::from_utf8_lossy(&out.stdout).trim().to_string();
        let parts: Vec<&str> = said.split(';').collect();
        assert_eq!(parts.len(), 3, "{said}");
        assert!(
            parts[0].split(',').any(|h| h == "clickhouse"),
            "cluster {cluster:?} in {} has no replica `clickhouse`: {said}",
            xml.display()
        );
        assert_eq!(
            parts[1], "replica,shard",
            "the {{shard}} and {{replica}} macros"
        );
        assert!(
            parts[2].split(',').all(|h| services.contains_key(h)) && !parts[2].is_empty(),
            "Keeper hosts {} are services of the compose file",
            parts[2]
        );
    }
}

// ---------------------------------------------------------------------------------------------
// Kubernetes

fn yaml_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for e in std::fs::read_dir(dir).expect("read dir").flatten() {
        let p = e.path();
        if p.is_dir() {
            yaml_files(&p, out);
        } else if p.extension().is_some_and(|x| x == "yaml" || x == "yml") {
            out.push(p);
        }
    }
    out.sort();
}

fn labels_match(selector: &Value, labels: &Value) -> bool {
    selector
        .as_object()
        .is_some_and(|s| !s.is_empty() && s.iter().all(|(k, v)| &labels[k] == v))
}

#[test]
fn kubernetes_manifests_are_consistent() {
    let dir = root().join("deploy/k8s");
    let mut files = Vec::new();
    yaml_files(&dir, &mut files);
    let docs: Vec<(PathBuf, Value)> = files
        .iter()
        .zip(yaml_docs(&files))
        .flat_map(|(f, ds)| ds.into_iter().map(move |d| (f.clone(), d)))
        .filter(|(_, d)| !d.is_null())
        .collect();
    // Every object against the Kubernetes API's own models: field names, value types,
    // required fields (tests/k8s_models.py, on Debian's python3-kubernetes).
    let out = Command::new(PYTHON)
        .arg(root().join("tests/k8s_models.py"))
        .args(&files)
        .output()
        .expect("python3 runs (ops/test.sh installs python3-kubernetes)");
    assert!(
        out.status.success(),
        "the manifests do not fit the Kubernetes models:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let mut names = BTreeSet::new();
    for (f, d) in &docs {
        for key in ["apiVersion", "kind"] {
            assert!(
                d[key].is_string(),
                "{}: a document without {key}",
                f.display()
            );
        }
        let name = d["metadata"]["name"].as_str();
        let name = name.unwrap_or_else(|| panic!("{}: no metadata.name", f.display()));
        assert!(
            names.insert((
                d["kind"].as_str().unwrap_or("").to_string(),
                name.to_string()
            )),
            "{} {name} twice",
            d["kind"]
        );
    }
    let of_kind = |k: &'static str| docs.iter().map(|(_, d)| d).filter(move |d| d["kind"] == k);
    let named = |k: &'static str, n: &str| of_kind(k).find(|d| d["metadata"]["name"] == n).cloned();

    // The configuration: checked by the binary, and the source of every port below.
    let cm = named("ConfigMap", "gatewatch-config").expect("ConfigMap gatewatch-config");
    let text = cm["data"]["gatewatch.toml"]
        .as_str()
        .expect("gatewatch.toml key");
    let tmp = tempfile::tempdir().expect("temp dir");
    let config_path = tmp.path().join("gatewatch.toml");
    std::fs::write(&config_path, text).expect("write");
    config_check(&config_path);
    let config = toml_file(&config_path);
    let ports = role_ports(&config);
    let pepper_file = get_str(&config, "security", "pepper_file").expect("pepper_file");

    // The pepper placeholder is one the binary refuses (shorter than 16 bytes), so the file
    // applied as it is cannot start a site with a known pepper.
    let pepper = named("Secret", "gatewatch-pepper").expect("Secret gatewatch-pepper");
    let placeholder = pepper["stringData"]["pepper"]
        .as_str()
        .expect("stringData.pepper");
    assert!(
        placeholder.len() < 16,
        "placeholder {placeholder:?} would be accepted"
    );

    let image = format!("gatewatch:{VERSION}");
    let mut workloads = Vec::new();
    for kind in ["Deployment", "StatefulSet", "Job"] {
        for w in of_kind(kind) {
            let name = w["metadata"]["name"].as_str().unwrap_or("").to_string();
            let pod = &w["spec"]["template"];
            if kind != "Job" {
                assert!(
                    labels_match(
                        &w["spec"]["selector"]["matchLabels"],
                        &pod["metadata"]["labels"]
                    ),
                    "{name}: selector does not match its pods"
                );
            }
            let psc = &pod["spec"]["securityContext"];
            assert_eq!(psc["runAsNonRoot"], true, "{name}: runAsNonRoot");
            assert!(psc["runAsUser"].as_u64().is_some_and(|u| u > 0), "{name}");
            let volumes: BTreeMap<&str, &Value> = pod["spec"]["volumes"]
                .as_array()
                .into_iter()
                .flatten()
                .map(|v| (v["name"].as_str().unwrap_or(""), v))
                .collect();
            for v in volumes.values() {
                if let Some(cm) = v["configMap"]["name"].as_str() {
                    assert!(named("ConfigMap", cm).is_some(), "{name}: ConfigMap {cm}");
                }
                if let Some(s) = v["secret"]["secretName"].as_str() {
                    assert!(named("Secret", s).is_some(), "{name}: Secret {s}");
                }
            }
            let claims: BTreeSet<&str> = w["spec"]["volumeClaimTemplates"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|c| c["metadata"]["name"].as_str())
                .collect();
            let containers = pod["spec"]["containers"].as_array().expect("containers");
            for c in containers {
                assert_eq!(c["image"], image.as_str(), "{name}: image");
                let role = c["args"][0].as_str().expect("args[0] is the command");
                assert!(ROLES.contains(&role) || role == "migrate", "{name}: {role}");
                let sc = &c["securityContext"];
                assert_eq!(sc["readOnlyRootFilesystem"], true, "{name}");
                assert_eq!(sc["allowPrivilegeEscalation"], false, "{name}");
                assert!(
                    sc["capabilities"]["drop"]
                        .as_array()
                        .is_some_and(|d| d.contains(&"ALL".into())),
                    "{name}: drops every capability"
                );
                assert!(c["resources"]["requests"].is_object(), "{name}: requests");
                assert!(
                    c["resources"]["limits"]["memory"].is_string(),
                    "{name}: memory limit"
                );
                // Every mount has a volume; the config lands where the image reads it; the
                // pepper where the configuration reads it.
                let mut mounted = BTreeMap::new();
                for m in c["volumeMounts"].as_array().into_iter().flatten() {
                    let v = m["name"].as_str().unwrap_or("");
                    assert!(
                        volumes.contains_key(v) || claims.contains(v),
                        "{name}: mount of unknown volume {v}"
                    );
                    mounted.insert(m["mountPath"].as_str().unwrap_or("").to_string(), v);
                }
                assert_eq!(
                    mounted
                        .get("/etc/gatewatch")
                        .and_then(|v| volumes.get(v))
                        .map(|v| &v["configMap"]["name"]),
                    Some(&Value::from("gatewatch-config")),
                    "{name}: the ConfigMap at /etc/gatewatch"
                );
                if role == "migrate" {
                    continue;
                }
                let (dir, file) = pepper_file.rsplit_once('/').expect("a path");
                let secret = mounted
                    .get(dir)
                    .and_then(|v| volumes.get(v))
                    .expect("the pepper's folder is mounted");
                assert_eq!(secret["secret"]["secretName"], "gatewatch-pepper", "{name}");
                assert!(
                    secret["secret"]["items"]
                        .as_array()
                        .is_some_and(|i| i.iter().any(|i| i["path"] == file)),
                    "{name}: the pepper file is {pepper_file}"
                );
                assert!(
                    mounted.contains_key("/var/lib/gatewatch"),
                    "{name}: data_dir"
                );
                // Container ports are the ports the configuration opens; probes use them.
                let cports: BTreeMap<String, u16> = c["ports"]
                    .as_array()
                    .expect("ports")
                    .iter()
                    .map(|p| {
                        (
                            p["name"].as_str().unwrap_or("").to_string(),
                            p["containerPort"]
                                .as_u64()
                                .and_then(|n| u16::try_from(n).ok())
                                .expect("containerPort"),
                        )
                    })
                    .collect();
                let numbers: BTreeSet<u16> = cports.values().copied().collect();
                let want: BTreeSet<u16> = ports[role].iter().copied().collect();
                assert_eq!(numbers, want, "{name}: container ports vs gatewatch.toml");
                for (probe, path) in [("readinessProbe", "/readyz"), ("livenessProbe", "/healthz")]
                {
                    let get = &c[probe]["httpGet"];
                    assert_eq!(get["path"], path, "{name}: {probe}");
                    let port = match &get["port"] {
                        Value::String(n) => cports.get(n).copied(),
                        Value::Number(n) => n.as_u64().and_then(|n| u16::try_from(n).ok()),
                        _ => None,
                    };
                    assert_eq!(
                        port,
                        Some(health_port(&ports, role)),
                        "{name}: {probe} port"
                    );
                }
                workloads.push((name.clone(), role.to_string(), pod.clone(), cports));
            }
        }
    }
    let roles: BTreeSet<&str> = workloads.iter().map(|(_, r, _, _)| r.as_str()).collect();
    assert_eq!(
        roles,
        ROLES.iter().copied().collect(),
        "a workload per role"
    );
    assert!(
        of_kind("Job")
            .any(|j| j["spec"]["template"]["spec"]["containers"][0]["args"][0] == "migrate"),
        "a migrate Job"
    );
    let collector =
        named("StatefulSet", "gatewatch-collector").expect("the collector is a StatefulSet");
    assert!(
        collector["spec"]["volumeClaimTemplates"][0]["metadata"]["name"] == "data",
        "the collector's write-ahead log on a claim"
    );

    // Services select a workload's pods and target its ports.
    for s in of_kind("Service") {
        let name = s["metadata"]["name"].as_str().unwrap_or("");
        let (_, _, _, cports) = workloads
            .iter()
            .find(|(_, _, pod, _)| labels_match(&s["spec"]["selector"], &pod["metadata"]["labels"]))
            .unwrap_or_else(|| panic!("Service {name} selects no workload"));
        for p in s["spec"]["ports"].as_array().expect("ports") {
            let ok = match &p["targetPort"] {
                Value::String(n) => cports.contains_key(n),
                Value::Number(n) => cports.values().any(|c| n.as_u64() == Some(u64::from(*c))),
                _ => false,
            };
            assert!(
                ok,
                "Service {name}: targetPort {} is no container port",
                p["targetPort"]
            );
        }
    }
    let headless = collector["spec"]["serviceName"]
        .as_str()
        .expect("serviceName");
    assert_eq!(
        named("Service", headless).map(|s| s["spec"]["clusterIP"].clone()),
        Some(Value::from("None")),
        "the StatefulSet's headless Service"
    );
    // The roles reach each other through the Services named in gatewatch.toml.
    for (key_section, key, port) in [
        ("gateway", "collector_url", ports["collector"][0]),
        ("dashboards", "alerter_url", ports["alerter"][0]),
    ] {
        let url = get_str(&config, key_section, key).expect("set");
        let svc =
            named("Service", url_host(url)).unwrap_or_else(|| panic!("{url}: no such Service"));
        assert!(
            svc["spec"]["ports"]
                .as_array()
                .into_iter()
                .flatten()
                .any(|p| p["port"].as_u64() == Some(u64::from(port))),
            "{url}: the Service has no port {port}"
        );
    }
    // The gateway may lose at most one pod to a voluntary disruption.
    let gateway_pod = &workloads
        .iter()
        .find(|w| w.1 == "gateway")
        .expect("gateway")
        .2;
    assert!(
        of_kind("PodDisruptionBudget").any(|p| labels_match(
            &p["spec"]["selector"]["matchLabels"],
            &gateway_pod["metadata"]["labels"]
        )),
        "a PodDisruptionBudget for the gateway"
    );
}

// ---------------------------------------------------------------------------------------------
// Dockerfile

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for e in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let p = e.path();
        if p.is_dir() {
            rust_files(&p, out);
        } else if p.extension().is_some_and(|x| x == "rs") {
            out.push(p);
        }
    }
}

/// The Dockerfile's instructions, continuation lines joined: (INSTRUCTION, rest).
fn dockerfile() -> Vec<(String, String)> {
    let text = read(&root().join("Dockerfile"));
    let mut out = Vec::new();
    let mut cur = String::new();
    for line in text.lines() {
        let t = line.trim();
        if t.starts_with('#') || (t.is_empty() && cur.is_empty()) {
            continue;
        }
        if let Some(head) = t.strip_suffix('\\') {
            cur.push_str(head);
            cur.push(' ');
            continue;
        }
        cur.push_str(t);
        let (i, rest) = cur.split_once(' ').unwrap_or((&cur, ""));
        out.push((i.to_uppercase(), rest.trim().to_string()));
        cur.clear();
    }
    out
}

#[test]
fn dockerfile_matches_the_binary() {
    let ins = dockerfile();
    let all = |i: &str| -> Vec<String> {
        ins.iter()
            .filter(|(k, _)| k == i)
            .map(|(_, r)| r.clone())
            .collect()
    };
    let one = |i: &str| -> String {
        let v = all(i);
        assert_eq!(v.len(), 1, "one {i}: {v:?}");
        v[0].clone()
    };
    // Two stages: the Rust builder on bookworm, the bookworm-slim runtime (same glibc).
    let froms = all("FROM");
    assert_eq!(froms.len(), 2, "{froms:?}");
    assert!(
        froms[0].starts_with("rust:")
            && froms[0].contains("-bookworm")
            && froms[0].ends_with(" AS build"),
        "{}",
        froms[0]
    );
    assert!(froms[1].starts_with("debian:bookworm-slim"), "{}", froms[1]);
    let runs = all("RUN").join("\n");
    assert!(runs.contains("cargo build --release --locked --bin gatewatch"));
    assert!(runs.contains("target/release/gatewatch /usr/local/bin/gatewatch"));
    for pkg in ["ca-certificates", "fonts-noto-cjk", "curl"] {
        assert!(runs.contains(pkg), "the runtime installs {pkg}");
    }
    let copies = all("COPY");
    assert!(
        copies
            .iter()
            .any(|c| c == "--from=build /usr/local/bin/gatewatch /usr/local/bin/gatewatch"),
        "{copies:?}"
    );
    assert_eq!(one("ENTRYPOINT"), r#"["gatewatch"]"#);
    let user = one("USER");
    let uid: u32 = user
        .split(':')
        .next()
        .and_then(|u| u.parse().ok())
        .expect("a numeric user");
    assert!(uid > 0, "not root");

    // The configuration baked in: exists, passes the check, and its ports are the binary's
    // defaults — which are what EXPOSE lists.
    let baked = copies
        .iter()
        .find_map(|c| c.strip_suffix(" /etc/gatewatch/gatewatch.toml"))
        .expect("a configuration copied to /etc/gatewatch");
    let baked = root().join(baked);
    config_check(&baked);
    let config = toml_file(&baked);
    let ports = role_ports(&config);
    let default_ports = role_ports(&toml::Table::new());
    assert_eq!(
        ports, default_ports,
        "the image's roles listen at the default ports"
    );
    let exposed: BTreeSet<u16> = one("EXPOSE")
        .split_whitespace()
        .map(|p| p.parse().expect("a port"))
        .collect();
    let opened: BTreeSet<u16> = ports.values().flatten().copied().collect();
    assert_eq!(exposed, opened, "EXPOSE vs the ports the roles open");
    for (section, key) in [
        ("gateway", "listen"),
        ("gateway", "admin_listen"),
        ("collector", "listen"),
        ("alerter", "listen"),
        ("reports", "listen"),
        ("dashboards", "listen"),
        ("portal", "listen"),
    ] {
        let listen = get_str(&config, section, key);
        assert!(
            listen.is_some_and(|l| l.starts_with("0.0.0.0:")),
            "[{section}] {key}: all interfaces in a container, not {listen:?}"
        );
    }
    assert!(
        get_str(&config, "security", "pepper_file").is_some_and(|p| p.starts_with("/run/secrets/")),
        "the pepper comes from a mounted secret"
    );
    let envs = all("ENV").join(" ");
    assert!(envs.contains("GATEWATCH_CONFIG=/etc/gatewatch/gatewatch.toml"));
    assert!(
        envs.contains(&format!(
            "GATEWATCH_HEALTH_PORT={}",
            health_port(&ports, "gateway")
        )),
        "the health check's default port is the gateway's admin port: {envs}"
    );
    let health = one("HEALTHCHECK");
    assert!(
        health.contains("${GATEWATCH_HEALTH_PORT}/healthz"),
        "{health}"
    );
    let volume = one("VOLUME");
    let data_dir = config
        .get("data_dir")
        .and_then(|v| v.as_str())
        .expect("data_dir");
    assert!(
        volume.contains(&format!("\"{data_dir}\"")),
        "data_dir {data_dir} is the volume"
    );

    // The build context leaves out the target dir, git, and secrets…
    let ignore = read(&root().join(".dockerignore"));
    for p in ["target/", ".git/", "deploy/compose/secrets/", "deploy/.env"] {
        assert!(ignore.lines().any(|l| l.trim() == p), ".dockerignore: {p}");
    }
    // …but keeps everything `cargo build --release --locked` reads: the manifests, the lock
    // file, every workspace member, and every file a crate's code includes.
    let ignored: Vec<&str> = ignore
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .collect();
    // The patterns this file uses: a folder from the root (`target/`), a name at any depth
    // (`**/__pycache__/`), a suffix (`*.log`).
    let excluded = |path: &str| {
        ignored.iter().any(|p| {
            if let Some(name) = p.strip_prefix("**/") {
                path.split('/').any(|c| c == name.trim_end_matches('/'))
            } else if let Some(suffix) = p.strip_prefix('*') {
                path.ends_with(suffix)
            } else {
                let dir = p.trim_end_matches('/');
                path == dir || path.starts_with(&format!("{dir}/"))
            }
        })
    };
    let manifest = toml_file(&root().join("Cargo.toml"));
    let members: Vec<String> = manifest["workspace"]["members"]
        .as_array()
        .expect("workspace members")
        .iter()
        .filter_map(|m| m.as_str().map(str::to_string))
        .collect();
    let mut needed = vec!["Cargo.toml".to_string(), "Cargo.lock".into(), "src".into()];
    needed.extend(members.iter().cloned());
    for dir in std::iter::once(String::new()).chain(members.iter().cloned()) {
        let src = root().join(&dir).join("src");
        let mut files = Vec::new();
        rust_files(&src, &mut files);
        for f in files {
            let text = read(&f);
            for quote in ["include_str!(\"", "include_bytes!(\""] {
                for (at, _) in text.match_indices(quote) {
                    let rest = &text[at + quote.len()..];
                    let rel = &rest[..rest.find('"').unwrap_or(0)];
                    let target = f.parent().expect("a folder").join(rel);
                    let target = target.canonicalize().unwrap_or(target);
                    let shown = target
                        .strip_prefix(root().canonicalize().expect("root"))
                        .map(|p| p.display().to_string())
                        .unwrap_or_else(|_| target.display().to_string());
                    needed.push(shown);
                }
            }
        }
    }
    assert!(
        needed.len() > members.len() + 3,
        "no include found: {needed:?}"
    );
    for path in &needed {
        assert!(
            !excluded(path),
            ".dockerignore leaves out {path}, which the build reads"
        );
    }

    // The chart font: the first path the charts look for is what Debian 12's fonts-noto-cjk
    // installs (this machine is Debian 12, like the runtime stage).
    let font = "/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc";
    let charts = read(&root().join("reports/src/chart/font.rs"));
    assert!(
        charts.contains(font),
        "the charts no longer look for {font}"
    );
    let owner = Command::new("dpkg-query").args(["-S", font]).output();
    match owner {
        Ok(o) => assert!(
            String::from_utf8_lossy(&o.stdout).starts_with("fonts-noto-cjk:"),
            "{font} is not from fonts-noto-cjk here: {}",
            String::from_utf8_lossy(&o.stderr)
        ),
        Err(e) => panic!("dpkg-query: {e} (the tests run on Debian)"),
    }
}
