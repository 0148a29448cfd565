//! The journal: every call's record on disk before its answer's last byte leaves, so a killed
//! gateway loses no record of a call it answered.
//!
//! # What it promises
//!
//! - **Process crash (SIGKILL, panic, OOM kill).** The record of a call is written, as the
//!   very NDJSON line the collector gets ([`crate::record_json`]), to the journal with one
//!   `write(2)` when the call ends — for a response body of known length when its last frame
//!   is handed to hyper, i.e. just *before* hyper writes the last byte (otherwise just after
//!   its end). Once `write` has returned, the bytes are in the kernel's page cache, which
//!   outlives the process. After a restart the gateway replays what the journal holds and
//!   was not yet handed on (see *Recovery*). So every answered call has its row, and a call
//!   whose answer the kill cut short may have one too (at most one per open connection: a
//!   record made durable just before its answer went out).
//! - **Power loss or kernel crash.** The page cache is lost with the machine. With
//!   `[gateway] journal_fsync = "interval"` (the default) a background task `fdatasync`s the
//!   segment being written (and any closed since) once per second ([`SYNC_EVERY`]), off the
//!   proxy's path: at most the last second of records is lost. With `"never"` the kernel
//!   writes the pages back on its own schedule (`vm.dirty_expire_centisecs`, 30 s by
//!   default). A per-call `fsync` was not offered: it would cost a disk flush per call on
//!   the proxy's path.
//! - **Disk full, or the journal at its cap.** See *Bounded*: the record still ships from
//!   memory (exactly as before the journal existed), it is just not crash-safe; counted and
//!   shown by `/readyz`.
//!
//! # Format
//!
//! The journal lives in `<spool_dir>/journal/` (`<data_dir>/spool/journal/`: it is the
//! spool's first stage). Segment files `<16-digit sequence>.jnl`, each a run of frames:
//!
//! ```text
//! [4]     magic "GWJ1"
//! u32 LE  payload length (1 to MAX_LINE)
//! u32 LE  CRC32C of the length field and the payload
//! [len]   payload: one JSON line, its newline included
//! ```
//!
//! In a segment each payload is one record's NDJSON line. Frames are appended with one
//! `write(2)` each under a mutex (the fd is `O_APPEND`), so frames never interleave; a
//! record's place is its segment and byte range ([`Pos`]). A segment is closed at a quarter
//! of `journal_max_mb` (at most [`SEGMENT_MAX`]), or — once everything in it was handed on
//! — after [`ROTATE_IDLE`].
//!
//! Beside each segment, `<sequence>.ack` holds frames of the same format whose payloads
//! are small JSON objects about that segment's byte ranges:
//!
//! - `{"b":"<batch id>","r":[[start,end],…]}` — an *intent*: the batcher cut a batch with
//!   this id from these records. Written before the batch is handed to the sender, so
//!   before it can reach a collector or the spool.
//! - `{"d":[[start,end],…]}` — *handed on*: delivered (2xx), refused for good, written to
//!   the spool (its fsynced file answers for them now), or dropped and counted (queue
//!   full, too large, spool full).
//!
//! # Nothing doubled: which mechanism, and why
//!
//! Neither of the two simple answers suffices alone:
//!
//! - *A journal offset advanced on the collector's acknowledgement* cannot be a single
//!   offset: records reach the shipper through the in-memory queue, not in file order (two
//!   workers append in one order and queue in the other), batches can fail over, split or
//!   go to the spool, so the set handed on is not a prefix. The ack file keeps that set
//!   exactly (by byte ranges; a batch of consecutive records is one range), written once
//!   per batch, never per call.
//! - *The collector's look-ups* are by **batch id**: its markers (`ingest_batches`) skip a
//!   batch stored whole, and for batches sent with the replay header it reads the rows of
//!   that batch id and inserts only call ids not yet there (`collector/src/inserter.rs`). A
//!   replay under a *new* batch id would not be caught — measured: 6 678 rows doubled over
//!   five kills before the intents existed.
//!
//! So both, each where it is exact: records handed on are not replayed (the ack file);
//! records of a batch that may have reached a collector are replayed under **that batch's
//! id** (the intent), so the collector's marker and row look-ups skip what it stored; the
//! rest go out as new batches. A kill between the collector's answer and the hand-over note
//! costs one replay of a batch the collector already has, which its look-up drops. What
//! stays open: a batch the collector split after a 413 (halves get new ids, see `ship.rs`)
//! and killed mid-way is replayed under the first id, so its stored half would be stored
//! again; and an ack file lost with the machine (power loss, see above; ack files are not
//! synced) replays records as new batches.
//!
//! # Recovery
//!
//! On start, before the gateway serves, every segment and ack file left by the previous
//! process is read ([`recover`]) and each frame checked: the magic, a length within
//! bounds, the CRC, and a payload that is one JSON line. A frame that fails is *damaged*:
//! the reader looks for the next magic whose frame passes and goes on from there, counting
//! the damaged stretch (`gatewatch_gateway_journal_damaged_total`,
//! `…_journal_skipped_bytes_total`, and a warning). An incomplete frame at the end of a file
//! with nothing valid after it is a *torn tail* (a write cut short): skipped and counted as
//! such. So a damaged journal yields every intact record before and after the damage, and
//! a damaged file can neither crash the gateway (every length is checked before it is
//! used) nor inject anything that is not a checksummed JSON line (which the collector then
//! validates like any other record). The records become replay batches in the spool (sent
//! oldest first, with the replay header, by the spool's rules): those of an intent under
//! its id, the others in new batches whose intents are written first; each batch spooled
//! is noted as handed on, and the old segments are deleted when all are. A crash during
//! recovery replays the rest under the same ids. A segment whose file or ack file cannot be
//! read (an I/O error) is logged, not replayed and kept; the others go on.
//!
//! # Bounded
//!
//! `[gateway] journal_max_mb` (default 256; 0 turns the journal off) caps the segments'
//! total size. An append that would pass it is refused: the record is not journalled, goes
//! on through memory as before, and is counted in
//! `gatewatch_gateway_records_unjournalled_total`; `gatewatch_gateway_journal_full` is 1 and
//! `/readyz` answers 503 until a segment is freed. A failing disk is treated the same. The
//! journal fills only while records cannot be handed on (every collector away *and* the
//! spool full or failing), since the spool takes them otherwise.
//!
//! # One owner
//!
//! `journal/LOCK` is locked for the life of the process: a second gateway on the same
//! directory fails to start, naming the lock (as the collector's write-ahead log and the
//! spool do).

