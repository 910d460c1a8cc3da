//! Autopilot device records: read, update properties, delete.

use ztd_core::device::{AutopilotDevice, EnrollmentState};
use ztd_core::directory::retag_physical_ids;
use ztd_core::error::ImportError;
use ztd_core::error::ObjectKind;
use ztd_core::event::EventKind;
use ztd_core::registration::{validate_assigned_user, validate_group_tag};
use ztd_core::{TenantId, Ztdid};
use ztd_store::{DeviceQuery, Lock};

use std::collections::HashMap;

use crate::targeting::{refresh_devices, Targeting};
use crate::{App, AppError, AppResult};

/// Graph `updateDeviceProperties` (and the user assignment actions): `None` leaves a property unchanged.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct DeviceUpdate {
    pub group_tag: Option<String>,
    pub display_name: Option<String>,
    pub user_principal_name: Option<String>,
    pub addressable_user_name: Option<String>,
    pub purchase_order_id: Option<String>,
}

/// A device's first-boot contact (see [`App::device_contacts`]).
#[derive(Clone, Debug)]
pub struct DeviceContact {
    pub event: ztd_core::event::Event,
    /// The device, unless it was deleted since.
    pub device: Option<AutopilotDevice>,
    /// The display name of the profile the contact delivered, if it still exists.
    pub profile_name: Option<String>,
}

/// The outcome of one device (or one unknown serial) in [`App::delete_devices_by_serial`].
#[derive(Debug)]
pub struct SerialDeletion {
    pub serial_number: String,
    /// `None` for a serial with no registration.
    pub ztdid: Option<Ztdid>,
    pub result: AppResult<()>,
}

fn field_error(field: &str, error: ImportError) -> AppError {
    AppError::invalid(field, error.message)
}

impl App {
    pub async fn device(&self, tenant: TenantId, ztdid: Ztdid) -> AppResult<AutopilotDevice> {
        let mut tx = self.store.begin_read().await?;
        tx.get_device(tenant, ztdid)
            .await?
            .ok_or_else(|| AppError::not_found(ObjectKind::AutopilotDevice, ztdid))
    }

    /// Finds a device by ZTDID or by serial number (exact, case-insensitive).
    pub async fn find_device(
        &self,
        tenant: TenantId,
        serial_or_ztdid: &str,
    ) -> AppResult<AutopilotDevice> {
        let mut tx = self.store.begin_read().await?;
        if let Some(ztdid) = Ztdid::parse(serial_or_ztdid) {
            if let Some(device) = tx.get_device(tenant, ztdid).await? {
                return Ok(device);
            }
        }
        let mut found = tx
            .find_devices_by_serial(tenant, serial_or_ztdid.trim())
            .await?;
        match found.len() {
            0 => Err(AppError::not_found(ObjectKind::DirectoryDevice, serial_or_ztdid)),
            1 => Ok(found.remove(0)),
            n => Err(AppError::invalid(
                "serialNumber",
                format!("{n} devices have serial {serial_or_ztdid:?} (different manufacturers); use the ZTDID"),
            )),
        }
    }

    pub async fn devices(
        &self,
        tenant: TenantId,
        query: &DeviceQuery,
    ) -> AppResult<Vec<AutopilotDevice>> {
        let mut tx = self.store.begin_read().await?;
        Ok(tx.list_devices(tenant, query).await?)
    }

    /// A page of devices as Graph lists them (each carries its directory `deviceId`), read in one statement
    /// without a transaction (a single statement is consistent by itself).
    pub async fn device_page(
        &self,
        tenant: TenantId,
        query: &DeviceQuery,
    ) -> AppResult<Vec<AutopilotDevice>> {
        let mut tx = self.store.single_read().await?;
        Ok(tx.list_devices(tenant, query).await?)
    }

    pub async fn count_devices(&self, tenant: TenantId, query: &DeviceQuery) -> AppResult<u64> {
        let mut tx = self.store.begin_read().await?;
        Ok(tx.count_devices(tenant, query).await?)
    }

