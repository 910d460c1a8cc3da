//! Devices enrolled in device management (MDM): what the MDM service knows of each, what it reports about
//! itself, and the commands queued for it. The wire protocols are `ztd-mdm`'s; this is the state they move.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::{
    DirectoryDeviceId, DirectoryObjectId, ManagedDeviceId, MdmCommandId, TenantId, Timestamp,
};

/// How the device enrolled ([MS-MDE2] `EnrollmentType`): `Device` for an Entra-joined device's own
/// enrollment (its certificate lives in the machine store), `Full` for a user's enrollment.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum EnrollmentType {
    Device,
    Full,
}

impl EnrollmentType {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Device => "Device",
            Self::Full => "Full",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        match text {
            t if t.eq_ignore_ascii_case("Device") => Some(Self::Device),
            t if t.eq_ignore_ascii_case("Full") => Some(Self::Full),
            _ => None,
        }
    }
}

/// Graph `deviceEnrollmentType`, as ztd decides it from the credential and the context items.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum DeviceEnrollmentType {
    /// A user enrolled the device themselves (MDM only: Settings, or a deep link).
    UserEnrollment,
    /// An Entra-joined device enrolled with the joining user's token (user-driven Autopilot, OOBE join).
    WindowsAzureAdJoin,
    /// An Entra-joined device enrolled with its own token, no user (self-deploying, pre-provisioning).
    WindowsAzureAdJoinUsingDeviceAuth,
    /// A domain-joined device enrolled (hybrid).
    WindowsAutoEnrollment,
}

impl DeviceEnrollmentType {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::UserEnrollment => "userEnrollment",
            Self::WindowsAzureAdJoin => "windowsAzureADJoin",
            Self::WindowsAzureAdJoinUsingDeviceAuth => "windowsAzureADJoinUsingDeviceAuth",
            Self::WindowsAutoEnrollment => "windowsAutoEnrollment",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        [
            Self::UserEnrollment,
            Self::WindowsAzureAdJoin,
            Self::WindowsAzureAdJoinUsingDeviceAuth,
            Self::WindowsAutoEnrollment,
        ]
        .into_iter()
        .find(|t| t.as_str() == text)
    }
}

/// Graph `managementState`: where the device is in its management life. A device whose retire or wipe has
/// been carried out leaves the service (its record is removed and its certificate revoked).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum ManagementState {
    Managed,
    /// Retire requested; the device unenrolls at its next session.
    RetirePending,
    /// Wipe requested; the device is wiped at its next session.
    WipePending,
}

impl ManagementState {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Managed => "managed",
            Self::RetirePending => "retirePending",
            Self::WipePending => "wipePending",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        [Self::Managed, Self::RetirePending, Self::WipePending]
            .into_iter()
            .find(|s| s.as_str() == text)
    }
}

/// Graph `complianceState`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum ComplianceState {
    Unknown,
    Compliant,
    Noncompliant,
    Conflict,
    Error,
    InGracePeriod,
}

impl ComplianceState {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Unknown => "unknown",
            Self::Compliant => "compliant",
            Self::Noncompliant => "noncompliant",
            Self::Conflict => "conflict",
            Self::Error => "error",
            Self::InGracePeriod => "inGracePeriod",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        [
            Self::Unknown,
            Self::Compliant,
            Self::Noncompliant,
            Self::Conflict,
            Self::Error,
            Self::InGracePeriod,
        ]
        .into_iter()
        .find(|s| s.as_str() == text)
    }
}

/// Graph `joinType`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum JoinType {
    Unknown,
    AzureAdJoined,
    AzureAdRegistered,
    HybridAzureAdJoined,
}

impl JoinType {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Unknown => "unknown",
            Self::AzureAdJoined => "azureADJoined",
            Self::AzureAdRegistered => "azureADRegistered",
            Self::HybridAzureAdJoined => "hybridAzureADJoined",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        [
            Self::Unknown,
            Self::AzureAdJoined,
            Self::AzureAdRegistered,
            Self::HybridAzureAdJoined,
        ]
        .into_iter()
        .find(|s| s.as_str() == text)
    }
}

