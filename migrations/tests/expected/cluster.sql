CREATE DATABASE IF NOT EXISTS `gatewatch` ON CLUSTER `gatewatch`;

CREATE TABLE IF NOT EXISTS `gatewatch`.schema_migrations ON CLUSTER `gatewatch` (version UInt32, name String, applied_at DateTime) ENGINE = ReplicatedMergeTree('/clickhouse/tables/all/gatewatch/schema_migrations', '{replica}') ORDER BY version;

CREATE TABLE IF NOT EXISTS `gatewatch`.api_calls_local ON CLUSTER `gatewatch`
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
    outcome Enum8('ok' = 1, 'client_error' = 2, 'upstream_error' = 3, 'timeout' = 4, 'upstream_unreachable' = 5, 'no_route' = 6, 'client_aborted' = 7, 'gateway_error' = 8, 'refused_auth' = 20, 'refused_not_allowed' = 21, 'refused_rate' = 22, 'refused_quota' = 23, 'refused_ip' = 24, 'refused_hours' = 25, 'refused_expired' = 26, 'refused_bad_request' = 27, 'refused_blocked' = 28, 'refused_busy' = 29),
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
    batch_id UUID,
    truncated Array(String),
    http_version String,
    tls_version String,
    tls_cipher String,
    client_cert String,
    auth_method String,
    token_jti String,
    scopes String,
    findings Array(String),
    policies Array(String),
    trace_id String,
    span_id String,
    parent_span_id String,
    api_version String
)
ENGINE = ReplicatedMergeTree('/clickhouse/tables/{shard}/gatewatch/api_calls_local', '{replica}')
PARTITION BY toYYYYMMDD(ts)
ORDER BY (ts, api_id);

CREATE TABLE IF NOT EXISTS `gatewatch`.ingest_batches ON CLUSTER `gatewatch`
(
    batch_id UUID,
    kind Enum8('calls' = 1, 'node_samples' = 2),
    rows UInt32,
    collector String,
    ts DateTime
)
ENGINE = ReplicatedMergeTree('/clickhouse/tables/all/gatewatch/ingest_batches', '{replica}')
PARTITION BY toYYYYMM(ts)
ORDER BY batch_id;

CREATE TABLE IF NOT EXISTS `gatewatch`.api_calls_1m_local ON CLUSTER `gatewatch`
(
    ts DateTime,
    api_id String,
    node String,
    status_class UInt8,
    outcome Enum8('ok' = 1, 'client_error' = 2, 'upstream_error' = 3, 'timeout' = 4, 'upstream_unreachable' = 5, 'no_route' = 6, 'client_aborted' = 7, 'gateway_error' = 8, 'refused_auth' = 20, 'refused_not_allowed' = 21, 'refused_rate' = 22, 'refused_quota' = 23, 'refused_ip' = 24, 'refused_hours' = 25, 'refused_expired' = 26, 'refused_bad_request' = 27, 'refused_blocked' = 28, 'refused_busy' = 29),
    api_name AggregateFunction(anyLast, String),
    calls AggregateFunction(count),
    request_bytes AggregateFunction(sum, UInt64),
    response_bytes AggregateFunction(sum, UInt64),
    latency_sum AggregateFunction(sum, UInt64),
    upstream_latency_sum AggregateFunction(sum, UInt64),
    latency_max AggregateFunction(max, UInt64),
    latency_q AggregateFunction(quantilesTDigest(0.5, 0.95, 0.99), UInt64)
)
ENGINE = ReplicatedAggregatingMergeTree('/clickhouse/tables/{shard}/gatewatch/api_calls_1m_local', '{replica}')
PARTITION BY toYYYYMMDD(ts)
ORDER BY (ts, api_id, node, status_class, outcome);

CREATE MATERIALIZED VIEW IF NOT EXISTS `gatewatch`.api_calls_1m_mv ON CLUSTER `gatewatch`
TO `gatewatch`.api_calls_1m_local
AS SELECT
    toDateTime(intDiv(toUInt32(ts), 60) * 60) AS ts,
    api_id,
    node,
    toUInt8(intDiv(status, 100)) AS status_class,
    outcome,
    anyLastState(api_name) AS api_name,
    countState() AS calls,
    sumState(request_bytes) AS request_bytes,
    sumState(response_bytes) AS response_bytes,
    sumState(latency_us) AS latency_sum,
    sumState(upstream_latency_us) AS upstream_latency_sum,
    maxState(latency_us) AS latency_max,
    quantilesTDigestState(0.5, 0.95, 0.99)(latency_us) AS latency_q
