-- The alerter's tables.
--   alert_events  every transition of every (rule, scope key) and every notification attempt,
--                 suppressed ones included: the alert history ops read, and what a restarted
--                 alerter needs to know what was already sent.
--   alert_state   the state machine of each (rule, scope key) as JSON, one row per change;
--                 the current state is the row with the highest ts_us.
--   alerter_lease claims of the sending lease: the current holder is the claim with the highest
--                 (term, holder) whose expiry has not passed (see store::alerts).
CREATE TABLE IF NOT EXISTS {db}.alert_events{on_cluster}
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
ENGINE = {engine:MergeTree}
PARTITION BY toYYYYMMDD(ts)
ORDER BY (ts, rule_id, scope_key);

CREATE TABLE IF NOT EXISTS {db}.alert_state{on_cluster}
(
    ts DateTime,
    ts_us Int64,
    rule_id String,
    scope_key String,
    state String,
    alerter String
)
ENGINE = {engine:ReplacingMergeTree(ts_us)}
ORDER BY (rule_id, scope_key);

CREATE TABLE IF NOT EXISTS {db}.alerter_lease{on_cluster}
(
    name String,
    term UInt64,
    holder String,
    ts_us Int64,
    expires_us Int64
)
ENGINE = {engine:ReplacingMergeTree(ts_us)}
ORDER BY (name, term, holder);
