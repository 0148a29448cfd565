-- Batches the collector set aside because ClickHouse refused them for good (a value of the
-- wrong type, a row an expression throws on, an insert over too many partitions): one row
-- each, with the error. The records themselves are in that collector's wal/quarantine/ folder
-- (`file`). What an `ingest_quarantine` alert rule counts.
CREATE TABLE IF NOT EXISTS {db}.ingest_quarantine{on_cluster}
(
    ts DateTime,
    batch_id UUID,
    kind Enum8('calls' = 1, 'node_samples' = 2),
    rows UInt32,
    collector String,
    file String,
    error String
)
ENGINE = {engine:MergeTree}
PARTITION BY toYYYYMM(ts)
ORDER BY (ts, batch_id);