FROM `gatewatch`.api_calls_local
GROUP BY ts, api_id, node, status_class, outcome;

CREATE TABLE IF NOT EXISTS `gatewatch`.api_calls_1h_local ON CLUSTER `gatewatch`
(
    ts DateTime,
    api_id String,
    status_class UInt8,
    outcome Enum8('ok' = 1, 'client_error' = 2, 'upstream_error' = 3, 'timeout' = 4, 'upstream_unreachable' = 5, 'no_route' = 6, 'client_aborted' = 7, 'gateway_error' = 8, 'refused_auth' = 20, 'refused_not_allowed' = 21, 'refused_rate' = 22, 'refused_quota' = 23, 'refused_ip' = 24, 'refused_hours' = 25, 'refused_expired' = 26, 'refused_bad_request' = 27, 'refused_blocked' = 28, 'refused_busy' = 29),
    api_name AggregateFunction(anyLast, String),
    calls AggregateFunction(count),
    request_bytes AggregateFunction(sum, UInt64),
    response_bytes AggregateFunction(sum, UInt64),
    latency_sum AggregateFunction(sum, UInt64),
    upstream_latency_sum AggregateFunction(sum, UInt64),
    latency_max AggregateFunction(max, UInt64),
    latency_q AggregateFunction(quantilesTDigest(0.5, 0.95, 0.99), UInt64)
)
ENGINE = ReplicatedAggregatingMergeTree('/clickhouse/tables/{shard}/gatewatch/api_calls_1h_local', '{replica}')
PARTITION BY toYYYYMM(ts)
ORDER BY (ts, api_id, status_class, outcome);

CREATE MATERIALIZED VIEW IF NOT EXISTS `gatewatch`.api_calls_1h_mv ON CLUSTER `gatewatch`
TO `gatewatch`.api_calls_1h_local
AS SELECT
    toDateTime(intDiv(toUInt32(ts), 3600) * 3600) AS ts,
    api_id,
    toUInt8(intDiv(status, 100)) AS status_class,
    outcome,
    anyLastState(api_name) AS api_name,
    countState() AS calls,
    sumState(request_bytes) AS request_bytes,
    sumState(response_bytes) AS response_bytes,
    sumState(latency_us) AS latency_sum,
    sumState(upstream_latency_us) AS upstream_latency_sum,
    maxState(latency_us) AS latency_max,
    quantilesTDigestState(0.5, 0.95, 0.99)(latency_us) AS latency_q
FROM `gatewatch`.api_calls_local
GROUP BY ts, api_id, status_class, outcome;

CREATE TABLE IF NOT EXISTS `gatewatch`.client_api_1h_local ON CLUSTER `gatewatch`
(
    ts DateTime,
    client_id String,
    api_id String,
    status_class UInt8,
    outcome Enum8('ok' = 1, 'client_error' = 2, 'upstream_error' = 3, 'timeout' = 4, 'upstream_unreachable' = 5, 'no_route' = 6, 'client_aborted' = 7, 'gateway_error' = 8, 'refused_auth' = 20, 'refused_not_allowed' = 21, 'refused_rate' = 22, 'refused_quota' = 23, 'refused_ip' = 24, 'refused_hours' = 25, 'refused_expired' = 26, 'refused_bad_request' = 27, 'refused_blocked' = 28, 'refused_busy' = 29),
    calls AggregateFunction(count),
    request_bytes AggregateFunction(sum, UInt64),
    response_bytes AggregateFunction(sum, UInt64),
    latency_sum AggregateFunction(sum, UInt64),
    latency_q AggregateFunction(quantilesTDigest(0.5, 0.95, 0.99), UInt64)
)
ENGINE = ReplicatedAggregatingMergeTree('/clickhouse/tables/{shard}/gatewatch/client_api_1h_local', '{replica}')
PARTITION BY toYYYYMM(ts)
ORDER BY (ts, client_id, api_id, status_class, outcome);

