//! The MDM service (docs/mdm.md): each tenant's MDM CA, enrolling devices in management, their OMA-DM
//! sessions and command queues, and an administrator's actions on managed devices.
//!
//! The messages are `ztd-mdm`'s; who may enroll (the credential) is checked by the server before it calls
//! here; this module decides what an enrollment creates and what a session carries, and writes it.

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use sha2::{Digest, Sha256};
use ztd_core::device::EnrollmentState;
use ztd_core::directory::DirectoryDevice;
use ztd_core::error::ObjectKind;
use ztd_core::event::EventKind;
use ztd_core::managed::{
    CommandItem, CommandOrigin, CommandOutcome, CommandState, CommandStatus, ComplianceState,
    DeviceEnrollmentType, EnrollmentType, JoinType, ManagedDevice, ManagementState, MdmCommand,
    Operation, QueuedCommand, SentIn, Verb,
};
use ztd_core::user::User;
use ztd_core::{
    DirectoryDeviceId, DirectoryObjectId, ManagedDeviceId, MdmCommandId, TenantId, Timestamp,
};
use ztd_mdm::syncml::{self, alert, status, Command, SyncMessage};
use ztd_store::{Lock, ManagedDeviceQuery, StoredMdmCertificate};

use crate::drs::{TenantCa, TenantCaKind};
use crate::{App, AppError, AppResult};

/// The MDM service's CA: it issues management certificates.
pub(crate) const MDM_CA: TenantCaKind = TenantCaKind::new("mdm-ca", "ztd MDM Device CA");
/// How long a management certificate is valid (a year, as Intune's are).
pub const MDM_CERTIFICATE_DAYS: i64 = 365;
/// The DMClient provider id ztd provisions (`PROVIDER-ID` of the w7 application).
pub const PROVIDER_ID: &str = "ztd";
/// At most this many queued commands go into one server message (the rest follow in the next).
pub const COMMANDS_PER_MESSAGE: usize = 50;
/// How many answered commands a device's history keeps.
pub const COMMAND_HISTORY: u32 = 200;
/// The most generic alerts (1226) of one message that are recorded.
const MAX_GENERIC_ALERTS: usize = 50;
/// The longest device name kept.
const MAX_DEVICE_NAME: usize = 64;

/// Who is enrolling, as the enrollment service authenticated them.
#[derive(Clone, Debug)]
pub enum Enroller {
    /// A user: with a token for the MDM audience, or a user name and password. `token_device` is the
    /// Entra device a token names (`deviceid`: a token obtained through the device's PRT).
    User {
        user: Box<User>,
        token_device: Option<DirectoryDeviceId>,
        /// How the user proved who they are, and the terms-of-use acceptance the credential carries.
        credential: UserCredential,
    },
    /// A device with its own token (no user): its directory object.
    Device {
        tenant: TenantId,
        object: DirectoryObjectId,
    },
}

impl Enroller {
    fn tenant(&self) -> TenantId {
        match self {
            Self::User { user, .. } => user.tenant_id,
            Self::Device { tenant, .. } => *tenant,
        }
    }
}

/// How an enrolling user signed in.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum UserCredential {
    /// A user name and password (the OnPremise policy): no web step where terms of use could be shown.
    Password,
    /// A token for the MDM audience (an Entra enrollment, or the Federated sign-in page's). `acceptance` is
    /// a terms-of-use acceptance carried with it (the sign-in page's, when the tenant has terms).
    Token { acceptance: Option<String> },
}

/// What the device asks for: its PKCS#10 and the context items it sent, in order.
#[derive(Clone, Debug)]
pub struct EnrollmentInput {
    pub certificate_request: Vec<u8>,
    pub context: Vec<(String, String)>,
}

impl EnrollmentInput {
    fn context(&self, name: &str) -> Option<&str> {
        self.context
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.trim())
            .filter(|v| !v.is_empty())
    }
}

/// A completed enrollment.
#[derive(Clone, Debug)]
pub struct Enrolled {
    pub device: ManagedDevice,
    /// The management certificate (DER).
    pub certificate: Vec<u8>,
    /// The tenant's MDM CA certificate (DER).
    pub ca_certificate: Vec<u8>,
    /// The device was enrolled before (same device object, or same hardware id and user): its record was
    /// kept and its earlier certificates revoked.
    pub re_enrolled: bool,
}

/// Why an enrollment is refused (each maps to an [MS-MDE2] fault).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum EnrollRefusal {
    /// The certificate request cannot be used (`s:CertificateRequest`).
    CertificateRequest(String),
    /// The caller may not enroll this device (`s:Authorization`).
    Authorization(String),
    /// A context item is not valid (`s:MessageFormat`).
    Invalid(String),
}

/// Why a management session is refused: the certificate does not name a managed device any more.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SessionRefusal {
    /// Not a management certificate ztd issued, or revoked (the device was retired, wiped or re-enrolled),
    /// or expired.
    UnknownCertificate,
    /// The managed device was deleted.
    DeviceDeleted,
}

/// An administrator's remote action (Graph `managedDevice` actions).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DeviceAction {
    /// Remove management: the device unenrolls at its next session, then leaves.
    Retire,
    /// Reset the device: it is wiped at its next session, then leaves.
    Wipe,
    RebootNow,
    /// Ask for a session now. ztd has no push channel: the request is recorded and the device's next poll
    /// is its answer.
    SyncDevice,
}

impl DeviceAction {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Retire => "retire",
            Self::Wipe => "wipe",
            Self::RebootNow => "rebootNow",
            Self::SyncDevice => "syncDevice",
        }
    }
}

fn internal(what: &str, err: impl std::fmt::Display) -> AppError {
    AppError::Store(ztd_store::StoreError::Corrupt(format!("{what}: {err}")))
}

fn clip(text: &str, max: usize) -> String {
    text.trim()
        .chars()
        .filter(|c| !c.is_control())
        .take(max)
        .collect()
}

fn offset(at: Timestamp) -> time::OffsetDateTime {
    time::OffsetDateTime::from_unix_timestamp(at.0.div_euclid(1000))
        .unwrap_or(time::OffsetDateTime::UNIX_EPOCH)
}

