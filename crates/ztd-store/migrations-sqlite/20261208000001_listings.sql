-- SQLite only (see `ztd-store`'s crate docs, "One implementation, two databases").
--
-- A page of devices or of group members is read packed: one JSON array per row, joined into one value, so
-- the page crosses the driver in one piece. Packing at read time (`json_array(...)` over 20-odd columns)
-- was most of a page's SQL: every value escaped again at every read. Here each row's array is a virtual
-- generated column, `listing`, kept in an index in page order, so SQLite computes it once when the row
-- is written and a page copies the stored arrays (about 9x less SQL for a device page; docs/benchmarks.md,
-- "Listings packed when written").
--
-- `|| ''` makes the array plain text: SQLite (3.46, bundled) does not read a value that carries the JSON
-- subtype from an index, and would pack the row again at every read.
--
-- The column lists are `LISTED_COLS` (devices.rs) and `DIRECTORY_COLS` (directory.rs), in that order; a
-- test checks that every stored listing equals the array packed at read time. A migration that changes
-- those lists or the columns they name redefines `listing` here (drop the index, drop the column, add
-- both again).
ALTER TABLE devices ADD COLUMN listing TEXT GENERATED ALWAYS AS (json_array(
    tenant_id, ztdid, serial_number, manufacturer, model, product_key, sku_number, system_family, group_tag,
    purchase_order_id, user_principal_name, addressable_user_name, display_name, enrollment_state,
    last_contacted_at, directory_object_id, directory_device_id, intended_profile_id, delivered_profile_id,
    assignment_status, assigned_at, remediation_state, created_at, updated_at, managed_device_id) || '') VIRTUAL;

-- ZTDID order, with the lowercased serial for `contains(serialNumber, ...)`: a plain page and a substring
-- page both walk this index alone. It replaces `devices_serial_scan`, a prefix of it.
CREATE INDEX devices_listing ON devices (tenant_id, ztdid, serial_lower, listing);
DROP INDEX devices_serial_scan;

ALTER TABLE directory_devices ADD COLUMN listing TEXT GENERATED ALWAYS AS (json_array(
    tenant_id, id, device_id, display_name, display_name_lower, account_enabled, physical_ids,
    operating_system, operating_system_version, manufacturer, model, trust_type, enrollment_profile_name,
    ztdid, created_at, alternative_security_id, registered_user_id) || '') VIRTUAL;

-- Object-id order: a members page looks each member up here and reads its listing from the index.
CREATE INDEX directory_devices_listing ON directory_devices (tenant_id, id, listing);
