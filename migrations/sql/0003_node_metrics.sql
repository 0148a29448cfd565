-- One row per node sample; disks as parallel arrays (mount[i] uses disk_used_bytes[i] of
-- disk_total_bytes[i]); read per mount with ARRAY JOIN.
CREATE TABLE IF NOT EXISTS {db}.node_metrics{on_cluster}
(
    ts DateTime,
    ts_us Int64,
    node String,
    role String,
    cpu_pct Float32,
    mem_used_bytes UInt64,
    mem_total_bytes UInt64,
    rss_bytes UInt64,
    mount Array(String),
    disk_used_bytes Array(UInt64),
    disk_total_bytes Array(UInt64),
    batch_id UUID
)
ENGINE = {engine:MergeTree}
PARTITION BY toYYYYMMDD(ts)
ORDER BY (node, ts);
