//! The Autopilot device record (Graph `windowsAutopilotDeviceIdentity`): one registration of one piece of
//! hardware to one tenant, keyed by its ZTDID.

use serde::{Deserialize, Serialize};

use crate::{DirectoryDeviceId, DirectoryObjectId, ProfileId, TenantId, Timestamp, Ztdid};

/// Graph `enrollmentState`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum EnrollmentState {
    Unknown,
    Enrolled,
    PendingReset,
    Failed,
    NotContacted,
    Blocked,
}

/// Graph `windowsAutopilotProfileAssignmentStatus` (the misspelt `assignedUnkownSyncState` is the wire value).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum AssignmentStatus {
    Unknown,
    AssignedInSync,
    AssignedOutOfSync,
    #[serde(rename = "assignedUnkownSyncState")]
    AssignedUnknownSyncState,
    NotAssigned,
    Pending,
    Failed,
}

/// Graph `windowsAutopilotDeviceRemediationState`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum RemediationState {
    Unknown,
    NoRemediationRequired,
    AutomaticRemediationRequired,
    ManualRemediationRequired,
}

macro_rules! wire_names {
    ($ty:ty { $($variant:ident => $name:literal),* $(,)? }) => {
        impl $ty {
            /// The Graph wire value.
            pub fn as_str(self) -> &'static str {
                match self { $(Self::$variant => $name),* }
            }
            /// Parses the Graph wire value, case-insensitively.
            pub fn parse(text: &str) -> Option<Self> {
                $(if text.eq_ignore_ascii_case($name) { return Some(Self::$variant); })*
                None
            }
        }
    };
}

wire_names!(EnrollmentState {
    Unknown => "unknown", Enrolled => "enrolled", PendingReset => "pendingReset", Failed => "failed",
    NotContacted => "notContacted", Blocked => "blocked",
});
wire_names!(AssignmentStatus {
    Unknown => "unknown", AssignedInSync => "assignedInSync", AssignedOutOfSync => "assignedOutOfSync",
    AssignedUnknownSyncState => "assignedUnkownSyncState", NotAssigned => "notAssigned", Pending => "pending",
    Failed => "failed",
});
wire_names!(RemediationState {
    Unknown => "unknown", NoRemediationRequired => "noRemediationRequired",
    AutomaticRemediationRequired => "automaticRemediationRequired",
    ManualRemediationRequired => "manualRemediationRequired",
});

/// The hardware identity a registration was matched by, as decoded from the 4K hash (see `registration`).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct HardwareKeys {
    /// `lowercase(manufacturer) + "\u{1f}" + uppercase(serial)`: the global uniqueness key of a device.
    pub identity_key: String,
    pub smbios_uuid: Option<String>,
    pub tpm_ek_pub_hash: Option<String>,
    pub disk_serial: Option<String>,
    pub mac_addresses: Vec<String>,
}

/// One Autopilot registration.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AutopilotDevice {
    pub tenant_id: TenantId,
    pub ztdid: Ztdid,
    pub serial_number: String,
    pub manufacturer: String,
    pub model: String,
    pub product_key: String,
    pub sku_number: String,
    pub system_family: String,
    /// The 4K hash as uploaded, stored without its zero padding (`ztd_hwhash::HardwareHash::to_compact_base64`,
    /// lossless). Kept so the device can be re-matched and the hash exported again.
    pub hardware_hash: String,
    pub keys: HardwareKeys,
    /// Group tag; published on the directory object as `[OrderId]:<tag>`. Empty when unset, as Graph returns.
    pub group_tag: String,
    pub purchase_order_id: String,
    pub user_principal_name: String,
    pub addressable_user_name: String,
    /// The computer name to apply at provisioning (Entra join only); overrides the profile's template.
    pub display_name: String,
    pub enrollment_state: EnrollmentState,
    pub last_contacted_at: Option<Timestamp>,
    pub directory_object_id: DirectoryObjectId,
    /// Its directory object's `deviceId` (Graph `azureActiveDirectoryDeviceId`), fixed at registration: the
    /// object keeps it when the device joins.
    pub directory_device_id: DirectoryDeviceId,
    pub assignment: ProfileAssignmentState,
    pub remediation_state: RemediationState,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
    /// The managed device this registration enrolled as (Graph `managedDeviceId`), while it is managed.
    pub managed_device_id: Option<crate::ManagedDeviceId>,
}

