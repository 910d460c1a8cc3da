-- Each registration carries its directory object's deviceId (Graph's azureActiveDirectoryDeviceId), fixed at
-- registration, so a page of devices reads one table instead of joining the directory for every row.
ALTER TABLE devices ADD COLUMN directory_device_id TEXT NOT NULL DEFAULT '';
UPDATE devices SET directory_device_id = COALESCE((
    SELECT o.device_id FROM directory_devices o
    WHERE o.tenant_id = devices.tenant_id AND o.id = devices.directory_object_id), '');
CREATE INDEX devices_by_directory_device_id ON devices (tenant_id, directory_device_id);
