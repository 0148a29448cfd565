//! `gatewatch sign`: the headers that sign a request as the gateway verifies it (RFC 9421
//! HTTP Message Signatures, RFC 9530 `Content-Digest`), for clients and tests. Needs no
//! configuration and reaches nothing: it prints `Name: value` lines to add to the request.
//!
//!   GATEWATCH_SIGNING_SECRET=gwsig_… gatewatch sign --keyid team-a \
//!       --method POST --url https://gw.example.com/orders?x=1 --data '{"qty":1}'
//!   gatewatch sign --keyid laptop-1 --private-key key.pem --url https://gw.example.com/orders
//!   gatewatch sign --private-key key.pem --public-key     # the PEM to register
//!
//! The signing secret comes from `GATEWATCH_SIGNING_SECRET` or `--secret-file`, never from
//! the command line (which other users of the machine can read).

use std::io::Read as _;
use std::path::PathBuf;
use std::time::{SystemTime, UNIX_EPOCH};

use anyhow::{anyhow, bail, Context as _};
use gatewatch_gateway::request_signing::{self as signing, SigningKey};

const SECRET_ENV: &str = "GATEWATCH_SIGNING_SECRET";

#[derive(clap::Args, Debug)]
pub struct Args {
    /// The request's method.
    #[arg(long, short = 'X', default_value = "GET")]
    method: String,
    /// The full URL the request goes to (the gateway's), with its query.
    #[arg(long)]
    url: Option<String>,
    /// A header the request carries, `Name: value` (repeat); needed for each header named
    /// in `--components` (except `content-digest`, made from the body).
    #[arg(long = "header", short = 'H')]
    headers: Vec<String>,
    /// The request's body as text.
    #[arg(long, conflicts_with = "data_file")]
    data: Option<String>,
    /// The request's body from a file (`-`: standard input).
    #[arg(long)]
    data_file: Option<PathBuf>,
    /// The `keyid`: the client's id for its signing secret, a key's id for a private key.
    #[arg(long)]
    keyid: Option<String>,
    /// A file holding the signing secret (`hmac-sha256`); else `GATEWATCH_SIGNING_SECRET`.
    #[arg(long, conflicts_with = "private_key")]
    secret_file: Option<PathBuf>,
    /// A PKCS#8 private key, PEM (`ed25519` or `ecdsa-p256-sha256`).
    #[arg(long)]
    private_key: Option<PathBuf>,
    /// Print the public key of `--private-key` (PEM, to register as a `signing_keys` entry)
    /// and nothing else.
    #[arg(long, requires = "private_key")]
    public_key: bool,
    /// Components to cover, comma-separated, as the API's `signature.components` names them.
    #[arg(
        long,
        value_delimiter = ',',
        default_value = "@method,@path,@query,content-digest"
    )]
    components: Vec<String>,
    /// `created`, Unix seconds (default: now).
    #[arg(long)]
    created: Option<i64>,
    /// The `nonce` (default: 16 random bytes).
    #[arg(long, conflicts_with = "no_nonce")]
    nonce: Option<String>,
    /// Send no nonce (for APIs with `nonce_required = false`).
    #[arg(long)]
    no_nonce: bool,
    /// The signature's label.
    #[arg(long, default_value = "sig1")]
    label: String,
}

/// The lines to print, or what is wrong with the arguments.
pub fn run(args: &Args) -> anyhow::Result<String> {
    if args.public_key {
        let key = private_key(
            args.private_key
                .as_ref()
                .ok_or_else(|| anyhow!("--private-key is required"))?,
        )?;
        return key
            .public_key_pem()
            .map(|p| p.trim_end().to_string())
            .ok_or_else(|| anyhow!("a secret has no public key"));
    }
    let url = args
        .url
        .as_deref()
        .ok_or_else(|| anyhow!("--url is required"))?;
    let keyid = args
        .keyid
        .as_deref()
        .ok_or_else(|| anyhow!("--keyid is required"))?;
    let key = match &args.private_key {
        Some(p) => private_key(p)?,
        None => SigningKey::HmacSha256(secret(args.secret_file.as_ref())?.into_bytes()),
    };
    let headers = args
        .headers
        .iter()
        .map(|h| {
            let (name, value) = h
                .split_once(':')
                .ok_or_else(|| anyhow!("--header {h:?}: write it as `Name: value`"))?;
            Ok((name.trim().to_ascii_lowercase(), value.trim().to_string()))
        })
        .collect::<anyhow::Result<Vec<_>>>()?;
    let body = match (&args.data, &args.data_file) {
        (Some(d), _) => d.clone().into_bytes(),
        (None, Some(p)) if p.as_os_str() == "-" => {
            let mut b = Vec::new();
            std::io::stdin()
                .read_to_end(&mut b)
                .context("reading the body from stdin")?;
            b
        }
        (None, Some(p)) => {
            std::fs::read(p).with_context(|| format!("--data-file {}", p.display()))?
        }
        (None, None) => Vec::new(),
    };
    let created = match args.created {
        Some(c) => c,
        None => SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_secs() as i64)
            .unwrap_or(0),
    };
    let nonce = match (&args.nonce, args.no_nonce) {
        (Some(n), _) => Some(n.clone()),
        (None, true) => None,
        (None, false) => Some(signing::random_nonce().map_err(|e| anyhow!(e))?),
    };
    let out = signing::sign(
        &signing::Request {
            method: &args.method,
            url,
            headers: &headers,
            body: &body,
        },
        &signing::Options {
            components: &args.components,
            keyid,
            key: &key,
            created,
            nonce,
            label: &args.label,
        },
    )
    .map_err(|e| anyhow!(e))?;
    Ok(out
        .iter()
        .map(|(k, v)| format!("{k}: {v}"))
        .collect::<Vec<_>>()
        .join("\n"))
}

