//! The device side of the service: a device presents its hardware hash at first boot and receives its
//! provisioning plan; and the offline profile file for Autopilot for existing devices.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use ztd_core::error::ObjectKind;
use ztd_core::event::EventKind;

use ztd_core::device::{AutopilotDevice, ProfileAssignmentState, RemediationState};
use ztd_core::esp::{resolve_esp, EspConfiguration};
use ztd_core::profile::DeploymentProfile;
pub use ztd_core::provisioning::ProvisioningPlan;
use ztd_core::provisioning::{assemble_plan, PlanInputs};
use ztd_core::registration::{identity_key, verify_presentation, BootPresentation};
use ztd_core::tenant::Tenant;
use ztd_core::{GroupId, ProfileId, TenantId, Timestamp, Ztdid};
use ztd_hwhash::HardwareHash;

use crate::{App, AppError, AppResult};

/// The answer to a device at first boot (rendered for the wire by `ztd_api::device::BootAnswer`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum BootOutcome {
    /// The device is registered and proved its hardware; here is its plan.
    Registered(Box<ProvisioningPlan>),
    /// No registration matches: the device continues normal Windows setup (event 807). The same answer
    /// whether the serial is unknown, registered in some tenant to other hardware, or presented without
    /// proof: a stranger learns nothing from it.
    NotRegistered,
    /// A proven device over its rate limit: nothing was recorded; the server answers 429.
    Deferred,
}

impl BootOutcome {
    fn not_registered() -> Self {
        Self::NotRegistered
    }
}

/// How long a cached plan input may be served on PostgreSQL, where other nodes' writes are not seen by this
/// node's write counter: a change made on another node reaches a booting device within this bound.
pub const SHARED_DATABASE_BOOT_CACHE_MILLIS: i64 = 1_000;
/// Registrations (and unknown identity keys) kept in the boot cache; past it the cache starts over.
const BOOT_CACHE_CAPACITY: usize = 262_144;
/// A device's contact is recorded at most this often while its assignment state does not change
/// (`lastContactedDateTime` is exact to this bound).
pub const CONTACT_RECORD_MILLIS: i64 = 60_000;
/// How often the contact recorder writes what boots noted.
pub const CONTACT_FLUSH_MILLIS: u64 = 250;

/// What a plan is made from: read once, then served from memory until a write makes it stale.
struct BootView {
    tenant: Tenant,
    device: AutopilotDevice,
    profile: Option<DeploymentProfile>,
    esp: Option<EspConfiguration>,
}

struct CachedView {
    /// [`Store::write_version`](ztd_store::Store::write_version) when the view was read.
    version: u64,
    loaded_at: Timestamp,
    /// Only registrations are cached, never unknown keys.
    view: Arc<BootView>,
}

/// A contact to write: noted by a boot, written by the recorder in one transaction with the others.
struct PendingContact {
    tenant: TenantId,
    at: Timestamp,
    /// The assignment state after delivery, when the contact changes it.
    assignment: Option<ProfileAssignmentState>,
    /// First contact, or a newly delivered profile: worth an event.
    event: Option<serde_json::Value>,
}

#[derive(Default)]
struct ContactLog {
    pending: HashMap<Ztdid, PendingContact>,
    /// What was last noted per device, to skip repeats within [`CONTACT_RECORD_MILLIS`].
    recent: HashMap<Ztdid, (Timestamp, ProfileAssignmentState)>,
}

/// The boot path's in-memory state, shared by clones of one [`App`].
#[derive(Default)]
pub(crate) struct BootState {
    cache: RwLock<HashMap<String, CachedView>>,
    contacts: Mutex<ContactLog>,
    /// Held for a whole flush, so a flush that returns has seen every earlier note written.
    flushing: tokio::sync::Mutex<()>,
    recorder_running: AtomicBool,
}

impl App {
    /// A device presents its hardware hash. A registered device that proves its hardware gets its plan and
    /// the contact is noted; anything else is told to continue normal setup (see `docs/device-api.md`).
    pub async fn device_boot(&self, hardware_hash: &str) -> AppResult<BootOutcome> {
        self.device_boot_admitted(hardware_hash, |_| true).await
    }

