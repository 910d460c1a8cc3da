//! Registration by hardware hash: a batch of rows (from a CSV or from Graph imports) in one transaction,
//! each row accepted or refused on its own.

use std::collections::HashSet;

use serde::{Deserialize, Serialize};
use ztd_core::device::{AutopilotDevice, HardwareKeys};
use ztd_core::directory::DirectoryDevice;
use ztd_core::error::{ImportError, ImportErrorKind};
use ztd_core::registration::{self, RegistrationIds, RegistrationRequest};
use ztd_core::{DirectoryDeviceId, DirectoryObjectId, TenantId, Ztdid};
use ztd_hwhash::HardwareHash;
use ztd_store::StoreError;

use crate::targeting::{plan_changes, Subject, Targeting};
use crate::{App, AppError, AppResult};

/// One device to register, as read from a CSV row or a Graph import body.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct ImportRow {
    /// 1-based row number in the source, echoed in the outcome.
    pub row: u64,
    pub serial_number: String,
    pub product_key: String,
    pub hardware_hash: String,
    pub group_tag: String,
    pub assigned_user: String,
}

/// What happened to one row.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RowOutcome {
    pub row: u64,
    pub serial_number: String,
    #[serde(flatten)]
    pub result: RowResult,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", tag = "outcome")]
pub enum RowResult {
    Registered {
        ztdid: Ztdid,
    },
    #[serde(rename_all = "camelCase")]
    Rejected {
        error_code: i32,
        error_name: String,
        message: String,
    },
}

impl RowOutcome {
    fn rejected(row: &ImportRow, error: ImportError) -> Self {
        Self {
            row: row.row,
            serial_number: row.serial_number.clone(),
            result: RowResult::Rejected {
                error_code: error.kind.code(),
                error_name: error.kind.name().to_string(),
                message: error.message,
            },
        }
    }

    pub fn ztdid(&self) -> Option<Ztdid> {
        match self.result {
            RowResult::Registered { ztdid } => Some(ztdid),
            RowResult::Rejected { .. } => None,
        }
    }
}

/// Decodes a row's hash into a registration request, or says why the row is refused.
fn decode_row(row: &ImportRow) -> Result<RegistrationRequest, ImportError> {
    let invalid =
        |message: String| ImportError::new(ImportErrorKind::InvalidZtdHardwareHash, message);
    let text = row.hardware_hash.trim();
    if text.is_empty() {
        if row.serial_number.trim().is_empty() && row.product_key.trim().is_empty() {
            return Err(ImportError::new(
                ImportErrorKind::MissingZtdSerialNumberAndProductKey,
                "the row has neither a serial number nor a product key",
            ));
        }
        return Err(invalid(
            "the hardware hash is empty; harvest it with Get-WindowsAutopilotInfo".into(),
        ));
    }
    let hash = HardwareHash::from_base64(text)
        .map_err(|err| invalid(format!("the hardware hash is not valid: {err}")))?;
    let identity = hash.identity();
    let serial = identity.serial_number.clone().unwrap_or_default();
    let manufacturer = identity.manufacturer.clone().unwrap_or_default();
    let given = row.serial_number.trim();
    if !given.is_empty() && !serial.is_empty() && !given.eq_ignore_ascii_case(serial.trim()) {
        return Err(invalid(format!(
            "the serial number column says {given:?} but the hardware hash belongs to {serial:?}; the row mixes two devices"
        )));
    }
    let keys = HardwareKeys {
        identity_key: registration::identity_key(&manufacturer, &serial),
        smbios_uuid: identity.smbios_uuid.clone(),
        tpm_ek_pub_hash: identity.tpm_ek_pub_hash.clone(),
        disk_serial: identity.disk_serial.clone(),
        mac_addresses: identity.mac_addresses.clone(),
    };
    Ok(RegistrationRequest {
        serial_number: serial,
        manufacturer,
        model: identity.model.clone().unwrap_or_default(),
        product_key: row.product_key.trim().to_string(),
        // Stored without its zero padding (lossless, a third of the size); see `HardwareHash::to_compact_base64`.
        hardware_hash: hash.to_compact_base64(),
        keys,
        group_tag: row.group_tag.trim().to_string(),
        purchase_order_id: String::new(),
        assigned_user: row.assigned_user.trim().to_string(),
    })
}