/// A device id as Windows sends it in `DeviceID`: a GUID, with or without dashes and braces.
fn parse_device_id(text: &str) -> Option<DirectoryDeviceId> {
    uuid::Uuid::parse_str(text.trim().trim_start_matches('{').trim_end_matches('}'))
        .ok()
        .map(DirectoryDeviceId)
}

/// A hardware id that identifies something: not empty, not all zeros (pytune sends 64 zeros).
fn meaningful_hw_dev_id(text: Option<&str>) -> Option<String> {
    text.map(|t| clip(t, 128))
        .filter(|t| !t.is_empty() && t.chars().any(|c| c != '0'))
}

fn sha256_hex(der: &[u8]) -> String {
    hex::encode(Sha256::digest(der))
}

impl App {
    /// The tenant's MDM CA certificate (DER): what a device's management certificate chains to.
    pub async fn mdm_ca_certificate(&self, tenant: TenantId) -> AppResult<Vec<u8>> {
        Ok(self.mdm_ca(tenant).await?.cert_der.clone())
    }

    async fn mdm_ca(&self, tenant: TenantId) -> AppResult<std::sync::Arc<TenantCa>> {
        self.tenant_ca(tenant, MDM_CA).await
    }

    /// Enrolls a device in management ([MS-WSTEP] RequestSecurityToken): checks who may enroll which device,
    /// issues its management certificate, records (or renews) the managed device, and ties it to its
    /// directory object and Autopilot registration.
    pub async fn enroll_managed_device(
        &self,
        enroller: &Enroller,
        input: &EnrollmentInput,
    ) -> AppResult<Result<Enrolled, EnrollRefusal>> {
        let request = match ztd_drs::parse_certificate_request_with_key_bits(
            &input.certificate_request,
            2048..=4096,
        ) {
            Ok(request) => request,
            Err(e) => return Ok(Err(EnrollRefusal::CertificateRequest(e.to_string()))),
        };
        let enrollment_type = match input.context("EnrollmentType") {
            None => EnrollmentType::Full,
            Some(text) => match EnrollmentType::parse(text) {
                Some(t) => t,
                None => {
                    return Ok(Err(EnrollRefusal::Invalid(
                        "the context item EnrollmentType must be Device or Full".into(),
                    )))
                }
            },
        };
        if matches!(enroller, Enroller::Device { .. }) && enrollment_type != EnrollmentType::Device
        {
            return Ok(Err(EnrollRefusal::Authorization(
                "a device's own token enrolls the device itself: EnrollmentType must be Device"
                    .into(),
            )));
        }
        let hybrid_domain = input.context("DomainName").map(|d| clip(d, 255));
        let tenant = enroller.tenant();
        let now = self.now();
        // The tenant's terms of use: every user's enrollment carries the user's own acceptance, from the
        // terms page (`EnrollmentData`, Entra's flow) or from the sign-in page (Federated). A user name and
        // password has no web step to show them, so it cannot enroll while terms are set.
        if let Enroller::User {
            user, credential, ..
        } = enroller
        {
            let settings = {
                let mut tx = self.store.single_read().await?;
                crate::device_policies::read_settings(&mut tx, tenant).await?
            };
            if settings.terms_of_use.is_some() {
                let carried = match credential {
                    UserCredential::Password => {
                        return Ok(Err(EnrollRefusal::Authorization(
                            "this organization requires its terms of use: enroll through its sign-in page \
                             (Federated) or as an Entra-joined device, not with a user name and password"
                                .into(),
                        )))
                    }
                    UserCredential::Token { acceptance } => acceptance.as_deref(),
                };
                let mut accepted = false;
                for blob in carried.into_iter().chain(input.context("EnrollmentData")) {
                    accepted |= self.terms_accepted(tenant, user.id, blob).await?;
                }
                if !accepted {
                    return Ok(Err(EnrollRefusal::Authorization(
                        "the organization's terms of use must be accepted first (no acceptance of this \
                         user's came with the enrollment)"
                            .into(),
                    )));
                }
            }
        }
        let ca = self.mdm_ca(tenant).await?;

        let mut tx = self.store.begin().await?;
        tx.lock(Lock::Targeted(tenant)).await?;
        // One enrollment at a time per tenant decides "is this device enrolled already?": two retries of
        // one device's enrollment cannot both create a record.
        tx.lock(Lock::Enrollment(tenant)).await?;
        // The directory object the enrollment is for, and whether the caller may speak for it.
        let object = match self
            .enrolling_object(&mut tx, enroller, input, enrollment_type)
            .await?
        {
            Ok(object) => object,
            Err(refusal) => return Ok(Err(refusal)),
        };
        let user = match enroller {
            Enroller::User { user, .. } => Some(user.as_ref()),
            Enroller::Device { .. } => None,
        };
        let join_type = match (&object, &hybrid_domain) {
            (_, Some(_)) => JoinType::HybridAzureAdJoined,
            (Some(o), None) if o.trust_type == "ServerAd" => JoinType::HybridAzureAdJoined,
            (Some(o), None) if o.trust_type == "Workplace" => JoinType::AzureAdRegistered,
            (Some(_), None) => JoinType::AzureAdJoined,
            (None, None) => JoinType::Unknown,
        };
        let device_enrollment_type = match (enroller, enrollment_type, join_type) {
            (Enroller::Device { .. }, _, _) => {
                DeviceEnrollmentType::WindowsAzureAdJoinUsingDeviceAuth
            }
            (_, _, JoinType::HybridAzureAdJoined) => DeviceEnrollmentType::WindowsAutoEnrollment,
            (_, EnrollmentType::Device, _) => DeviceEnrollmentType::WindowsAzureAdJoin,
            (_, EnrollmentType::Full, _) => DeviceEnrollmentType::UserEnrollment,
        };
        let hw_dev_id = meaningful_hw_dev_id(input.context("HWDevID"));

        // The same device enrolling again keeps its record: found by its directory object, or by its
        // hardware id when the same user enrolls it.
        let mut existing = match &object {
            Some(object) => tx
                .managed_devices_of_object(tenant, object.id)
                .await?
                .into_iter()
                .next(),
            None => None,
        };
        if existing.is_none() {
            if let (Some(hw), Some(user)) = (&hw_dev_id, user) {
                existing = tx
                    .managed_devices_by_hw_dev_id(tenant, hw)
                    .await?
                    .into_iter()
                    .find(|d| d.user_id == Some(user.id));
            }
        }
        let re_enrolled = existing.is_some();
        let id = existing
            .as_ref()
            .map(|d| d.id)
            .unwrap_or_else(|| ManagedDeviceId(self.next_uuid()));
        tx.lock(Lock::ManagedDevice(id)).await?;

        let not_after = now.0 + MDM_CERTIFICATE_DAYS * 86_400_000;
        let certificate = ca
            .issuer
            .issue_client_certificate(
                &request.public_key,
                &id.to_string(),
                self.random_bytes::<16>(),
                offset(Timestamp(now.0 - 3_600_000)),
                offset(Timestamp(not_after)),
            )
            .map_err(|e| internal("issuing a management certificate", e))?;
        let device_name = input
            .context("DeviceName")
            .map(|n| clip(n, MAX_DEVICE_NAME))
            .filter(|n| !n.is_empty())
            .or_else(|| {
                object
                    .as_ref()
                    .map(|o| clip(&o.display_name, MAX_DEVICE_NAME))
            })
            .unwrap_or_else(|| "Windows device".to_string());

        let device = match existing {
            Some(mut device) => {
                tx.revoke_mdm_certificates(tenant, id, now).await?;
                for mut open in tx.open_mdm_commands(tenant, id).await? {
                    // A device that enrolls again starts a new management life: what it was sent and
                    // did not answer is void. What was queued and not sent yet (an admin's retire, a
                    // profile) still goes at its next session.
                    if open.state == CommandState::Sent {
                        open.state = CommandState::Failed;
                        open.completed_at = Some(now);
                        tx.update_mdm_command(&open).await?;
                    }
                }
                // What it was configured with is void too: profiles are delivered again.
                tx.delete_policy_states_of_device(
                    tenant,
                    id,
                    Some(ztd_core::device_policy::PolicyKind::Configuration),
                )
                .await?;
                // The enrollment is the new one's: how and by whom it enrolled, and what it sent.
                device.enrollment_type = enrollment_type;
                device.device_enrollment_type = device_enrollment_type;
                device.join_type = join_type;
                if let Some(user) = user {
                    device.user_id = Some(user.id);
                    device.user_principal_name = user.user_principal_name.clone();
                }
                if let Some(hw) = &hw_dev_id {
                    device.hw_dev_id = hw.clone();
                }
                device.enrollment_context = input
                    .context
                    .iter()
                    .map(|(n, v)| (clip(n, 256), clip(v, 4096)))
                    .collect();
                device.device_name = device_name;
                device.directory_object_id = object.as_ref().map(|o| o.id);
                device.directory_device_id = object.as_ref().map(|o| o.device_id);
                device.management_state = ManagementState::Managed;
                device.certificate_expires_at = Timestamp(not_after);
                tx.update_managed_device(&device).await?;
                device
            }
            None => {
                let device = ManagedDevice {
                    tenant_id: tenant,
                    id,
                    device_name,
                    enrollment_type,
                    device_enrollment_type,
                    join_type,
                    directory_object_id: object.as_ref().map(|o| o.id),
                    directory_device_id: object.as_ref().map(|o| o.device_id),
                    user_id: user.map(|u| u.id),
                    user_principal_name: user
                        .map(|u| u.user_principal_name.clone())
                        .unwrap_or_default(),
                    hw_dev_id: hw_dev_id.clone().unwrap_or_default(),
                    provider_id: PROVIDER_ID.to_string(),
                    management_state: ManagementState::Managed,
                    compliance_state: ComplianceState::Unknown,
                    noncompliant_since: None,
                    grace_period_ends_at: None,
                    enrollment_context: input
                        .context
                        .iter()
                        .map(|(n, v)| (clip(n, 256), clip(v, 4096)))
                        .collect(),
                    inventory: Default::default(),
                    enrolled_at: now,
                    last_sync_at: None,
                    sync_requested_at: None,
                    certificate_expires_at: Timestamp(not_after),
                };
                tx.insert_managed_device(&device).await?;
                device
            }
        };
        tx.insert_mdm_certificate(&StoredMdmCertificate {
            thumbprint: sha256_hex(&certificate),
            tenant_id: tenant,
            managed_device_id: id,
            certificate: STANDARD.encode(&certificate),
            issued_at: now,
            expires_at: Timestamp(not_after),
            revoked_at: None,
        })
        .await?;
        // The Autopilot registration behind the device object is now enrolled.
        let mut ztdid = None;
        if let Some(registration) = object.as_ref().and_then(|o| o.ztdid) {
            if let Some(mut registration) = tx.get_device(tenant, registration).await? {
                registration.managed_device_id = Some(id);
                registration.enrollment_state = EnrollmentState::Enrolled;
                registration.updated_at = now;
                tx.update_device(&registration).await?;
                ztdid = Some(registration.ztdid);
            }
        }
        tx.append_events(&[self.event(
            tenant,
            EventKind::ManagedDeviceEnrolled,
            id,
            serde_json::json!({
                "deviceName": device.device_name,
                "enrollmentType": enrollment_type.as_str(),
                "deviceEnrollmentType": device_enrollment_type.as_str(),
                "azureADDeviceId": device.directory_device_id,
                "userPrincipalName": device.user_principal_name,
                "ztdid": ztdid,
                "reEnrolled": re_enrolled,
            }),
        )])
        .await?;
        tx.commit().await?;
        Ok(Ok(Enrolled {
            device,
            certificate,
            ca_certificate: ca.cert_der.clone(),
            re_enrolled,
        }))
    }

