//! Autopilot device registrations (`devices`), with their profile assignment state inline.

use ztd_core::device::{
    AssignmentStatus, AutopilotDevice, EnrollmentState, HardwareKeys, ProfileAssignmentState,
    RemediationState,
};
use ztd_core::{TenantId, Timestamp, Ztdid};

use std::borrow::Cow;

use serde::Deserialize;

use crate::codec::{
    contains_clause, corrupt, lower_needle, parse_id, parse_page, to_json, Columns,
};
use crate::tx::{bind_all, in_list, param, placeholders, Bind, Filter, Q};
use crate::{Backend, DeviceQuery, StoreError, Tx};

const DEVICE_COLS: &str = "tenant_id, ztdid, serial_number, serial_lower, manufacturer, model, product_key, \
    sku_number, system_family, hardware_hash, identity_key, smbios_uuid, tpm_ek_pub_hash, disk_serial, \
    mac_addresses, group_tag, purchase_order_id, user_principal_name, addressable_user_name, display_name, \
    enrollment_state, last_contacted_at, directory_object_id, intended_profile_id, delivered_profile_id, \
    assignment_status, assigned_at, remediation_state, created_at, updated_at, directory_device_id, \
    managed_device_id";
const DEVICE_COL_COUNT: usize = 32;
/// What a page reads of a device, in [`DeviceRow`]'s order: `DEVICE_COLS` without `serial_lower` (an index
/// key, never decoded) and without the hardware identity ([`HARDWARE_COLS`], last, so a listing that
/// leaves it out packs shorter rows).
pub(crate) const LISTED_COLS: &[&str] = &[
    "tenant_id",
    "ztdid",
    "serial_number",
    "manufacturer",
    "model",
    "product_key",
    "sku_number",
    "system_family",
    "group_tag",
    "purchase_order_id",
    "user_principal_name",
    "addressable_user_name",
    "display_name",
    "enrollment_state",
    "last_contacted_at",
    "directory_object_id",
    "directory_device_id",
    "intended_profile_id",
    "delivered_profile_id",
    "assignment_status",
    "assigned_at",
    "remediation_state",
    "created_at",
    "updated_at",
    "managed_device_id",
];
/// The hardware identity of a device, which listings never show (`DeviceQuery::without_hardware`).
const HARDWARE_COLS: &[&str] = &[
    "hardware_hash",
    "identity_key",
    "smbios_uuid",
    "tpm_ek_pub_hash",
    "disk_serial",
    "mac_addresses",
];

fn bind_device<'q>(q: Q<'q>, d: &'q AutopilotDevice) -> Q<'q> {
    q.bind(d.tenant_id.to_string())
        .bind(d.ztdid.to_string())
        .bind(d.serial_number.as_str())
        .bind(d.serial_number.to_lowercase())
        .bind(d.manufacturer.as_str())
        .bind(d.model.as_str())
        .bind(d.product_key.as_str())
        .bind(d.sku_number.as_str())
        .bind(d.system_family.as_str())
        .bind(d.hardware_hash.as_str())
        .bind(d.keys.identity_key.as_str())
        .bind(d.keys.smbios_uuid.as_deref())
        .bind(d.keys.tpm_ek_pub_hash.as_deref())
        .bind(d.keys.disk_serial.as_deref())
        .bind(to_json(&d.keys.mac_addresses))
        .bind(d.group_tag.as_str())
        .bind(d.purchase_order_id.as_str())
        .bind(d.user_principal_name.as_str())
        .bind(d.addressable_user_name.as_str())
        .bind(d.display_name.as_str())
        .bind(d.enrollment_state.as_str())
        .bind(d.last_contacted_at.map(|t| t.0))
        .bind(d.directory_object_id.to_string())
        .bind(d.assignment.intended_profile_id.map(|p| p.to_string()))
        .bind(d.assignment.delivered_profile_id.map(|p| p.to_string()))
        .bind(d.assignment.status.as_str())
        .bind(d.assignment.assigned_at.map(|t| t.0))
        .bind(d.remediation_state.as_str())
        .bind(d.created_at.0)
        .bind(d.updated_at.0)
        .bind(d.directory_device_id.to_string())
        .bind(d.managed_device_id.map(|m| m.to_string()))
}

