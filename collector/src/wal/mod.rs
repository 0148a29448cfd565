//! The collector's write-ahead log.
//!
//! # Invariants
//!
//! 1. An append is acknowledged (its future resolves `Ok(seq)`) only after its bytes are
//!    `fdatasync`ed. The collector answers a batch's HTTP request only then.
//! 2. Sequence numbers are dense and increasing: entry `n + 1` follows entry `n` on disk.
//! 3. The ledger file `acked` holds the highest sequence number whose rows are stored in
//!    ClickHouse; entries at or below it are never read again, and a segment whose entries
//!    are all acknowledged is deleted.
//! 4. On open, every segment is scanned and each entry's CRC checked. A torn or corrupt tail of
//!    the *last* segment (a write the crash cut short, never acknowledged) is truncated away. A
//!    bad entry in an older segment ends that segment (counted in [`Recovery::corrupt_entries`]).
//! 5. A batch id is in the log at most once among unacknowledged entries: [`Wal::append`]
//!    refuses a batch id that is still pending ([`AppendError::Duplicate`]), so a shipper's
//!    resend of a batch the log already holds is answered without writing it twice.
//!
//! # On-disk layout
//!
//! Segment files `wal-<first seq, 20 digits>.log`, each a run of entries:
//!
//! ```text
//! u32 LE  payload length
//! u32 LE  CRC32C of everything after this field (header and payload)
//! u64 LE  sequence number
//! [16]    batch id (UUID bytes)
//! u8      kind (1 call records, 2 node samples)
//! u8      flags (bit 0: may already be stored — a resend or replay)
//! u32 LE  number of records in the payload
//! [len]   payload: NDJSON lines
//! ```
//!
//! Appends are group-committed: one writer thread takes every append waiting, writes them
//! with one `write`, and syncs once, so many concurrent requests share one `fdatasync`.

mod format;
mod reader;
mod writer;

pub use format::{EntryHeader, Kind, FLAG_MAYBE_STORED};
pub use reader::{Entry, WalReader};

use bytes::Bytes;
use std::collections::{HashMap, VecDeque};
use std::fs;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use tokio::sync::{mpsc, oneshot, watch};
use uuid::Uuid;

/// Errors of the log itself.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum WalError {
    #[error("write-ahead log at {path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("write-ahead log writer has stopped")]
    Closed,
}

impl WalError {
    pub(crate) fn io(path: &Path, source: io::Error) -> WalError {
        WalError::Io {
            path: path.to_path_buf(),
            source,
        }
    }
}

/// Why an append was not written.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum AppendError {
    /// The log holds `max_bytes` already; try again when the inserter has caught up.
    #[error("write-ahead log is full ({used} of {max} bytes)")]
    Full { used: u64, max: u64 },
    /// This batch id is already in the log, not yet stored: nothing to do.
    #[error("batch {0} is already in the write-ahead log")]
    Duplicate(Uuid),
    #[error(transparent)]
    Wal(#[from] WalError),
}

/// Sizes and place of the log.
#[derive(Debug, Clone)]
pub struct WalConfig {
    pub dir: PathBuf,
    /// A segment is closed and a new one started past this size, and past a quarter of
    /// `max_bytes` when that is smaller: the segment being written is deleted only once
    /// closed, so a segment as large as the cap would keep the log full for good.
    pub segment_bytes: u64,
    /// Appends are refused while the segments on disk hold this much.
    pub max_bytes: u64,
    /// Decoded values of recent appends are kept in memory up to this many payload bytes, so
    /// the reader need not decode what the ingest path already decoded.
    pub cache_bytes: u64,
}

impl WalConfig {
    pub fn new(dir: impl Into<PathBuf>) -> WalConfig {
        WalConfig {
            dir: dir.into(),
            segment_bytes: 64 << 20,
            max_bytes: 4 << 30,
            cache_bytes: 128 << 20,
        }
    }
}

