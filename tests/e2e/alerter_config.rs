//! `[alerter] language`: the site's notice language, checked before anything starts.

use std::process::Command;

#[test]
fn a_bad_alerter_language_exits_2_naming_the_key() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("gatewatch.toml");
    let run = |env: &[(&str, &str)]| {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_gatewatch"));
        cmd.args(["--config", p.to_str().unwrap(), "alerter"])
            .env_remove("GATEWATCH_ALERTER_LANGUAGE");
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
    };
    for bad in ["zh-CN", "EN", ""] {
        std::fs::write(&p, format!("[alerter]\nlanguage = \"{bad}\"\n")).unwrap();
        let (code, text) = run(&[]);
        assert_eq!(code, 2, "{bad:?}: {text}");
        assert!(text.contains("alerter.language"), "{bad:?}: {text}");
    }
    std::fs::write(&p, "").unwrap();
    let (code, text) = run(&[("GATEWATCH_ALERTER_LANGUAGE", "fr")]);
    assert_eq!(code, 2, "{text}");
    assert!(text.contains("alerter.language"), "{text}");
}
