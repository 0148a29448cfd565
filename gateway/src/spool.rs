//! The disk spool: batches waiting for the collector, one file per batch.
//!
//! # Invariants
//!
//! 1. **Layout.** Each batch is one file in `spool_dir`, named
//!    `<sequence, 16 digits zero-padded>-<kind>-<batch uuid>.zst` with kind `records` or
//!    `samples`. The content is exactly the HTTP body the collector gets: NDJSON compressed as
//!    one zstd frame with its content checksum on. Nothing else is stored; the name carries the
//!    rest, so a replay sends the same batch id (the collector dedups by it).
//! 2. **Whole or absent.** A file is written as `<name>.tmp`, fsynced, renamed to `<name>`, and
//!    the directory fsynced. A `.tmp` file is a write that did not finish: it is deleted when
//!    the spool is opened.
//! 3. **Order.** Files are sent oldest sequence first. Sequence numbers only grow for the life
//!    of a spool directory: after a start, the next one is the larger of (largest on disk + 1)
//!    and the current time in microseconds, so a restart with an empty spool does not reuse a
//!    number still in `corrupt/`.
//! 4. **Deleted after an answer.** A file is deleted only after the collector accepted it (2xx)
//!    or refused it as malformed (never worth resending). A crash in between means one more
//!    send of the same batch id with the replay header; the collector stores it once.
//! 5. **Corruption is quarantined.** A file is decompressed in full before it is sent; one
//!    that fails (bad frame, checksum mismatch, truncation, empty) moves to
//!    `spool_dir/corrupt/`, is counted (`gatewatch_gateway_spool_corrupt_total`) and is never
//!    retried.
//! 6. **Size cap.** The files' total size stays at or below `spool_max_bytes`: a batch that
//!    would pass it is dropped whole, its records counted as
//!    `gatewatch_gateway_records_dropped_total{reason="spool_full"}`, and `/readyz` answers 503
//!    until a batch fits again.
//! 7. **One owner.** Only the shipper task touches the directory, and one gateway process
//!    uses one spool directory. File I/O runs on tokio's blocking pool, never on a proxy
//!    worker.

use std::collections::BTreeMap;
use std::fs::{self, File};
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering::Relaxed;
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use tracing::{error, warn};
use uuid::Uuid;

use crate::batch::{Batch, Kind};
use crate::error::{Error, Result};
use crate::metrics::Metrics;

/// Name of the quarantine folder inside the spool directory.
pub const CORRUPT_DIR: &str = "corrupt";

/// One batch file in the spool.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Entry {
    pub kind: Kind,
    pub id: Uuid,
    pub len: u64,
}

/// The file name of a batch (invariant 1).
pub(crate) fn file_name(seq: u64, kind: Kind, id: &Uuid) -> String {
    format!("{seq:016}-{}-{}.zst", kind.as_str(), id.hyphenated())
}

/// The inverse of [`file_name`]; `None` for anything else.
pub(crate) fn parse_name(name: &str) -> Option<(u64, Kind, Uuid)> {
    let stem = name.strip_suffix(".zst")?;
    let (seq, rest) = stem.split_once('-')?;
    if seq.len() != 16 || !seq.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let (kind, id) = rest.split_once('-')?;
    let kind = Kind::parse(kind)?;
    if id.len() != uuid::fmt::Hyphenated::LENGTH {
        return None;
    }
    Some((seq.parse().ok()?, kind, Uuid::parse_str(id).ok()?))
}

/// Why a batch did not go into the spool.
#[derive(Debug)]
pub(crate) enum AppendError {
    /// Invariant 6: the batch would pass the cap.
    Full,
    /// The file could not be written.
    Io(io::Error),
}

/// A spooled batch read back and verified.
#[derive(Debug)]
pub(crate) struct Loaded {
    pub body: Bytes,
    /// Lines (records or samples) in the batch.
    pub count: usize,
}

/// The lock file that keeps a second gateway out of the same spool directory.
const LOCK_FILE: &str = "LOCK";

/// Takes the directory's lock, waiting up to 3 s for a process that is just shutting down.
fn lock_dir(path: &Path) -> io::Result<fs::File> {
    let file = fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(path)?;
    for _ in 0..30 {
        match file.try_lock() {
            Ok(()) => return Ok(file),
            Err(fs::TryLockError::WouldBlock) => {
                std::thread::sleep(std::time::Duration::from_millis(100))
            }
            Err(fs::TryLockError::Error(e)) => return Err(e),
        }
    }
    Err(io::Error::new(
        io::ErrorKind::WouldBlock,
        "the spool directory is in use by another gateway process (give each gateway its own data_dir)",
    ))
}

