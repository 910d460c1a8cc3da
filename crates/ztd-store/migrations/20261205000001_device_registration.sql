-- The device registration service (docs/device-registration.md).

-- What a join writes on the device object: its alternative security id (the certificate's thumbprint and
-- key hash, as Entra keeps it) and the user who joined or registered it (registeredOwners/registeredUsers).
ALTER TABLE directory_devices ADD COLUMN alternative_security_id TEXT NOT NULL DEFAULT '';
ALTER TABLE directory_devices ADD COLUMN registered_user_id TEXT;

-- Device certificates issued by a tenant's device CA. Looked up by the SHA-256 of the presented certificate
-- (GLOBAL: a certificate names no tenant before it is found); valid while not revoked, not expired, and its
-- directory object exists and is enabled.
CREATE TABLE device_certificates (
    thumbprint    TEXT   NOT NULL PRIMARY KEY,
    tenant_id     TEXT   NOT NULL REFERENCES tenants (tenant_id),
    object_id     TEXT   NOT NULL,
    device_id     TEXT   NOT NULL,
    certificate   TEXT   NOT NULL,
    transport_key TEXT   NOT NULL,
    trust_type    TEXT   NOT NULL,
    issued_at     BIGINT NOT NULL,
    expires_at    BIGINT NOT NULL,
    revoked_at    BIGINT
);
CREATE INDEX device_certificates_by_object ON device_certificates (tenant_id, object_id);

-- Server nonces already redeemed (srv_challenge, join tickets): a signed request is good once. GLOBAL, like
-- the nonces themselves; rows past their expiry are deleted as new ones arrive.
CREATE TABLE used_nonces (
    nonce_hash TEXT   NOT NULL PRIMARY KEY,
    expires_at BIGINT NOT NULL
);
CREATE INDEX used_nonces_by_expiry ON used_nonces (expires_at);

-- Primary Refresh Tokens are refresh tokens bound to a device and a session key: `device_object_id` names
-- the device (tokens issued through them carry its deviceId), `session_key` is the key the device proves
-- possession of (base64; the server must hold it to check the derived-key signatures), `kind` is 'prt' or
-- 'refresh'.
ALTER TABLE refresh_tokens ADD COLUMN kind TEXT NOT NULL DEFAULT 'refresh';
ALTER TABLE refresh_tokens ADD COLUMN device_object_id TEXT;
ALTER TABLE refresh_tokens ADD COLUMN session_key TEXT;

-- Windows Hello for Business keys registered by a device for a user (recorded; the Hello sign-in comes with
-- the hybrid mode).
CREATE TABLE device_user_keys (
    tenant_id  TEXT   NOT NULL REFERENCES tenants (tenant_id),
    id         TEXT   NOT NULL,
    user_id    TEXT   NOT NULL,
    object_id  TEXT,
    key_blob   TEXT   NOT NULL,
    created_at BIGINT NOT NULL,
    PRIMARY KEY (tenant_id, id)
);