/// A device enrolled in management.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ManagedDevice {
    pub tenant_id: TenantId,
    pub id: ManagedDeviceId,
    pub device_name: String,
    pub enrollment_type: EnrollmentType,
    pub device_enrollment_type: DeviceEnrollmentType,
    pub join_type: JoinType,
    /// The joined directory device object, when the device is Entra-joined (or registered) in this tenant.
    pub directory_object_id: Option<DirectoryObjectId>,
    /// Its `deviceId` (Graph `azureADDeviceId`).
    pub directory_device_id: Option<DirectoryDeviceId>,
    /// The user who enrolled it (none for a device-authenticated enrollment).
    pub user_id: Option<DirectoryObjectId>,
    pub user_principal_name: String,
    /// DMClient's `HWDevID` context item: the hardware id a re-enrollment is recognised by.
    pub hw_dev_id: String,
    /// The DMClient provider id the device was provisioned with.
    pub provider_id: String,
    pub management_state: ManagementState,
    pub compliance_state: ComplianceState,
    /// When the device first became non-compliant while its grace period runs (Graph
    /// `complianceGracePeriodExpirationDateTime` is this plus the grace period).
    pub noncompliant_since: Option<Timestamp>,
    /// When its grace period ends, while it is in one.
    pub grace_period_ends_at: Option<Timestamp>,
    /// Every context item of the enrollment request, in order (names may repeat), kept as sent.
    pub enrollment_context: Vec<(String, String)>,
    /// The last value the device reported for each node ztd reads (LocURI → value).
    pub inventory: BTreeMap<String, String>,
    pub enrolled_at: Timestamp,
    pub last_sync_at: Option<Timestamp>,
    /// When an admin last asked for a sync (Graph `syncDevice`).
    pub sync_requested_at: Option<Timestamp>,
    /// The management certificate's expiry (Graph `managementCertificateExpirationDate`).
    pub certificate_expires_at: Timestamp,
}

/// Nodes ztd reads at every session: the inventory Graph shows and compliance evaluates.
pub mod nodes {
    pub const DEV_ID: &str = "./DevInfo/DevId";
    pub const MANUFACTURER: &str = "./DevInfo/Man";
    pub const MODEL: &str = "./DevInfo/Mod";
    pub const DM_VERSION: &str = "./DevInfo/DmV";
    pub const LANGUAGE: &str = "./DevInfo/Lang";
    pub const OS_VERSION: &str = "./DevDetail/SwV";
    pub const FIRMWARE_VERSION: &str = "./DevDetail/FwV";
    pub const OS_PLATFORM: &str = "./DevDetail/Ext/Microsoft/OSPlatform";
    pub const DEVICE_NAME: &str = "./DevDetail/Ext/Microsoft/DeviceName";
    pub const SERIAL_NUMBER: &str = "./DevDetail/Ext/Microsoft/SMBIOSSerialNumber";
    pub const TOTAL_RAM: &str = "./DevDetail/Ext/Microsoft/TotalRAM";
    /// The 4K hardware hash (base64), Windows 10 1703 and later.
    pub const HARDWARE_HASH: &str = "./DevDetail/Ext/DeviceHardwareData";
    /// TPM specification version (`2.0`); compliance's "require TPM" needs a value above 0.
    pub const TPM_VERSION: &str = "./Vendor/MSFT/DeviceStatus/TPM/SpecificationVersion";
    /// 0 not supported, 1 enabled, 2 disabled.
    pub const SECURE_BOOT: &str = "./Vendor/MSFT/DeviceStatus/SecureBootState";
    /// 1 encrypted, 0 not.
    pub const ENCRYPTION: &str = "./Vendor/MSFT/DeviceStatus/Compliance/EncryptionCompliance";
    /// 0 when BitLocker is compliant with the device's encryption policy; otherwise a bit field of reasons.
    pub const BITLOCKER_STATUS: &str =
        "./Device/Vendor/MSFT/BitLocker/Status/DeviceEncryptionStatus";
    /// DeviceLock's `DevicePasswordEnabled` as in force: 0 a password is required, 1 it is not.
    pub const PASSWORD_REQUIRED: &str =
        "./Device/Vendor/MSFT/Policy/Result/DeviceLock/DevicePasswordEnabled";

    /// What each session's inventory `Get` reads (DevInfo arrives in the client's first package).
    pub const INVENTORY: &[&str] = &[
        OS_VERSION,
        FIRMWARE_VERSION,
        OS_PLATFORM,
        DEVICE_NAME,
        SERIAL_NUMBER,
        TOTAL_RAM,
        HARDWARE_HASH,
        TPM_VERSION,
        SECURE_BOOT,
        ENCRYPTION,
        BITLOCKER_STATUS,
        PASSWORD_REQUIRED,
    ];

    /// Whether `uri` is a node ztd keeps in a device's inventory (DevInfo or [`INVENTORY`]).
    pub fn is_inventory(uri: &str) -> bool {
        [DEV_ID, MANUFACTURER, MODEL, DM_VERSION, LANGUAGE].contains(&uri)
            || INVENTORY.contains(&uri)
    }
}

