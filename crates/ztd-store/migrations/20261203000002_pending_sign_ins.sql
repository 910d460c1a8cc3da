-- Sign-ins that finish on another request: authorization codes and device codes. GLOBAL: a code is redeemed
-- before the tenant is known (at /common and /organizations), so rows are found by the code's hash; the
-- tenant is set once a person signs in. Only the SHA-256 of a code is stored.
CREATE TABLE pending_sign_ins (
    code_hash             TEXT   NOT NULL PRIMARY KEY,
    kind                  TEXT   NOT NULL,
    user_code             TEXT,
    requested_tenant      TEXT,
    client_id             TEXT   NOT NULL,
    tenant_id             TEXT,
    user_id               TEXT,
    scope                 TEXT,
    resource              TEXT,
    v2                    BIGINT NOT NULL,
    redirect_uri          TEXT,
    code_challenge        TEXT,
    code_challenge_method TEXT,
    nonce                 TEXT,
    status                TEXT   NOT NULL,
    expires_at            BIGINT NOT NULL,
    created_at            BIGINT NOT NULL
);
-- GLOBAL: the device login page finds a sign-in by the code a person typed (NULL for authorization codes).
CREATE UNIQUE INDEX pending_sign_ins_by_user_code ON pending_sign_ins (user_code);
CREATE INDEX pending_sign_ins_by_expiry ON pending_sign_ins (expires_at);
