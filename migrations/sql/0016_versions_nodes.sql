-- Issue 19. Calls carry the version of the API that answered (`ApiSpec.version`; empty in rows
-- of older gateways and for APIs without one), so reports and the call search filter and
-- group by version.
ALTER TABLE {db}.api_calls{on_cluster} ADD COLUMN api_version String;
-- The node registry: every process of a site (gateway, collector, alerter, reports,
-- dashboards) writes a heartbeat row every few seconds; the newest row per (node, role,
-- instance) says what it is, its groups, version, addresses and, for a gateway, the APIs it
-- serves. ReplacingMergeTree keeps only the newest row per key as parts merge (readers still
-- take the newest with argMax); daily partitions let retention drop old heartbeats.
CREATE TABLE IF NOT EXISTS {db}.node_registry{on_cluster}
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
ENGINE = {engine:ReplacingMergeTree(heartbeat_us)}
PARTITION BY toYYYYMMDD(ts)
ORDER BY (node, role, instance);