/// Why a spooled batch could not be read back.
#[derive(Debug)]
pub(crate) enum LoadError {
    /// Invariant 5: quarantine it.
    Corrupt(String),
    /// The file system failed (or the file vanished).
    Io(io::Error),
}

/// The spool's index of files, kept in memory; see the module doc.
pub(crate) struct Spool {
    /// Held while the spool is open: one gateway process per spool directory.
    _lock: fs::File,
    dir: PathBuf,
    max_bytes: u64,
    entries: BTreeMap<u64, Entry>,
    bytes: u64,
    next_seq: u64,
    metrics: Arc<Metrics>,
}

impl Spool {
    /// Opens (creating if need be) the spool in `dir`: deletes `.tmp` leftovers and indexes
    /// the batch files. Blocking; called once at start.
    pub fn open(dir: &Path, max_bytes: u64, metrics: Arc<Metrics>) -> Result<Spool> {
        let io_err = |path: &Path| {
            let path = path.to_path_buf();
            move |source| Error::Spool { path, source }
        };
        fs::create_dir_all(dir).map_err(io_err(dir))?;
        let lock_path = dir.join(LOCK_FILE);
        let lock = lock_dir(&lock_path).map_err(io_err(&lock_path))?;
        let mut entries = BTreeMap::new();
        let mut bytes = 0;
        for item in fs::read_dir(dir).map_err(io_err(dir))? {
            let item = item.map_err(io_err(dir))?;
            let path = item.path();
            let file_type = item.file_type().map_err(io_err(&path))?;
            if !file_type.is_file() {
                continue;
            }
            let name = item.file_name();
            let name = name.to_string_lossy();
            if name == LOCK_FILE {
                continue;
            }
            if name.ends_with(".tmp") {
                // Invariant 2: an unfinished write.
                if let Err(e) = fs::remove_file(&path) {
                    warn!(path = %path.display(), error = %e, "cannot delete unfinished spool file");
                }
                continue;
            }
            let Some((seq, kind, id)) = parse_name(&name) else {
                warn!(path = %path.display(), "ignoring a file in the spool that is not a batch");
                continue;
            };
            let len = item.metadata().map_err(io_err(&path))?.len();
            bytes += len;
            entries.insert(seq, Entry { kind, id, len });
        }
        let mut floor = now_micros();
        for dir in [dir.to_path_buf(), dir.join(CORRUPT_DIR)] {
            if let Ok(items) = fs::read_dir(&dir) {
                for item in items.flatten() {
                    if let Some((seq, _, _)) = parse_name(&item.file_name().to_string_lossy()) {
                        floor = floor.max(seq + 1);
                    }
                }
            }
        }
        let spool = Spool {
            _lock: lock,
            dir: dir.to_path_buf(),
            max_bytes,
            entries,
            bytes,
            next_seq: floor,
            metrics,
        };
        spool.publish();
        Ok(spool)
    }

