-- ztd schema, version 1.
--
-- Portable between SQLite and PostgreSQL: only TEXT and BIGINT columns (booleans 0/1, timestamps as Unix
-- millis, UUIDs as lowercase hyphenated text, lists and documents as JSON text), no autoincrement, no
-- database-specific syntax. Every table carries tenant_id; every tenant-scoped index leads with it.
-- *_lower columns hold Rust-lowercased copies so case-insensitive lookups behave identically on both engines.

CREATE TABLE tenants (
    tenant_id    TEXT   NOT NULL PRIMARY KEY,
    display_name TEXT   NOT NULL,
    domain       TEXT   NOT NULL,
    created_at   BIGINT NOT NULL
);

CREATE TABLE clients (
    client_id    TEXT   NOT NULL PRIMARY KEY,
    tenant_id    TEXT   NOT NULL REFERENCES tenants (tenant_id),
    secret_hash  TEXT   NOT NULL,
    display_name TEXT   NOT NULL,
    scopes       TEXT   NOT NULL,
    created_at   BIGINT NOT NULL
);
CREATE INDEX clients_by_tenant ON clients (tenant_id, client_id);

CREATE TABLE devices (
    tenant_id             TEXT   NOT NULL REFERENCES tenants (tenant_id),
    ztdid                 TEXT   NOT NULL,
    serial_number         TEXT   NOT NULL,
    serial_lower          TEXT   NOT NULL,
    manufacturer          TEXT   NOT NULL,
    model                 TEXT   NOT NULL,
    product_key           TEXT   NOT NULL,
    sku_number            TEXT   NOT NULL,
    system_family         TEXT   NOT NULL,
    hardware_hash         TEXT   NOT NULL,
    identity_key          TEXT   NOT NULL,
    smbios_uuid           TEXT,
    tpm_ek_pub_hash       TEXT,
    disk_serial           TEXT,
    mac_addresses         TEXT   NOT NULL,
    group_tag             TEXT   NOT NULL,
    purchase_order_id     TEXT   NOT NULL,
    user_principal_name   TEXT   NOT NULL,
    addressable_user_name TEXT   NOT NULL,
    display_name          TEXT   NOT NULL,
    enrollment_state      TEXT   NOT NULL,
    last_contacted_at     BIGINT,
    directory_object_id   TEXT   NOT NULL,
    intended_profile_id   TEXT,
    delivered_profile_id  TEXT,
    assignment_status     TEXT   NOT NULL,
    assigned_at           BIGINT,
    remediation_state     TEXT   NOT NULL,
    created_at            BIGINT NOT NULL,
    updated_at            BIGINT NOT NULL,
    PRIMARY KEY (tenant_id, ztdid)
);
-- One device, one tenant: global on purpose, so two tenants (or two nodes) can never register the same hardware.
CREATE UNIQUE INDEX devices_identity_key ON devices (identity_key);
CREATE INDEX devices_by_serial ON devices (tenant_id, serial_lower);

CREATE TABLE directory_devices (
    tenant_id                TEXT   NOT NULL REFERENCES tenants (tenant_id),
    id                       TEXT   NOT NULL,
    device_id                TEXT   NOT NULL,
    display_name             TEXT   NOT NULL,
    display_name_lower       TEXT   NOT NULL,
    account_enabled          BIGINT NOT NULL,
    physical_ids             TEXT   NOT NULL,
    operating_system         TEXT   NOT NULL,
    operating_system_version TEXT   NOT NULL,
    manufacturer             TEXT   NOT NULL,
    model                    TEXT   NOT NULL,
    trust_type               TEXT   NOT NULL,
    enrollment_profile_name  TEXT   NOT NULL,
    ztdid                    TEXT,
    created_at               BIGINT NOT NULL,
    PRIMARY KEY (tenant_id, id)
);
CREATE INDEX directory_devices_by_device_id ON directory_devices (tenant_id, device_id);
CREATE INDEX directory_devices_by_name ON directory_devices (tenant_id, display_name_lower, id);

CREATE TABLE device_groups (
    tenant_id          TEXT   NOT NULL REFERENCES tenants (tenant_id),
    id                 TEXT   NOT NULL,
    display_name       TEXT   NOT NULL,
    description        TEXT   NOT NULL,
    membership_rule    TEXT,
    rule_processing_on BIGINT NOT NULL,
    created_at         BIGINT NOT NULL,
    PRIMARY KEY (tenant_id, id)
);

