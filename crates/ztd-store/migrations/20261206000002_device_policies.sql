-- Device configuration profiles and compliance policies (docs/mdm.md), their assignments, and each managed
-- device's state for each policy. `kind` is 'configuration' or 'compliance'; `document` is the policy's
-- Graph document (JSON) as the admin wrote it; `target` and `settings` are JSON (ztd_core::device_policy).
CREATE TABLE device_policies (
    tenant_id    TEXT   NOT NULL REFERENCES tenants (tenant_id),
    kind         TEXT   NOT NULL,
    id           TEXT   NOT NULL,
    display_name TEXT   NOT NULL,
    document     TEXT   NOT NULL,
    version      BIGINT NOT NULL,
    created_at   BIGINT NOT NULL,
    updated_at   BIGINT NOT NULL,
    PRIMARY KEY (tenant_id, kind, id)
);

CREATE TABLE device_policy_assignments (
    tenant_id TEXT NOT NULL REFERENCES tenants (tenant_id),
    kind      TEXT NOT NULL,
    policy_id TEXT NOT NULL,
    id        TEXT NOT NULL,
    target    TEXT NOT NULL,
    PRIMARY KEY (tenant_id, kind, policy_id, id)
);

CREATE TABLE device_policy_states (
    tenant_id         TEXT   NOT NULL REFERENCES tenants (tenant_id),
    kind              TEXT   NOT NULL,
    policy_id         TEXT   NOT NULL,
    managed_device_id TEXT   NOT NULL,
    version           BIGINT NOT NULL,
    status            TEXT   NOT NULL,
    settings          TEXT   NOT NULL,
    reported_at       BIGINT NOT NULL,
    PRIMARY KEY (tenant_id, kind, policy_id, managed_device_id)
);
CREATE INDEX device_policy_states_by_device ON device_policy_states (tenant_id, managed_device_id);

-- When a non-compliant device's grace period ends (Graph complianceGracePeriodExpirationDateTime).
ALTER TABLE managed_devices ADD COLUMN grace_period_ends_at BIGINT;