    /// Changes a device's group tag, name or user. The directory object's physical ids, the device's dynamic
    /// groups and its intended profile follow in the same transaction.
    pub async fn update_device(
        &self,
        tenant: TenantId,
        ztdid: Ztdid,
        update: DeviceUpdate,
    ) -> AppResult<AutopilotDevice> {
        if let Some(tag) = &update.group_tag {
            validate_group_tag(tag).map_err(|e| field_error("groupTag", e))?;
        }
        if let Some(upn) = &update.user_principal_name {
            validate_assigned_user(upn).map_err(|e| field_error("userPrincipalName", e))?;
        }
        if let Some(name) = update.display_name.as_deref().filter(|n| !n.is_empty()) {
            ztd_core::provisioning::validate_computer_name(name)
                .map_err(|e| AppError::Invalid(vec![e]))?;
        }
        let now = self.now();
        let mut tx = self.store.begin().await?;
        tx.lock(Lock::Targeting(tenant)).await?;
        let mut device = tx
            .get_device_for_update(tenant, ztdid)
            .await?
            .ok_or_else(|| AppError::not_found(ObjectKind::AutopilotDevice, ztdid))?;
        let before = device.clone();
        if let Some(tag) = update.group_tag {
            device.group_tag = tag.trim().to_string();
        }
        if let Some(po) = update.purchase_order_id {
            device.purchase_order_id = po.trim().to_string();
        }
        if let Some(name) = update.display_name {
            device.display_name = name.trim().to_string();
        }
        if let Some(upn) = update.user_principal_name {
            device.user_principal_name = match upn.trim() {
                "" => String::new(),
                // Intune assigns only a user of the tenant; the name is stored as the directory spells it.
                upn => tx
                    .get_user_by_upn(tenant, upn)
                    .await?
                    .map(|user| user.user_principal_name)
                    .ok_or_else(|| {
                        AppError::invalid(
                            "userPrincipalName",
                            format!(
                                "there is no user {upn} in this tenant; create the user first (POST /users or ztd user create)"
                            ),
                        )
                    })?,
            };
        }
        if let Some(name) = update.addressable_user_name {
            device.addressable_user_name = name.trim().to_string();
        }
        if device == before {
            return Ok(device);
        }
        device.updated_at = now;
        tx.update_device(&device).await?;
        let mut directory = tx
            .get_directory_device(tenant, device.directory_object_id)
            .await?;
        if let Some(object) = directory.as_mut() {
            let tags = retag_physical_ids(
                &object.physical_ids,
                device.ztdid,
                &device.group_tag,
                &device.purchase_order_id,
            );
            if tags != object.physical_ids {
                object.physical_ids = tags;
                tx.update_directory_device(object).await?;
            }
        }
        if let Some(object) = directory {
            let targeting = Targeting::load(&mut tx, tenant).await?;
            refresh_devices(
                &mut tx,
                tenant,
                &targeting,
                &[(Some(device.clone()), object)],
                now,
            )
            .await?;
        }
        let event = self.event(
            tenant,
            EventKind::DeviceUpdated,
            ztdid,
            serde_json::json!({ "groupTag": device.group_tag, "displayName": device.display_name, "userPrincipalName": device.user_principal_name }),
        );
        tx.append_events(&[event]).await?;
        tx.commit().await?;
        self.device(tenant, ztdid).await
    }

    /// The newest `limit` first-boot contacts (`device.contacted` events), newest first, each with the
    /// device it names if it still exists and the display name of the profile it received: what Graph's
    /// `autopilotEvents` are made of. Three statements, whatever the number of events.
    pub async fn device_contacts(
        &self,
        tenant: TenantId,
        limit: u32,
    ) -> AppResult<Vec<DeviceContact>> {
        let mut tx = self.store.begin_read().await?;
        let events = tx
            .list_events_of_kind(tenant, EventKind::DeviceContacted.as_str(), limit)
            .await?;
        let mut ztdids: Vec<Ztdid> = events
            .iter()
            .filter_map(|e| Ztdid::parse(&e.subject))
            .collect();
        ztdids.sort_unstable();
        ztdids.dedup();
        let devices: HashMap<Ztdid, AutopilotDevice> = tx
            .get_devices(tenant, &ztdids)
            .await?
            .into_iter()
            .map(|d| (d.ztdid, d))
            .collect();
        let profiles: HashMap<String, String> = tx
            .list_profiles(tenant)
            .await?
            .into_iter()
            .map(|p| (p.id.to_string(), p.display_name))
            .collect();
        Ok(events
            .into_iter()
            .map(|event| {
                let device = Ztdid::parse(&event.subject).and_then(|z| devices.get(&z).cloned());
                let profile_name = event
                    .data
                    .get("profileId")
                    .and_then(serde_json::Value::as_str)
                    .and_then(|id| profiles.get(id).cloned());
                DeviceContact {
                    event,
                    device,
                    profile_name,
                }
            })
            .collect())
    }

