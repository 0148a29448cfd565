-- Scheduled report mail: one row per send attempt of a run. A run's id is derived from its
-- subscription and scheduled time, so every reports process names the same run alike and a
-- run that has a row is not sent again. The latest attempt of a run says how it went
-- (ok, failed, or retrying with another attempt to come).
CREATE TABLE IF NOT EXISTS {db}.report_runs{on_cluster}
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
ENGINE = {engine:MergeTree}
PARTITION BY toYYYYMM(scheduled_for)
ORDER BY (subscription, scheduled_for, run_id, attempt);
