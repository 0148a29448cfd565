-- The fields a gateway cut at their caps (path, query, user_agent, error, request_headers,
-- response_headers); empty for a whole record. Rows of older gateways get the empty array.
ALTER TABLE {db}.api_calls{on_cluster} ADD COLUMN truncated Array(String);