    /// Unblocks a device whose enrollment is blocked (Graph `allowNextEnrollment`).
    pub async fn allow_next_enrollment(&self, tenant: TenantId, ztdid: Ztdid) -> AppResult<()> {
        let mut tx = self.store.begin().await?;
        tx.lock(Lock::Targeted(tenant)).await?;
        let mut device = tx
            .get_device_for_update(tenant, ztdid)
            .await?
            .ok_or_else(|| AppError::not_found(ObjectKind::AutopilotDevice, ztdid))?;
        if device.enrollment_state == EnrollmentState::Blocked {
            device.enrollment_state = EnrollmentState::NotContacted;
            device.updated_at = self.now();
            tx.update_device(&device).await?;
        }
        tx.append_events(&[self.event(
            tenant,
            EventKind::DeviceEnrollmentAllowed,
            ztdid,
            serde_json::json!({}),
        )])
        .await?;
        tx.commit().await?;
        Ok(())
    }

    /// Deregisters a device: the registration, its directory object and its memberships go together. The
    /// ZTDID is never issued again; importing the hash later creates a new registration with a new ZTDID.
    pub async fn delete_device(
        &self,
        tenant: TenantId,
        ztdid: Ztdid,
    ) -> AppResult<AutopilotDevice> {
        let mut tx = self.store.begin().await?;
        tx.lock(Lock::Targeted(tenant)).await?;
        let device = tx
            .get_device(tenant, ztdid)
            .await?
            .ok_or_else(|| AppError::not_found(ObjectKind::AutopilotDevice, ztdid))?;
        let event = self.delete_registration(&mut tx, tenant, &device).await?;
        tx.append_events(&[event]).await?;
        tx.commit().await?;
        Ok(device)
    }

    /// Graph's `deleteDevices`: every registration with each serial number (exact, case-insensitive), in
    /// one transaction, with one outcome per serial and device. A serial with no registration, or a device
    /// that cannot be deleted yet (enrolled), is reported and changes nothing; a failure of the store
    /// writes nothing at all.
    pub async fn delete_devices_by_serial(
        &self,
        tenant: TenantId,
        serials: &[String],
    ) -> AppResult<Vec<SerialDeletion>> {
        let mut tx = self.store.begin().await?;
        tx.lock(Lock::Targeted(tenant)).await?;
        let mut outcomes = Vec::with_capacity(serials.len());
        let mut events = Vec::new();
        for serial in serials {
            let found = tx.find_devices_by_serial(tenant, serial.trim()).await?;
            if found.is_empty() {
                outcomes.push(SerialDeletion {
                    serial_number: serial.clone(),
                    ztdid: None,
                    result: Err(AppError::not_found(ObjectKind::DirectoryDevice, serial)),
                });
            }
            for device in found {
                let result = match self.delete_registration(&mut tx, tenant, &device).await {
                    Ok(event) => {
                        events.push(event);
                        Ok(())
                    }
                    // A refusal is this device's outcome; a store failure ends the whole call.
                    Err(AppError::Store(err)) => return Err(AppError::Store(err)),
                    Err(refused) => Err(refused),
                };
                outcomes.push(SerialDeletion {
                    serial_number: device.serial_number.clone(),
                    ztdid: Some(device.ztdid),
                    result,
                });
            }
        }
        tx.append_events(&events).await?;
        tx.commit().await?;
        Ok(outcomes)
    }

    /// Deletes a registration and its directory object in `tx`, in the documented order (an enrolled
    /// device's management record goes first); returns the event for the caller to append last.
    async fn delete_registration(
        &self,
        tx: &mut ztd_store::Tx,
        tenant: TenantId,
        device: &AutopilotDevice,
    ) -> AppResult<ztd_core::event::Event> {
        if device.enrollment_state == EnrollmentState::Enrolled {
            return Err(AppError::Domain(ztd_core::DomainError::conflict(format!(
                "device {} is enrolled; delete its management record first (deletion order: management, Autopilot, directory)",
                device.serial_number
            ))));
        }
        tx.delete_device(tenant, device.ztdid).await?;
        tx.delete_directory_device(tenant, device.directory_object_id)
            .await?;
        Ok(self.event(
            tenant,
            EventKind::DeviceDeleted,
            device.ztdid,
            serde_json::json!({ "serialNumber": device.serial_number }),
        ))
    }
}