use std::collections::BTreeMap;
use std::fs::{self, File};
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering::Relaxed;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use tracing::{error, warn};

use crate::metrics::Metrics;

/// Bytes before each payload: magic, length, CRC.
pub(crate) const HEADER: usize = 12;
/// The frame's magic.
const MAGIC: [u8; 4] = *b"GWJ1";
/// Longest payload a frame may carry; the record caps (`caps.rs`) keep lines far below.
pub(crate) const MAX_LINE: usize = 16 << 20;
/// Largest segment.
pub(crate) const SEGMENT_MAX: u64 = 16 << 20;
/// A segment whose records were all handed on is closed (and deleted) once it is this old.
pub(crate) const ROTATE_IDLE: Duration = Duration::from_secs(1);
/// How often `journal_fsync = "interval"` syncs.
pub(crate) const SYNC_EVERY: Duration = Duration::from_secs(1);
/// Default cap: 256 MiB.
pub const DEFAULT_JOURNAL_MAX_BYTES: u64 = 256 << 20;
const LOCK_FILE: &str = "LOCK";
const SUFFIX: &str = ".jnl";
const ACK_SUFFIX: &str = ".ack";

/// `[gateway] journal_fsync`: when the journal is flushed to the disk itself (see the module
/// doc for what each promises on power loss).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum JournalFsync {
    /// Never: the kernel writes back on its own schedule.
    Never,
    /// Once per second, off the proxy's path.
    #[default]
    Interval,
}

impl std::str::FromStr for JournalFsync {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "never" => Ok(JournalFsync::Never),
            "interval" => Ok(JournalFsync::Interval),
            other => Err(format!("must be \"never\" or \"interval\", not {other:?}")),
        }
    }
}

/// Where one record's frame lies in the journal: segment, and its bytes `start..end`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Pos {
    pub seg: u64,
    pub start: u64,
    pub end: u64,
}

/// The frames a batch's records came from, as ranges (adjacent frames merged), in order.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Refs(pub Vec<Pos>);