    /// The directory object an enrollment is for, if any, and whether the enroller may enroll it.
    async fn enrolling_object(
        &self,
        tx: &mut ztd_store::Tx,
        enroller: &Enroller,
        input: &EnrollmentInput,
        enrollment_type: EnrollmentType,
    ) -> AppResult<Result<Option<DirectoryDevice>, EnrollRefusal>> {
        let tenant = enroller.tenant();
        let object = match enroller {
            Enroller::Device { object, .. } => tx.get_directory_device(tenant, *object).await?,
            Enroller::User {
                token_device: Some(device_id),
                ..
            } => object_by_device_id(tx, tenant, *device_id).await?,
            Enroller::User {
                user,
                token_device: None,
                ..
            } => {
                // A user's plain token names no device: the DeviceID item may name the user's own device.
                let named = match input.context("DeviceID").and_then(parse_device_id) {
                    Some(device_id) => object_by_device_id(tx, tenant, device_id).await?,
                    None => None,
                };
                match named {
                    Some(object) if object.registered_user_id == Some(user.id) => Some(object),
                    Some(_) if enrollment_type == EnrollmentType::Device => {
                        return Ok(Err(EnrollRefusal::Authorization(
                            "the device named by DeviceID was not joined by this user".into(),
                        )))
                    }
                    _ => None,
                }
            }
        };
        match object {
            Some(object) if !object.account_enabled => Ok(Err(EnrollRefusal::Authorization(
                "the device object is disabled".into(),
            ))),
            Some(object) => Ok(Ok(Some(object))),
            None if enrollment_type == EnrollmentType::Device => {
                Ok(Err(EnrollRefusal::Authorization(
                    "an Entra-joined device enrolls with its own token or a token obtained through its PRT \
                     (EnrollmentType Device needs a joined device)"
                        .into(),
                )))
            }
            None => Ok(Ok(None)),
        }
    }