/// A stored device as read, text borrowed where the reader allows: a packed page deserialises straight into
/// it (a JSON array in field order: [`LISTED_COLS`], then [`HARDWARE_COLS`] unless left out), and a driver row is read into it by name. [`DeviceRow::into_device`] is the one place that checks and converts a row.
#[derive(Deserialize)]
struct DeviceRow<'a> {
    #[serde(borrow)]
    tenant_id: Cow<'a, str>,
    #[serde(borrow)]
    ztdid: Cow<'a, str>,
    #[serde(borrow)]
    serial_number: Cow<'a, str>,
    #[serde(borrow)]
    manufacturer: Cow<'a, str>,
    #[serde(borrow)]
    model: Cow<'a, str>,
    #[serde(borrow)]
    product_key: Cow<'a, str>,
    #[serde(borrow)]
    sku_number: Cow<'a, str>,
    #[serde(borrow)]
    system_family: Cow<'a, str>,
    #[serde(borrow)]
    group_tag: Cow<'a, str>,
    #[serde(borrow)]
    purchase_order_id: Cow<'a, str>,
    #[serde(borrow)]
    user_principal_name: Cow<'a, str>,
    #[serde(borrow)]
    addressable_user_name: Cow<'a, str>,
    #[serde(borrow)]
    display_name: Cow<'a, str>,
    #[serde(borrow)]
    enrollment_state: Cow<'a, str>,
    last_contacted_at: Option<i64>,
    #[serde(borrow)]
    directory_object_id: Cow<'a, str>,
    #[serde(borrow)]
    directory_device_id: Cow<'a, str>,
    #[serde(borrow)]
    intended_profile_id: Option<Cow<'a, str>>,
    #[serde(borrow)]
    delivered_profile_id: Option<Cow<'a, str>>,
    #[serde(borrow)]
    assignment_status: Cow<'a, str>,
    assigned_at: Option<i64>,
    #[serde(borrow)]
    remediation_state: Cow<'a, str>,
    created_at: i64,
    updated_at: i64,
    #[serde(borrow)]
    managed_device_id: Option<Cow<'a, str>>,
    // The hardware identity: absent from listings that leave it out (empty keys then).
    #[serde(borrow, default)]
    hardware_hash: Cow<'a, str>,
    #[serde(borrow, default)]
    identity_key: Cow<'a, str>,
    #[serde(borrow, default)]
    smbios_uuid: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    tpm_ek_pub_hash: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    disk_serial: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    mac_addresses: Cow<'a, str>,
}

impl<'a> DeviceRow<'a> {
    fn from_columns(row: &'a impl Columns) -> Result<Self, StoreError> {
        let text = |col: &str| {
            row.opt_str(col)?
                .ok_or_else(|| corrupt(format!("column {col}: NULL")))
        };
        let int = |col: &str| {
            row.opt_int(col)?
                .ok_or_else(|| corrupt(format!("column {col}: NULL")))
        };
        Ok(DeviceRow {
            tenant_id: text("tenant_id")?,
            ztdid: text("ztdid")?,
            serial_number: text("serial_number")?,
            manufacturer: text("manufacturer")?,
            model: text("model")?,
            product_key: text("product_key")?,
            sku_number: text("sku_number")?,
            system_family: text("system_family")?,
            hardware_hash: text("hardware_hash")?,
            identity_key: text("identity_key")?,
            smbios_uuid: row.opt_str("smbios_uuid")?,
            tpm_ek_pub_hash: row.opt_str("tpm_ek_pub_hash")?,
            disk_serial: row.opt_str("disk_serial")?,
            mac_addresses: text("mac_addresses")?,
            group_tag: text("group_tag")?,
            purchase_order_id: text("purchase_order_id")?,
            user_principal_name: text("user_principal_name")?,
            addressable_user_name: text("addressable_user_name")?,
            display_name: text("display_name")?,
            enrollment_state: text("enrollment_state")?,
            last_contacted_at: row.opt_int("last_contacted_at")?,
            directory_object_id: text("directory_object_id")?,
            directory_device_id: text("directory_device_id")?,
            intended_profile_id: row.opt_str("intended_profile_id")?,
            delivered_profile_id: row.opt_str("delivered_profile_id")?,
            assignment_status: text("assignment_status")?,
            assigned_at: row.opt_int("assigned_at")?,
            remediation_state: text("remediation_state")?,
            created_at: int("created_at")?,
            updated_at: int("updated_at")?,
            managed_device_id: row.opt_str("managed_device_id")?,
        })
    }

