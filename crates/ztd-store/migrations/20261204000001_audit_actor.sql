-- The audit log: an event caused by an administrator records who (a user, an app or the operator) as JSON.
-- Events without an actor (devices, sign-ins, ztd itself) are not part of it.
ALTER TABLE events ADD COLUMN actor TEXT;
-- The audit log is read newest first by sequence, past every device event in between.
CREATE INDEX events_audit ON events (tenant_id, seq) WHERE actor IS NOT NULL;
