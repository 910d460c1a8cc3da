-- The Graph import request each queued record came with (the id of the request's first record), so the worker
-- can tell a device repeated inside one request (901) from one posted again in a later request (806) when it
-- processes both in one batch. Records queued before this column existed count as one request each.
ALTER TABLE imports ADD COLUMN request_id TEXT NOT NULL DEFAULT '';