    fn into_device(self) -> Result<AutopilotDevice, StoreError> {
        fn wire<T>(
            col: &str,
            value: &str,
            parse: impl Fn(&str) -> Option<T>,
        ) -> Result<T, StoreError> {
            parse(value).ok_or_else(|| corrupt(format!("column {col}: unknown value {value:?}")))
        }
        let opt_id =
            |col: &str, value: Option<Cow<'_, str>>| value.map(|v| parse_id(col, &v)).transpose();
        Ok(AutopilotDevice {
            tenant_id: parse_id("tenant_id", &self.tenant_id)?,
            ztdid: parse_id("ztdid", &self.ztdid)?,
            serial_number: self.serial_number.into_owned(),
            manufacturer: self.manufacturer.into_owned(),
            model: self.model.into_owned(),
            product_key: self.product_key.into_owned(),
            sku_number: self.sku_number.into_owned(),
            system_family: self.system_family.into_owned(),
            hardware_hash: self.hardware_hash.into_owned(),
            keys: HardwareKeys {
                identity_key: self.identity_key.into_owned(),
                smbios_uuid: self.smbios_uuid.map(Cow::into_owned),
                tpm_ek_pub_hash: self.tpm_ek_pub_hash.map(Cow::into_owned),
                disk_serial: self.disk_serial.map(Cow::into_owned),
                mac_addresses: if self.mac_addresses.is_empty() || self.mac_addresses == "[]" {
                    Vec::new()
                } else {
                    serde_json::from_str(&self.mac_addresses)
                        .map_err(|e| corrupt(format!("column mac_addresses: {e}")))?
                },
            },
            group_tag: self.group_tag.into_owned(),
            purchase_order_id: self.purchase_order_id.into_owned(),
            user_principal_name: self.user_principal_name.into_owned(),
            addressable_user_name: self.addressable_user_name.into_owned(),
            display_name: self.display_name.into_owned(),
            enrollment_state: wire(
                "enrollment_state",
                &self.enrollment_state,
                EnrollmentState::parse,
            )?,
            last_contacted_at: self.last_contacted_at.map(Timestamp),
            directory_object_id: parse_id("directory_object_id", &self.directory_object_id)?,
            directory_device_id: parse_id("directory_device_id", &self.directory_device_id)?,
            assignment: ProfileAssignmentState {
                intended_profile_id: opt_id("intended_profile_id", self.intended_profile_id)?,
                delivered_profile_id: opt_id("delivered_profile_id", self.delivered_profile_id)?,
                status: wire(
                    "assignment_status",
                    &self.assignment_status,
                    AssignmentStatus::parse,
                )?,
                assigned_at: self.assigned_at.map(Timestamp),
            },
            remediation_state: wire(
                "remediation_state",
                &self.remediation_state,
                RemediationState::parse,
            )?,
            created_at: Timestamp(self.created_at),
            updated_at: Timestamp(self.updated_at),
            managed_device_id: self
                .managed_device_id
                .map(|v| parse_id("managed_device_id", &v))
                .transpose()?,
        })
    }
}

fn device(row: &impl Columns) -> Result<AutopilotDevice, StoreError> {
    DeviceRow::from_columns(row)?.into_device()
}

