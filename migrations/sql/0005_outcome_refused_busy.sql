-- New outcome code `refused_busy` (29): the gateway's priority queue in front of the upstreams
-- was full or a call waited too long in it. Enum8 gains a value in place (metadata only, key
-- columns included, on 18.16 and current releases). On a fresh install this is a no-op: 0001
-- and 0002 already render every code.
ALTER TABLE {db}.api_calls{on_cluster} MODIFY COLUMN outcome {outcome_enum};
ALTER TABLE {db}.api_calls_1m{on_cluster} MODIFY COLUMN outcome {outcome_enum};
ALTER TABLE {db}.api_calls_1h{on_cluster} MODIFY COLUMN outcome {outcome_enum};
ALTER TABLE {db}.client_api_1h{on_cluster} MODIFY COLUMN outcome {outcome_enum};
