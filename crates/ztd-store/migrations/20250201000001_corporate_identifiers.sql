-- Corporate device identifiers (Graph beta `importedDeviceIdentities`): hardware an organisation declares as
-- its own ahead of enrollment. Portable like the initial schema: TEXT and BIGINT only.

CREATE TABLE corporate_identifiers (
    tenant_id         TEXT   NOT NULL REFERENCES tenants (tenant_id),
    id                TEXT   NOT NULL,
    identifier        TEXT   NOT NULL,
    identifier_lower  TEXT   NOT NULL,
    identifier_type   TEXT   NOT NULL,
    platform          TEXT   NOT NULL,
    description       TEXT   NOT NULL,
    enrollment_state  TEXT   NOT NULL,
    last_contacted_at BIGINT,
    created_at        BIGINT NOT NULL,
    updated_at        BIGINT NOT NULL,
    PRIMARY KEY (tenant_id, id)
);
-- One declaration per identifier and type in a tenant (identifiers compare case-insensitively).
CREATE UNIQUE INDEX corporate_identifiers_unique ON corporate_identifiers (tenant_id, identifier_type, identifier_lower);
