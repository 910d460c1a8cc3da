-- A race-free event feed. Each tenant's last sequence number lives in one row that every appender updates in
-- its own transaction: the row lock orders appenders, so sequence numbers are unique and commit in order, and a
-- reader that follows the feed by sequence never skips an event that commits late (docs/events.md).
CREATE TABLE event_counters (
    tenant_id TEXT   NOT NULL PRIMARY KEY REFERENCES tenants (tenant_id),
    last_seq  BIGINT NOT NULL
);

-- Renumber 1..n per tenant in the existing order: a no-op where numbers were already unique (they ran 1..n),
-- and a repair where two PostgreSQL nodes had picked the same ones.
UPDATE events SET seq = numbered.n
FROM (
    SELECT tenant_id, id, ROW_NUMBER() OVER (PARTITION BY tenant_id ORDER BY seq, at, id) AS n FROM events
) AS numbered
WHERE numbered.tenant_id = events.tenant_id AND numbered.id = events.id AND events.seq <> numbered.n;

INSERT INTO event_counters (tenant_id, last_seq)
    SELECT tenant_id, MAX(seq) FROM events GROUP BY tenant_id;

DROP INDEX events_by_seq;
CREATE UNIQUE INDEX events_by_seq ON events (tenant_id, seq);
