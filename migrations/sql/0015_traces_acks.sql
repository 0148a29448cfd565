-- Issue 18. Calls carry their W3C trace context (`trace_id`, the gateway's `span_id`, the
-- caller's `parent_span_id`; hex, empty in rows of older gateways), so support staff find a call
-- by the trace id another service logged.
ALTER TABLE {db}.api_calls{on_cluster} ADD COLUMN trace_id String;
ALTER TABLE {db}.api_calls{on_cluster} ADD COLUMN span_id String;
ALTER TABLE {db}.api_calls{on_cluster} ADD COLUMN parent_span_id String;
-- Acknowledgements of firing alerts: an `ack` stops the repeats of one episode (rule, scope
-- key, episode start) until it resolves or `until_us` passes (0: until it resolves); `unack`
-- takes it back. Append-only; the newest row per episode decides.
CREATE TABLE IF NOT EXISTS {db}.alert_acks{on_cluster}
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
ENGINE = {engine:MergeTree}
PARTITION BY toYYYYMM(ts)
ORDER BY (rule_id, scope_key, episode_us, ts_us);