    /// [`App::device_boot`], asking `admit` (a per-device rate limit) once the device has proved itself and
    /// before anything is recorded: a device that is not admitted gets [`BootOutcome::Deferred`] and its
    /// contact is not noted.
    pub async fn device_boot_admitted(
        &self,
        hardware_hash: &str,
        admit: impl FnOnce(Ztdid) -> bool,
    ) -> AppResult<BootOutcome> {
        let hash = HardwareHash::from_base64(hardware_hash).map_err(|err| {
            AppError::invalid(
                "hardwareHash",
                format!("the hardware hash is not valid: {err}"),
            )
        })?;
        let identity = hash.identity();
        let (Some(manufacturer), Some(serial)) = (
            identity.manufacturer.as_deref(),
            identity.serial_number.as_deref(),
        ) else {
            return Err(AppError::invalid(
                "hardwareHash",
                "the hardware hash carries no manufacturer or serial number",
            ));
        };
        let presented = ztd_core::device::HardwareKeys {
            identity_key: identity_key(manufacturer, serial),
            smbios_uuid: identity.smbios_uuid.clone(),
            tpm_ek_pub_hash: identity.tpm_ek_pub_hash.clone(),
            disk_serial: identity.disk_serial.clone(),
            mac_addresses: identity.mac_addresses.clone(),
        };
        let Some(view) = self.boot_view(&presented.identity_key).await? else {
            return Ok(BootOutcome::not_registered());
        };
        let device = &view.device;
        match verify_presentation(&device.keys, &presented) {
            BootPresentation::Unproven => Ok(BootOutcome::not_registered()),
            BootPresentation::BoardReplaced => {
                // The registered device with a new board: flag it for the admin ("attention required").
                self.set_remediation(
                    device,
                    RemediationState::ManualRemediationRequired,
                    EventKind::DeviceHardwareChanged,
                )
                .await?;
                Ok(BootOutcome::not_registered())
            }
            BootPresentation::Genuine => {
                if !admit(device.ztdid) {
                    return Ok(BootOutcome::Deferred);
                }
                // The registered board is back: a flag raised by a replacement no longer holds.
                self.set_remediation(
                    device,
                    RemediationState::NoRemediationRequired,
                    EventKind::DeviceHardwareVerified,
                )
                .await?;
                let now = self.now();
                let mut plan = self.plan(&view, now);
                plan.join_ticket = self.join_ticket(device).await?;
                self.note_contact(device, &plan, now).await?;
                Ok(BootOutcome::Registered(Box::new(plan)))
            }
        }
    }

    /// The plan inputs of the registration holding `key`, from memory while no write made them stale.
    async fn boot_view(&self, key: &str) -> AppResult<Option<Arc<BootView>>> {
        // Read the version before the data: a write committed in between makes this entry stale, never
        // the other way round.
        let version = self.store.write_version();
        let now = self.now();
        let ttl = match self.store.backend() {
            ztd_store::Backend::Postgres => Some(SHARED_DATABASE_BOOT_CACHE_MILLIS),
            ztd_store::Backend::Sqlite => None,
        };
        if let Ok(cache) = self.boot.cache.read() {
            if let Some(hit) = cache.get(key) {
                let fresh = ttl.is_none_or(|ttl| now.0.saturating_sub(hit.loaded_at.0) < ttl);
                if hit.version == version && fresh {
                    return Ok(Some(hit.view.clone()));
                }
            }
        }
        let Some(view) = self.load_boot_view(key).await?.map(Arc::new) else {
            // Unknown keys are not cached: a sweep of guessed serials must not evict real devices.
            return Ok(None);
        };
        if let Ok(mut cache) = self.boot.cache.write() {
            if cache.len() >= BOOT_CACHE_CAPACITY {
                cache.clear();
            }
            cache.insert(
                key.to_string(),
                CachedView {
                    version,
                    loaded_at: now,
                    view: Arc::clone(&view),
                },
            );
        }
        Ok(Some(view))
    }

