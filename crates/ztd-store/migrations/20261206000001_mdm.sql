-- The MDM service (docs/mdm.md): enrolled devices, their management certificates and command queues.

-- A device enrolled in management. `inventory` is JSON (LocURI → last reported value); `enrollment_context`
-- is the enrollment request's context items as sent (JSON array of [name, value]). The directory object and
-- user are this tenant's (no foreign key: a device can outlive neither, and both are checked in use).
CREATE TABLE managed_devices (
    tenant_id              TEXT   NOT NULL REFERENCES tenants (tenant_id),
    id                     TEXT   NOT NULL,
    device_name            TEXT   NOT NULL,
    enrollment_type        TEXT   NOT NULL,
    device_enrollment_type TEXT   NOT NULL,
    join_type              TEXT   NOT NULL,
    directory_object_id    TEXT,
    directory_device_id    TEXT,
    user_id                TEXT,
    user_principal_name    TEXT   NOT NULL,
    hw_dev_id              TEXT   NOT NULL,
    provider_id            TEXT   NOT NULL,
    management_state       TEXT   NOT NULL,
    compliance_state       TEXT   NOT NULL,
    noncompliant_since     BIGINT,
    enrollment_context     TEXT   NOT NULL,
    inventory              TEXT   NOT NULL,
    enrolled_at            BIGINT NOT NULL,
    last_sync_at           BIGINT,
    sync_requested_at      BIGINT,
    certificate_expires_at BIGINT NOT NULL,
    PRIMARY KEY (tenant_id, id)
);
CREATE INDEX managed_devices_by_object ON managed_devices (tenant_id, directory_object_id);
CREATE INDEX managed_devices_by_hw_dev_id ON managed_devices (tenant_id, hw_dev_id);

-- Management certificates issued by a tenant's MDM CA, looked up by the SHA-256 of the certificate a device
-- presents (GLOBAL, as device certificates are: the certificate names no tenant before it is found).
CREATE TABLE mdm_certificates (
    thumbprint        TEXT   NOT NULL PRIMARY KEY,
    tenant_id         TEXT   NOT NULL REFERENCES tenants (tenant_id),
    managed_device_id TEXT   NOT NULL,
    certificate       TEXT   NOT NULL,
    issued_at         BIGINT NOT NULL,
    expires_at        BIGINT NOT NULL,
    revoked_at        BIGINT
);
CREATE INDEX mdm_certificates_by_device ON mdm_certificates (tenant_id, managed_device_id);

-- Each device's command queue, in id order (UUIDv7). `command`, `origin` and `outcome` are JSON
-- (ztd_core::managed); `session_id`/`msg_id`/`first_cmd_id` say where a sent command went, so that the
-- device's statuses and results find it.
CREATE TABLE mdm_commands (
    tenant_id         TEXT   NOT NULL REFERENCES tenants (tenant_id),
    managed_device_id TEXT   NOT NULL,
    id                TEXT   NOT NULL,
    origin            TEXT   NOT NULL,
    command           TEXT   NOT NULL,
    state             TEXT   NOT NULL,
    session_id        TEXT,
    msg_id            BIGINT,
    first_cmd_id      BIGINT,
    outcome           TEXT   NOT NULL,
    created_at        BIGINT NOT NULL,
    completed_at      BIGINT,
    PRIMARY KEY (tenant_id, managed_device_id, id)
);
CREATE INDEX mdm_commands_open ON mdm_commands (tenant_id, managed_device_id, state);

-- The Autopilot registration's link to its managed device (Graph managedDeviceId).
ALTER TABLE devices ADD COLUMN managed_device_id TEXT;