CREATE MATERIALIZED VIEW IF NOT EXISTS `gatewatch`.client_api_1h_mv ON CLUSTER `gatewatch`
TO `gatewatch`.client_api_1h_local
AS SELECT
    toDateTime(intDiv(toUInt32(ts), 3600) * 3600) AS ts,
    client_id,
    api_id,
    toUInt8(intDiv(status, 100)) AS status_class,
    outcome,
    countState() AS calls,
    sumState(request_bytes) AS request_bytes,
    sumState(response_bytes) AS response_bytes,
    sumState(latency_us) AS latency_sum,
    quantilesTDigestState(0.5, 0.95, 0.99)(latency_us) AS latency_q
FROM `gatewatch`.api_calls_local
GROUP BY ts, client_id, api_id, status_class, outcome;

CREATE TABLE IF NOT EXISTS `gatewatch`.node_metrics ON CLUSTER `gatewatch`
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
ENGINE = ReplicatedMergeTree('/clickhouse/tables/all/gatewatch/node_metrics', '{replica}')
PARTITION BY toYYYYMMDD(ts)
ORDER BY (node, ts);

CREATE TABLE IF NOT EXISTS `gatewatch`.config_log ON CLUSTER `gatewatch`
(
    entity String,
    id String,
    version UInt64,
    change_id UUID,
    ts DateTime,
    ts_us Int64,
    author String,
    comment String,
    deleted UInt8,
    body String
)
ENGINE = ReplicatedMergeTree('/clickhouse/tables/all/gatewatch/config_log', '{replica}')
ORDER BY (entity, id, version);

CREATE TABLE IF NOT EXISTS `gatewatch`.audit_log ON CLUSTER `gatewatch`
(
    ts DateTime,
    ts_us Int64,
    actor String,
    action String,
    entity String,
    id String,
    change_id UUID,
    client_ip String,
    detail String
)
ENGINE = ReplicatedMergeTree('/clickhouse/tables/all/gatewatch/audit_log', '{replica}')
PARTITION BY toYYYYMM(ts)
ORDER BY (ts, actor);

CREATE TABLE IF NOT EXISTS `gatewatch`.alert_events ON CLUSTER `gatewatch`
(
    ts DateTime,
    ts_us Int64,
    rule_id String,
    rule_version UInt64,
    scope_key String,
    event String,
    phase String,
    severity String,
    value Float64,
    threshold Float64,
    channel String,
    recipient String,
    notification_id UUID,
    attempt UInt16,
    result String,
    detail String,
    alerter String
)
ENGINE = ReplicatedMergeTree('/clickhouse/tables/all/gatewatch/alert_events', '{replica}')
PARTITION BY toYYYYMMDD(ts)
ORDER BY (ts, rule_id, scope_key);

CREATE TABLE IF NOT EXISTS `gatewatch`.alert_state ON CLUSTER `gatewatch`
(
    ts DateTime,
    ts_us Int64,
    rule_id String,
    scope_key String,
    state String,
    alerter String
)
ENGINE = ReplicatedReplacingMergeTree('/clickhouse/tables/all/gatewatch/alert_state', '{replica}', ts_us)
ORDER BY (rule_id, scope_key);

CREATE TABLE IF NOT EXISTS `gatewatch`.alerter_lease ON CLUSTER `gatewatch`
(
    name String,
    term UInt64,
    holder String,
    ts_us Int64,
    expires_us Int64
)
ENGINE = ReplicatedReplacingMergeTree('/clickhouse/tables/all/gatewatch/alerter_lease', '{replica}', ts_us)
ORDER BY (name, term, holder);

ALTER TABLE `gatewatch`.node_metrics ADD COLUMN queue_depth UInt64 DEFAULT 0;

ALTER TABLE `gatewatch`.node_metrics ADD COLUMN spool_bytes UInt64 DEFAULT 0;

ALTER TABLE `gatewatch`.node_metrics ADD COLUMN spool_batches UInt64 DEFAULT 0;

ALTER TABLE `gatewatch`.node_metrics ADD COLUMN records_dropped UInt64 DEFAULT 0;