    async fn load_boot_view(&self, key: &str) -> AppResult<Option<BootView>> {
        let mut tx = self.store.begin_read().await?;
        let Some(mut device) = tx
            .find_devices_by_identity_keys(&[key.to_string()])
            .await?
            .into_iter()
            .next()
        else {
            return Ok(None);
        };
        // The plan never shows the hash; a cached view without it is a tenth of the size.
        device.hardware_hash = String::new();
        let tenant_id = device.tenant_id;
        let tenant = tx
            .get_tenant(tenant_id)
            .await?
            .ok_or_else(|| AppError::not_found(ObjectKind::Tenant, tenant_id))?;
        let groups: BTreeSet<GroupId> = tx
            .memberships_of(tenant_id, &[device.directory_object_id])
            .await?
            .into_iter()
            .map(|(_, g, _)| g)
            .collect();
        let profile = match device.assignment.intended_profile_id {
            Some(id) => tx.get_profile(tenant_id, id).await?,
            None => None,
        };
        let esps = tx.list_esps(tenant_id).await?;
        let esp = resolve_esp(&groups, &esps)
            .winner
            .and_then(|id| esps.into_iter().find(|e| e.id == id));
        Ok(Some(BootView {
            tenant,
            device,
            profile,
            esp,
        }))
    }

    /// Sets a registration's remediation state when it differs, with an event; one transaction.
    async fn set_remediation(
        &self,
        seen: &AutopilotDevice,
        state: RemediationState,
        event: EventKind,
    ) -> AppResult<()> {
        if seen.remediation_state == state
            || (state == RemediationState::NoRemediationRequired
                && seen.remediation_state != RemediationState::ManualRemediationRequired)
        {
            return Ok(());
        }
        let now = self.now();
        let mut tx = self.store.begin().await?;
        tx.lock(ztd_store::Lock::Targeted(seen.tenant_id)).await?;
        let Some(mut device) = tx.get_device_for_update(seen.tenant_id, seen.ztdid).await? else {
            return Ok(());
        };
        if device.remediation_state == state {
            return Ok(());
        }
        device.remediation_state = state;
        device.updated_at = now;
        tx.update_device(&device).await?;
        tx.append_events(&[self.event(
            device.tenant_id,
            event,
            device.ztdid,
            serde_json::json!({ "remediationState": state.as_str() }),
        )])
        .await?;
        tx.commit().await?;
        Ok(())
    }

    /// Notes a boot's contact for the recorder: at most one write per device per [`CONTACT_RECORD_MILLIS`]
    /// unless the assignment state changes, and an event only for a first contact or a newly delivered
    /// profile. Without a running recorder (tests, tools), it is written before returning.
    async fn note_contact(
        &self,
        device: &AutopilotDevice,
        plan: &ProvisioningPlan,
        now: Timestamp,
    ) -> AppResult<()> {
        let after = device.assignment.delivered();
        {
            let Ok(mut log) = self.boot.contacts.lock() else {
                return Ok(());
            };
            let (last_at, last_state) = match log.recent.get(&device.ztdid) {
                Some((at, state)) => (Some(*at), state),
                None => (device.last_contacted_at, &device.assignment),
            };
            let changed = after != *last_state;
            let recent =
                last_at.is_some_and(|at| now.0.saturating_sub(at.0) < CONTACT_RECORD_MILLIS);
            if recent && !changed {
                return Ok(());
            }
            let event = (last_at.is_none() || changed).then(|| {
                serde_json::json!({ "profileId": plan.profile.as_ref().map(|p| p.id), "deviceName": plan.device_name.name() })
            });
            let previous = log.pending.remove(&device.ztdid);
            let contact = PendingContact {
                tenant: device.tenant_id,
                at: now,
                assignment: changed
                    .then(|| after.clone())
                    .or_else(|| previous.as_ref().and_then(|p| p.assignment.clone())),
                event: event.or_else(|| previous.and_then(|p| p.event)),
            };
            log.pending.insert(device.ztdid, contact);
            log.recent.insert(device.ztdid, (now, after));
        }
        if !self.boot.recorder_running.load(Ordering::Acquire) {
            self.flush_contacts().await?;
        }
        Ok(())
    }