fn device_filter(backend: Backend, tenant: TenantId, q: &DeviceQuery) -> Filter {
    let mut filter = Filter::new(&tenant.to_string());
    if let Some(needle) = &q.serial_contains {
        filter.and(
            &contains_clause(backend, "serial_lower"),
            Bind::Text(lower_needle(needle)),
        );
    }
    if let Some(tag) = &q.group_tag {
        filter.and("group_tag = {}", Bind::Text(tag.clone()));
    }
    if let Some(profile) = q.intended_profile_id {
        filter.and("intended_profile_id = {}", Bind::Text(profile.to_string()));
    }
    if let Some(device_id) = q.directory_device_id {
        filter.and(
            "directory_device_id = {}",
            Bind::Text(device_id.to_string()),
        );
    }
    filter
}

/// How a page of devices is read: as [`DeviceRow`] arrays, stored or packed at read time.
enum DevicePage {
    /// `SELECT listing ...` (SQLite, listings without the hardware identity): [`Tx::fetch_listing_text`].
    Stored,
    /// `SELECT <these columns> ...`, packed at read time: [`Tx::fetch_packed_text`].
    Packed(Vec<&'static str>),
}

/// One page of devices as a `SELECT` in [`DeviceRow`]'s order, with its parameters, the hardware identity
/// left out when the query says so.
fn device_page_sql(
    backend: Backend,
    tenant: TenantId,
    q: &DeviceQuery,
) -> (String, Vec<Bind>, DevicePage) {
    let mut filter = device_filter(backend, tenant, q);
    if let Some(after) = q.after {
        filter.and("ztdid > {}", Bind::Text(after.to_string()));
    }
    let (select, table, page) = match backend {
        // SQLite keeps each device's listed columns packed in `devices_listing`, in ZTDID order with the
        // lowercased serial: a page, and a serial substring test, read that index alone. A directory
        // `deviceId` is looked up by its own index instead. SQLite has no statistics to choose the index,
        // so the query names it.
        Backend::Sqlite if q.without_hardware => (
            "listing".to_string(),
            match q.directory_device_id {
                Some(_) => "devices",
                None => "devices INDEXED BY devices_listing",
            },
            DevicePage::Stored,
        ),
        _ => {
            let mut columns: Vec<&'static str> = LISTED_COLS.to_vec();
            if !q.without_hardware {
                columns.extend_from_slice(HARDWARE_COLS);
            }
            let table = match backend {
                Backend::Sqlite if q.serial_contains.is_some() => {
                    "devices INDEXED BY devices_listing"
                }
                _ => "devices",
            };
            (columns.join(", "), table, DevicePage::Packed(columns))
        }
    };
    let mut sql = format!(
        "SELECT {select} FROM {table} WHERE {} ORDER BY ztdid",
        filter.sql
    );
    push_limit_offset(&mut sql, &mut filter, q.limit, q.offset);
    (sql, filter.binds, page)
}

impl Tx {
    /// Bulk insert (in ZTDID order: primary-key inserts become appends). A ZTDID or identity key that already
    /// exists is a `Conflict` for the whole call.
    pub async fn insert_devices(&mut self, devices: &[AutopilotDevice]) -> Result<(), StoreError> {
        let head = format!("INSERT INTO devices ({DEVICE_COLS}) VALUES ");
        let mut rows: Vec<&AutopilotDevice> = devices.iter().collect();
        match self.backend() {
            // One writer: primary-key order turns the inserts into appends.
            crate::Backend::Sqlite => rows.sort_unstable_by_key(|d| d.ztdid),
            // Concurrent writers conflict only on the global identity key (ZTDIDs are fresh), so every
            // transaction takes those index entries in the same order and two overlapping imports wait for
            // each other instead of deadlocking.
            crate::Backend::Postgres => {
                rows.sort_unstable_by(|a, b| a.keys.identity_key.cmp(&b.keys.identity_key))
            }
        }
        self.insert_rows(&head, DEVICE_COL_COUNT, "", &rows, |q, d| bind_device(q, d))
            .await
    }

