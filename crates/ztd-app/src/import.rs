//! Registration by hardware hash: a batch of rows (from a CSV or from Graph imports) in one transaction,
//! each row accepted or refused on its own.

use std::collections::HashSet;
use ztd_core::error::ObjectKind;
use ztd_core::event::EventKind;

pub use ztd_api::native::{ImportRow, RowOutcome, RowResult};
use ztd_core::device::{AutopilotDevice, HardwareKeys};
use ztd_core::directory::DirectoryDevice;
use ztd_core::error::{ImportError, ImportErrorKind};
use ztd_core::registration::{self, RegistrationIds, RegistrationRequest};
use ztd_core::{DirectoryDeviceId, DirectoryObjectId, TenantId, Ztdid};
use ztd_hwhash::HardwareHash;
use ztd_store::{Lock, StoreError, Tx};

use crate::targeting::{plan_changes, targeting_generation, Subject, Targeting};
use crate::{App, AppError, AppResult};

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
        hardware_hash: hash
            .compact_prefix(text)
            .map(str::to_string)
            .unwrap_or_else(|| hash.to_compact_base64()),
        keys,
        group_tag: row.group_tag.trim().to_string(),
        purchase_order_id: String::new(),
        assigned_user: row.assigned_user.trim().to_string(),
    })
}

/// A batch ready to be written: see [`App::prepare_import`].
pub(crate) struct Prepared<'a> {
    tenant: TenantId,
    candidates: Vec<Candidate<'a>>,
    /// The targeting generation the plan was made against.
    generation: String,
    plan: crate::targeting::Changes,
    now: ztd_core::Timestamp,
    /// The rows came with more than one request, so one device may appear in several of them.
    several_requests: bool,
}

/// A row on its way in: refused already, or accepted so far with its registration drafted.
struct Candidate<'a> {
    row: &'a ImportRow,
    verdict: Result<(RegistrationRequest, AutopilotDevice, DirectoryDevice), ImportError>,
}