    /// Hands out the next sequence number (invariant 3).
    pub fn next_seq(&mut self) -> u64 {
        let seq = self.next_seq;
        self.next_seq += 1;
        seq
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// The oldest batch.
    pub fn first(&self) -> Option<(u64, &Entry)> {
        self.entries.first_key_value().map(|(s, e)| (*s, e))
    }

    pub fn path(&self, seq: u64) -> Option<PathBuf> {
        self.entries
            .get(&seq)
            .map(|e| self.dir.join(file_name(seq, e.kind, &e.id)))
    }

    /// Writes `batch` as sequence `seq` (invariants 2 and 6).
    pub async fn append(&mut self, seq: u64, batch: &Batch) -> Result<(), AppendError> {
        let len = batch.body.len() as u64;
        if self.bytes.saturating_add(len) > self.max_bytes {
            self.metrics.spool_full.store(true, Relaxed);
            return Err(AppendError::Full);
        }
        let dir = self.dir.clone();
        let name = file_name(seq, batch.kind, &batch.id);
        let body = batch.body.clone();
        if let Err(e) = blocking(move || write_atomically(&dir, &name, &body)).await {
            // A disk that cannot take the file (full, read-only) is a full spool to readers
            // of `/readyz`: records are being lost either way.
            self.metrics.spool_full.store(true, Relaxed);
            return Err(AppendError::Io(e));
        }
        self.entries.insert(
            seq,
            Entry {
                kind: batch.kind,
                id: batch.id,
                len,
            },
        );
        self.bytes += len;
        self.metrics.spool_full.store(false, Relaxed);
        self.publish();
        Ok(())
    }

    /// Deletes a batch the collector has answered (invariant 4).
    pub async fn remove(&mut self, seq: u64) {
        let Some(path) = self.path(seq) else { return };
        if let Err(e) = blocking(move || fs::remove_file(&path)).await {
            if e.kind() != io::ErrorKind::NotFound {
                // Leaving it indexed would resend it forever; the collector dedups a resend
                // after a restart, so forget it and say so.
                error!(seq, error = %e, "cannot delete a delivered spool file; it may be sent again after a restart");
            }
        }
        self.forget(seq);
    }

    /// Moves a batch that failed verification to `corrupt/` (invariant 5).
    pub async fn quarantine(&mut self, seq: u64) {
        let Some(path) = self.path(seq) else { return };
        let target_dir = self.dir.join(CORRUPT_DIR);
        let shown = path.display().to_string();
        let moved = blocking(move || {
            fs::create_dir_all(&target_dir)?;
            let target = target_dir.join(path.file_name().unwrap_or_default());
            fs::rename(&path, target)
        })
        .await;
        if let Err(e) = moved {
            error!(path = %shown, error = %e, "cannot move a corrupt spool file to corrupt/; it stays but will not be retried until restart");
        }
        self.metrics.spool_corrupt.fetch_add(1, Relaxed);
        self.forget(seq);
    }

    /// Drops `seq` from the index without touching the file (it is gone already).
    pub fn forget(&mut self, seq: u64) {
        if let Some(e) = self.entries.remove(&seq) {
            self.bytes = self.bytes.saturating_sub(e.len);
            self.metrics.spool_full.store(false, Relaxed);
            self.publish();
        }
    }

    fn publish(&self) {
        self.metrics.spool_bytes.store(self.bytes, Relaxed);
        self.metrics
            .spool_batches
            .store(self.entries.len() as u64, Relaxed);
    }
}

/// Reads a spooled batch and verifies it by decompressing it in full (invariant 5).
/// Blocking: run it on the blocking pool.
pub(crate) fn load(path: &Path) -> Result<Loaded, LoadError> {
    let compressed = fs::read(path).map_err(LoadError::Io)?;
    let raw = zstd::stream::decode_all(compressed.as_slice())
        .map_err(|e| LoadError::Corrupt(format!("does not decompress: {e}")))?;
    let count = raw.split(|&b| b == b'\n').filter(|l| !l.is_empty()).count();
    if count == 0 {
        return Err(LoadError::Corrupt("holds no lines".into()));
    }
    Ok(Loaded {
        body: Bytes::from(compressed),
        count,
    })
}

fn write_atomically(dir: &Path, name: &str, body: &[u8]) -> io::Result<()> {
    let tmp = dir.join(format!("{name}.tmp"));
    let result = (|| {
        let mut f = File::create(&tmp)?;
        f.write_all(body)?;
        f.sync_all()?;
        drop(f);
        fs::rename(&tmp, dir.join(name))?;
        // The rename is durable only once the directory is synced.
        File::open(dir)?.sync_all()
    })();
    if result.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    result
}

async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> io::Result<T> + Send + 'static,
) -> io::Result<T> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| io::Error::other(format!("spool task failed: {e}")))?
}

