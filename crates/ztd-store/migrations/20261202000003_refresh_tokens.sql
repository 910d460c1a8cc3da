-- Refresh tokens: stored as the SHA-256 of the token (a stolen table signs nobody in). Each use replaces the
-- token with a new one of the same family; a token used twice revokes its whole family (replay).
CREATE TABLE refresh_tokens (
    token_hash   TEXT   NOT NULL PRIMARY KEY,
    tenant_id    TEXT   NOT NULL REFERENCES tenants (tenant_id),
    family_id    TEXT   NOT NULL,
    user_id      TEXT   NOT NULL,
    client_id    TEXT   NOT NULL,
    created_at   BIGINT NOT NULL,
    expires_at   BIGINT NOT NULL,
    used_at      BIGINT,
    revoked_at   BIGINT
);
CREATE INDEX refresh_tokens_by_family ON refresh_tokens (tenant_id, family_id);
CREATE INDEX refresh_tokens_by_user ON refresh_tokens (tenant_id, user_id);
