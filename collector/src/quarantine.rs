//! Where a batch goes that ClickHouse refuses for good: `wal/quarantine/`, never silently lost.
//!
//! Each quarantined batch is two files, named by when and which batch:
//!
//! - `<UTC time>-<batch id>.ndjson`: its records, one per line, exactly as the ingest API takes
//!   them, so that once the cause is fixed they can be sent again —
//!   `curl -H "authorization: Bearer $TOKEN" -H 'content-type: application/x-ndjson'
//!   -H 'x-gatewatch-batch-id: <batch id>' -H 'x-gatewatch-replay: 1' --data-binary @FILE
//!   http://127.0.0.1:8091/v1/records` (or `/v1/node-samples`); the batch id and the replay
//!   header make a resend store only the rows that are not in ClickHouse yet;
//! - `<UTC time>-<batch id>.error.json`: what ClickHouse said, the batch id, its kind and rows,
//!   the collector, the time.
//!
//! Both are fsynced (the records file first) before the log entry is acknowledged.

use std::fs;
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use gatewatch_model::ndjson::encode_lines;
use serde_json::json;
use uuid::Uuid;

use crate::Batch;

/// The folder under the write-ahead log's directory.
pub const DIR: &str = "quarantine";

/// The quarantine folder of one collector.
#[derive(Debug, Clone)]
pub struct Quarantine {
    dir: PathBuf,
}

/// What is written about one batch.
pub struct SetAside<'a> {
    pub batch_id: Uuid,
    pub batch: &'a Batch,
    pub collector: &'a str,
    /// Unix seconds.
    pub at_secs: u32,
    pub error: &'a str,
}

impl Quarantine {
    pub fn new(dir: impl Into<PathBuf>) -> Quarantine {
        Quarantine { dir: dir.into() }
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Writes the batch's records, then the error, both synced. Returns the records file.
    pub fn write(&self, b: &SetAside<'_>) -> io::Result<PathBuf> {
        fs::create_dir_all(&self.dir)?;
        let stamp = chrono::DateTime::<chrono::Utc>::from_timestamp(i64::from(b.at_secs), 0)
            .map(|t| t.format("%Y%m%dT%H%M%SZ").to_string())
            .unwrap_or_else(|| b.at_secs.to_string());
        let base = format!("{stamp}-{}", b.batch_id);
        let records = self.dir.join(format!("{base}.ndjson"));
        let mut lines = Vec::new();
        let (kind, rows, endpoint) = match b.batch {
            Batch::Calls(v) => {
                encode_lines(v, &mut lines).map_err(io::Error::other)?;
                ("calls", v.len(), "/v1/records")
            }
            Batch::Samples(v) => {
                encode_lines(v, &mut lines).map_err(io::Error::other)?;
                ("node_samples", v.len(), "/v1/node-samples")
            }
        };
        write_synced(&records, &lines)?;
        let about = json!({
            "batch_id": b.batch_id,
            "kind": kind,
            "rows": rows,
            "collector": b.collector,
            "quarantined_at": stamp,
            "error": b.error,
            "records": records.file_name().and_then(|n| n.to_str()).unwrap_or_default(),
            "resend_to": endpoint,
        });
        let mut text = serde_json::to_vec_pretty(&about).map_err(io::Error::other)?;
        text.push(b'\n');
        write_synced(&self.dir.join(format!("{base}.error.json")), &text)?;
        fs::File::open(&self.dir)?.sync_all()?;
        Ok(records)
    }
}

/// Writes `bytes` to `path` whole (a temporary file, synced, then renamed).
fn write_synced(path: &Path, bytes: &[u8]) -> io::Result<()> {
    let tmp = path.with_extension("tmp");
    let mut f = fs::File::create(&tmp)?;
    f.write_all(bytes)?;
    f.sync_all()?;
    drop(f);
    fs::rename(&tmp, path)
}

#[cfg(test)]
mod tests {
    use super::*;
    use gatewatch_model::CallRecord;

    #[test]
    fn a_batch_is_written_with_its_error() {
        let dir = tempfile::tempdir().unwrap();
        let q = Quarantine::new(dir.path().join(DIR));
        let calls: Vec<CallRecord> = (0..3)
            .map(|i| CallRecord::new(Uuid::now_v7(), 1_764_000_000_000_000 + i, "n", "GET", "/x"))
            .collect();
        let batch = Batch::Calls(calls.clone());
        let id = Uuid::now_v7();
        let path = q
            .write(&SetAside {
                batch_id: id,
                batch: &batch,
                collector: "c1",
                at_secs: 1_764_000_000,
                error: "Code: 53. Type mismatch",
            })
            .unwrap();
        assert_eq!(
            path.file_name().unwrap().to_str().unwrap(),
            format!("20251124T160000Z-{id}.ndjson")
        );
        let back = gatewatch_model::decode_lines::<CallRecord>(&fs::read(&path).unwrap());
        assert_eq!(back.values, calls);
        let about: serde_json::Value = serde_json::from_slice(
            &fs::read(path.with_file_name(format!("20251124T160000Z-{id}.error.json"))).unwrap(),
        )
        .unwrap();
        assert_eq!(about["error"], "Code: 53. Type mismatch");
        assert_eq!(about["rows"], 3);
        assert_eq!(about["kind"], "calls");
        assert_eq!(about["batch_id"], id.to_string());
    }
}