    /// The managed device a management certificate (DER, as presented over TLS) authenticates.
    async fn managed_device_of_certificate(
        &self,
        certificate: &[u8],
    ) -> AppResult<Result<(TenantId, ManagedDeviceId), SessionRefusal>> {
        let mut tx = self.store.begin_read().await?;
        let Some(stored) = tx.find_mdm_certificate(&sha256_hex(certificate)).await? else {
            return Ok(Err(SessionRefusal::UnknownCertificate));
        };
        if stored.revoked_at.is_some() || self.now().0 >= stored.expires_at.0 {
            return Ok(Err(SessionRefusal::UnknownCertificate));
        }
        Ok(Ok((stored.tenant_id, stored.managed_device_id)))
    }

    /// One message of a management session: records what the device reports (statuses, results, inventory,
    /// alerts), carries out what its answers complete (a retire or wipe done: the device leaves), and answers
    /// with statuses and the next queued commands. A session ends when ztd answers with statuses only.
    pub async fn management_session(
        &self,
        certificate: &[u8],
        message: &SyncMessage,
    ) -> AppResult<Result<SyncMessage, SessionRefusal>> {
        let (tenant, id) = match self.managed_device_of_certificate(certificate).await? {
            Ok(found) => found,
            Err(refusal) => return Ok(Err(refusal)),
        };
        let now = self.now();
        // A device with a retire or wipe pending may leave in this session, which writes its Autopilot
        // registration: that takes the tenant's targeting lock first, as every such write does.
        let may_leave = {
            let mut tx = self.store.single_read().await?;
            tx.get_managed_device(tenant, id).await?.is_some_and(|d| {
                matches!(
                    d.management_state,
                    ManagementState::RetirePending | ManagementState::WipePending
                )
            })
        };
        let mut tx = self.store.begin().await?;
        if may_leave {
            tx.lock(Lock::Targeted(tenant)).await?;
        }
        tx.lock(Lock::ManagedDevice(id)).await?;
        // Checked again under the lock: a retire, wipe or re-enrollment that committed meanwhile revoked it.
        let still_valid = tx
            .find_mdm_certificate(&sha256_hex(certificate))
            .await?
            .is_some_and(|c| c.revoked_at.is_none() && now.0 < c.expires_at.0);
        if !still_valid {
            return Ok(Err(SessionRefusal::UnknownCertificate));
        }
        let Some(mut device) = tx.get_managed_device(tenant, id).await? else {
            return Ok(Err(SessionRefusal::DeviceDeleted));
        };
        let session_id = message.header.session_id.clone();
        let msg_id = message.header.msg_id;
        let mut open = tx.open_mdm_commands(tenant, id).await?;
        // Commands answered in this session's earlier messages: a large object's later chunks find them.
        let answered_earlier = if message.header.msg_id > 1 {
            tx.mdm_commands_of_session(tenant, id, &message.header.session_id)
                .await?
        } else {
            Vec::new()
        };
        let mut more_data = false;

        let mut reply: Vec<Command> = Vec::new();
        let mut next_cmd_id = 1u32;
        reply.push(Command::Status(syncml::header_status(
            &message.header,
            next_cmd_id,
            status::OK,
        )));
        next_cmd_id += 1;

        let mut starts_session = false;
        let mut generic_alerts: Vec<CommandItem> = Vec::new();
        let mut reported: Vec<(String, String)> = Vec::new();
        let mut answered: Vec<usize> = Vec::new();
        for command in &message.commands {
            match command {
                Command::Status(s) => {
                    if let Some(at) = find_sent(&open, &session_id, s.msg_ref, s.cmd_ref) {
                        let first = open[at]
                            .sent_in
                            .as_ref()
                            .map_or(0, |sent| sent.first_cmd_id);
                        open[at].outcome.statuses.push(CommandStatus {
                            cmd: clip(&s.cmd, 16),
                            index: s.cmd_ref - first,
                            code: s.data,
                        });
                        answered.push(at);
                    }
                }
                Command::Results(r) => {
                    // The command may already be answered: chunks of a large object follow its status.
                    if let Some(at) =
                        find_sent(&open, &session_id, r.msg_ref, r.cmd_ref).or_else(|| {
                            // Only a large object's next chunk may add to an answered command.
                            find_answered(&answered_earlier, &session_id, r.msg_ref, r.cmd_ref)
                                .filter(|&at| {
                                    answered_earlier[at]
                                        .outcome
                                        .results
                                        .last()
                                        .is_some_and(|last| last.partial)
                                })
                                .map(|at| {
                                    open.push(answered_earlier[at].clone());
                                    open.len() - 1
                                })
                        })
                    {
                        let mut chunked = false;
                        for item in &r.items {
                            let completed = open[at].outcome.add_result(
                                item.source.clone().unwrap_or_default(),
                                item.meta.as_ref().and_then(|m| m.format.clone()),
                                item.data.clone().unwrap_or_default(),
                                item.more_data,
                            );
                            chunked |= item.more_data;
                            if let (Some(value), CommandOrigin::Inventory) =
                                (completed, &open[at].origin)
                            {
                                reported.push(value);
                            }
                        }
                        if chunked {
                            // OMA-DM large objects: the chunk is kept; the device sends the next one.
                            reply.push(Command::Status(syncml::status_for(
                                msg_id,
                                command,
                                next_cmd_id,
                                status::CHUNKED_ITEM_ACCEPTED,
                            )));
                            next_cmd_id += 1;
                            more_data = true;
                        }
                        answered.push(at);
                    }
                }
                Command::Alert(a) => {
                    if a.data == alert::CLIENT_INITIATED || a.data == alert::SERVER_INITIATED {
                        starts_session = true;
                    }
                    if a.data == alert::GENERIC {
                        // Asynchronous results a CSP reports later (an MSI install, an unenrollment the
                        // user asked for): kept in the device's queue history, bounded.
                        let room = MAX_GENERIC_ALERTS.saturating_sub(generic_alerts.len());
                        generic_alerts.extend(a.items.iter().take(room).map(|item| {
                            CommandItem {
                                target: item
                                    .source
                                    .as_deref()
                                    .map(|s| clip(s, 512))
                                    .unwrap_or_default(),
                                format: item
                                    .meta
                                    .as_ref()
                                    .and_then(|m| m.format.as_deref())
                                    .map(|f| clip(f, 32)),
                                mime_type: item
                                    .meta
                                    .as_ref()
                                    .and_then(|m| m.type_.as_deref())
                                    .map(|t| clip(t, 256)),
                                data: item.data.as_deref().map(|d| clip(d, 4096)),
                            }
                        }));
                    }
                    reply.push(Command::Status(syncml::status_for(
                        msg_id,
                        command,
                        next_cmd_id,
                        status::OK,
                    )));
                    next_cmd_id += 1;
                }
                Command::Replace(op) | Command::Add(op) => {
                    // The client's own reports (DevInfo in its first package).
                    for item in &op.items {
                        if let (Some(uri), Some(data)) = (
                            item.source.as_ref().or(item.target.as_ref()),
                            item.data.as_ref(),
                        ) {
                            reported.push((uri.clone(), data.clone()));
                        }
                    }
                    reply.push(Command::Status(syncml::status_for(
                        msg_id,
                        command,
                        next_cmd_id,
                        status::OK,
                    )));
                    next_cmd_id += 1;
                }
                other => {
                    // A device asks nothing of its server: anything else is not supported.
                    reply.push(Command::Status(syncml::status_for(
                        msg_id,
                        other,
                        next_cmd_id,
                        status::OPTIONAL_FEATURE_NOT_SUPPORTED,
                    )));
                    next_cmd_id += 1;
                }
            }
        }
        if msg_id == 1 {
            starts_session = true;
        }
        if more_data {
            // Ask for the next message (the rest of the large object); queued commands go along with it.
            reply.push(Command::Alert(syncml::Alert {
                cmd_id: next_cmd_id,
                data: alert::NEXT_MESSAGE,
                items: vec![],
            }));
            next_cmd_id += 1;
        }

        device.record_inventory(reported.iter().map(|(u, v)| (u.as_str(), v.as_str())));
        if let Some(name) = device
            .inventory
            .get(ztd_core::managed::nodes::DEVICE_NAME)
            .filter(|n| !n.trim().is_empty())
        {
            device.device_name = clip(name, MAX_DEVICE_NAME);
        }
        device.last_sync_at = Some(now);

        // Commands whose own status arrived are done; a retire or wipe done means the device leaves.
        answered.sort_unstable();
        answered.dedup();
        let mut leaves = false;
        for &at in &answered {
            let command = &mut open[at];
            let Some(code) = command.status() else {
                tx.update_mdm_command(command).await?;
                continue;
            };
            if matches!(
                command.state,
                CommandState::Succeeded | CommandState::Failed
            ) {
                // Completed in an earlier message; this one added a chunk of its result.
                tx.update_mdm_command(command).await?;
                continue;
            }
            command.state = if status::is_success(code) {
                CommandState::Succeeded
            } else {
                CommandState::Failed
            };
            command.completed_at = Some(now);
            tx.update_mdm_command(command).await?;
            crate::device_policies::record_configuration(&mut tx, &device, command, now).await?;
            if let CommandOrigin::Action { action } = &command.origin {
                let leaving_action = action == DeviceAction::Retire.as_str()
                    || action == DeviceAction::Wipe.as_str();
                if leaving_action && status::is_success(code) {
                    leaves = true;
                } else if leaving_action {
                    device.management_state = ManagementState::Managed;
                }
            }
        }
        if leaves {
            remove_managed_device(&mut tx, &device, now).await?;
            tx.append_events(&[self.event(
                tenant,
                EventKind::ManagedDeviceRemoved,
                id,
                serde_json::json!({
                    "deviceName": device.device_name,
                    "managementState": device.management_state.as_str(),
                }),
            )])
            .await?;
            tx.commit().await?;
            return Ok(Ok(SyncMessage {
                header: syncml::reply_header(&message.header),
                commands: reply,
                final_: true,
            }));
        }

        if !generic_alerts.is_empty() {
            // Kept in the device's queue history (`/ztd/v1/managedDevices/{id}/commands`), answered.
            tx.insert_mdm_command(&QueuedCommand {
                tenant_id: tenant,
                managed_device_id: id,
                id: MdmCommandId(self.next_uuid()),
                origin: CommandOrigin::DeviceAlert,
                command: MdmCommand::single(Verb::Alert, generic_alerts),
                state: CommandState::Succeeded,
                sent_in: None,
                outcome: CommandOutcome::default(),
                created_at: now,
                completed_at: Some(now),
            })
            .await?;
        }

        // Compliance follows what the device reports.
        if starts_session || !reported.is_empty() {
            crate::device_policies::evaluate_compliance(&mut tx, &mut device, now).await?;
        }

        // A device's history is kept bounded: the newest answered commands only.
        if starts_session {
            tx.prune_mdm_commands(tenant, id, COMMAND_HISTORY).await?;
        }

        // A new session reads the inventory again.
        if starts_session
            && !open
                .iter()
                .any(|c| c.origin == CommandOrigin::Inventory && c.state != CommandState::Succeeded)
        {
            let inventory = QueuedCommand {
                tenant_id: tenant,
                managed_device_id: id,
                id: MdmCommandId(self.next_uuid()),
                origin: CommandOrigin::Inventory,
                command: MdmCommand::single(
                    Verb::Get,
                    ztd_core::managed::nodes::INVENTORY
                        .iter()
                        .map(|uri| CommandItem::node(*uri))
                        .collect(),
                ),
                state: CommandState::Pending,
                sent_in: None,
                outcome: CommandOutcome::default(),
                created_at: now,
                completed_at: None,
            };
            tx.insert_mdm_command(&inventory).await?;
            open.push(inventory);
        }
        // ...and receives the configuration that targets it now (and loses what no longer does).
        if starts_session {
            let queued =
                crate::device_policies::reconcile_configuration(self, &mut tx, &device, &open, now)
                    .await?;
            open.extend(queued);
        }

        // Send what is still to be sent: pending commands, and commands sent in an earlier session that
        // never answered (that session broke off).
        let mut sent = 0usize;
        for command in open.iter_mut() {
            if sent >= COMMANDS_PER_MESSAGE {
                break;
            }
            let resend = match (&command.state, &command.sent_in) {
                (CommandState::Pending, _) => true,
                (CommandState::Sent, Some(place)) => place.session_id != session_id,
                _ => false,
            };
            if !resend {
                continue;
            }
            let first = next_cmd_id;
            let (wire, used) = to_syncml(&command.command, first);
            next_cmd_id += used;
            reply.push(wire);
            command.state = CommandState::Sent;
            command.sent_in = Some(SentIn {
                session_id: session_id.clone(),
                msg_id,
                first_cmd_id: first,
            });
            command.outcome = CommandOutcome::default();
            tx.update_mdm_command(command).await?;
            sent += 1;
        }
        let harvest = device.hardware_hash().is_some()
            && reported.iter().any(|(uri, _)| {
                ztd_core::managed::normalise_uri(uri) == ztd_core::managed::nodes::HARDWARE_HASH
            });
        tx.update_managed_device(&device).await?;
        tx.commit().await?;
        if harvest {
            // A use case of its own, after the session's: a failure to convert never fails a session.
            if let Err(err) = self.convert_to_autopilot(tenant, id).await {
                tracing::warn!(error = %err, managed_device = %id, "converting a device to Autopilot failed");
            }
        }
        Ok(Ok(SyncMessage {
            header: syncml::reply_header(&message.header),
            commands: reply,
            final_: true,
        }))
    }

