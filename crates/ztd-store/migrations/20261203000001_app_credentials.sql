-- Applications sign in with any of several secrets or certificates, each with its own validity, added and
-- removed on their own. The one secret every client had becomes its first secret (key id = client id,
-- no expiry; the hash is keyed by the client id and stays valid).
CREATE TABLE client_secrets (
    tenant_id    TEXT   NOT NULL REFERENCES tenants (tenant_id),
    client_id    TEXT   NOT NULL,
    key_id       TEXT   NOT NULL,
    secret_hash  TEXT   NOT NULL,
    hint         TEXT   NOT NULL,
    display_name TEXT   NOT NULL,
    start_at     BIGINT NOT NULL,
    end_at       BIGINT,
    created_at   BIGINT NOT NULL,
    PRIMARY KEY (tenant_id, client_id, key_id)
);
-- GLOBAL: the token endpoint finds a client's secrets before it knows the tenant.
CREATE INDEX client_secrets_by_client ON client_secrets (client_id);

INSERT INTO client_secrets (tenant_id, client_id, key_id, secret_hash, hint, display_name, start_at, end_at, created_at)
SELECT tenant_id, client_id, client_id, secret_hash, '', 'first secret', created_at, NULL, created_at FROM clients;

CREATE TABLE client_certificates (
    tenant_id       TEXT   NOT NULL REFERENCES tenants (tenant_id),
    client_id       TEXT   NOT NULL,
    key_id          TEXT   NOT NULL,
    thumbprint      TEXT   NOT NULL,
    certificate_der TEXT   NOT NULL,
    display_name    TEXT   NOT NULL,
    start_at        BIGINT NOT NULL,
    end_at          BIGINT NOT NULL,
    created_at      BIGINT NOT NULL,
    PRIMARY KEY (tenant_id, client_id, key_id)
);
-- GLOBAL, as for secrets.
CREATE INDEX client_certificates_by_client ON client_certificates (client_id);

ALTER TABLE clients DROP COLUMN secret_hash;
ALTER TABLE clients ADD COLUMN redirect_uris TEXT NOT NULL DEFAULT '[]';
