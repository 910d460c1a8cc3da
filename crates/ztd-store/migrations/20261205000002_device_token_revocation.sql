-- A device's PRTs and the refresh tokens obtained through them are revoked together when it leaves or joins
-- again (docs/device-registration.md): find them by device.
CREATE INDEX refresh_tokens_by_device ON refresh_tokens (tenant_id, device_object_id)
    WHERE device_object_id IS NOT NULL;

-- An authorization code issued through PRT single sign-on names the device, so the tokens it is redeemed for
-- are bound to it (they carry its deviceId and stop with it).
ALTER TABLE pending_sign_ins ADD COLUMN device_object_id TEXT;
