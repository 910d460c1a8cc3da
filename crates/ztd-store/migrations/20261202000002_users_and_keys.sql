-- Directory users, and each tenant's token signing keys.

-- A user is a directory object (its id can be a group member). The lockout state is one JSON document,
-- read and written with the user in the sign-in's transaction.
CREATE TABLE users (
    tenant_id            TEXT   NOT NULL REFERENCES tenants (tenant_id),
    id                   TEXT   NOT NULL,
    upn                  TEXT   NOT NULL,
    upn_lower            TEXT   NOT NULL,
    display_name         TEXT   NOT NULL,
    given_name           TEXT   NOT NULL,
    surname              TEXT   NOT NULL,
    mail                 TEXT   NOT NULL,
    account_enabled      BIGINT NOT NULL,
    role                 TEXT   NOT NULL,
    password_hash        TEXT,
    force_change_password BIGINT NOT NULL,
    lockout              TEXT   NOT NULL,
    created_at           BIGINT NOT NULL,
    updated_at           BIGINT NOT NULL,
    PRIMARY KEY (tenant_id, id)
);
-- A UPN names one user across the deployment (sign-in at /common resolves the tenant from it). GLOBAL.
CREATE UNIQUE INDEX users_by_upn ON users (upn_lower);

-- RSA signing keys, one active per tenant, older ones kept (published) until they retire.
CREATE TABLE signing_keys (
    tenant_id    TEXT   NOT NULL REFERENCES tenants (tenant_id),
    kid          TEXT   NOT NULL,
    private_der  TEXT   NOT NULL,
    created_at   BIGINT NOT NULL,
    retired_at   BIGINT,
    PRIMARY KEY (tenant_id, kid)
);
