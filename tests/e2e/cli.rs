//! The command line's contract: exit codes and messages.

use std::process::Command;

fn run(args: &[&str], env: &[(&str, &str)]) -> (i32, String) {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_gatewatch"));
    cmd.args(args);
    for (k, v) in env {
        cmd.env(k, v);
    }
    let out = cmd.output().unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.code().unwrap_or(-1), text)
}

#[test]
fn a_bad_configuration_value_exits_2_naming_it() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("gatewatch.toml");
    std::fs::write(&p, "[gateway]\nlisten = \"not an address\"\n").unwrap();
    let (code, text) = run(&["--config", p.to_str().unwrap(), "gateway"], &[]);
    assert_eq!(code, 2, "{text}");
    assert!(text.contains("gateway.listen"), "{text}");

    std::fs::write(&p, "[gateway]\nlistn = \"127.0.0.1:1\"\n").unwrap();
    let (code, text) = run(&["--config", p.to_str().unwrap(), "gateway"], &[]);
    assert_eq!(code, 2, "{text}");
    assert!(text.contains("listn"), "{text}");

    let (code, text) = run(
        &["collector"],
        &[("GATEWATCH_COLLECTOR_WAL_MAX_MB", "lots")],
    );
    assert_eq!(code, 2, "{text}");
    assert!(text.contains("GATEWATCH_COLLECTOR_WAL_MAX_MB"), "{text}");

    let (code, text) = run(&["--config", "/nonexistent/gatewatch.toml", "up"], &[]);
    assert_eq!(code, 2, "{text}");
    assert!(text.contains("/nonexistent/gatewatch.toml"), "{text}");
}

#[test]
fn bad_usage_exits_2_and_help_exits_0() {
    assert_eq!(run(&["frobnicate"], &[]).0, 2);
    assert_eq!(run(&["loadgen", "--rps", "many"], &[]).0, 2);
    let (code, text) = run(&["--help"], &[]);
    assert_eq!(code, 0);
    for role in ["up", "gateway", "collector", "migrate", "loadgen"] {
        assert!(text.contains(role), "{role} missing from --help");
    }
}

#[test]
fn config_prints_the_environment_names() {
    let (code, text) = run(&["config", "show"], &[]);
    assert_eq!(code, 0, "{text}");
    assert!(text.contains("GATEWATCH_CLICKHOUSE_URL"));
    assert!(text.contains("listen = \"127.0.0.1:8080\""));
}

#[test]
fn loadgen_refuses_a_remote_target() {
    let (code, text) = run(
        &["loadgen", "--url", "http://10.1.2.3/x", "--duration", "1"],
        &[],
    );
    assert_eq!(code, 2, "{text}");
    assert!(text.contains("loopback"), "{text}");
}