    /// Rewrites every field but the tenant, ZTDID and creation time. A no-op when the device does not exist
    /// in `d.tenant_id`.
    pub async fn update_device(&mut self, d: &AutopilotDevice) -> Result<(), StoreError> {
        let sql = "UPDATE devices SET serial_number = $3, serial_lower = $4, manufacturer = $5, model = $6, \
            product_key = $7, sku_number = $8, system_family = $9, hardware_hash = $10, identity_key = $11, \
            smbios_uuid = $12, tpm_ek_pub_hash = $13, disk_serial = $14, mac_addresses = $15, group_tag = $16, \
            purchase_order_id = $17, user_principal_name = $18, addressable_user_name = $19, display_name = $20, \
            enrollment_state = $21, last_contacted_at = $22, directory_object_id = $23, \
            intended_profile_id = $24, delivered_profile_id = $25, assignment_status = $26, assigned_at = $27, \
            remediation_state = $28, updated_at = $30, directory_device_id = $31, \
            managed_device_id = $32 \
            WHERE tenant_id = $1 AND ztdid = $2";
        // $29 (created_at) is bound but unused: the row keeps its creation time.
        self.execute(bind_device(sqlx::query(sql), d))
            .await
            .map(drop)
    }

    pub async fn delete_device(
        &mut self,
        tenant: TenantId,
        ztdid: Ztdid,
    ) -> Result<bool, StoreError> {
        let q = sqlx::query("DELETE FROM devices WHERE tenant_id = $1 AND ztdid = $2")
            .bind(tenant.to_string())
            .bind(ztdid.to_string());
        Ok(self.execute(q).await? > 0)
    }

    pub async fn get_device(
        &mut self,
        tenant: TenantId,
        ztdid: Ztdid,
    ) -> Result<Option<AutopilotDevice>, StoreError> {
        self.read_device(tenant, ztdid, "").await
    }

    /// [`Tx::get_device`] for a read-modify-write of the whole row: on PostgreSQL the row stays locked until
    /// the transaction ends, so two use cases changing different fields of one device never undo each
    /// other's change (SQLite's writers run one at a time anyway).
    pub async fn get_device_for_update(
        &mut self,
        tenant: TenantId,
        ztdid: Ztdid,
    ) -> Result<Option<AutopilotDevice>, StoreError> {
        let lock = match self.backend() {
            Backend::Postgres => " FOR UPDATE",
            Backend::Sqlite => "",
        };
        self.read_device(tenant, ztdid, lock).await
    }

    async fn read_device(
        &mut self,
        tenant: TenantId,
        ztdid: Ztdid,
        suffix: &str,
    ) -> Result<Option<AutopilotDevice>, StoreError> {
        let sql = format!(
            "SELECT {DEVICE_COLS} FROM devices WHERE tenant_id = $1 AND ztdid = $2{suffix}"
        );
        let q = sqlx::query(&sql)
            .bind(tenant.to_string())
            .bind(ztdid.to_string());
        self.fetch_one_map(q, device).await
    }

    /// Case-insensitive exact serial number match, ordered by ZTDID.
    pub async fn find_devices_by_serial(
        &mut self,
        tenant: TenantId,
        serial: &str,
    ) -> Result<Vec<AutopilotDevice>, StoreError> {
        let sql = format!(
            "SELECT {DEVICE_COLS} FROM devices WHERE tenant_id = $1 AND serial_lower = $2 ORDER BY ztdid"
        );
        let q = sqlx::query(&sql)
            .bind(tenant.to_string())
            .bind(serial.to_lowercase());
        self.fetch_map(q, device).await
    }

    /// The tenant's devices with these ZTDIDs (those that exist), in any order.
    pub async fn get_devices(
        &mut self,
        tenant: TenantId,
        ztdids: &[Ztdid],
    ) -> Result<Vec<AutopilotDevice>, StoreError> {
        let mut found = Vec::new();
        for chunk in ztdids.chunks(self.rows_per_statement(1, 1)) {
            let sql = format!(
                "SELECT {DEVICE_COLS} FROM devices WHERE tenant_id = {} AND ztdid IN ({})",
                param(self.backend(), 1),
                in_list(self.backend(), 2, chunk.len())
            );
            let mut q = sqlx::query(&sql).bind(tenant.to_string());
            for ztdid in chunk {
                q = q.bind(ztdid.to_string());
            }
            found.extend(self.fetch_map(q, device).await?);
        }
        Ok(found)
    }