/// The longest value kept for one inventory node (a 4K hash is about 5,500 base64 characters).
pub const MAX_INVENTORY_VALUE: usize = 16 * 1024;

impl ManagedDevice {
    fn node(&self, uri: &str) -> &str {
        self.inventory.get(uri).map(String::as_str).unwrap_or("")
    }

    /// Records what the device reported for the inventory nodes among `values`; others are ignored, and an
    /// over-long value is not kept. Returns whether anything changed.
    pub fn record_inventory<'a>(
        &mut self,
        values: impl IntoIterator<Item = (&'a str, &'a str)>,
    ) -> bool {
        let mut changed = false;
        for (uri, value) in values {
            let uri = normalise_uri(uri);
            if !nodes::is_inventory(&uri) || value.len() > MAX_INVENTORY_VALUE {
                continue;
            }
            if self.inventory.get(uri.as_ref()).map(String::as_str) != Some(value) {
                self.inventory.insert(uri.to_string(), value.to_string());
                changed = true;
            }
        }
        changed
    }

    pub fn manufacturer(&self) -> &str {
        self.node(nodes::MANUFACTURER)
    }

    pub fn model(&self) -> &str {
        self.node(nodes::MODEL)
    }

    pub fn serial_number(&self) -> &str {
        self.node(nodes::SERIAL_NUMBER)
    }

    pub fn os_version(&self) -> &str {
        self.node(nodes::OS_VERSION)
    }

    /// The hardware hash the device reported, if any.
    pub fn hardware_hash(&self) -> Option<&str> {
        Some(self.node(nodes::HARDWARE_HASH)).filter(|h| !h.is_empty())
    }

    /// Graph `isEncrypted`: the device says its drives are encrypted.
    pub fn is_encrypted(&self) -> bool {
        self.node(nodes::ENCRYPTION) == "1" || self.node(nodes::BITLOCKER_STATUS) == "0"
    }

    /// The TPM specification version as a number (0 without a TPM or a report).
    pub fn tpm_version(&self) -> f64 {
        self.node(nodes::TPM_VERSION).trim().parse().unwrap_or(0.0)
    }

    /// Secure boot is on.
    pub fn secure_boot_enabled(&self) -> bool {
        self.node(nodes::SECURE_BOOT).trim() == "1"
    }

    /// A password is required to unlock the device.
    pub fn password_required(&self) -> bool {
        self.node(nodes::PASSWORD_REQUIRED).trim() == "0"
    }

    /// Total memory in bytes (DevDetail reports megabytes).
    pub fn physical_memory_bytes(&self) -> i64 {
        self.node(nodes::TOTAL_RAM)
            .trim()
            .parse::<i64>()
            .map(|mb| mb.saturating_mul(1024 * 1024))
            .unwrap_or(0)
    }
}

/// A LocURI as ztd keys it: `./Device/Vendor/…` and `./Vendor/…` name the same device node, and DevInfo and
/// DevDetail are written without a scope. Other URIs are returned as they are.
pub fn normalise_uri(uri: &str) -> std::borrow::Cow<'_, str> {
    match uri.strip_prefix("./Device/") {
        Some(rest)
            if rest.starts_with("DevDetail/")
                || rest.starts_with("DevInfo/")
                || rest.starts_with("Vendor/MSFT/DeviceStatus/") =>
        {
            format!("./{rest}").into()
        }
        _ => uri.into(),
    }
}

/// An OMA-DM operation on nodes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Verb {
    Get,
    Add,
    Replace,
    Delete,
    Exec,
    /// A device's generic alert (1226): recorded as it arrived, never sent.
    Alert,
}

impl Verb {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Get => "Get",
            Self::Add => "Add",
            Self::Replace => "Replace",
            Self::Delete => "Delete",
            Self::Exec => "Exec",
            Self::Alert => "Alert",
        }
    }
}

/// One node a command acts on, with its value when it writes one.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CommandItem {
    pub target: String,
    /// Meta/Format (`chr`, `int`, `bool`, `b64`, `xml`, `node`…).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub format: Option<String>,
    /// Meta/Type (a MIME type).
    #[serde(default, skip_serializing_if = "Option::is_none", rename = "type")]
    pub mime_type: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub data: Option<String>,
}

impl CommandItem {
    pub fn node(target: impl Into<String>) -> Self {
        Self {
            target: target.into(),
            format: None,
            mime_type: None,
            data: None,
        }
    }

    pub fn value(target: impl Into<String>, format: &str, data: impl Into<String>) -> Self {
        Self {
            target: target.into(),
            format: Some(format.to_string()),
            mime_type: None,
            data: Some(data.into()),
        }
    }
}