/// The device's current profile targeting, kept up to date in the transaction of every change that affects it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ProfileAssignmentState {
    /// The profile the device should get now (Graph `intendedDeploymentProfile`).
    pub intended_profile_id: Option<ProfileId>,
    /// The profile the device last downloaded (Graph `deploymentProfile`).
    pub delivered_profile_id: Option<ProfileId>,
    pub status: AssignmentStatus,
    /// When the intended profile last changed (Graph `deploymentProfileAssignedDateTime`).
    pub assigned_at: Option<Timestamp>,
}

impl ProfileAssignmentState {
    pub fn unassigned() -> Self {
        Self {
            intended_profile_id: None,
            delivered_profile_id: None,
            status: AssignmentStatus::NotAssigned,
            assigned_at: None,
        }
    }

    /// The state after the resolution picked `intended` at `now`.
    ///
    /// Status model (documented in ARCHITECTURE.md): no profile → `notAssigned`; a profile the device has not
    /// downloaded yet → `assignedUnkownSyncState`; the device downloaded exactly this profile →
    /// `assignedInSync`; it downloaded another one → `assignedOutOfSync`.
    pub fn retarget(&self, intended: Option<ProfileId>, now: Timestamp) -> Self {
        let assigned_at = if intended == self.intended_profile_id {
            self.assigned_at
        } else {
            intended.map(|_| now)
        };
        let status = match (intended, self.delivered_profile_id) {
            (None, _) => AssignmentStatus::NotAssigned,
            (Some(want), Some(have)) if want == have => AssignmentStatus::AssignedInSync,
            (Some(_), Some(_)) => AssignmentStatus::AssignedOutOfSync,
            (Some(_), None) => AssignmentStatus::AssignedUnknownSyncState,
        };
        Self {
            intended_profile_id: intended,
            delivered_profile_id: self.delivered_profile_id,
            status,
            assigned_at,
        }
    }

    /// The state after the device downloaded its intended profile.
    pub fn delivered(&self) -> Self {
        let mut next = self.clone();
        next.delivered_profile_id = self.intended_profile_id;
        if self.intended_profile_id.is_some() {
            next.status = AssignmentStatus::AssignedInSync;
        }
        next
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use uuid::Uuid;

    fn profile(n: u128) -> ProfileId {
        ProfileId(Uuid::from_u128(n))
    }

    #[test]
    fn assignment_status_follows_intent_and_delivery() {
        let now = Timestamp(1000);
        let start = ProfileAssignmentState::unassigned();
        let assigned = start.retarget(Some(profile(1)), now);
        assert_eq!(assigned.status, AssignmentStatus::AssignedUnknownSyncState);
        assert_eq!(assigned.assigned_at, Some(now));
        let synced = assigned.delivered();
        assert_eq!(synced.status, AssignmentStatus::AssignedInSync);
        let moved = synced.retarget(Some(profile(2)), Timestamp(2000));
        assert_eq!(moved.status, AssignmentStatus::AssignedOutOfSync);
        assert_eq!(moved.assigned_at, Some(Timestamp(2000)));
        let same = moved.retarget(Some(profile(2)), Timestamp(3000));
        assert_eq!(
            same.assigned_at,
            Some(Timestamp(2000)),
            "re-resolving the same profile keeps the date"
        );
        assert_eq!(
            same.retarget(None, now).status,
            AssignmentStatus::NotAssigned
        );
    }

    #[test]
    fn enum_wire_names_round_trip() {
        assert_eq!(
            AssignmentStatus::AssignedUnknownSyncState.as_str(),
            "assignedUnkownSyncState"
        );
        assert_eq!(
            AssignmentStatus::parse("ASSIGNEDINSYNC"),
            Some(AssignmentStatus::AssignedInSync)
        );
        assert_eq!(
            serde_json::to_string(&AssignmentStatus::AssignedUnknownSyncState).unwrap(),
            "\"assignedUnkownSyncState\""
        );
        assert_eq!(
            EnrollmentState::parse("notContacted"),
            Some(EnrollmentState::NotContacted)
        );
    }
}