    /// GLOBAL: the devices, in any tenant, holding any of these identity keys (one device, one tenant).
    pub async fn find_devices_by_identity_keys(
        &mut self,
        keys: &[String],
    ) -> Result<Vec<AutopilotDevice>, StoreError> {
        let mut found = Vec::new();
        for chunk in keys.chunks(self.rows_per_statement(1, 0)) {
            let sql = format!(
                "SELECT {DEVICE_COLS} FROM devices WHERE identity_key IN ({})",
                in_list(self.backend(), 1, chunk.len())
            );
            let mut q = sqlx::query(&sql);
            for key in chunk {
                q = q.bind(key.as_str());
            }
            found.extend(self.fetch_map(q, device).await?);
        }
        Ok(found)
    }

    /// Filtered page ordered by ZTDID; use `after` (keyset) for large listings rather than `offset`.
    pub async fn list_devices(
        &mut self,
        tenant: TenantId,
        q: &DeviceQuery,
    ) -> Result<Vec<AutopilotDevice>, StoreError> {
        let (sql, binds, page) = device_page_sql(self.backend(), tenant, q);
        let page = match page {
            DevicePage::Stored => self.fetch_listing_text(&sql, binds).await?,
            DevicePage::Packed(names) => self.fetch_packed_text(&sql, binds, &names).await?,
        };
        let mut devices = parse_page::<DeviceRow<'_>>(&page)?
            .into_iter()
            .map(DeviceRow::into_device)
            .collect::<Result<Vec<_>, _>>()?;
        devices.sort_unstable_by_key(|d| d.ztdid);
        Ok(devices)
    }

    /// Devices matching the filters (`after`, `limit` and `offset` are ignored).
    pub async fn count_devices(
        &mut self,
        tenant: TenantId,
        q: &DeviceQuery,
    ) -> Result<u64, StoreError> {
        let filter = device_filter(self.backend(), tenant, q);
        let sql = format!("SELECT COUNT(*) AS n FROM devices WHERE {}", filter.sql);
        self.count(bind_all(sqlx::query(&sql), filter.binds)).await
    }

    /// Bulk update of the inline assignment state (resolution results); other columns are untouched.
    pub async fn update_assignment_states(
        &mut self,
        tenant: TenantId,
        states: &[(Ztdid, ProfileAssignmentState)],
    ) -> Result<(), StoreError> {
        let tenant = tenant.to_string();
        let backend = self.backend();
        let mut states: Vec<&(Ztdid, ProfileAssignmentState)> = states.iter().collect();
        states.sort_unstable_by_key(|(ztdid, _)| *ztdid);
        for chunk in states.chunks(self.rows_per_statement(5, 1)) {
            // The tenant is the last parameter: bulk statements number parameters in textual order.
            let sql = format!(
                "WITH v (ztdid, intended, delivered, status, assigned_at) AS (VALUES {}) \
                 UPDATE devices SET intended_profile_id = v.intended, delivered_profile_id = v.delivered, \
                 assignment_status = v.status, assigned_at = v.assigned_at \
                 FROM v WHERE devices.tenant_id = {} AND devices.ztdid = v.ztdid",
                placeholders(backend, 1, chunk.len(), 5),
                param(backend, chunk.len() * 5 + 1),
            );
            let mut q = sqlx::query(&sql);
            for (ztdid, s) in chunk.iter().copied() {
                q = q
                    .bind(ztdid.to_string())
                    .bind(s.intended_profile_id.map(|p| p.to_string()))
                    .bind(s.delivered_profile_id.map(|p| p.to_string()))
                    .bind(s.status.as_str())
                    .bind(s.assigned_at.map(|t| t.0));
            }
            self.execute(q.bind(tenant.as_str())).await?;
        }
        Ok(())
    }