/// One operation of a command.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Operation {
    pub verb: Verb,
    pub items: Vec<CommandItem>,
}

/// A command as queued: one operation, or operations carried out all or none (`Atomic`) or in order
/// (`Sequence`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", content = "operations")]
pub enum MdmCommand {
    Single(Operation),
    Atomic(Vec<Operation>),
    Sequence(Vec<Operation>),
}

impl MdmCommand {
    pub fn single(verb: Verb, items: Vec<CommandItem>) -> Self {
        Self::Single(Operation { verb, items })
    }

    /// How many SyncML command ids it takes (a container's own, then one per operation).
    pub fn id_span(&self) -> u32 {
        match self {
            Self::Single(_) => 1,
            Self::Atomic(ops) | Self::Sequence(ops) => {
                1 + u32::try_from(ops.len()).unwrap_or(u32::MAX - 1)
            }
        }
    }
}

/// Where a command is in its life.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum CommandState {
    /// Waiting for the device's next session.
    Pending,
    /// Sent in a session; its status has not come back yet (a session that breaks sends it again).
    Sent,
    /// The device answered with a success status (2xx).
    Succeeded,
    /// The device answered with a failure status.
    Failed,
}

impl CommandState {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Sent => "sent",
            Self::Succeeded => "succeeded",
            Self::Failed => "failed",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        [Self::Pending, Self::Sent, Self::Succeeded, Self::Failed]
            .into_iter()
            .find(|s| s.as_str() == text)
    }
}

/// The status the device gave one SyncML command of a queued command (a container has one per operation).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CommandStatus {
    /// The command's SyncML element (`Get`, `Atomic`…).
    pub cmd: String,
    /// Which operation: 0 for the command itself (or a container), 1… for a container's operations.
    pub index: u32,
    pub code: u16,
}

/// A value the device returned for a `Get`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CommandResult {
    pub source: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub format: Option<String>,
    pub data: String,
    /// A large object still arriving in chunks (OMA-DM `MoreData`): later chunks are appended.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub partial: bool,
}

/// The most results kept for one command.
pub const MAX_RESULTS: usize = 1_000;

/// The largest object ztd assembles from chunks; beyond it the rest is dropped and the result truncated.
pub const MAX_LARGE_OBJECT: usize = 4 * 1024 * 1024;

impl CommandOutcome {
    /// Adds a returned value: a chunk continues the same source's partial value, anything else starts a
    /// new one. Returns the completed value when this was the last chunk (or the whole value).
    pub fn add_result(
        &mut self,
        source: String,
        format: Option<String>,
        data: String,
        more_data: bool,
    ) -> Option<(String, String)> {
        let full = self.results.len() >= MAX_RESULTS;
        match self.results.last_mut() {
            Some(last) if last.partial && last.source == source => {
                let room = MAX_LARGE_OBJECT.saturating_sub(last.data.len());
                let mut take = data.len().min(room);
                while !data.is_char_boundary(take) {
                    take -= 1;
                }
                last.data.push_str(&data[..take]);
                last.partial = more_data;
            }
            // A command's results are bounded in number too (a Get names at most 100 nodes).
            _ if full => return None,
            _ => self.results.push(CommandResult {
                source,
                format,
                data,
                partial: more_data,
            }),
        }
        self.results
            .last()
            .filter(|r| !r.partial)
            .map(|r| (r.source.clone(), r.data.clone()))
    }
}

/// What the device answered to a command.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CommandOutcome {
    pub statuses: Vec<CommandStatus>,
    pub results: Vec<CommandResult>,
}

/// Why a command was queued: what its outcome updates.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "camelCase")]
pub enum CommandOrigin {
    /// The session's inventory read.
    Inventory,
    /// An admin's action on the device (`retire`, `wipe`, `rebootNow`).
    Action { action: String },
    /// A configuration profile's settings (at a version), or their removal once it no longer applies.
    Configuration {
        policy: String,
        version: i64,
        #[serde(default)]
        removal: bool,
    },
    /// Queued through ztd's own API.
    Admin,
    /// Not a command: generic alerts (1226) the device sent, kept in its queue's history.
    DeviceAlert,
}

/// A command in a device's queue.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct QueuedCommand {
    pub tenant_id: TenantId,
    pub managed_device_id: ManagedDeviceId,
    /// A UUIDv7: the queue is in id order.
    pub id: MdmCommandId,
    pub origin: CommandOrigin,
    pub command: MdmCommand,
    pub state: CommandState,
    /// Where it was last sent: the session, the server message and its first command id.
    pub sent_in: Option<SentIn>,
    pub outcome: CommandOutcome,
    pub created_at: Timestamp,
    pub completed_at: Option<Timestamp>,
}