fn now_micros() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_micros()).unwrap_or(u64::MAX))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::batch::compress;

    fn batch(kind: Kind, lines: &str) -> Batch {
        Batch {
            kind,
            id: Uuid::now_v7(),
            body: Bytes::from(compress(lines.as_bytes()).unwrap()),
            count: lines.lines().count(),
            replay: false,
            journal: Default::default(),
        }
    }

    #[test]
    fn names_round_trip_and_strangers_are_refused() {
        let id = Uuid::now_v7();
        let name = file_name(42, Kind::Samples, &id);
        assert_eq!(name, format!("0000000000000042-samples-{id}.zst"));
        assert_eq!(parse_name(&name), Some((42, Kind::Samples, id)));
        for bad in [
            "42-records-x.zst",
            &format!("0000000000000042-logs-{id}.zst"),
            &format!("0000000000000042-records-{id}.zst.tmp"),
            &format!("000000000000004x-records-{id}.zst"),
            "notes.txt",
        ] {
            assert_eq!(parse_name(bad), None, "{bad}");
        }
    }

    #[test]
    fn a_second_gateway_cannot_open_the_same_spool() {
        let dir = tempfile::tempdir().unwrap();
        let metrics = Arc::new(Metrics::default());
        let _first = Spool::open(dir.path(), 1 << 20, metrics.clone()).unwrap();
        let err = Spool::open(dir.path(), 1 << 20, metrics)
            .err()
            .expect("must fail");
        assert!(err.to_string().contains("another gateway process"), "{err}");
    }

    #[tokio::test]
    async fn append_then_reopen_keeps_order_and_drops_tmp_leftovers() {
        let dir = tempfile::tempdir().unwrap();
        let metrics = Arc::new(Metrics::default());
        let mut spool = Spool::open(dir.path(), 1 << 20, metrics.clone()).unwrap();
        let (a, b) = (spool.next_seq(), spool.next_seq());
        assert!(a < b);
        let ba = batch(Kind::Records, "{\"a\":1}\n{\"a\":2}\n");
        let bb = batch(Kind::Samples, "{\"b\":1}\n");
        spool.append(b, &bb).await.unwrap();
        spool.append(a, &ba).await.unwrap();
        std::fs::write(dir.path().join("x.zst.tmp"), b"half").unwrap();
        drop(spool);

        let mut spool = Spool::open(dir.path(), 1 << 20, metrics.clone()).unwrap();
        assert!(!dir.path().join("x.zst.tmp").exists());
        assert_eq!(spool.len(), 2);
        let (seq, e) = spool.first().unwrap();
        assert_eq!((seq, e.kind, e.id), (a, Kind::Records, ba.id));
        let loaded = load(&spool.path(a).unwrap()).unwrap();
        assert_eq!(loaded.count, 2);
        assert_eq!(loaded.body, ba.body);
        assert!(
            spool.next_seq() > b,
            "sequence numbers keep growing after a reopen"
        );
        spool.remove(a).await;
        assert_eq!(spool.first().unwrap().0, b);
        assert_eq!(metrics.spool_batches.load(Relaxed), 1);
        assert_eq!(metrics.spool_bytes.load(Relaxed), bb.body.len() as u64);
    }

    #[tokio::test]
    async fn a_batch_over_the_cap_is_refused_and_flags_the_spool_full() {
        let dir = tempfile::tempdir().unwrap();
        let metrics = Arc::new(Metrics::default());
        let b = batch(Kind::Records, "{\"a\":1}\n");
        let cap = b.body.len() as u64 + 5;
        let mut spool = Spool::open(dir.path(), cap, metrics.clone()).unwrap();
        let s = spool.next_seq();
        spool.append(s, &b).await.unwrap();
        let s2 = spool.next_seq();
        assert!(matches!(spool.append(s2, &b).await, Err(AppendError::Full)));
        assert!(metrics.spool_full.load(Relaxed));
        assert_eq!(spool.len(), 1);
        spool.remove(s).await;
        assert!(!metrics.spool_full.load(Relaxed));
        spool.append(s2, &b).await.unwrap();
    }

    #[tokio::test]
    async fn truncated_or_flipped_files_fail_verification_and_are_quarantined() {
        let dir = tempfile::tempdir().unwrap();
        let metrics = Arc::new(Metrics::default());
        let mut spool = Spool::open(dir.path(), 1 << 20, metrics.clone()).unwrap();
        let lines: String = (0..200).map(|i| format!("{{\"n\":{i}}}\n")).collect();
        let b = batch(Kind::Records, &lines);
        let (s1, s2) = (spool.next_seq(), spool.next_seq());
        spool.append(s1, &b).await.unwrap();
        spool.append(s2, &b).await.unwrap();

        let p1 = spool.path(s1).unwrap();
        let bytes = std::fs::read(&p1).unwrap();
        std::fs::write(&p1, &bytes[..bytes.len() - 6]).unwrap();
        assert!(matches!(load(&p1), Err(LoadError::Corrupt(_))), "truncated");

        let p2 = spool.path(s2).unwrap();
        let mut bytes = std::fs::read(&p2).unwrap();
        let last = bytes.len() - 1;
        bytes[last] ^= 0xff; // inside the content checksum
        std::fs::write(&p2, &bytes).unwrap();
        assert!(matches!(load(&p2), Err(LoadError::Corrupt(_))), "checksum");

        spool.quarantine(s1).await;
        assert!(!p1.exists());
        assert!(dir
            .path()
            .join(CORRUPT_DIR)
            .join(p1.file_name().unwrap())
            .exists());
        assert_eq!(metrics.spool_corrupt.load(Relaxed), 1);
        assert_eq!(spool.first().unwrap().0, s2);
    }
}