fn private_key(path: &PathBuf) -> anyhow::Result<SigningKey> {
    let pem = std::fs::read_to_string(path)
        .with_context(|| format!("--private-key {}", path.display()))?;
    SigningKey::from_pem(&pem).map_err(|e| anyhow!("--private-key {}: {e}", path.display()))
}

fn secret(file: Option<&PathBuf>) -> anyhow::Result<String> {
    let s = match file {
        Some(p) => {
            std::fs::read_to_string(p).with_context(|| format!("--secret-file {}", p.display()))?
        }
        None => std::env::var(SECRET_ENV).map_err(|_| {
            anyhow!("no key: set {SECRET_ENV}, or pass --secret-file or --private-key")
        })?,
    };
    let s = s.trim().to_string();
    if s.is_empty() {
        bail!("the signing secret is empty");
    }
    Ok(s)
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser as _;

    #[derive(clap::Parser)]
    struct T {
        #[command(flatten)]
        args: Args,
    }

    fn args(a: &[&str]) -> Args {
        T::try_parse_from(std::iter::once("sign").chain(a.iter().copied()))
            .unwrap()
            .args
    }

    #[test]
    fn prints_the_three_headers_for_a_secret_in_a_file() {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("secret");
        std::fs::write(&f, "gwsig_abc\n").unwrap();
        let a = args(&[
            "--keyid",
            "team-a",
            "--secret-file",
            f.to_str().unwrap(),
            "-X",
            "POST",
            "--url",
            "http://gw/orders?x=1",
            "--data",
            "{}",
            "--created",
            "1700000000",
            "--nonce",
            "n1",
        ]);
        let out = run(&a).unwrap();
        let lines: Vec<&str> = out.lines().collect();
        assert_eq!(lines.len(), 3, "{out}");
        assert!(
            lines[0].starts_with(
                "Content-Digest: sha-256=:RBNvo1WzZ4oRRq0W9+hknpT7T8If536DEMBg9hyq/4o=:"
            ),
            "{out}"
        );
        assert_eq!(
            lines[1],
            r#"Signature-Input: sig1=("@method" "@path" "@query" "content-digest");created=1700000000;keyid="team-a";alg="hmac-sha256";nonce="n1""#
        );
        assert!(lines[2].starts_with("Signature: sig1=:"));
        assert!(!out.contains("gwsig_abc"));
    }

    #[test]
    fn refuses_what_it_cannot_sign_with_a_reason() {
        let e = run(&args(&[
            "--keyid",
            "k",
            "--url",
            "http://gw/",
            "--private-key",
            "/nonexistent",
        ]))
        .unwrap_err();
        assert!(format!("{e:#}").contains("--private-key"));
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("k.pem");
        std::fs::write(
            &f,
            "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n",
        )
        .unwrap();
        let e = run(&args(&[
            "--keyid",
            "k",
            "--url",
            "http://gw/",
            "--private-key",
            f.to_str().unwrap(),
        ]))
        .unwrap_err();
        assert!(format!("{e:#}").contains("neither"), "{e:#}");
        let s = dir.path().join("s");
        std::fs::write(&s, "x").unwrap();
        let e = run(&args(&[
            "--keyid",
            "k",
            "--url",
            "/relative",
            "--secret-file",
            s.to_str().unwrap(),
        ]))
        .unwrap_err();
        assert!(format!("{e:#}").contains("absolute"), "{e:#}");
        let e = run(&args(&[
            "--keyid",
            "k",
            "--url",
            "http://gw/",
            "--secret-file",
            s.to_str().unwrap(),
            "-H",
            "nocolon",
        ]))
        .unwrap_err();
        assert!(format!("{e:#}").contains("Name: value"), "{e:#}");
        let e = run(&args(&[
            "--keyid",
            "k",
            "--url",
            "http://gw/",
            "--secret-file",
            s.to_str().unwrap(),
            "--components",
            "@status",
        ]))
        .unwrap_err();
        assert!(format!("{e:#}").contains("@status"), "{e:#}");
    }
}