/// Targeting of the drafted registrations (new devices: no static groups, no memberships yet).
fn plan_new_devices(
    targeting: &Targeting,
    candidates: &[Candidate<'_>],
    now: ztd_core::Timestamp,
) -> crate::targeting::Changes {
    let subjects: Vec<Subject<'_>> = candidates
        .iter()
        .filter_map(|c| c.verdict.as_ref().ok())
        .map(|(_, device, directory)| Subject {
            device: Some(device),
            directory,
            static_groups: Default::default(),
            rule_groups: Default::default(),
        })
        .collect();
    plan_changes(targeting, &subjects, now)
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
        // A serialization failure or deadlock aborts the whole transaction; running the use case again
        // (after a short, growing pause) is safe: nothing of the aborted attempt was written.
        let (mut conflicts, mut aborts) = (0, 0);
        loop {
            match self.import_once(tenant, rows).await {
                Err(AppError::Store(StoreError::Conflict(_))) if conflicts < 2 => conflicts += 1,
                Err(AppError::Store(StoreError::Retryable(why))) if aborts < 5 => {
                    aborts += 1;
                    tracing::info!(%tenant, attempt = aborts, %why, "import batch retried");
                    tokio::time::sleep(std::time::Duration::from_millis(20 << aborts)).await;
                }
                other => return other,
            }
        }
    }

    async fn import_once(
        &self,
        tenant: TenantId,
        rows: &[ImportRow],
    ) -> AppResult<Vec<RowOutcome>> {
        let started = std::time::Instant::now();
        let prepared = self.prepare_import(tenant, rows, &[]).await?;
        let prepared_at = started.elapsed();
        let mut tx = self.store.begin().await?;
        tx.lock(Lock::Targeted(tenant)).await?;
        let locked_at = started.elapsed();
        let (outcomes, registered) = self.register_prepared(&mut tx, prepared).await?;
        let rejected = outcomes.len() - registered;
        let event = self.event(
            tenant,
            EventKind::DevicesImported,
            "",
            serde_json::json!({ "rows": rows.len(), "registered": registered, "rejected": rejected }),
        );
        tx.append_events(&[event]).await?;
        let written_at = started.elapsed();
        tx.commit().await?;
        // Where a batch's time goes, for operators tuning batch sizes and for benchmarks.
        tracing::info!(
            %tenant,
            rows = rows.len(),
            registered,
            rejected,
            prepare_ms = prepared_at.as_millis() as u64,
            wait_ms = (locked_at - prepared_at).as_millis() as u64,
            write_ms = (written_at - locked_at).as_millis() as u64,
            commit_ms = (started.elapsed() - written_at).as_millis() as u64,
            "import batch committed"
        );
        Ok(outcomes)
    }

    /// Everything that does not depend on other registrations, done before the write lock is taken so
    /// concurrent batches decode and plan while another one writes: decoding, duplicates inside the batch,
    /// fresh ids, and the targeting plan computed on a read snapshot (checked again under the lock).
    ///
    /// `requests` names the request each row came with when a batch joins several (the Graph queue), or is
    /// empty when the rows are one request: a device repeated inside one request is a duplicate (901); one
    /// repeated in a later request is registered by the first and "already registered" (806) for the later.
    pub(crate) async fn prepare_import<'a>(
        &self,
        tenant: TenantId,
        rows: &'a [ImportRow],
        requests: &[usize],
    ) -> AppResult<Prepared<'a>> {
        use rayon::prelude::*;
        let now = self.now();
        // The tenant's domains (assigned users must be in one); an unknown tenant has none. Read on a
        // connection given back at once: the decode below is CPU work and holds nothing.
        let domains: Vec<String> = self
            .store
            .single_read()
            .await?
            .list_tenant_domains(tenant)
            .await?
            .into_iter()
            .map(|d| d.name)
            .collect();
        if domains.is_empty()
            && self
                .store
                .single_read()
                .await?
                .get_tenant(tenant)
                .await?
                .is_none()
        {
            return Err(AppError::not_found(ObjectKind::Tenant, tenant));
        }
        let decoded: Vec<Result<RegistrationRequest, ImportError>> = rows
            .par_iter()
            .map(|row| {
                decode_row(row).and_then(|request| {
                    registration::check_assigned_user_domain(&request.assigned_user, &domains)
                        .map(|()| request)
                })
            })
            .collect();
        let mut seen = HashSet::new();
        let mut candidates: Vec<Candidate<'a>> = Vec::with_capacity(rows.len());
        for (n, (row, request)) in rows.iter().zip(decoded).enumerate() {
            let from = requests.get(n).copied().unwrap_or(0);
            let verdict = match request {
                Err(error) => Err(error),
                Ok(request) if !seen.insert((from, request.keys.identity_key.clone())) => Err(ImportError::new(
                    ImportErrorKind::ZtdDeviceDuplicated,
                    format!(
                        "device {} appears more than once in this import; only its first row was processed",
                        request.serial_number
                    ),
                )),
                Ok(request) => {
                    let ids = RegistrationIds {
                        ztdid: Ztdid(self.next_uuid()),
                        directory_object_id: DirectoryObjectId(self.next_uuid()),
                        directory_device_id: DirectoryDeviceId(self.next_uuid()),
                    };
                    let (device, object) = registration::register(tenant, &request, ids, now);
                    Ok((request, device, object))
                }
            };
            candidates.push(Candidate { row, verdict });
        }
        let mut snapshot = self.store.begin_read().await?;
        let generation = targeting_generation(&mut snapshot, tenant).await?;
        let targeting = Targeting::load(&mut snapshot, tenant).await?;
        drop(snapshot);
        let plan = plan_new_devices(&targeting, &candidates, now);
        Ok(Prepared {
            tenant,
            candidates,
            generation,
            plan,
            now,
            several_requests: requests.iter().any(|&r| r != requests[0]),
        })
    }

    /// Under the write lock: refuses what is registered already (806, 808), re-plans if targeting changed
    /// since the snapshot, and writes the registrations, their directory objects and memberships. Returns
    /// every row's outcome, in row order, and how many registered.
    pub(crate) async fn register_prepared(
        &self,
        tx: &mut Tx,
        prepared: Prepared<'_>,
    ) -> AppResult<(Vec<RowOutcome>, usize)> {
        let Prepared {
            tenant,
            candidates,
            generation,
            mut plan,
            now,
            several_requests,
        } = prepared;
        crate::targeting::require(
            tx,
            Lock::Targeted(tenant),
            "registering devices needs the tenant's shared targeting lock",
        )?;
        let keys: Vec<String> = candidates
            .iter()
            .filter_map(|c| c.verdict.as_ref().ok())
            .map(|(r, _, _)| r.keys.identity_key.clone())
            .collect();
        // By identity key: a re-import of a large file checks every row against its own registration only.
        let mut registered: std::collections::HashMap<String, Vec<AutopilotDevice>> =
            std::collections::HashMap::new();
        for device in tx.find_devices_by_identity_keys(&keys).await? {
            registered
                .entry(device.keys.identity_key.clone())
                .or_default()
                .push(device);
        }
        let mut outcomes = Vec::with_capacity(candidates.len());
        let mut devices: Vec<AutopilotDevice> = Vec::new();
        let mut objects: Vec<DirectoryDevice> = Vec::new();
        for candidate in candidates {
            let row = candidate.row;
            let (request, device, object) = match candidate.verdict {
                Ok(accepted) => accepted,
                Err(error) => {
                    outcomes.push(RowOutcome::rejected(row, error));
                    continue;
                }
            };
            let matching = registered
                .get(request.keys.identity_key.as_str())
                .map_or(&[][..], Vec::as_slice);
            if let Err(error) = registration::decide(tenant, &request, matching) {
                outcomes.push(RowOutcome::rejected(row, error));
                continue;
            }
            if several_requests {
                // Registered from here on: the same device in a later request of this batch is decided
                // against it, as if that request had come after this one committed.
                registered
                    .entry(request.keys.identity_key.clone())
                    .or_default()
                    .push(device.clone());
            }
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
        if devices.is_empty() {
            return Ok((outcomes, 0));
        }
        // A rule, profile or assignment changed since the snapshot: plan again, now under the lock.
        if targeting_generation(tx, tenant).await? != generation {
            let targeting = Targeting::load(tx, tenant).await?;
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
            plan = plan_changes(&targeting, &subjects, now);
        }
        let accepted: HashSet<DirectoryObjectId> = objects.iter().map(|o| o.id).collect();
        let states: std::collections::HashMap<Ztdid, _> = plan.assignments.into_iter().collect();
        for device in &mut devices {
            if let Some(state) = states.get(&device.ztdid) {
                device.assignment = state.clone();
            }
        }
        let memberships: Vec<_> = plan
            .add
            .into_iter()
            .filter(|(_, member, _)| accepted.contains(member))
            .collect();
        tx.insert_devices(&devices).await?;
        tx.insert_directory_devices(&objects).await?;
        if !memberships.is_empty() {
            tx.add_members(tenant, &memberships).await?;
        }
        Ok((outcomes, devices.len()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::demo::synthetic_rows;
    use crate::NewGroup;

    /// A rule created between a batch's snapshot and its write must still apply to the batch: the write
    /// sees the moved targeting generation and plans again under the lock.
    #[tokio::test]
    async fn a_rule_created_while_a_batch_is_prepared_applies_to_it() {
        let dir = tempfile::tempdir().unwrap();
        let app = App::with_defaults(ztd_store::scratch::sqlite_in(dir.path()).await.unwrap());
        let tenant = app.create_tenant("Race", "race.example").await.unwrap().id;
        let rows = synthetic_rows("RACE-", 5, &["Kiosk"]);

        let prepared = app.prepare_import(tenant, &rows, &[]).await.unwrap();
        assert!(
            prepared.plan.add.is_empty(),
            "no group exists when the batch is prepared"
        );
        let group = app
            .create_group(
                tenant,
                NewGroup {
                    display_name: "Kiosks".into(),
                    description: String::new(),
                    membership_rule: Some(
                        r#"(device.devicePhysicalIds -any (_ -eq "[OrderId]:Kiosk"))"#.into(),
                    ),
                },
            )
            .await
            .unwrap();
        let mut tx = app.store.begin().await.unwrap();
        tx.lock(Lock::Targeted(tenant)).await.unwrap();
        let (_, registered) = app.register_prepared(&mut tx, prepared).await.unwrap();
        tx.commit().await.unwrap();

        assert_eq!(registered, 5);
        assert_eq!(app.group_members(tenant, group.id).await.unwrap().len(), 5);
    }
}