    /// "Convert all targeted devices to Autopilot" (autopilot-behaviour.md §1.4): a corporate-owned,
    /// Entra-joined managed device that reported its hardware hash, has no Autopilot registration, and
    /// whose deployment profile (the one that wins for its directory object's groups) has
    /// `hardwareHashExtractionEnabled` is registered through the import's own registration path, and the
    /// registration adopts the device's directory object (its `[ZTDID]` tag, the object's `deviceId`)
    /// instead of a new placeholder. Returns the new ZTDID, or `None` when the device does not qualify.
    pub async fn convert_to_autopilot(
        &self,
        tenant: TenantId,
        id: ManagedDeviceId,
    ) -> AppResult<Option<ztd_core::Ztdid>> {
        // Most sessions of most devices stop here, on one read: not corporate, already registered, or not
        // targeted by a converting profile.
        let (device, object) = {
            let mut tx = self.store.begin_read().await?;
            let Some(device) = tx.get_managed_device(tenant, id).await? else {
                return Ok(None);
            };
            let object = match device.directory_object_id {
                Some(object) => tx.get_directory_device(tenant, object).await?,
                None => None,
            };
            let Some(object) = object else {
                return Ok(None);
            };
            if device.enrollment_type != EnrollmentType::Device
                || object.ztdid.is_some()
                || !converting_profile_targets(&mut tx, tenant, &object).await?
            {
                return Ok(None);
            }
            (device, object)
        };
        let Some(hash) = device.hardware_hash() else {
            return Ok(None);
        };
        let row = crate::ImportRow {
            row: 1,
            serial_number: device.serial_number().to_string(),
            hardware_hash: hash.to_string(),
            ..Default::default()
        };
        let rows = [row];
        let prepared = self.prepare_import(tenant, &rows, &[]).await?;
        let mut tx = self.store.begin().await?;
        // Exclusive: the adopted object is re-targeted (as a join re-targets it).
        tx.lock(Lock::Targeting(tenant)).await?;
        tx.lock(Lock::ManagedDevice(id)).await?;
        // Checked again under the locks: still enrolled, still not registered, still targeted.
        let Some(mut object) = tx.get_directory_device(tenant, object.id).await? else {
            return Ok(None);
        };
        let still = tx.get_managed_device(tenant, id).await?;
        let qualifies = still.as_ref().is_some_and(|d| {
            d.enrollment_type == EnrollmentType::Device
                && d.directory_object_id == Some(object.id)
                && d.hardware_hash() == Some(hash)
        });
        if object.ztdid.is_some() || !qualifies {
            return Ok(None);
        }
        if !converting_profile_targets(&mut tx, tenant, &object).await? {
            return Ok(None);
        }
        let (outcomes, registered) = self.register_prepared(&mut tx, prepared).await?;
        let ztdid = match outcomes.first().map(|o| &o.result) {
            Some(crate::RowResult::Registered { ztdid }) if registered == 1 => *ztdid,
            _ => {
                // Already registered elsewhere, or a hash the registration refuses: nothing to convert.
                tx.rollback().await?;
                return Ok(None);
            }
        };
        let mut registration = tx
            .get_device(tenant, ztdid)
            .await?
            .ok_or_else(|| internal("converting to Autopilot", "the registration vanished"))?;
        // The registration adopts the joined object; the placeholder it created goes.
        tx.delete_directory_device(tenant, registration.directory_object_id)
            .await?;
        registration.directory_object_id = object.id;
        registration.directory_device_id = object.device_id;
        registration.managed_device_id = Some(id);
        registration.enrollment_state = EnrollmentState::Enrolled;
        registration.updated_at = self.now();
        tx.update_device(&registration).await?;
        object.ztdid = Some(ztdid);
        object.physical_ids = ztd_core::directory::retag_physical_ids(
            &object.physical_ids,
            ztdid,
            &registration.group_tag,
            &registration.purchase_order_id,
        );
        tx.update_directory_device(&object).await?;
        let targeting = crate::targeting::Targeting::load(&mut tx, tenant).await?;
        crate::targeting::refresh_devices(
            &mut tx,
            tenant,
            &targeting,
            &[(Some(registration.clone()), object.clone())],
            self.now(),
        )
        .await?;
        tx.append_events(&[self.event(
            tenant,
            EventKind::ManagedDeviceConverted,
            id,
            serde_json::json!({
                "ztdid": ztdid,
                "serialNumber": registration.serial_number,
                "azureADDeviceId": object.device_id,
            }),
        )])
        .await?;
        tx.commit().await?;
        Ok(Some(ztdid))
    }