/// What opening the log found.
#[derive(Debug, Clone, Default)]
pub struct Recovery {
    /// Highest acknowledged sequence number.
    pub acked: u64,
    /// Highest sequence number on disk.
    pub last_seq: u64,
    /// Entries on disk above `acked`: to be stored (and checked against what is stored).
    pub pending_entries: u64,
    /// Bytes cut from the end of the last segment (a torn write).
    pub truncated_bytes: u64,
    /// Bad entries found in older segments.
    pub corrupt_entries: u64,
}

pub(crate) struct Segment {
    pub first_seq: u64,
    pub path: PathBuf,
    pub bytes: u64,
}

/// State shared by the appenders, the writer thread and the reader.
pub(crate) struct Shared<T> {
    /// Held while the log is open: one collector process per log directory.
    pub _lock: fs::File,
    pub dir: PathBuf,
    pub max_bytes: u64,
    pub cache_bytes: u64,
    /// Segments in order; the last is the one being written.
    pub segments: Mutex<Vec<Segment>>,
    /// Bytes of all segments on disk.
    pub disk_bytes: AtomicU64,
    pub acked: AtomicU64,
    /// Batch ids of unacknowledged entries (and of appends in flight), with their seq
    /// (`u64::MAX` while in flight).
    pub pending: Mutex<Pending>,
    /// Decoded values by seq, bounded by `cache_bytes` of payload.
    pub cache: Mutex<Cache<T>>,
}

#[derive(Default)]
pub(crate) struct Pending {
    pub by_id: HashMap<Uuid, u64>,
    pub order: VecDeque<(u64, Uuid)>,
}

pub(crate) struct Cache<T> {
    pub map: HashMap<u64, (Arc<T>, u64)>,
    pub bytes: u64,
}

pub(crate) struct AppendReq<T> {
    pub header: EntryHeader,
    pub payload: Bytes,
    pub cached: Option<Arc<T>>,
    pub reply: oneshot::Sender<Result<u64, WalError>>,
}

/// The appending side of the log. Cheap to clone.
pub struct Wal<T> {
    shared: Arc<Shared<T>>,
    tx: mpsc::Sender<AppendReq<T>>,
    durable: watch::Receiver<u64>,
}

impl<T> Clone for Wal<T> {
    fn clone(&self) -> Self {
        Wal {
            shared: self.shared.clone(),
            tx: self.tx.clone(),
            durable: self.durable.clone(),
        }
    }
}

const ACKED_FILE: &str = "acked";
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
        "the write-ahead log directory is in use by another collector process (give each collector its own data_dir)",
    ))
}

