-- The configuration source: every change to an entity (API, client, key, product, rule, …) is
-- a row; nothing is updated in place. The current state of an entity is its row with the
-- highest (version, change_id); history is all its rows. One `change_id` groups the rows of
-- one change (an admin API call, or a whole `gatewatch config apply`).
CREATE TABLE IF NOT EXISTS {db}.config_log{on_cluster}
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
ENGINE = {engine:MergeTree}
ORDER BY (entity, id, version);

-- Who did what, when: logins, changes, key actions. Kept by month.
CREATE TABLE IF NOT EXISTS {db}.audit_log{on_cluster}
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
ENGINE = {engine:MergeTree}
PARTITION BY toYYYYMM(ts)
ORDER BY (ts, actor);