    /// Writes every noted contact in one transaction (per call), with their events. Contacts still in
    /// memory when the process dies are lost: at most [`CONTACT_FLUSH_MILLIS`] of them.
    pub async fn flush_contacts(&self) -> AppResult<usize> {
        let _one_at_a_time = self.boot.flushing.lock().await;
        let now = self.now();
        let pending = match self.boot.contacts.lock() {
            Ok(mut log) => {
                log.recent
                    .retain(|_, (at, _)| now.0.saturating_sub(at.0) < CONTACT_RECORD_MILLIS);
                std::mem::take(&mut log.pending)
            }
            Err(_) => return Ok(0),
        };
        if pending.is_empty() {
            return Ok(0);
        }
        match self.write_contacts(&pending).await {
            Ok(()) => Ok(pending.len()),
            Err(err) => {
                // Keep them for the next flush; a note made since is newer and wins.
                if let Ok(mut log) = self.boot.contacts.lock() {
                    for (ztdid, contact) in pending {
                        log.pending.entry(ztdid).or_insert(contact);
                    }
                }
                Err(err)
            }
        }
    }

    async fn write_contacts(&self, pending: &HashMap<Ztdid, PendingContact>) -> AppResult<()> {
        // Tenants in a fixed order, so two nodes flushing the same tenants take their locks alike.
        let mut by_tenant: BTreeMap<TenantId, Vec<_>> = BTreeMap::new();
        let mut events = Vec::new();
        for (ztdid, contact) in pending {
            by_tenant.entry(contact.tenant).or_default().push((
                *ztdid,
                contact.at,
                contact.assignment.clone(),
            ));
            if let Some(data) = &contact.event {
                events.push(self.event(
                    contact.tenant,
                    EventKind::DeviceContacted,
                    ztdid,
                    data.clone(),
                ));
            }
        }
        let changes_state = pending
            .values()
            .any(|c| c.event.is_some() || c.assignment.is_some());
        let mut tx = self.store.begin().await?;
        for (tenant, contacts) in &by_tenant {
            tx.record_contacts(*tenant, contacts).await?;
        }
        tx.append_events(&events).await?;
        if changes_state {
            // Cached views hold the old contact and assignment state, which decide the next boot's event:
            // a tracked commit makes them stale.
            tx.commit().await?;
        } else {
            // Only contact times moved; no cached decision depends on them.
            tx.commit_untracked().await?;
        }
        Ok(())
    }

    /// Runs the contact recorder until the task is aborted: boots then note contacts in memory and this
    /// task writes them every [`CONTACT_FLUSH_MILLIS`], so boots never queue on the database writer.
    pub fn spawn_contact_recorder(&self) -> tokio::task::JoinHandle<()> {
        self.boot.recorder_running.store(true, Ordering::Release);
        let app = self.clone();
        tokio::spawn(async move {
            let mut every =
                tokio::time::interval(std::time::Duration::from_millis(CONTACT_FLUSH_MILLIS));
            every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                every.tick().await;
                if let Err(err) = app.flush_contacts().await {
                    tracing::warn!(error = %err, "could not record device contacts; they are lost");
                }
            }
        })
    }

    fn plan(&self, view: &BootView, now: Timestamp) -> ProvisioningPlan {
        // Uniform digits from random bytes: bytes of 250 and above are redrawn (250 is a multiple of 10).
        let mut digit = || loop {
            let [byte] = self.random_bytes::<1>();
            if byte < 250 {
                break byte % 10;
            }
        };
        assemble_plan(
            PlanInputs {
                tenant: &view.tenant,
                device: &view.device,
                profile: view.profile.as_ref(),
                esp: view.esp.clone(),
            },
            &mut digit,
            self.next_uuid(),
            now,
        )
    }

    /// `AutopilotConfigurationFile.json` bytes (ASCII, CRLF) for a profile.
    pub async fn export_profile(
        &self,
        tenant: TenantId,
        profile_id: ProfileId,
    ) -> AppResult<Vec<u8>> {
        let mut tx = self.store.begin_read().await?;
        let tenant = tx
            .get_tenant(tenant)
            .await?
            .ok_or_else(|| AppError::not_found(ObjectKind::Tenant, tenant))?;
        let profile = tx
            .get_profile(tenant.id, profile_id)
            .await?
            .ok_or_else(|| AppError::not_found(ObjectKind::DeploymentProfile, profile_id))?;
        Ok(ztd_api::files::configuration_file(&profile, &tenant).to_file_bytes())
    }
}