CREATE TABLE group_members (
    tenant_id TEXT NOT NULL,
    group_id  TEXT NOT NULL,
    member_id TEXT NOT NULL,
    source    TEXT NOT NULL,
    -- No foreign keys: membership is the hottest write of an import (several rows per device), and its two
    -- parents are only deleted through `delete_group` / `delete_directory_device`, which delete the
    -- memberships explicitly in the same transaction.
    PRIMARY KEY (tenant_id, group_id, member_id)
);
CREATE INDEX group_members_by_member ON group_members (tenant_id, member_id);

CREATE TABLE profiles (
    tenant_id    TEXT   NOT NULL REFERENCES tenants (tenant_id),
    id           TEXT   NOT NULL,
    display_name TEXT   NOT NULL,
    document     TEXT   NOT NULL,
    created_at   BIGINT NOT NULL,
    updated_at   BIGINT NOT NULL,
    PRIMARY KEY (tenant_id, id)
);

CREATE TABLE profile_assignments (
    tenant_id       TEXT   NOT NULL,
    id              TEXT   NOT NULL,
    profile_id      TEXT   NOT NULL,
    target_kind     TEXT   NOT NULL,
    target_group_id TEXT,
    created_at      BIGINT NOT NULL,
    PRIMARY KEY (tenant_id, id),
    FOREIGN KEY (tenant_id, profile_id) REFERENCES profiles (tenant_id, id) ON DELETE CASCADE
);
CREATE INDEX profile_assignments_by_profile ON profile_assignments (tenant_id, profile_id);

CREATE TABLE esp_configurations (
    tenant_id    TEXT   NOT NULL REFERENCES tenants (tenant_id),
    id           TEXT   NOT NULL,
    display_name TEXT   NOT NULL,
    description  TEXT   NOT NULL,
    priority     BIGINT NOT NULL,
    document     TEXT   NOT NULL,
    assignments  TEXT   NOT NULL,
    created_at   BIGINT NOT NULL,
    updated_at   BIGINT NOT NULL,
    PRIMARY KEY (tenant_id, id)
);

CREATE TABLE imports (
    tenant_id                    TEXT   NOT NULL REFERENCES tenants (tenant_id),
    id                           TEXT   NOT NULL,
    batch_id                     TEXT   NOT NULL,
    serial_number                TEXT   NOT NULL,
    serial_lower                 TEXT   NOT NULL,
    product_key                  TEXT   NOT NULL,
    hardware_hash                TEXT   NOT NULL,
    group_tag                    TEXT   NOT NULL,
    assigned_user_principal_name TEXT   NOT NULL,
    status                       TEXT   NOT NULL,
    ztdid                        TEXT,
    error_code                   BIGINT NOT NULL,
    error_name                   TEXT   NOT NULL,
    error_message                TEXT   NOT NULL,
    created_at                   BIGINT NOT NULL,
    updated_at                   BIGINT NOT NULL,
    PRIMARY KEY (tenant_id, id)
);
CREATE INDEX imports_by_batch ON imports (tenant_id, batch_id, id);
-- The worker queue is global (not tenant-scoped): oldest pending first.
CREATE INDEX imports_queue ON imports (status, created_at, id);

CREATE TABLE events (
    tenant_id TEXT   NOT NULL REFERENCES tenants (tenant_id),
    id        TEXT   NOT NULL,
    seq       BIGINT NOT NULL,
    at        BIGINT NOT NULL,
    kind      TEXT   NOT NULL,
    subject   TEXT   NOT NULL,
    data      TEXT   NOT NULL,
    PRIMARY KEY (tenant_id, id)
);
CREATE INDEX events_by_time ON events (tenant_id, at, seq);
CREATE INDEX events_by_subject ON events (tenant_id, subject, at, seq);
CREATE INDEX events_by_seq ON events (tenant_id, seq);

CREATE TABLE settings (
    tenant_id TEXT NOT NULL REFERENCES tenants (tenant_id),
    name      TEXT NOT NULL,
    value     TEXT NOT NULL,
    PRIMARY KEY (tenant_id, name)
);
