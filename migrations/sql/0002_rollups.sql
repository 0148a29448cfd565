-- Rollups, kept narrow (few dimensions) so each has far fewer rows than api_calls; see
-- docs/design.md. Reports pick the table by the query's range:
--   api_calls_1m   per minute × API × node × status class × outcome  (recent hours, days)
--   api_calls_1h   per hour × API × status class × outcome           (weeks, months)
--   client_api_1h  per hour × client × API × status class × outcome  (client usage, quotas)
-- Read them with the -Merge combinators: countMerge(calls), quantilesTDigestMerge(0.5, 0.95, 0.99)(latency_q).

CREATE TABLE IF NOT EXISTS {db}.api_calls_1m{on_cluster}
(
    ts DateTime,
    api_id String,
    node String,
    status_class UInt8,
    outcome {outcome_enum},
    api_name AggregateFunction(anyLast, String),
    calls AggregateFunction(count),
    request_bytes AggregateFunction(sum, UInt64),
    response_bytes AggregateFunction(sum, UInt64),
    latency_sum AggregateFunction(sum, UInt64),
    upstream_latency_sum AggregateFunction(sum, UInt64),
    latency_max AggregateFunction(max, UInt64),
    latency_q AggregateFunction(quantilesTDigest(0.5, 0.95, 0.99), UInt64)
)
ENGINE = {engine:AggregatingMergeTree}
PARTITION BY toYYYYMMDD(ts)
ORDER BY (ts, api_id, node, status_class, outcome);

CREATE MATERIALIZED VIEW IF NOT EXISTS {db}.api_calls_1m_mv{on_cluster}
TO {db}.{local:api_calls_1m}
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
FROM {db}.{local:api_calls}
GROUP BY ts, api_id, node, status_class, outcome;

CREATE TABLE IF NOT EXISTS {db}.api_calls_1h{on_cluster}
(
    ts DateTime,
    api_id String,
    status_class UInt8,
    outcome {outcome_enum},
    api_name AggregateFunction(anyLast, String),
    calls AggregateFunction(count),
    request_bytes AggregateFunction(sum, UInt64),
    response_bytes AggregateFunction(sum, UInt64),
    latency_sum AggregateFunction(sum, UInt64),
    upstream_latency_sum AggregateFunction(sum, UInt64),
    latency_max AggregateFunction(max, UInt64),
    latency_q AggregateFunction(quantilesTDigest(0.5, 0.95, 0.99), UInt64)
)
ENGINE = {engine:AggregatingMergeTree}
PARTITION BY toYYYYMM(ts)
ORDER BY (ts, api_id, status_class, outcome);

CREATE MATERIALIZED VIEW IF NOT EXISTS {db}.api_calls_1h_mv{on_cluster}
TO {db}.{local:api_calls_1h}
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
FROM {db}.{local:api_calls}
GROUP BY ts, api_id, status_class, outcome;

CREATE TABLE IF NOT EXISTS {db}.client_api_1h{on_cluster}
(
    ts DateTime,
    client_id String,
    api_id String,
    status_class UInt8,
    outcome {outcome_enum},
    calls AggregateFunction(count),
    request_bytes AggregateFunction(sum, UInt64),
    response_bytes AggregateFunction(sum, UInt64),
    latency_sum AggregateFunction(sum, UInt64),
    latency_q AggregateFunction(quantilesTDigest(0.5, 0.95, 0.99), UInt64)
)
ENGINE = {engine:AggregatingMergeTree}
PARTITION BY toYYYYMM(ts)
ORDER BY (ts, client_id, api_id, status_class, outcome);

CREATE MATERIALIZED VIEW IF NOT EXISTS {db}.client_api_1h_mv{on_cluster}
TO {db}.{local:client_api_1h}
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
FROM {db}.{local:api_calls}
GROUP BY ts, client_id, api_id, status_class, outcome;
