//! The site's pepper: the key under which API keys, client secrets and bearer tokens are
//! hashed (`model::secret`) and sessions are signed. It lives outside ClickHouse, so a copy of
//! the configuration log alone cannot test a guessed key.
//!
//! `[security] pepper` in the configuration wins (every machine of a multi-node site must set
//! the same one); otherwise `<data_dir>/secret/pepper` is read, or created with 32 random
//! bytes from the OS and mode 0600 on first use. Roles started separately from one file share
//! the data directory, hence the pepper.

use anyhow::Context;
use std::io::Write;
use std::path::Path;

/// Bytes of a generated pepper.
const PEPPER_LEN: usize = 32;

/// The pepper: `configured` (from `[security] pepper`) if set, else the one kept in
/// `<data_dir>/secret/pepper`, created when missing.
pub fn load_or_create_pepper(data_dir: &Path, configured: Option<&str>) -> anyhow::Result<Vec<u8>> {
    if let Some(p) = configured {
        return Ok(p.as_bytes().to_vec());
    }
    let dir = data_dir.join("secret");
    let path = dir.join("pepper");
    match std::fs::read(&path) {
        Ok(bytes) if bytes.len() >= 16 => return Ok(bytes),
        Ok(_) => anyhow::bail!(
            "{}: the pepper is shorter than 16 bytes; restore it from a backup (keys hashed under it no longer verify otherwise)",
            path.display()
        ),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(e).with_context(|| format!("reading {}", path.display())),
    }
    std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    let mut bytes = vec![0u8; PEPPER_LEN];
    getrandom::fill(&mut bytes).map_err(|e| anyhow::anyhow!("no randomness from the OS: {e}"))?;
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.mode(0o600);
    }
    match opts.open(&path) {
        Ok(mut f) => {
            f.write_all(&bytes)
                .and_then(|()| f.sync_all())
                .with_context(|| format!("writing {}", path.display()))?;
            tracing::info!(path = %path.display(), "created the site pepper (back it up with the data directory)");
            Ok(bytes)
        }
        // Another role of this site created it first: use theirs.
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
            std::fs::read(&path).with_context(|| format!("reading {}", path.display()))
        }
        Err(e) => Err(e).with_context(|| format!("creating {}", path.display())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn created_once_with_mode_0600_and_read_back() {
        let dir = tempfile::tempdir().unwrap();
        let a = load_or_create_pepper(dir.path(), None).unwrap();
        assert_eq!(a.len(), PEPPER_LEN);
        let b = load_or_create_pepper(dir.path(), None).unwrap();
        assert_eq!(a, b);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(dir.path().join("secret/pepper"))
                .unwrap()
                .permissions()
                .mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        let configured = load_or_create_pepper(dir.path(), Some("a configured pepper")).unwrap();
        assert_eq!(configured, b"a configured pepper");
        std::fs::write(dir.path().join("secret/pepper"), b"short").unwrap();
        let e = load_or_create_pepper(dir.path(), None)
            .unwrap_err()
            .to_string();
        assert!(e.contains("shorter than 16 bytes"), "{e}");
    }
}