impl App {
    /// Registers a batch of rows in one transaction. Every row gets an outcome; a refused row never stops
    /// the others. Importing the same rows again registers nothing twice (they come back as 806).
    pub async fn import_devices(
        &self,
        tenant: TenantId,
        rows: &[ImportRow],
    ) -> AppResult<Vec<RowOutcome>> {
        // A concurrent import of the same device on another node surfaces as a unique-key conflict at
        // commit; one retry sees the other registration and reports it properly.
        let mut attempts = 0;
        loop {
            match self.import_once(tenant, rows).await {
                Err(AppError::Store(StoreError::Conflict(_))) if attempts < 2 => attempts += 1,
                other => return other,
            }
        }
    }

    async fn import_once(
        &self,
        tenant: TenantId,
        rows: &[ImportRow],
    ) -> AppResult<Vec<RowOutcome>> {
        let now = self.now();
        let decoded: Vec<Result<RegistrationRequest, ImportError>> = {
            use rayon::prelude::*;
            rows.par_iter().map(decode_row).collect()
        };
        let keys: Vec<String> = decoded
            .iter()
            .filter_map(|d| d.as_ref().ok())
            .map(|r| r.keys.identity_key.clone())
            .collect();
        let mut tx = self.store.begin().await?;
        if tx.get_tenant(tenant).await?.is_none() {
            return Err(AppError::not_found("tenant", tenant));
        }
        let registered = tx.find_devices_by_identity_keys(&keys).await?;
        let mut seen = HashSet::new();
        let mut outcomes = Vec::with_capacity(rows.len());
        let mut devices: Vec<AutopilotDevice> = Vec::new();
        let mut objects: Vec<DirectoryDevice> = Vec::new();
        for (row, request) in rows.iter().zip(decoded) {
            let request = match request {
                Ok(request) => request,
                Err(error) => {
                    outcomes.push(RowOutcome::rejected(row, error));
                    continue;
                }
            };
            if !seen.insert(request.keys.identity_key.clone()) {
                outcomes.push(RowOutcome::rejected(
                    row,
                    ImportError::new(
                        ImportErrorKind::ZtdDeviceDuplicated,
                        format!("device {} appears more than once in this import; only its first row was processed", request.serial_number),
                    ),
                ));
                continue;
            }
            let matching: Vec<AutopilotDevice> = registered
                .iter()
                .filter(|d| d.keys.identity_key == request.keys.identity_key)
                .cloned()
                .collect();
            if let Err(error) = registration::decide(tenant, &request, &matching) {
                outcomes.push(RowOutcome::rejected(row, error));
                continue;
            }
            let ids = RegistrationIds {
                ztdid: Ztdid(self.next_uuid()),
                directory_object_id: DirectoryObjectId(self.next_uuid()),
                directory_device_id: DirectoryDeviceId(self.next_uuid()),
            };
            let (device, object) = registration::register(tenant, &request, ids, now);
            outcomes.push(RowOutcome {
                row: row.row,
                serial_number: device.serial_number.clone(),
                result: RowResult::Registered {
                    ztdid: device.ztdid,
                },
            });
            devices.push(device);
            objects.push(object);
        }

        if !devices.is_empty() {
            let targeting = Targeting::load(&mut tx, tenant).await?;
            let subjects: Vec<Subject<'_>> = devices
                .iter()
                .zip(&objects)
                .map(|(device, directory)| Subject {
                    device: Some(device),
                    directory,
                    static_groups: Default::default(),
                    rule_groups: Default::default(),
                })
                .collect();
            let changes = plan_changes(&targeting, &subjects, now);
            let states: std::collections::HashMap<Ztdid, _> =
                changes.assignments.into_iter().collect();
            for device in &mut devices {
                if let Some(state) = states.get(&device.ztdid) {
                    device.assignment = state.clone();
                }
            }
            tx.insert_devices(&devices).await?;
            tx.insert_directory_devices(&objects).await?;
            if !changes.add.is_empty() {
                tx.add_members(tenant, &changes.add).await?;
            }
        }
        let rejected = outcomes.len() - devices.len();
        let event = self.event(
            tenant,
            "devices.imported",
            "",
            serde_json::json!({ "rows": rows.len(), "registered": devices.len(), "rejected": rejected }),
        );
        tx.append_events(&[event]).await?;
        tx.commit().await?;
        tracing::info!(%tenant, rows = rows.len(), registered = devices.len(), rejected, "import batch committed");
        Ok(outcomes)
    }
}