/// The place of a sent command in a session.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SentIn {
    pub session_id: String,
    pub msg_id: u32,
    pub first_cmd_id: u32,
}

impl QueuedCommand {
    /// The command's status for its own (first) command id, once answered.
    pub fn status(&self) -> Option<u16> {
        self.outcome
            .statuses
            .iter()
            .find(|s| s.index == 0)
            .map(|s| s.code)
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    pub(crate) fn device() -> ManagedDevice {
        ManagedDevice {
            tenant_id: TenantId(uuid::Uuid::nil()),
            id: ManagedDeviceId(uuid::Uuid::nil()),
            device_name: "PC".into(),
            enrollment_type: EnrollmentType::Device,
            device_enrollment_type: DeviceEnrollmentType::WindowsAzureAdJoin,
            join_type: JoinType::AzureAdJoined,
            directory_object_id: None,
            directory_device_id: None,
            user_id: None,
            user_principal_name: String::new(),
            hw_dev_id: String::new(),
            provider_id: "ztd".into(),
            management_state: ManagementState::Managed,
            compliance_state: ComplianceState::Unknown,
            noncompliant_since: None,
            grace_period_ends_at: None,
            enrollment_context: vec![],
            inventory: BTreeMap::new(),
            enrolled_at: Timestamp(0),
            last_sync_at: None,
            sync_requested_at: None,
            certificate_expires_at: Timestamp(0),
        }
    }

    #[test]
    fn inventory_keeps_known_nodes_under_one_name() {
        let mut d = device();
        assert!(d.record_inventory([
            (
                "./Device/Vendor/MSFT/DeviceStatus/TPM/SpecificationVersion",
                "2.0"
            ),
            ("./DevDetail/SwV", "10.0.22631.2861"),
            ("./Vendor/MSFT/Unknown", "x"),
            (
                "./Device/Vendor/MSFT/BitLocker/Status/DeviceEncryptionStatus",
                "0"
            ),
            ("./Vendor/MSFT/DeviceStatus/SecureBootState", "1"),
        ]));
        assert_eq!(d.inventory.len(), 4);
        assert_eq!(d.tpm_version(), 2.0);
        assert_eq!(d.os_version(), "10.0.22631.2861");
        assert!(d.is_encrypted() && d.secure_boot_enabled() && !d.password_required());
        assert!(!d.record_inventory([("./DevDetail/SwV", "10.0.22631.2861")]));
        let long = "x".repeat(MAX_INVENTORY_VALUE + 1);
        assert!(!d.record_inventory([("./DevDetail/SwV", long.as_str())]));
    }

    #[test]
    fn chunks_of_a_large_object_are_assembled_and_bounded() {
        let mut outcome = CommandOutcome::default();
        assert_eq!(
            outcome.add_result("./a".into(), None, "ab".into(), true),
            None
        );
        assert_eq!(
            outcome.add_result("./a".into(), None, "cd".into(), true),
            None
        );
        assert_eq!(
            outcome.add_result("./a".into(), None, "e".into(), false),
            Some(("./a".into(), "abcde".into()))
        );
        assert_eq!(
            outcome.add_result("./b".into(), None, "x".into(), false),
            Some(("./b".into(), "x".into()))
        );
        assert_eq!(outcome.results.len(), 2);
        let big = "x".repeat(MAX_LARGE_OBJECT);
        outcome.add_result("./c".into(), None, big, true);
        outcome.add_result("./c".into(), None, "more".into(), false);
        assert_eq!(outcome.results[2].data.len(), MAX_LARGE_OBJECT);
    }

    #[test]
    fn a_command_serialises_as_tagged_json_and_spans_its_ids() {
        let cmd = MdmCommand::Atomic(vec![
            Operation {
                verb: Verb::Add,
                items: vec![CommandItem::value("./Vendor/MSFT/A", "int", "1")],
            },
            Operation {
                verb: Verb::Replace,
                items: vec![CommandItem::node("./Vendor/MSFT/B")],
            },
        ]);
        assert_eq!(cmd.id_span(), 3);
        let json = serde_json::to_string(&cmd).unwrap();
        assert!(json.starts_with(r#"{"kind":"Atomic","operations":[{"verb":"Add""#));
        assert_eq!(serde_json::from_str::<MdmCommand>(&json).unwrap(), cmd);
        let origin = serde_json::to_string(&CommandOrigin::Action {
            action: "retire".into(),
        })
        .unwrap();
        assert_eq!(origin, r#"{"type":"action","action":"retire"}"#);
    }
}