impl Refs {
    pub fn add(&mut self, at: Option<Pos>) {
        let Some(at) = at else { return };
        match self.0.last_mut() {
            Some(p) if p.seg == at.seg && p.end == at.start => p.end = at.end,
            _ => self.0.push(at),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The ranges of each segment, segment by segment.
    fn by_segment(&self) -> BTreeMap<u64, Vec<(u64, u64)>> {
        let mut m: BTreeMap<u64, Vec<(u64, u64)>> = BTreeMap::new();
        for p in &self.0 {
            m.entry(p.seg).or_default().push((p.start, p.end));
        }
        m
    }
}

/// Writes one frame into `buf` (cleared first): the header, then what `payload` appends.
pub(crate) fn frame_with(buf: &mut Vec<u8>, payload: impl FnOnce(&mut Vec<u8>)) {
    buf.clear();
    buf.extend_from_slice(&[0; HEADER]);
    payload(buf);
    let len = u32::try_from(buf.len() - HEADER).unwrap_or(u32::MAX);
    let len_bytes = len.to_le_bytes();
    let crc = crc32c::crc32c_append(crc32c::crc32c(&len_bytes), &buf[HEADER..]);
    buf[..4].copy_from_slice(&MAGIC);
    buf[4..8].copy_from_slice(&len_bytes);
    buf[8..12].copy_from_slice(&crc.to_le_bytes());
}

/// One line of a segment's ack file: an intent (`b`: the batch id that carries the ranges
/// `r`) or a hand-over (`d`: ranges handed on).
#[derive(Debug, Default, serde::Serialize, serde::Deserialize)]
struct AckLine {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    b: Option<uuid::Uuid>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    r: Vec<(u64, u64)>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    d: Vec<(u64, u64)>,
}

fn ack_frame(line: &AckLine) -> Vec<u8> {
    let mut buf = Vec::new();
    frame_with(&mut buf, |b| {
        // Serializing plain numbers and a UUID cannot fail.
        let _ = serde_json::to_writer(&mut *b, line);
        b.push(b'\n');
    });
    buf
}

/// A segment's state.
struct Seg {
    /// Bytes written.
    len: u64,
    /// Bytes of frames handed on.
    acked: u64,
    /// Its ack file, opened on first use.
    ack: Option<File>,
}

/// The segment being written.
struct Current {
    seq: u64,
    file: File,
    opened: Instant,
}

struct State {
    current: Current,
    /// Every live segment, the current one included.
    segs: BTreeMap<u64, Seg>,
    /// Bytes of all segments.
    bytes: u64,
    /// Closed segments not yet synced (`Interval` only).
    unsynced: Vec<File>,
    /// An ack write failed (logged once).
    ack_failed: bool,
    /// A write to the current segment failed: the next append starts a new one. (Its `len`
    /// stays what was written whole, so it is freed once those records are handed on.)
    rotate_next: bool,
}

/// The journal; see the module doc. Shared by the proxy's workers (append), the batcher
/// (intents) and the shipper (hand-overs).
pub(crate) struct Journal {
    dir: PathBuf,
    max_bytes: u64,
    segment_max: u64,
    fsync: JournalFsync,
    state: Mutex<State>,
    metrics: Arc<Metrics>,
    _lock: File,
}

/// Segments left by an earlier process, oldest first: see [`recover`].
#[derive(Debug)]
pub(crate) struct Leftover {
    pub dir: PathBuf,
    pub segments: Vec<u64>,
}

/// Why the journal could not be opened.
#[derive(Debug, thiserror::Error)]
#[error("journal {path}: {source}")]
pub struct OpenError {
    pub path: PathBuf,
    #[source]
    pub source: io::Error,
}

fn lock_dir(path: &Path) -> io::Result<File> {
    let file = fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(path)?;
    for _ in 0..30 {
        match file.try_lock() {
            Ok(()) => return Ok(file),
            Err(fs::TryLockError::WouldBlock) => std::thread::sleep(Duration::from_millis(100)),
            Err(fs::TryLockError::Error(e)) => return Err(e),
        }
    }
    Err(io::Error::new(
        io::ErrorKind::WouldBlock,
        "locked by another gateway process: the journal directory is in use (give each gateway its own data_dir)",
    ))
}

fn segment_name(seq: u64) -> String {
    format!("{seq:016}{SUFFIX}")
}

fn ack_name(seq: u64) -> String {
    format!("{seq:016}{ACK_SUFFIX}")
}

fn parse_segment(name: &str) -> Option<u64> {
    let stem = name.strip_suffix(SUFFIX)?;
    (stem.len() == 16 && stem.bytes().all(|b| b.is_ascii_digit()))
        .then(|| stem.parse().ok())
        .flatten()
}

fn open_append(path: &Path, new: bool) -> io::Result<File> {
    let mut o = fs::OpenOptions::new();
    o.append(true);
    if new {
        o.create_new(true);
    } else {
        o.create(true);
    }
    o.open(path)
}

/// Deletes a segment and its ack file.
fn remove_segment(dir: &Path, seq: u64) -> io::Result<()> {
    for name in [segment_name(seq), ack_name(seq)] {
        match fs::remove_file(dir.join(name)) {
            Err(e) if e.kind() != io::ErrorKind::NotFound => return Err(e),
            _ => {}
        }
    }
    Ok(())
}

impl Journal {
    /// Opens (creating) the journal in `dir` with a cap of `max_bytes`: takes the lock,
    /// lists the segments an earlier process left (to be replayed by the caller, see
    /// [`recover`]) and starts a new one after them. Blocking; called once at start.
    pub fn open(
        dir: &Path,
        max_bytes: u64,
        fsync: JournalFsync,
        metrics: Arc<Metrics>,
    ) -> Result<(Journal, Leftover), OpenError> {
        let err = |path: &Path| {
            let path = path.to_path_buf();
            move |source| OpenError { path, source }
        };
        fs::create_dir_all(dir).map_err(err(dir))?;
        let lock_path = dir.join(LOCK_FILE);
        let lock = lock_dir(&lock_path).map_err(err(&lock_path))?;
        let mut old = Vec::new();
        for item in fs::read_dir(dir).map_err(err(dir))? {
            let item = item.map_err(err(dir))?;
            let name = item.file_name();
            let name = name.to_string_lossy();
            if name == LOCK_FILE || name.ends_with(ACK_SUFFIX) {
                continue;
            }
            match parse_segment(&name) {
                Some(seq) if item.file_type().map_err(err(&item.path()))?.is_file() => {
                    old.push(seq)
                }
                _ => {
                    warn!(path = %item.path().display(), "ignoring a file in the journal that is not a segment")
                }
            }
        }
        old.sort_unstable();
        let seq = old.last().map_or(1, |s| s + 1);
        let path = dir.join(segment_name(seq));
        let file = open_append(&path, true).map_err(err(&path))?;
        metrics.journal_max_bytes.store(max_bytes, Relaxed);
        let mut segs = BTreeMap::new();
        segs.insert(
            seq,
            Seg {
                len: 0,
                acked: 0,
                ack: None,
            },
        );
        let journal = Journal {
            dir: dir.to_path_buf(),
            max_bytes,
            segment_max: (max_bytes / 4).clamp(1, SEGMENT_MAX),
            fsync,
            state: Mutex::new(State {
                current: Current {
                    seq,
                    file,
                    opened: Instant::now(),
                },
                segs,
                bytes: 0,
                unsynced: Vec::new(),
                ack_failed: false,
                rotate_next: false,
            }),
            metrics,
            _lock: lock,
        };
        Ok((
            journal,
            Leftover {
                dir: dir.to_path_buf(),
                segments: old,
            },
        ))
    }

    fn state(&self) -> MutexGuard<'_, State> {
        self.state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Appends one frame (made by [`frame_with`]); where it went, or `None` when it was
    /// refused (cap reached, disk failing: counted, see the module doc).
    pub fn append(&self, frame: &[u8]) -> Option<Pos> {
        let n = frame.len() as u64;
        let mut st = self.state();
        if st.bytes + n > self.max_bytes {
            drop(st);
            self.refuse("the journal is full (journal_max_mb)", None);
            return None;
        }
        let seq = st.current.seq;
        let len = st.segs.get(&seq).map_or(0, |s| s.len);
        if st.rotate_next || (len > 0 && len + n > self.segment_max) {
            if let Err(e) = self.rotate(&mut st) {
                drop(st);
                self.refuse("cannot open a new journal segment", Some(e));
                return None;
            }
        }
        let seq = st.current.seq;
        if let Err(e) = (&st.current.file).write_all(frame) {
            // Part of the frame may be on disk: recovery skips it by its CRC. The next
            // append starts a new segment.
            st.rotate_next = true;
            drop(st);
            self.refuse("cannot write to the journal", Some(e));
            return None;
        }
        st.bytes += n;
        let bytes = st.bytes;
        let seg = st.segs.get_mut(&seq)?;
        let start = seg.len;
        seg.len += n;
        self.metrics.journal_bytes.store(bytes, Relaxed);
        Some(Pos {
            seg: seq,
            start,
            end: start + n,
        })
    }

    fn refuse(&self, why: &str, e: Option<io::Error>) {
        self.metrics.journal_full.store(true, Relaxed);
        let n = self.metrics.records_unjournalled.fetch_add(1, Relaxed) + 1;
        // The first and every 10 000th: a full journal must not flood the log.
        if n == 1 || n.is_multiple_of(10_000) {
            match e {
                Some(e) => {
                    error!(error = %e, unjournalled_so_far = n, "{why}; records ship from memory only (lost if the gateway is killed)")
                }
                None => {
                    warn!(
                        unjournalled_so_far = n,
                        "{why}; records ship from memory only (lost if the gateway is killed)"
                    )
                }
            }
        }
    }

    /// Closes the current segment and opens the next.
    fn rotate(&self, st: &mut State) -> io::Result<()> {
        let seq = st.current.seq + 1;
        let file = open_append(&self.dir.join(segment_name(seq)), true)?;
        st.rotate_next = false;
        let old = std::mem::replace(
            &mut st.current,
            Current {
                seq,
                file,
                opened: Instant::now(),
            },
        );
        st.segs.insert(
            seq,
            Seg {
                len: 0,
                acked: 0,
                ack: None,
            },
        );
        if self.fsync == JournalFsync::Interval {
            st.unsynced.push(old.file);
        }
        Ok(())
    }

    /// Appends `line` to segment `seq`'s ack file.
    fn write_ack(&self, st: &mut State, seq: u64, line: &AckLine) {
        let dir = &self.dir;
        let Some(seg) = st.segs.get_mut(&seq) else {
            return;
        };
        let result = match &mut seg.ack {
            Some(f) => f.write_all(&ack_frame(line)),
            None => open_append(&dir.join(ack_name(seq)), false).and_then(|mut f| {
                f.write_all(&ack_frame(line))?;
                seg.ack = Some(f);
                Ok(())
            }),
        };
        if let Err(e) = result {
            if !std::mem::replace(&mut st.ack_failed, true) {
                error!(error = %e, "cannot write the journal's ack file; after a crash some records may be stored twice");
            }
        }
    }

    /// Batch `id` carries the records of `refs` (written before it is sent or spooled): a
    /// restart replays exactly these under the same id, so the collector's look-ups by batch
    /// id skip what it stored.
    pub fn intend(&self, id: uuid::Uuid, refs: &Refs) {
        let mut st = self.state();
        for (seq, ranges) in refs.by_segment() {
            let line = AckLine {
                b: Some(id),
                r: ranges,
                d: Vec::new(),
            };
            self.write_ack(&mut st, seq, &line);
        }
    }

    /// The records of `refs` were handed on (delivered, refused for good, spooled, or
    /// dropped and counted): noted in the ack files; segments all of whose records were
    /// handed on are deleted.
    pub fn release(&self, refs: &Refs) {
        let mut st = self.state();
        for (seq, ranges) in refs.by_segment() {
            let n: u64 = ranges.iter().map(|(s, e)| e.saturating_sub(*s)).sum();
            let line = AckLine {
                b: None,
                r: Vec::new(),
                d: ranges,
            };
            self.write_ack(&mut st, seq, &line);
            if let Some(seg) = st.segs.get_mut(&seq) {
                seg.acked += n;
            }
        }
        let cur = st.current.seq;
        let idle = st.current.opened.elapsed() >= ROTATE_IDLE;
        if idle
            && st
                .segs
                .get(&cur)
                .is_some_and(|s| s.len > 0 && s.acked >= s.len)
        {
            if let Err(e) = self.rotate(&mut st) {
                warn!(error = %e, "cannot open a new journal segment; the current one is kept");
            }
        }
        let cur = st.current.seq;
        let done: Vec<u64> = st
            .segs
            .iter()
            .filter(|(seq, s)| **seq != cur && s.acked >= s.len)
            .map(|(seq, _)| *seq)
            .collect();
        for seq in done {
            if let Some(s) = st.segs.remove(&seq) {
                st.bytes = st.bytes.saturating_sub(s.len);
                if let Err(e) = remove_segment(&self.dir, seq) {
                    error!(segment = seq, error = %e, "cannot delete a journal segment whose records were all handed on; it is replayed after a restart");
                }
            }
        }
        self.metrics.journal_bytes.store(st.bytes, Relaxed);
        if st.bytes < self.max_bytes {
            self.metrics.journal_full.store(false, Relaxed);
        }
    }

    /// `fdatasync`s the current segment and those closed since the last call. Blocking.
    pub fn sync(&self) -> io::Result<()> {
        let (closed, current) = {
            let mut st = self.state();
            (
                std::mem::take(&mut st.unsynced),
                st.current.file.try_clone(),
            )
        };
        for f in closed {
            f.sync_data()?;
        }
        current?.sync_data()
    }

    /// A clean stop: when every record was handed on, the last segment is deleted too.
    pub fn close(&self) {
        let st = self.state();
        if st.segs.values().all(|s| s.acked >= s.len) {
            for seq in st.segs.keys() {
                if let Err(e) = remove_segment(&self.dir, *seq) {
                    warn!(segment = seq, error = %e, "cannot delete a journal segment");
                }
            }
        }
    }
}

/// What [`scan`] found in a segment.
#[derive(Debug, Default, PartialEq, Eq)]
pub(crate) struct Scan {
    /// The intact frames: where each starts and ends, and its line (newline included).
    pub lines: Vec<(u64, u64, Vec<u8>)>,
    /// Damaged stretches skipped (each cost at least one record).
    pub damaged: u64,
    /// Bytes in those stretches.
    pub skipped_bytes: u64,
    /// Bytes of an incomplete frame at the end (a write cut short).
    pub torn_bytes: u64,
}

enum At {
    /// A valid frame: its payload, and where the next starts.
    Frame(std::ops::Range<usize>, usize),
    /// Too short for a whole frame (header or payload past the end).
    Short,
    Bad,
}

fn frame_at(data: &[u8], p: usize) -> At {
    let rest = &data[p..];
    if rest.len() < HEADER {
        return At::Short;
    }
    if rest[..4] != MAGIC {
        return At::Bad;
    }
    let len_bytes: [u8; 4] = [rest[4], rest[5], rest[6], rest[7]];
    let len = u32::from_le_bytes(len_bytes) as usize;
    if len == 0 || len > MAX_LINE {
        return At::Bad;
    }
    let Some(payload) = rest.get(HEADER..HEADER + len) else {
        return At::Short;
    };
    let crc = u32::from_le_bytes([rest[8], rest[9], rest[10], rest[11]]);
    if crc32c::crc32c_append(crc32c::crc32c(&len_bytes), payload) != crc {
        return At::Bad;
    }
    // A checksummed frame must still be one JSON line: nothing else is shipped.
    let (last, body) = payload.split_last().unwrap_or((&0, &[]));
    if *last != b'\n'
        || body.contains(&b'\n')
        || serde_json::from_slice::<serde::de::IgnoredAny>(body).is_err()
    {
        return At::Bad;
    }
    At::Frame(p + HEADER..p + HEADER + len, p + HEADER + len)
}

/// The next position at or after `from` holding a valid frame.
fn resync(data: &[u8], from: usize) -> Option<usize> {
    let mut q = from;
    while q + MAGIC.len() <= data.len() {
        let i = data[q..].windows(MAGIC.len()).position(|w| w == MAGIC)?;
        q += i;
        if let At::Frame(..) = frame_at(data, q) {
            return Some(q);
        }
        q += 1;
    }
    None
}

/// Reads a file of frames (see *Recovery* in the module doc). Never panics on any input.
pub(crate) fn scan(data: &[u8]) -> Scan {
    let mut out = Scan::default();
    let mut p = 0;
    while p < data.len() {
        match frame_at(data, p) {
            At::Frame(payload, next) => {
                out.lines
                    .push((p as u64, next as u64, data[payload].to_vec()));
                p = next;
            }
            bad_or_short => match resync(data, p + 1) {
                Some(q) => {
                    out.damaged += 1;
                    out.skipped_bytes += (q - p) as u64;
                    p = q;
                }
                None => {
                    let rest = (data.len() - p) as u64;
                    match bad_or_short {
                        // Nothing valid after an incomplete frame: a write cut short.
                        At::Short => out.torn_bytes += rest,
                        _ => {
                            out.damaged += 1;
                            out.skipped_bytes += rest;
                        }
                    }
                    break;
                }
            },
        }
    }
    out
}

/// The value of the range (sorted by start, not overlapping) holding `at`.
fn find<T: Copy>(ranges: &[(u64, u64, T)], at: u64) -> Option<T> {
    let i = ranges.partition_point(|(s, _, _)| *s <= at);
    let (_, end, v) = ranges.get(i.checked_sub(1)?)?;
    (at < *end).then_some(*v)
}

/// Ranges sorted by start with overlapping ones merged (hand-over notes may repeat).
fn merged(mut r: Vec<(u64, u64)>) -> Vec<(u64, u64, ())> {
    r.sort_unstable();
    let mut out: Vec<(u64, u64, ())> = Vec::with_capacity(r.len());
    for (s, e) in r {
        match out.last_mut() {
            Some(last) if s <= last.1 => last.1 = last.1.max(e),
            _ => out.push((s, e, ())),
        }
    }
    out
}

/// A batch to replay: its id (the one first sent, or a new one whose intent is written),
/// its lines, and the frames they came from.
#[derive(Debug)]
pub(crate) struct ReplayBatch {
    pub id: uuid::Uuid,
    pub lines: Vec<Vec<u8>>,
    pub refs: Refs,
}

/// What a previous process left, sorted for replay (see [`recover`]).
#[derive(Debug, Default)]
pub(crate) struct Recovered {
    /// Batches to put in the spool, oldest first.
    pub batches: Vec<ReplayBatch>,
    pub damaged: u64,
    pub skipped_bytes: u64,
    pub torn_bytes: u64,
    /// Records already handed on by the previous process (not replayed).
    pub already_handed_on: u64,
    /// Segments whose segment or ack file could not be read: not replayed (without its ack
    /// file a segment would be replayed whole, doubling what was handed on) and kept by
    /// [`finish_replay`], so one bad file does not stop the others' replay.
    pub unreadable: Vec<u64>,
}

/// Reads the segments `left` names with their ack files: records handed on are skipped,
/// records of a batch that was sent or spooled are grouped under that batch's id again, and
/// the rest cut into new batches of at most `max` records and `max_bytes` — each new one's
/// intent written before it is returned. Blocking. Then spool each batch and
/// [`finish_replay`]. Segments are held in memory one at a time beside the batches found.
pub(crate) fn recover(left: &Leftover, max: usize, max_bytes: usize) -> io::Result<Recovered> {
    let mut out = Recovered::default();
    // Batch ids in the order their intents were written, and per segment the ranges each
    // one carries (index into `intents`) and the ranges handed on.
    let mut intents: Vec<uuid::Uuid> = Vec::new();
    let mut index: std::collections::HashMap<uuid::Uuid, usize> = std::collections::HashMap::new();
    let mut carried: BTreeMap<u64, Vec<(u64, u64, usize)>> = BTreeMap::new();
    let mut done: BTreeMap<u64, Vec<(u64, u64)>> = BTreeMap::new();
    for &seq in &left.segments {
        let path = left.dir.join(ack_name(seq));
        let data = match fs::read(&path) {
            Ok(d) => d,
            Err(e) if e.kind() == io::ErrorKind::NotFound => continue,
            Err(e) => {
                error!(path = %path.display(), error = %e, "cannot read a journal ack file; its segment is not replayed and kept");
                out.unreadable.push(seq);
                continue;
            }
        };
        let s = scan(&data);
        out.damaged += s.damaged;
        out.skipped_bytes += s.skipped_bytes;
        for (_, _, line) in s.lines {
            let Ok(a) = serde_json::from_slice::<AckLine>(&line) else {
                out.damaged += 1;
                continue;
            };
            done.entry(seq).or_default().extend(a.d);
            if let Some(b) = a.b {
                let i = *index.entry(b).or_insert_with(|| {
                    intents.push(b);
                    intents.len() - 1
                });
                let c = carried.entry(seq).or_default();
                c.extend(a.r.into_iter().map(|(s, e)| (s, e, i)));
            }
        }
    }
    for c in carried.values_mut() {
        c.sort_unstable();
    }
    let done: BTreeMap<u64, Vec<(u64, u64, ())>> =
        done.into_iter().map(|(seq, r)| (seq, merged(r))).collect();
    let mut grouped: std::collections::HashMap<uuid::Uuid, ReplayBatch> =
        std::collections::HashMap::new();
    for &seq in &left.segments {
        if out.unreadable.contains(&seq) {
            continue;
        }
        let path = left.dir.join(segment_name(seq));
        let s = match fs::read(&path) {
            Ok(d) => scan(&d),
            Err(e) => {
                error!(path = %path.display(), error = %e, "cannot read a journal segment; it is not replayed and kept");
                out.unreadable.push(seq);
                continue;
            }
        };
        out.damaged += s.damaged;
        out.skipped_bytes += s.skipped_bytes;
        out.torn_bytes += s.torn_bytes;
        let handed = done.get(&seq).map_or(&[][..], Vec::as_slice);
        let owners = carried.get(&seq).map_or(&[][..], Vec::as_slice);
        let mut fresh: Vec<ReplayBatch> = Vec::new();
        let mut raw_len = 0;
        for (start, end, line) in s.lines {
            if find(handed, start).is_some() {
                out.already_handed_on += 1;
                continue;
            }
            let at = Some(Pos {
                seg: seq,
                start,
                end,
            });
            if let Some(id) = find(owners, start).and_then(|i| intents.get(i).copied()) {
                let b = grouped.entry(id).or_insert_with(|| ReplayBatch {
                    id,
                    lines: Vec::new(),
                    refs: Refs::default(),
                });
                b.lines.push(line);
                b.refs.add(at);
                continue;
            }
            let full = fresh
                .last()
                .is_none_or(|b| b.lines.len() >= max || raw_len + line.len() > max_bytes);
            if full {
                fresh.push(ReplayBatch {
                    id: uuid::Uuid::now_v7(),
                    lines: Vec::new(),
                    refs: Refs::default(),
                });
                raw_len = 0;
            }
            raw_len += line.len();
            if let Some(b) = fresh.last_mut() {
                b.lines.push(line);
                b.refs.add(at);
            }
        }
        // The new batches' intents, before they reach the spool: a crash while replaying
        // replays them again under the same ids.
        for b in &fresh {
            write_ack_file(
                &left.dir,
                &b.refs,
                &AckLine {
                    b: Some(b.id),
                    r: Vec::new(),
                    d: Vec::new(),
                },
            )?;
        }
        out.batches.extend(fresh);
    }
    // Batches in flight when the process died, in the order they were made.
    for id in intents {
        if let Some(b) = grouped.remove(&id) {
            out.batches.push(b);
        }
    }
    Ok(out)
}

/// Appends `line` to the ack file of each segment of `refs` (with that segment's ranges in
/// `r` when `line.b` is set, else in `d`). Blocking.
fn write_ack_file(dir: &Path, refs: &Refs, line: &AckLine) -> io::Result<()> {
    for (seq, ranges) in refs.by_segment() {
        let l = AckLine {
            b: line.b,
            r: if line.b.is_some() {
                ranges.clone()
            } else {
                Vec::new()
            },
            d: if line.b.is_some() { Vec::new() } else { ranges },
        };
        let mut f = open_append(&dir.join(ack_name(seq)), false)?;
        f.write_all(&ack_frame(&l))?;
    }
    Ok(())
}

/// A replayed batch is in the spool (or was dropped and counted): noted, so a crash before
/// [`finish_replay`] does not spool it again. Blocking.
pub(crate) fn replayed(left: &Leftover, refs: &Refs) -> io::Result<()> {
    write_ack_file(&left.dir, refs, &AckLine::default())
}

/// Every leftover batch is in the spool: the old segments and their ack files go, but those
/// of `keep` (unreadable, see [`Recovered::unreadable`]). Blocking.
pub(crate) fn finish_replay(left: &Leftover, keep: &[u64]) -> io::Result<()> {
    for &seq in left.segments.iter().filter(|s| !keep.contains(s)) {
        remove_segment(&left.dir, seq)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn line(i: usize) -> Vec<u8> {
        let mut f = Vec::new();
        frame_with(&mut f, |b| {
            b.extend_from_slice(format!("{{\"n\":{i}}}\n").as_bytes())
        });
        f
    }

    fn open(dir: &Path, max: u64) -> (Journal, Leftover, Arc<Metrics>) {
        let m = Arc::new(Metrics::default());
        let (j, l) = Journal::open(dir, max, JournalFsync::Interval, m.clone()).unwrap();
        (j, l, m)
    }

    fn texts(lines: &[(u64, u64, Vec<u8>)]) -> Vec<String> {
        lines
            .iter()
            .map(|(_, _, l)| String::from_utf8(l.clone()).unwrap())
            .collect()
    }

    fn n(i: usize) -> String {
        format!("{{\"n\":{i}}}\n")
    }

    fn batch_texts(b: &ReplayBatch) -> Vec<String> {
        b.lines
            .iter()
            .map(|l| String::from_utf8(l.clone()).unwrap())
            .collect()
    }

    #[test]
    fn appended_lines_come_back_after_a_reopen_in_order() {
        let dir = tempfile::tempdir().unwrap();
        let (j, left, _) = open(dir.path(), 1 << 20);
        assert!(left.segments.is_empty());
        for i in 0..5 {
            assert_eq!(j.append(&line(i)).unwrap().seg, 1);
        }
        j.sync().unwrap();
        drop(j);
        let (j, left, _) = open(dir.path(), 1 << 20);
        assert_eq!(left.segments, [1]);
        let rec = recover(&left, 3, 1 << 20).unwrap();
        let got: Vec<Vec<String>> = rec.batches.iter().map(batch_texts).collect();
        assert_eq!(got, [vec![n(0), n(1), n(2)], vec![n(3), n(4)]]);
        assert_eq!((rec.damaged, rec.skipped_bytes, rec.torn_bytes), (0, 0, 0));
        // The new process writes a segment after the old ones.
        assert_eq!(j.append(&line(9)).unwrap().seg, 2);
        // Recovered again before the old segment is gone (a crash while replaying): the
        // same batch ids, nothing new.
        let again = recover(&left, 3, 1 << 20).unwrap();
        let ids = |r: &Recovered| r.batches.iter().map(|b| b.id).collect::<Vec<_>>();
        assert_eq!(ids(&again), ids(&rec));
        // One spooled and noted: only the other comes back.
        replayed(&left, &rec.batches[0].refs).unwrap();
        let third = recover(&left, 3, 1 << 20).unwrap();
        assert_eq!(ids(&third), [rec.batches[1].id]);
        assert_eq!(third.already_handed_on, 3);
        finish_replay(&left, &[]).unwrap();
        assert!(!dir.path().join(segment_name(1)).exists());
        assert!(!dir.path().join(ack_name(1)).exists());
    }

    #[test]
    fn handed_on_records_are_not_replayed_and_sent_ones_keep_their_batch_id() {
        let dir = tempfile::tempdir().unwrap();
        let (j, _, _) = open(dir.path(), 1 << 20);
        let at: Vec<Pos> = (0..6).map(|i| j.append(&line(i)).unwrap()).collect();
        // Records 0-1 delivered; 2-3 in batch X (sent, no answer yet); 4-5 still queued.
        let mut delivered = Refs::default();
        delivered.add(Some(at[0]));
        delivered.add(Some(at[1]));
        assert_eq!(delivered.0.len(), 1, "adjacent frames merge");
        let x = uuid::Uuid::now_v7();
        j.intend(x, &delivered);
        j.release(&delivered);
        let mut sent = Refs::default();
        sent.add(Some(at[2]));
        sent.add(Some(at[3]));
        j.intend(x, &Refs::default());
        let y = uuid::Uuid::now_v7();
        j.intend(y, &sent);
        drop(j); // SIGKILL: nothing more
        let (_j, left, _) = open(dir.path(), 1 << 20);
        let rec = recover(&left, 100, 1 << 20).unwrap();
        assert_eq!(rec.already_handed_on, 2);
        assert_eq!(rec.batches.len(), 2);
        assert_eq!(batch_texts(&rec.batches[0]), [n(4), n(5)]);
        assert_ne!(rec.batches[0].id, y);
        assert_eq!(
            rec.batches[1].id, y,
            "a batch sent before the kill keeps its id"
        );
        assert_eq!(batch_texts(&rec.batches[1]), [n(2), n(3)]);
    }

    #[test]
    fn a_torn_tail_is_cut_away_and_measured() {
        let mut data: Vec<u8> = (0..3).flat_map(line).collect();
        let last = line(3);
        for cut in [1, HEADER - 1, HEADER, last.len() - 1] {
            let mut d = data.clone();
            d.extend_from_slice(&last[..cut]);
            let s = scan(&d);
            assert_eq!(s.lines.len(), 3, "cut {cut}");
            assert_eq!((s.damaged, s.torn_bytes), (0, cut as u64), "cut {cut}");
        }
        data.extend_from_slice(&last);
        assert_eq!(scan(&data).lines.len(), 4);
    }

    #[test]
    fn a_torn_segment_recovers_everything_before_the_tear() {
        let dir = tempfile::tempdir().unwrap();
        let (j, _, _) = open(dir.path(), 1 << 20);
        for i in 0..4 {
            j.append(&line(i)).unwrap();
        }
        drop(j);
        let path = dir.path().join(segment_name(1));
        let mut data = fs::read(&path).unwrap();
        data.truncate(data.len() - 5);
        fs::write(&path, &data).unwrap();
        let (_j, left, _) = open(dir.path(), 1 << 20);
        let rec = recover(&left, 100, 1 << 20).unwrap();
        assert_eq!(batch_texts(&rec.batches[0]), [n(0), n(1), n(2)]);
        assert_eq!(rec.torn_bytes, line(3).len() as u64 - 5);
    }

    #[test]
    fn a_flipped_byte_is_caught_by_the_crc_and_the_rest_recovered() {
        let frames: Vec<Vec<u8>> = (0..5).map(line).collect();
        let data: Vec<u8> = frames.concat();
        let start2 = frames[0].len() + frames[1].len();
        // Flip a byte in each part of frame 2: magic, length, CRC, payload.
        for off in [0, 5, 9, HEADER + 2] {
            let mut d = data.clone();
            d[start2 + off] ^= 0x40;
            let s = scan(&d);
            assert_eq!(texts(&s.lines), [n(0), n(1), n(3), n(4)], "offset {off}");
            assert_eq!(s.damaged, 1, "offset {off}");
            assert_eq!(s.skipped_bytes, frames[2].len() as u64, "offset {off}");
            assert_eq!(s.torn_bytes, 0);
        }
        // Damage in the last frame: nothing valid after it, counted as damage, not torn.
        let mut d = data.clone();
        let len = d.len();
        d[len - 3] ^= 1;
        let s = scan(&d);
        assert_eq!((s.lines.len(), s.damaged), (4, 1));
    }

    #[test]
    fn hostile_bytes_neither_crash_nor_inject() {
        // A frame with a valid CRC whose payload is not one JSON line is refused.
        let mut f = Vec::new();
        frame_with(&mut f, |b| b.extend_from_slice(b"not json\n"));
        let mut g = Vec::new();
        frame_with(&mut g, |b| b.extend_from_slice(b"{}\n{}\n"));
        let mut data = [f, g, line(1)].concat();
        // A length far past the end and past the bound.
        data.extend_from_slice(b"GWJ1\xff\xff\xff\xff\0\0\0\0");
        data.extend_from_slice(b"GWJ1\x00\x00\x00\x7f\0\0\0\0");
        let s = scan(&data);
        assert_eq!(texts(&s.lines), [n(1)]);
        assert_eq!(s.damaged, 2);
        // Random garbage and every truncation of a valid run: no panic.
        let mut state = 0x2545_f491_4f6c_dd1d_u64;
        let junk: Vec<u8> = (0..4096)
            .map(|_| {
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                state as u8
            })
            .collect();
        assert!(scan(&junk).lines.is_empty());
        let valid: Vec<u8> = (0..4).flat_map(line).collect();
        for cut in 0..valid.len() {
            let _ = scan(&valid[..cut]);
        }
        assert!(scan(&[]).lines.is_empty());
        // A garbage ack file and segment: recovery neither fails nor invents records.
        let dir = tempfile::tempdir().unwrap();
        fs::write(dir.path().join(segment_name(7)), &junk).unwrap();
        fs::write(dir.path().join(ack_name(7)), &junk[100..]).unwrap();
        let (_j, left, _) = open(dir.path(), 1 << 20);
        let rec = recover(&left, 100, 1 << 20).unwrap();
        assert!(rec.batches.is_empty());
        assert!(rec.damaged >= 2);
    }

    #[test]
    fn a_full_journal_refuses_counts_and_frees_when_handed_on() {
        let dir = tempfile::tempdir().unwrap();
        let one = line(1).len() as u64;
        // Segments of one frame (a quarter of the cap), room for four.
        let (j, _, m) = open(dir.path(), one * 4);
        let at: Vec<Pos> = (0..4).map(|i| j.append(&line(i)).unwrap()).collect();
        let segs: Vec<u64> = at.iter().map(|p| p.seg).collect();
        assert_eq!(segs, [1, 2, 3, 4]);
        assert_eq!(j.append(&line(5)), None);
        assert_eq!(j.append(&line(6)), None);
        assert_eq!(m.records_unjournalled.load(Relaxed), 2);
        assert!(m.journal_full.load(Relaxed));
        assert_eq!(m.journal_bytes.load(Relaxed), one * 4);
        // Handing on the first two frees their segments (closed ones are deleted).
        let mut refs = Refs::default();
        refs.add(Some(at[0]));
        refs.add(Some(at[1]));
        j.release(&refs);
        assert!(!m.journal_full.load(Relaxed));
        assert_eq!(m.journal_bytes.load(Relaxed), one * 2);
        assert!(!dir.path().join(segment_name(1)).exists());
        assert!(!dir.path().join(ack_name(1)).exists());
        assert!(dir.path().join(segment_name(3)).exists());
        assert!(j.append(&line(7)).is_some());
    }

    /// A write that fails once (a brief ENOSPC, EIO) must not leave a segment that can never
    /// be freed: its records handed on, it goes, and its bytes leave the cap's count —
    /// otherwise a few such errors fill the journal for good and `/readyz` stays 503.
    #[test]
    fn a_failed_write_does_not_pin_its_segment_or_its_bytes() {
        let dir = tempfile::tempdir().unwrap();
        let one = line(1).len() as u64;
        let (j, _, m) = open(dir.path(), one * 400);
        let a = j.append(&line(1)).unwrap();
        // The segment's fd now refuses writes, as a failing disk does.
        {
            let mut st = j.state();
            st.current.file = File::open(dir.path().join(segment_name(a.seg))).unwrap();
        }
        assert_eq!(j.append(&line(2)), None);
        assert_eq!(m.records_unjournalled.load(Relaxed), 1);
        let c = j.append(&line(3)).unwrap();
        assert_ne!(c.seg, a.seg, "the next append starts a new segment");
        let mut refs = Refs::default();
        refs.add(Some(a));
        refs.add(Some(c));
        j.release(&refs);
        assert!(
            !dir.path().join(segment_name(a.seg)).exists(),
            "the segment of the failed write was handed on whole"
        );
        assert_eq!(
            m.journal_bytes.load(Relaxed),
            one,
            "only c's segment is counted"
        );
        assert!(!m.journal_full.load(Relaxed));
    }

    /// One old file that cannot be read (a bad sector; here an ack "file" that is a
    /// directory) must not stop every other segment's replay at every start: the others are
    /// replayed and deleted, the unreadable one is kept (for a person to look at).
    #[test]
    fn an_unreadable_file_does_not_block_the_other_segments_replay() {
        let dir = tempfile::tempdir().unwrap();
        let (j, _, _) = open(dir.path(), 4 * line(0).len() as u64);
        for i in 0..4 {
            j.append(&line(i)).unwrap();
        }
        drop(j);
        fs::create_dir(dir.path().join(ack_name(2))).unwrap();
        let (_j, left, _) = open(dir.path(), 1 << 20);
        assert_eq!(left.segments, [1, 2, 3, 4]);
        let rec = recover(&left, 100, 1 << 20).unwrap();
        let got: Vec<String> = rec.batches.iter().flat_map(batch_texts).collect();
        assert_eq!(got, [n(0), n(2), n(3)]);
        assert_eq!(rec.unreadable, [2]);
        finish_replay(&left, &rec.unreadable).unwrap();
        for seq in [1, 3, 4] {
            assert!(!dir.path().join(segment_name(seq)).exists(), "{seq}");
        }
        assert!(dir.path().join(segment_name(2)).exists());
    }

    #[test]
    fn a_clean_close_leaves_nothing_to_replay() {
        let dir = tempfile::tempdir().unwrap();
        let (j, _, _) = open(dir.path(), 1 << 20);
        let mut refs = Refs::default();
        for i in 0..3 {
            refs.add(j.append(&line(i)));
        }
        assert_eq!(refs.0.len(), 1);
        j.close();
        assert!(
            dir.path().join(segment_name(1)).exists(),
            "not handed on yet"
        );
        j.release(&refs);
        j.close();
        drop(j);
        let (_, left, _) = open(dir.path(), 1 << 20);
        assert!(left.segments.is_empty());
    }

    #[test]
    fn a_second_gateway_is_refused_naming_the_lock() {
        let dir = tempfile::tempdir().unwrap();
        let (_first, _, _) = open(dir.path(), 1 << 20);
        let err = Journal::open(
            dir.path(),
            1 << 20,
            JournalFsync::Never,
            Arc::new(Metrics::default()),
        )
        .err()
        .expect("must fail");
        let text = err.to_string();
        assert!(text.contains("LOCK"), "{text}");
        assert!(text.contains("another gateway process"), "{text}");
    }

    #[test]
    fn fsync_policy_parses() {
        assert_eq!("never".parse(), Ok(JournalFsync::Never));
        assert_eq!("interval".parse(), Ok(JournalFsync::Interval));
        assert!("always".parse::<JournalFsync>().is_err());
    }
}
