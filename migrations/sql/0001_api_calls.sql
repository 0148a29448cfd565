-- One row per proxied or refused call. Partitioned by day so retention drops whole days;
-- ordered by time first: `call_id` is a UUIDv7 whose time prefix gives `ts`, so a look-up by id
-- reads one granule of one partition.
CREATE TABLE IF NOT EXISTS {db}.api_calls{on_cluster}
(
    call_id UUID,
    request_id String,
    ts DateTime,
    ts_us Int64,
    node String,
    api_id String,
    api_name String,
    module String,
    route String,
    method String,
    path String,
    query String,
    client_id String,
    app_id String,
    api_key_id String,
    client_ip String,
    user_agent String,
    upstream String,
    status UInt16,
    outcome {outcome_enum},
    latency_us UInt64,
    upstream_latency_us UInt64,
    overhead_us UInt64,
    request_bytes UInt64,
    response_bytes UInt64,
    request_headers String,
    response_headers String,
    request_body String,
    response_body String,
    error String,
    batch_id UUID
)
ENGINE = {engine:MergeTree}
PARTITION BY toYYYYMMDD(ts)
ORDER BY (ts, api_id);

-- Which ingest batches are fully stored: the collector's "inserted once" check.
CREATE TABLE IF NOT EXISTS {db}.ingest_batches{on_cluster}
(
    batch_id UUID,
    kind Enum8('calls' = 1, 'node_samples' = 2),
    rows UInt32,
    collector String,
    ts DateTime
)
ENGINE = {engine:MergeTree}
PARTITION BY toYYYYMM(ts)
ORDER BY batch_id;
