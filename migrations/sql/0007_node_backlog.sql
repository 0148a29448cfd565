-- A gateway's shipping backlog in each node sample (what a backlog alert watches). One column
-- per statement: should a run stop halfway, the runner takes "already exists" on a re-run as
-- done (18.16 has no ADD COLUMN IF NOT EXISTS).
ALTER TABLE {db}.node_metrics{on_cluster} ADD COLUMN queue_depth UInt64 DEFAULT 0;
ALTER TABLE {db}.node_metrics{on_cluster} ADD COLUMN spool_bytes UInt64 DEFAULT 0;
ALTER TABLE {db}.node_metrics{on_cluster} ADD COLUMN spool_batches UInt64 DEFAULT 0;
ALTER TABLE {db}.node_metrics{on_cluster} ADD COLUMN records_dropped UInt64 DEFAULT 0;
