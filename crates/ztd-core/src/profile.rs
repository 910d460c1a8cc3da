//! Deployment profiles (Graph `windowsAutopilotDeploymentProfile` and its two subtypes) and their
//! assignments. One canonical value per setting is kept; the Graph layer maps old and new property names.

use serde::{Deserialize, Serialize};

use crate::{GroupId, ProfileId, TenantId, Timestamp};

/// How the device joins: the profile subtype.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum JoinType {
    /// `#microsoft.graph.azureADWindowsAutopilotDeploymentProfile` (Entra join).
    AzureAd,
    /// `#microsoft.graph.activeDirectoryWindowsAutopilotDeploymentProfile` (Entra hybrid join).
    Hybrid,
}

/// Graph `windowsDeviceUsageType`. `shared` on an Entra-join profile is self-deploying mode.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum DeviceUsageType {
    SingleUser,
    Shared,
}

/// Graph `windowsUserType`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum UserType {
    Administrator,
    Standard,
}

/// Graph `windowsAutopilotDeviceType`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum DeviceType {
    WindowsPc,
    HoloLens,
    SurfaceHub2,
    SurfaceHub2S,
    VirtualMachine,
}

/// The deployment mode a profile drives, derived from its settings.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum DeploymentMode {
    UserDriven,
    SelfDeploying,
}

/// Graph `outOfBoxExperienceSetting` (new names; the old `outOfBoxExperienceSettings` maps onto it).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct OobeSettings {
    pub device_usage_type: DeviceUsageType,
    pub user_type: UserType,
    pub privacy_settings_hidden: bool,
    pub eula_hidden: bool,
    pub keyboard_selection_page_skipped: bool,
    /// "Hide change account options".
    pub escape_link_hidden: bool,
}

impl Default for OobeSettings {
    fn default() -> Self {
        Self {
            device_usage_type: DeviceUsageType::SingleUser,
            user_type: UserType::Standard,
            privacy_settings_hidden: true,
            eula_hidden: true,
            keyboard_selection_page_skipped: false,
            escape_link_hidden: true,
        }
    }
}

/// A deployment profile. Stored as a versioned JSON document (see `ztd-store`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DeploymentProfile {
    pub tenant_id: TenantId,
    pub id: ProfileId,
    pub display_name: String,
    pub description: String,
    pub device_type: DeviceType,
    pub join_type: JoinType,
    pub oobe: OobeSettings,
    /// `"os-default"` or a culture name such as `en-US`.
    pub locale: String,
    pub preprovisioning_allowed: bool,
    /// "Convert all targeted devices to Autopilot".
    pub hardware_hash_extraction_enabled: bool,
    /// Entra join only; empty = no template.
    pub device_name_template: String,
    /// Hybrid only: skip the domain controller connectivity check.
    pub hybrid_skip_connectivity_check: bool,
    pub management_service_app_id: Option<String>,
    pub role_scope_tag_ids: Vec<String>,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
}

impl DeploymentProfile {
    pub fn mode(&self) -> DeploymentMode {
        match (self.join_type, self.oobe.device_usage_type) {
            (JoinType::AzureAd, DeviceUsageType::Shared) => DeploymentMode::SelfDeploying,
            _ => DeploymentMode::UserDriven,
        }
    }
}

/// Where an assignment (of a profile or an ESP) points.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", tag = "kind", content = "groupId")]
pub enum AssignmentTarget {
    /// `#microsoft.graph.allDevicesAssignmentTarget`.
    AllDevices,
    /// `#microsoft.graph.groupAssignmentTarget`.
    Group(GroupId),
    /// `#microsoft.graph.exclusionGroupAssignmentTarget`.
    ExcludeGroup(GroupId),
}

/// The virtual group id Graph uses for an All Devices target in assignment ids.
pub const ALL_DEVICES_GROUP_ID: &str = "adadadad-808e-44e2-905a-0b7873a8a531";

/// One assignment of a profile. Its id follows the client convention `{profileId}_{groupId}_0`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ProfileAssignment {
    pub tenant_id: TenantId,
    pub id: String,
    pub profile_id: ProfileId,
    pub target: AssignmentTarget,
    pub created_at: Timestamp,
}

impl ProfileAssignment {
    /// The conventional id for a profile and target.
    pub fn conventional_id(profile_id: ProfileId, target: AssignmentTarget) -> String {
        match target {
            AssignmentTarget::AllDevices => format!("{profile_id}_{ALL_DEVICES_GROUP_ID}_0"),
            AssignmentTarget::Group(group) | AssignmentTarget::ExcludeGroup(group) => {
                format!("{profile_id}_{group}_0")
            }
        }
    }
}
