//! `gatewatch config check FILE`: exit 0 with `ok: …` naming the kind of file, or 2 with a
//! message naming the key, for site configurations and entities files alike; nothing started.

use std::process::Command;

/// Runs `gatewatch config check` on `text` (written to a file); exit code and output.
fn check_text(text: &str) -> (i32, String) {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("checked.toml");
    std::fs::write(&p, text).unwrap();
    check(p.to_str().unwrap())
}

fn check(path: &str) -> (i32, String) {
    // A site configuration named by `--config` that does not even parse: `check` reads only
    // the file it is given.
    let out = Command::new(env!("CARGO_BIN_EXE_gatewatch"))
        .args(["config", "check", path])
        .env("GATEWATCH_CONFIG", "/nonexistent/gatewatch.toml")
        .env_remove("GATEWATCH_CLICKHOUSE_URL")
        .output()
        .unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.code().unwrap_or(-1), text)
}

#[test]
fn good_files_pass_and_say_what_they_are() {
    let (code, text) = check_text(
        "data_dir = \"./data\"\n[gateway]\nlisten = \"127.0.0.1:8080\"\nmax_connections = 100\n\
         [[routes]]\nprefix = \"/demo\"\nupstreams = [\"http://127.0.0.1:9000\"]\n",
    );
    assert_eq!(code, 0, "{text}");
    assert!(
        text.starts_with("ok: ") && text.contains("site configuration"),
        "{text}"
    );
    // An empty file is a site configuration of defaults.
    let (code, text) = check_text("");
    assert_eq!(code, 0, "{text}");
    assert!(text.contains("site configuration"), "{text}");

    let (code, text) = check_text(
        "[[api]]\nid = \"orders\"\nname = \"訂單\"\nprefix = \"/orders\"\n\
         upstreams = [\"http://127.0.0.1:9080\"]\n[[client]]\nid = \"acme\"\nname = \"Acme\"\n\
         quota = { per_day = 10000 }\n",
    );
    assert_eq!(code, 0, "{text}");
    assert!(text.contains("entities file (1 api, 1 client)"), "{text}");
}

#[test]
fn each_kind_of_mistake_exits_2_naming_the_key() {
    let deep = format!("a = {}{}", "[".repeat(100_000), "]".repeat(100_000));
    let cases: [(&str, &str); 20] = [
        // unknown keys, at every depth
        ("[gateway]\nmax_conections = 5\n", "gateway.max_conections: unknown field"),
        ("[gatway]\nlisten = \"127.0.0.1:1\"\n", "gatway: unknown field"),
        ("[gateway.jwt]\nissuer_x = \"a\"\n", "gateway.jwt.issuer_x: unknown field"),
        (
            "[[routes]]\nprefix = \"/d\"\nupstreams = [\"http://a\"]\nprefx = 1\n",
            "routes[0].prefx: unknown field",
        ),
        // wrong type
        ("[gateway]\nmax_connections = \"many\"\n", "gateway.max_connections: invalid type"),
        ("gateway = 1\n", "gateway: invalid type"),
        // bad value: the words `up` refuses with
        ("[gateway]\nmax_connections = 0\n", "gateway.max_connections: must be greater than 0"),
        ("[gateway]\nlisten = \"nowhere\"\n", "gateway.listen:"),
        ("timezone = \"Mars/Olympus\"\n", "timezone:"),
        // TOML syntax, with its line
        ("[gateway]\nlisten = \"127.0.0.1:1\"\nmax_connections = \n", "line 3"),
        ("[security]\n[security]\n", "line 2"),
        // entities: the checks `apply` runs
        (
            "[[api]]\nid = \"a\"\nname = \"x\"\nprefix = \"/x\"\nupstreams = [\"http://a\", \"nope\"]\n",
            "api[0].upstreams[1]",
        ),
        (
            "[[client]]\nid = \"acme\"\nname = \"A\"\nquota = { per_day = 0 }\n",
            "client[0].quota.per_day",
        ),
        ("[[client]]\nname = \"A\"\n", "client[0].id: is missing"),
        (
            "[[client]]\nid = \"a\"\nname = \"A\"\nsecret_hash = \"x\"\n",
            "client[0].secret_hash",
        ),
        ("[[user]]\nid = \"a\"\n", "user: user entities are not kept in files"),
        ("[[api]]\nid = \"a\"\n[gateway]\n", "gateway: a site configuration key"),
        // a trusted token issuer (bearer)
        (
            "[[gateway.oauth.trusted_issuers]]\nissuer = \"https://idp\"\njwks_uri = \"https://idp/jwks\"\naudience = \"a\"\n[[gateway.oauth.trusted_issuers]]\nissuer = \"https://b\"\njwks_uri = \"http://b.example/jwks\"\naudience = \"a\"\n",
            "gateway.oauth.trusted_issuers[1].jwks_uri: \"http://b.example/jwks\": plain http:// is allowed only to a loopback address",
        ),
        (
            "[[gateway.oauth.trusted_issuers]]\nissuer = \"https://idp\"\njwks_uri = \"https://idp/jwks\"\n",
            "gateway.oauth.trusted_issuers[0]: missing field `audience`",
        ),
        // hostile nesting: refused, not a stack overflow
        (&deep, "recursion limit exceeded"),
    ];
    for (text, want) in cases {
        let (code, out) = check_text(text);
        assert_eq!(code, 2, "{text:?} → {out}");
        assert!(out.contains(want), "{text:?}: wanted {want:?} in {out}");
        assert!(!out.contains("ok:"), "{out}");
    }
}

#[test]
fn the_help_names_the_command() {
    let out = Command::new(env!("CARGO_BIN_EXE_gatewatch"))
        .args(["config", "--help"])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success());
    assert!(
        text.contains("check") && text.contains("exit 0, or 2 naming the key"),
        "{text}"
    );
}

#[test]
fn a_missing_or_unreadable_file_exits_2_naming_the_path() {
    let (code, out) = check("/nonexistent/dir/site.toml");
    assert_eq!(code, 2, "{out}");
    assert!(
        out.contains("/nonexistent/dir/site.toml: cannot read"),
        "{out}"
    );
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().to_str().unwrap();
    let (code, out) = check(d);
    assert_eq!(code, 2, "{out}");
    assert!(out.contains(&format!("{d}: cannot read")), "{out}");
    // Not UTF-8.
    let p = dir.path().join("binary.toml");
    std::fs::write(&p, b"\xff\xfe\x00").unwrap();
    let (code, out) = check(p.to_str().unwrap());
    assert_eq!(code, 2, "{out}");
    assert!(out.contains("binary.toml: cannot read"), "{out}");
    // No file named at all is a usage error.
    let out = Command::new(env!("CARGO_BIN_EXE_gatewatch"))
        .args(["config", "check"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
}