    /// A page of the tenant's managed devices, in id order.
    pub async fn managed_devices(
        &self,
        tenant: TenantId,
        query: &ManagedDeviceQuery,
    ) -> AppResult<Vec<ManagedDevice>> {
        let mut tx = self.store.single_read().await?;
        Ok(tx.list_managed_devices(tenant, query).await?)
    }

    pub async fn managed_device(
        &self,
        tenant: TenantId,
        id: ManagedDeviceId,
    ) -> AppResult<ManagedDevice> {
        let mut tx = self.store.single_read().await?;
        tx.get_managed_device(tenant, id)
            .await?
            .ok_or_else(|| AppError::not_found(ObjectKind::ManagedDevice, id))
    }

    /// Deletes a managed device: its certificates stop opening sessions at once, its queue goes, and its
    /// Autopilot registration is no longer enrolled.
    pub async fn delete_managed_device(
        &self,
        tenant: TenantId,
        id: ManagedDeviceId,
    ) -> AppResult<()> {
        let now = self.now();
        let mut tx = self.store.begin().await?;
        tx.lock(Lock::Targeted(tenant)).await?;
        tx.lock(Lock::ManagedDevice(id)).await?;
        let device = tx
            .get_managed_device(tenant, id)
            .await?
            .ok_or_else(|| AppError::not_found(ObjectKind::ManagedDevice, id))?;
        remove_managed_device(&mut tx, &device, now).await?;
        tx.append_events(&[self.event(
            tenant,
            EventKind::ManagedDeviceDeleted,
            id,
            serde_json::json!({ "deviceName": device.device_name }),
        )])
        .await?;
        tx.commit().await?;
        Ok(())
    }