impl<T: Send + Sync + 'static> Wal<T> {
    /// Opens (or creates) the log in `config.dir`, recovers it, and starts the writer thread.
    pub fn open(config: &WalConfig) -> Result<(Wal<T>, WalReader<T>, Recovery), WalError> {
        let dir = config.dir.clone();
        fs::create_dir_all(&dir).map_err(|e| WalError::io(&dir, e))?;
        let lock_path = dir.join(LOCK_FILE);
        let lock = lock_dir(&lock_path).map_err(|e| WalError::io(&lock_path, e))?;
        let acked = read_acked(&dir)?;
        let mut recovery = Recovery {
            acked,
            ..Recovery::default()
        };
        let mut segments = list_segments(&dir)?;
        let mut pending = Pending::default();
        let mut last_seq = acked;
        let n = segments.len();
        for (i, seg) in segments.iter_mut().enumerate() {
            let scan = format::scan_segment(&seg.path)?;
            for h in &scan.headers {
                last_seq = last_seq.max(h.seq);
                if h.seq > acked {
                    pending.by_id.insert(h.batch_id, h.seq);
                    pending.order.push_back((h.seq, h.batch_id));
                    recovery.pending_entries += 1;
                }
            }
            if scan.bad_tail {
                if i + 1 == n {
                    let len = fs::metadata(&seg.path)
                        .map_err(|e| WalError::io(&seg.path, e))?
                        .len();
                    recovery.truncated_bytes = len - scan.good_bytes;
                    truncate(&seg.path, scan.good_bytes)?;
                    tracing::warn!(path = %seg.path.display(), bytes = recovery.truncated_bytes, "torn write at the end of the write-ahead log cut away");
                } else {
                    recovery.corrupt_entries += 1;
                    tracing::error!(path = %seg.path.display(), offset = scan.good_bytes, "corrupt entry in the write-ahead log; the rest of this segment is skipped");
                }
            }
            seg.bytes = fs::metadata(&seg.path)
                .map_err(|e| WalError::io(&seg.path, e))?
                .len();
        }
        recovery.last_seq = last_seq;
        let disk: u64 = segments.iter().map(|s| s.bytes).sum();
        let shared = Arc::new(Shared {
            _lock: lock,
            dir: dir.clone(),
            max_bytes: config.max_bytes,
            cache_bytes: config.cache_bytes,
            segments: Mutex::new(segments),
            disk_bytes: AtomicU64::new(disk),
            acked: AtomicU64::new(acked),
            pending: Mutex::new(pending),
            cache: Mutex::new(Cache {
                map: HashMap::new(),
                bytes: 0,
            }),
        });
        let (durable_tx, durable_rx) = watch::channel(last_seq);
        let (tx, rx) = mpsc::channel(4096);
        writer::start(
            shared.clone(),
            config.segment_bytes.min((config.max_bytes / 4).max(1)),
            last_seq,
            rx,
            durable_tx,
        )?;
        let reader = WalReader::new(shared.clone(), durable_rx.clone(), acked);
        // Segments already fully acknowledged (a crash between ack and delete) go now.
        let wal = Wal {
            shared,
            tx,
            durable: durable_rx,
        };
        wal.delete_acked_segments();
        Ok((wal, reader, recovery))
    }

    /// Appends one batch and waits until it is on disk. Returns its sequence number.
    pub async fn append(
        &self,
        kind: Kind,
        batch_id: Uuid,
        flags: u8,
        count: u32,
        payload: Bytes,
        cached: Option<Arc<T>>,
    ) -> Result<u64, AppendError> {
        let used = self.shared.disk_bytes.load(Ordering::Relaxed);
        if used + payload.len() as u64 > self.shared.max_bytes {
            return Err(AppendError::Full {
                used,
                max: self.shared.max_bytes,
            });
        }
        {
            let mut p = lock(&self.shared.pending);
            if p.by_id.contains_key(&batch_id) {
                return Err(AppendError::Duplicate(batch_id));
            }
            p.by_id.insert(batch_id, u64::MAX);
        }
        let (reply, rx) = oneshot::channel();
        let req = AppendReq {
            header: EntryHeader {
                seq: 0,
                batch_id,
                kind,
                flags,
                count,
            },
            payload,
            cached,
            reply,
        };
        let result = match self.tx.send(req).await {
            Ok(()) => rx.await.unwrap_or(Err(WalError::Closed)),
            Err(_) => Err(WalError::Closed),
        };
        let mut p = lock(&self.shared.pending);
        match result {
            Ok(seq) => {
                p.by_id.insert(batch_id, seq);
                // `order` must stay sorted by seq for `ack`; appends finish nearly in order,
                // so insert from the back.
                let pos = p
                    .order
                    .iter()
                    .rposition(|&(s, _)| s < seq)
                    .map_or(0, |i| i + 1);
                p.order.insert(pos, (seq, batch_id));
                Ok(seq)
            }
            Err(e) => {
                p.by_id.remove(&batch_id);
                Err(e.into())
            }
        }
    }

    /// Records that every entry up to `seq` is stored: writes the ledger, forgets their batch
    /// ids and deletes segments no longer needed.
    pub fn ack(&self, seq: u64) -> Result<(), WalError> {
        if seq <= self.shared.acked.load(Ordering::Acquire) {
            return Ok(());
        }
        write_acked(&self.shared.dir, seq)?;
        self.shared.acked.store(seq, Ordering::Release);
        {
            let mut p = lock(&self.shared.pending);
            while let Some(&(s, id)) = p.order.front() {
                if s > seq {
                    break;
                }
                p.order.pop_front();
                p.by_id.remove(&id);
            }
        }
        self.delete_acked_segments();
        Ok(())
    }

    /// Highest acknowledged sequence number.
    pub fn acked(&self) -> u64 {
        self.shared.acked.load(Ordering::Acquire)
    }

    /// Highest sequence number on disk.
    pub fn durable(&self) -> u64 {
        *self.durable.borrow()
    }

    /// Bytes of segments on disk.
    pub fn disk_bytes(&self) -> u64 {
        self.shared.disk_bytes.load(Ordering::Relaxed)
    }

    /// Appends refused above this many bytes.
    pub fn max_bytes(&self) -> u64 {
        self.shared.max_bytes
    }

    fn delete_acked_segments(&self) {
        let acked = self.shared.acked.load(Ordering::Acquire);
        let mut segs = lock(&self.shared.segments);
        // Segment i is done when segment i+1 starts at or below acked + 1; the last segment
        // is being written and stays.
        while segs.len() >= 2 && segs[1].first_seq <= acked + 1 {
            let seg = segs.remove(0);
            match fs::remove_file(&seg.path) {
                Ok(()) => {
                    self.shared
                        .disk_bytes
                        .fetch_sub(seg.bytes, Ordering::Relaxed);
                }
                Err(e) => {
                    tracing::warn!(path = %seg.path.display(), error = %e, "cannot delete stored write-ahead log segment");
                    segs.insert(0, seg);
                    break;
                }
            }
        }
    }
}