    /// Records boot contacts in one statement per chunk. Each device's last contact time moves forward
    /// only. Where the contact delivered a profile (`Some(state)`), the delivered profile and status are
    /// written only if the stored intended profile is still the one delivered: a retargeting committed
    /// since the boot read its plan is never overwritten.
    pub async fn record_contacts(
        &mut self,
        tenant: TenantId,
        contacts: &[(Ztdid, Timestamp, Option<ProfileAssignmentState>)],
    ) -> Result<(), StoreError> {
        let tenant = tenant.to_string();
        let backend = self.backend();
        let mut contacts: Vec<_> = contacts.iter().collect();
        contacts.sort_unstable_by_key(|(ztdid, _, _)| *ztdid);
        for chunk in contacts.chunks(self.rows_per_statement(5, 1)) {
            let sql = format!(
                "WITH v (ztdid, at, changed, delivered, status) AS (VALUES {}) \
                 UPDATE devices SET \
                 last_contacted_at = CASE WHEN devices.last_contacted_at IS NULL \
                   OR devices.last_contacted_at < v.at THEN v.at ELSE devices.last_contacted_at END, \
                 delivered_profile_id = CASE WHEN v.changed = 1 AND ({still}) \
                   THEN v.delivered ELSE devices.delivered_profile_id END, \
                 assignment_status = CASE WHEN v.changed = 1 AND ({still}) \
                   THEN v.status ELSE devices.assignment_status END \
                 FROM v WHERE devices.tenant_id = {} AND devices.ztdid = v.ztdid",
                placeholders(backend, 1, chunk.len(), 5),
                param(backend, chunk.len() * 5 + 1),
                still = "devices.intended_profile_id = v.delivered \
                   OR (devices.intended_profile_id IS NULL AND v.delivered IS NULL)",
            );
            let mut q = sqlx::query(&sql);
            for (ztdid, at, state) in chunk.iter().copied() {
                q = q.bind(ztdid.to_string()).bind(at.0);
                q = match state {
                    Some(s) => q
                        .bind(1_i64)
                        .bind(s.delivered_profile_id.map(|p| p.to_string()))
                        .bind(s.status.as_str()),
                    None => q.bind(0_i64).bind(None::<String>).bind(""),
                };
            }
            self.execute(q.bind(tenant.as_str())).await?;
        }
        Ok(())
    }

    /// Every device of the tenant, ordered by ZTDID (assignment resolution over the whole fleet).
    pub async fn all_devices(
        &mut self,
        tenant: TenantId,
    ) -> Result<Vec<AutopilotDevice>, StoreError> {
        let sql = format!("SELECT {DEVICE_COLS} FROM devices WHERE tenant_id = $1 ORDER BY ztdid");
        self.fetch_map(sqlx::query(&sql).bind(tenant.to_string()), device)
            .await
    }

    pub(crate) async fn count(&mut self, q: Q<'_>) -> Result<u64, StoreError> {
        let n = self
            .fetch_one_map(q, |row| crate::codec::int(row, "n"))
            .await?
            .unwrap_or(0);
        u64::try_from(n).map_err(|_| crate::codec::corrupt(format!("negative count {n}")))
    }
}

/// `LIMIT`/`OFFSET` as parameters (an offset without a limit gets a limit of `i64::MAX`; SQLite needs one).
pub(crate) fn push_limit_offset(
    sql: &mut String,
    filter: &mut Filter,
    limit: Option<u32>,
    offset: Option<u64>,
) {
    if limit.is_none() && offset.is_none() {
        return;
    }
    let limit = limit.map_or(i64::MAX, i64::from);
    let p = filter.param(Bind::Int(limit));
    sql.push_str(" LIMIT ");
    sql.push_str(&p);
    if let Some(offset) = offset {
        let p = filter.param(Bind::Int(i64::try_from(offset).unwrap_or(i64::MAX)));
        sql.push_str(" OFFSET ");
        sql.push_str(&p);
    }
}