    /// Requests a remote action on a managed device; it is carried out at the device's next session.
    pub async fn request_device_action(
        &self,
        tenant: TenantId,
        id: ManagedDeviceId,
        action: DeviceAction,
    ) -> AppResult<ManagedDevice> {
        let now = self.now();
        let mut tx = self.store.begin().await?;
        tx.lock(Lock::ManagedDevice(id)).await?;
        let mut device = tx
            .get_managed_device(tenant, id)
            .await?
            .ok_or_else(|| AppError::not_found(ObjectKind::ManagedDevice, id))?;
        let command = match action {
            DeviceAction::Retire => {
                device.management_state = ManagementState::RetirePending;
                Some(MdmCommand::single(
                    Verb::Exec,
                    vec![CommandItem::value(
                        format!(
                            "./Vendor/MSFT/DMClient/Provider/{}/Unenroll",
                            device.provider_id
                        ),
                        "chr",
                        device.provider_id.clone(),
                    )],
                ))
            }
            DeviceAction::Wipe => {
                device.management_state = ManagementState::WipePending;
                Some(MdmCommand::single(
                    Verb::Exec,
                    vec![CommandItem::node("./Device/Vendor/MSFT/RemoteWipe/doWipe")],
                ))
            }
            DeviceAction::RebootNow => Some(MdmCommand::single(
                Verb::Exec,
                vec![CommandItem::node("./Device/Vendor/MSFT/Reboot/RebootNow")],
            )),
            DeviceAction::SyncDevice => {
                device.sync_requested_at = Some(now);
                None
            }
        };
        if let Some(command) = command {
            let origin = CommandOrigin::Action {
                action: action.as_str().to_string(),
            };
            // Asking twice queues it once.
            tx.withdraw_mdm_commands(tenant, id, &origin).await?;
            tx.insert_mdm_command(&QueuedCommand {
                tenant_id: tenant,
                managed_device_id: id,
                id: MdmCommandId(self.next_uuid()),
                origin,
                command,
                state: CommandState::Pending,
                sent_in: None,
                outcome: CommandOutcome::default(),
                created_at: now,
                completed_at: None,
            })
            .await?;
        }
        tx.update_managed_device(&device).await?;
        tx.append_events(&[self.event(
            tenant,
            EventKind::ManagedDeviceActionRequested,
            id,
            serde_json::json!({ "action": action.as_str(), "deviceName": device.device_name }),
        )])
        .await?;
        tx.commit().await?;
        Ok(device)
    }

    /// Queues a command for a managed device (ztd's own API, and what configuration turns into).
    pub async fn queue_device_command(
        &self,
        tenant: TenantId,
        id: ManagedDeviceId,
        command: MdmCommand,
        origin: CommandOrigin,
    ) -> AppResult<QueuedCommand> {
        let now = self.now();
        let mut tx = self.store.begin().await?;
        tx.lock(Lock::ManagedDevice(id)).await?;
        if tx.get_managed_device(tenant, id).await?.is_none() {
            return Err(AppError::not_found(ObjectKind::ManagedDevice, id));
        }
        let queued = QueuedCommand {
            tenant_id: tenant,
            managed_device_id: id,
            id: MdmCommandId(self.next_uuid()),
            origin,
            command,
            state: CommandState::Pending,
            sent_in: None,
            outcome: CommandOutcome::default(),
            created_at: now,
            completed_at: None,
        };
        tx.insert_mdm_command(&queued).await?;
        tx.append_events(&[self.event(
            tenant,
            EventKind::ManagedDeviceCommandQueued,
            id,
            serde_json::json!({ "command": queued.id, "origin": queued.origin }),
        )])
        .await?;
        tx.commit().await?;
        Ok(queued)
    }

