//! The site's pepper: the HMAC key that API keys and client secrets are hashed under
//! (`gatewatch_model::secret`). Every gateway and the admin API of a site must use the same one.
//!
//! Where it comes from, first match wins: `[security] pepper` (text), the file
//! `[security] pepper_file`, or `<data_dir>/secret/pepper`. A missing file is created with 32
//! random bytes, mode 0600, in a directory of mode 0700; two roles starting at once both end up
//! reading the one that won the creation.

use anyhow::{bail, Context};
use std::io::Write;
use std::path::{Path, PathBuf};

use crate::config::SecuritySection;

/// Shortest pepper accepted.
const MIN_LEN: usize = 16;

/// The pepper's file when none is configured.
pub fn default_path(data_dir: &Path) -> PathBuf {
    data_dir.join("secret").join("pepper")
}

/// Loads the pepper, creating its file when missing (see the module doc).
pub fn load_pepper(data_dir: &Path, security: &SecuritySection) -> anyhow::Result<Vec<u8>> {
    if !security.pepper.is_empty() {
        if security.pepper.len() < MIN_LEN {
            bail!("security.pepper: must be at least {MIN_LEN} bytes");
        }
        return Ok(security.pepper.as_bytes().to_vec());
    }
    let path = if security.pepper_file.is_empty() {
        default_path(data_dir)
    } else {
        PathBuf::from(&security.pepper_file)
    };
    match std::fs::read(&path) {
        Ok(bytes) => check(&path, bytes),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => create(&path),
        Err(e) => {
            Err(e).with_context(|| format!("security.pepper_file: cannot read {}", path.display()))
        }
    }
}

fn check(path: &Path, bytes: Vec<u8>) -> anyhow::Result<Vec<u8>> {
    if bytes.len() < MIN_LEN {
        bail!(
            "security.pepper_file: {} holds {} bytes; a pepper needs at least {MIN_LEN}",
            path.display(),
            bytes.len()
        );
    }
    Ok(bytes)
}

/// Writes a small secret file readable by its owner only (folder 0700, file 0600), replacing
/// any earlier one whole (temporary file, then rename).
pub fn write_private(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    if let Some(dir) = path.parent() {
        let mut b = std::fs::DirBuilder::new();
        b.recursive(true);
        #[cfg(unix)]
        std::os::unix::fs::DirBuilderExt::mode(&mut b, 0o700);
        b.create(dir)?;
    }
    let tmp = path.with_extension(format!("tmp{}", std::process::id()));
    let mut o = std::fs::OpenOptions::new();
    o.write(true).create(true).truncate(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut o, 0o600);
    let mut f = o.open(&tmp)?;
    f.write_all(bytes)?;
    f.sync_all()?;
    drop(f);
    std::fs::rename(&tmp, path)
}

fn create(path: &Path) -> anyhow::Result<Vec<u8>> {
    let ctx = || format!("security.pepper_file: cannot create {}", path.display());
    if let Some(dir) = path.parent() {
        let mut b = std::fs::DirBuilder::new();
        b.recursive(true);
        #[cfg(unix)]
        std::os::unix::fs::DirBuilderExt::mode(&mut b, 0o700);
        b.create(dir).with_context(ctx)?;
    }
    let mut pepper = vec![0u8; 32];
    getrandom::fill(&mut pepper).map_err(|e| anyhow::anyhow!("no randomness: {e}"))?;
    let mut o = std::fs::OpenOptions::new();
    o.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut o, 0o600);
    // Written to a private temporary name, then linked into place: a reader never sees a
    // half-written pepper, and of two creators the first link wins.
    let tmp = path.with_extension(format!("tmp{}", std::process::id()));
    let mut f = o.open(&tmp).with_context(ctx)?;
    f.write_all(&pepper)
        .and_then(|()| f.sync_all())
        .with_context(ctx)?;
    drop(f);
    let linked = std::fs::hard_link(&tmp, path);
    let _ = std::fs::remove_file(&tmp);
    match linked {
        Ok(()) => {
            tracing::info!(path = %path.display(), "created a new pepper for API keys and client secrets");
            Ok(pepper)
        }
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
            check(path, std::fs::read(path).with_context(ctx)?)
        }
        Err(e) => Err(e).with_context(ctx),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn created_once_private_then_read_back() {
        let dir = tempfile::tempdir().unwrap();
        let s = SecuritySection::default();
        let a = load_pepper(dir.path(), &s).unwrap();
        assert_eq!(a.len(), 32);
        let b = load_pepper(dir.path(), &s).unwrap();
        assert_eq!(a, b);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(default_path(dir.path()))
                .unwrap()
                .permissions()
                .mode();
            assert_eq!(mode & 0o777, 0o600);
        }
    }

    #[test]
    fn configured_peppers_win_and_short_ones_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let s = SecuritySection {
            pepper: "a-pepper-of-24-bytes-123".into(),
            ..SecuritySection::default()
        };
        assert_eq!(load_pepper(dir.path(), &s).unwrap(), s.pepper.as_bytes());
        let short = SecuritySection {
            pepper: "short".into(),
            ..SecuritySection::default()
        };
        assert!(load_pepper(dir.path(), &short)
            .unwrap_err()
            .to_string()
            .contains("security.pepper"));
        let f = dir.path().join("p");
        std::fs::write(&f, b"tiny").unwrap();
        let file = SecuritySection {
            pepper_file: f.display().to_string(),
            ..SecuritySection::default()
        };
        assert!(load_pepper(dir.path(), &file)
            .unwrap_err()
            .to_string()
            .contains("security.pepper_file"));
    }
}