CREATE TABLE IF NOT EXISTS `gatewatch`.report_runs ON CLUSTER `gatewatch`
(
    run_id String,
    subscription String,
    scheduled_for DateTime,
    started_us Int64,
    finished_us Int64,
    status String,
    attempt UInt16,
    recipients Array(String),
    error String,
    reporter String
)
ENGINE = ReplicatedMergeTree('/clickhouse/tables/all/gatewatch/report_runs', '{replica}')
PARTITION BY toYYYYMM(scheduled_for)
ORDER BY (subscription, scheduled_for, run_id, attempt);

CREATE TABLE IF NOT EXISTS `gatewatch`.ingest_quarantine ON CLUSTER `gatewatch`
(
    ts DateTime,
    batch_id UUID,
    kind Enum8('calls' = 1, 'node_samples' = 2),
    rows UInt32,
    collector String,
    file String,
    error String
)
ENGINE = ReplicatedMergeTree('/clickhouse/tables/all/gatewatch/ingest_quarantine', '{replica}')
PARTITION BY toYYYYMM(ts)
ORDER BY (ts, batch_id);

CREATE TABLE IF NOT EXISTS `gatewatch`.oauth_keys ON CLUSTER `gatewatch`
(
    kid String,
    alg String,
    public_jwk String,
    private_sealed String,
    created_us Int64,
    retired_us Int64,
    keep_until_us Int64,
    version UInt64
)
ENGINE = ReplicatedReplacingMergeTree('/clickhouse/tables/all/gatewatch/oauth_keys', '{replica}', version)
ORDER BY kid;

CREATE TABLE IF NOT EXISTS `gatewatch`.oauth_revocations ON CLUSTER `gatewatch`
(
    jti String,
    client_id String,
    expires_us Int64,
    revoked_us Int64,
    revoked_by String
)
ENGINE = ReplicatedMergeTree('/clickhouse/tables/all/gatewatch/oauth_revocations', '{replica}')
ORDER BY (revoked_us, jti);

CREATE TABLE IF NOT EXISTS `gatewatch`.alert_acks ON CLUSTER `gatewatch`
(
    ts DateTime,
    ts_us Int64,
    rule_id String,
    scope_key String,
    episode_us Int64,
    action String,
    by String,
    until_us Int64,
    comment String
)
ENGINE = ReplicatedMergeTree('/clickhouse/tables/all/gatewatch/alert_acks', '{replica}')
PARTITION BY toYYYYMM(ts)
ORDER BY (rule_id, scope_key, episode_us, ts_us);

CREATE TABLE IF NOT EXISTS `gatewatch`.node_registry ON CLUSTER `gatewatch`
(
    ts DateTime,
    heartbeat_us UInt64,
    node String,
    role String,
    instance String,
    groups Array(String),
    version String,
    listen Array(String),
    started_us Int64,
    apis Array(String),
    stopping UInt8
)
ENGINE = ReplicatedReplacingMergeTree('/clickhouse/tables/all/gatewatch/node_registry', '{replica}', heartbeat_us)
PARTITION BY toYYYYMMDD(ts)
ORDER BY (node, role, instance);

CREATE TABLE IF NOT EXISTS `gatewatch`.api_calls ON CLUSTER `gatewatch` AS `gatewatch`.api_calls_local ENGINE = Distributed(`gatewatch`, `gatewatch`, `api_calls_local`, sipHash64(toString(call_id)));

CREATE TABLE IF NOT EXISTS `gatewatch`.api_calls_1m ON CLUSTER `gatewatch` AS `gatewatch`.api_calls_1m_local ENGINE = Distributed(`gatewatch`, `gatewatch`, `api_calls_1m_local`);

CREATE TABLE IF NOT EXISTS `gatewatch`.api_calls_1h ON CLUSTER `gatewatch` AS `gatewatch`.api_calls_1h_local ENGINE = Distributed(`gatewatch`, `gatewatch`, `api_calls_1h_local`);

CREATE TABLE IF NOT EXISTS `gatewatch`.client_api_1h ON CLUSTER `gatewatch` AS `gatewatch`.client_api_1h_local ENGINE = Distributed(`gatewatch`, `gatewatch`, `client_api_1h_local`);