    /// A managed device's commands, newest first.
    pub async fn device_commands(
        &self,
        tenant: TenantId,
        id: ManagedDeviceId,
        limit: u32,
    ) -> AppResult<Vec<QueuedCommand>> {
        let mut tx = self.store.single_read().await?;
        if tx.get_managed_device(tenant, id).await?.is_none() {
            return Err(AppError::not_found(ObjectKind::ManagedDevice, id));
        }
        Ok(tx.list_mdm_commands(tenant, id, limit).await?)
    }
}

/// The tenant's directory object with this `deviceId`.
async fn object_by_device_id(
    tx: &mut ztd_store::Tx,
    tenant: TenantId,
    device_id: DirectoryDeviceId,
) -> AppResult<Option<DirectoryDevice>> {
    let query = ztd_store::DirectoryQuery {
        device_id: Some(device_id),
        limit: Some(1),
        ..Default::default()
    };
    Ok(tx
        .list_directory_devices(tenant, &query)
        .await?
        .into_iter()
        .next())
}

/// The open command a device's Status or Results refers to: sent in this session, in that server message,
/// its command ids spanning `cmd_ref`.
fn find_sent(open: &[QueuedCommand], session: &str, msg_ref: u32, cmd_ref: u32) -> Option<usize> {
    open.iter().position(|c| {
        c.state == CommandState::Sent
            && c.sent_in.as_ref().is_some_and(|s| {
                s.session_id == session
                    && s.msg_id == msg_ref
                    && cmd_ref >= s.first_cmd_id
                    && cmd_ref < s.first_cmd_id.saturating_add(c.command.id_span())
            })
    })
}

/// Whether the deployment profile that wins for a directory object's groups converts targeted devices.
async fn converting_profile_targets(
    tx: &mut ztd_store::Tx,
    tenant: TenantId,
    object: &DirectoryDevice,
) -> AppResult<bool> {
    // No converting profile at all (the usual case): no need to load the tenant's targeting.
    let profiles = tx.list_profiles(tenant).await?;
    if !profiles.iter().any(|p| p.hardware_hash_extraction_enabled) {
        return Ok(false);
    }
    let targeting = crate::targeting::Targeting::load(tx, tenant).await?;
    let groups: std::collections::BTreeSet<ztd_core::GroupId> = tx
        .memberships_of(tenant, &[object.id])
        .await?
        .into_iter()
        .map(|(_, group, _)| group)
        .collect();
    Ok(targeting
        .winner(&groups)
        .and_then(|winner| targeting.profiles.iter().find(|p| p.id == winner))
        .is_some_and(|p| p.hardware_hash_extraction_enabled))
}

/// A command of this session already answered, that a later Results refers to (a large object's chunks).
fn find_answered(
    answered: &[QueuedCommand],
    session: &str,
    msg_ref: u32,
    cmd_ref: u32,
) -> Option<usize> {
    answered.iter().position(|c| {
        c.sent_in.as_ref().is_some_and(|s| {
            s.session_id == session
                && s.msg_id == msg_ref
                && cmd_ref >= s.first_cmd_id
                && cmd_ref < s.first_cmd_id.saturating_add(c.command.id_span())
        })
    })
}

/// A queued command as SyncML, its command ids from `first`; returns it and how many ids it used.
fn to_syncml(command: &MdmCommand, first: u32) -> (Command, u32) {
    fn operation(op: &Operation, cmd_id: u32) -> Command {
        let wire = syncml::Operation {
            cmd_id,
            meta: None,
            items: op
                .items
                .iter()
                .map(|item| syncml::Item {
                    target: Some(item.target.clone()),
                    source: None,
                    meta: (item.format.is_some() || item.mime_type.is_some()).then(|| {
                        syncml::Meta {
                            format: item.format.clone(),
                            type_: item.mime_type.clone(),
                            ..syncml::Meta::default()
                        }
                    }),
                    data: item.data.clone(),
                    more_data: false,
                })
                .collect(),
        };
        match op.verb {
            Verb::Get => Command::Get(wire),
            Verb::Add => Command::Add(wire),
            Verb::Replace => Command::Replace(wire),
            Verb::Delete => Command::Delete(wire),
            Verb::Exec => Command::Exec(wire),
            // Recorded from a device, never queued to one; as SyncML it is the generic alert it was.
            Verb::Alert => Command::Alert(syncml::Alert {
                cmd_id,
                data: alert::GENERIC,
                items: wire.items,
            }),
        }
    }
    match command {
        MdmCommand::Single(op) => (operation(op, first), 1),
        MdmCommand::Atomic(ops) | MdmCommand::Sequence(ops) => {
            let commands: Vec<Command> = ops
                .iter()
                .zip(first + 1..)
                .map(|(op, cmd_id)| operation(op, cmd_id))
                .collect();
            let container = syncml::Container {
                cmd_id: first,
                commands,
            };
            let wire = match command {
                MdmCommand::Atomic(_) => Command::Atomic(container),
                _ => Command::Sequence(container),
            };
            (wire, command.id_span())
        }
    }
}

/// Removes a managed device in `tx`: certificates revoked, record and queue deleted, the Autopilot
/// registration no longer enrolled.
async fn remove_managed_device(
    tx: &mut ztd_store::Tx,
    device: &ManagedDevice,
    now: Timestamp,
) -> AppResult<()> {
    let tenant = device.tenant_id;
    tx.revoke_mdm_certificates(tenant, device.id, now).await?;
    tx.delete_managed_device(tenant, device.id).await?;
    tx.delete_policy_states_of_device(tenant, device.id, None)
        .await?;
    if let Some(object) = device.directory_object_id {
        if let Some(ztdid) = tx
            .get_directory_device(tenant, object)
            .await?
            .and_then(|o| o.ztdid)
        {
            if let Some(mut registration) = tx.get_device(tenant, ztdid).await? {
                if registration.managed_device_id == Some(device.id) {
                    registration.managed_device_id = None;
                    registration.enrollment_state = EnrollmentState::NotContacted;
                    registration.updated_at = now;
                    tx.update_device(&registration).await?;
                }
            }
        }
    }
    Ok(())
}