pub(crate) fn lock<M>(m: &Mutex<M>) -> std::sync::MutexGuard<'_, M> {
    // A panic while holding one of these locks leaves plain data behind, still consistent
    // enough to go on with: take it rather than spread the panic.
    m.lock().unwrap_or_else(|e| e.into_inner())
}

pub(crate) fn segment_path(dir: &Path, first_seq: u64) -> PathBuf {
    dir.join(format!("wal-{first_seq:020}.log"))
}

fn list_segments(dir: &Path) -> Result<Vec<Segment>, WalError> {
    let mut segs = Vec::new();
    for entry in fs::read_dir(dir).map_err(|e| WalError::io(dir, e))? {
        let entry = entry.map_err(|e| WalError::io(dir, e))?;
        let name = entry.file_name();
        let Some(name) = name.to_str() else { continue };
        let Some(num) = name
            .strip_prefix("wal-")
            .and_then(|n| n.strip_suffix(".log"))
        else {
            continue;
        };
        let Ok(first_seq) = num.parse::<u64>() else {
            continue;
        };
        segs.push(Segment {
            first_seq,
            path: entry.path(),
            bytes: 0,
        });
    }
    segs.sort_by_key(|s| s.first_seq);
    Ok(segs)
}

fn read_acked(dir: &Path) -> Result<u64, WalError> {
    let path = dir.join(ACKED_FILE);
    match fs::read_to_string(&path) {
        Ok(s) => s
            .trim()
            .parse::<u64>()
            .map_err(|e| WalError::io(&path, io::Error::new(io::ErrorKind::InvalidData, e))),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(0),
        Err(e) => Err(WalError::io(&path, e)),
    }
}

fn write_acked(dir: &Path, seq: u64) -> Result<(), WalError> {
    let tmp = dir.join("acked.tmp");
    let path = dir.join(ACKED_FILE);
    let write = || -> io::Result<()> {
        let f = fs::File::create(&tmp)?;
        io::Write::write_all(&mut &f, seq.to_string().as_bytes())?;
        f.sync_data()?;
        fs::rename(&tmp, &path)?;
        fs::File::open(dir)?.sync_all()
    };
    write().map_err(|e| WalError::io(&path, e))
}

fn truncate(path: &Path, len: u64) -> Result<(), WalError> {
    let f = fs::OpenOptions::new()
        .write(true)
        .open(path)
        .map_err(|e| WalError::io(path, e))?;
    f.set_len(len).map_err(|e| WalError::io(path, e))?;
    f.sync_all().map_err(|e| WalError::io(path, e))
}
