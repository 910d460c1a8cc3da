//! The device-side cached profile `AutopilotDDSZTDFile.json`
//! (`%WINDIR%\ServiceState\wmansvc\`, research notes §2.4): compact one-line JSON.
//!
//! Field order is the order of the real sample (and of this struct). Decisions:
//! * `AadDeviceId`, `CloudAssignedDeviceName` and `PolicyDownloadDate` are optional (omitted
//!   when `None`): a device without a name template, or before download, plausibly lacks
//!   them. The other sample keys are required when parsing.
//! * Keys seen only in third-party parsers (`AutopilotMode`, `CloudAssignedLanguage`,
//!   `CloudAssignedAadServerData`, …) are kept, in order, in [`DeviceProfileFile::extra`]
//!   and written after the known keys.
//! * Strings are escaped as `serde_json` does (only `"`, `\` and control characters); the
//!   Windows writer's escaping is unknown.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// `AutopilotDDSZTDFile.json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DeviceProfileFile {
    /// `AutopilotServiceCorrelationId`
    #[serde(rename = "AutopilotServiceCorrelationId")]
    pub autopilot_service_correlation_id: String,
    /// `ZtdRegistrationId`: the ZTD id of the registration.
    #[serde(rename = "ZtdRegistrationId")]
    pub ztd_registration_id: String,
    /// `AadDeviceId`
    #[serde(
        rename = "AadDeviceId",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub aad_device_id: Option<String>,
    /// `CloudAssignedOobeConfig` (see [`crate::oobe`]).
    #[serde(rename = "CloudAssignedOobeConfig")]
    pub cloud_assigned_oobe_config: u32,
    /// `CloudAssignedDomainJoinMethod`: 0 Entra join, 1 hybrid.
    #[serde(rename = "CloudAssignedDomainJoinMethod")]
    pub cloud_assigned_domain_join_method: u32,
    /// `CloudAssignedForcedEnrollment`: 0/1.
    #[serde(rename = "CloudAssignedForcedEnrollment")]
    pub cloud_assigned_forced_enrollment: u32,
    /// `CloudAssignedTenantDomain`
    #[serde(rename = "CloudAssignedTenantDomain")]
    pub cloud_assigned_tenant_domain: String,
    /// `CloudAssignedTenantId`
    #[serde(rename = "CloudAssignedTenantId")]
    pub cloud_assigned_tenant_id: String,
    /// `CloudAssignedMdmId` (meaning unverified).
    #[serde(rename = "CloudAssignedMdmId")]
    pub cloud_assigned_mdm_id: String,
    /// `CloudAssignedDeviceName`: the name template.
    #[serde(
        rename = "CloudAssignedDeviceName",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub cloud_assigned_device_name: Option<String>,
    /// `DeploymentProfileName`
    #[serde(rename = "DeploymentProfileName")]
    pub deployment_profile_name: String,
    /// `IsExplicitProfileAssignment`
    #[serde(rename = "IsExplicitProfileAssignment")]
    pub is_explicit_profile_assignment: bool,
    /// `CloudAssignedAutopilotUpdateDisabled`
    #[serde(rename = "CloudAssignedAutopilotUpdateDisabled")]
    pub cloud_assigned_autopilot_update_disabled: u32,
    /// `CloudAssignedPrivacyDiagnostics`
    #[serde(rename = "CloudAssignedPrivacyDiagnostics")]
    pub cloud_assigned_privacy_diagnostics: u32,
    /// `HybridJoinSkipDCConnectivityCheck`
    #[serde(rename = "HybridJoinSkipDCConnectivityCheck")]
    pub hybrid_join_skip_dc_connectivity_check: u32,
    /// `CloudAssignedAutopilotUpdateTimeout` (milliseconds).
    #[serde(rename = "CloudAssignedAutopilotUpdateTimeout")]
    pub cloud_assigned_autopilot_update_timeout: u32,
    /// `PolicyDownloadDate`, e.g. `2022-09-13T15:14:02Z` (from the DDS response `Date`).
    #[serde(
        rename = "PolicyDownloadDate",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub policy_download_date: Option<String>,
    /// Any other keys, in the order read; written after the known ones.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// Error from [`DeviceProfileFile::parse`].
#[derive(Debug, thiserror::Error)]
#[error("AutopilotDDSZTDFile.json could not be read ({0}); check that it is the device's cached profile, not another file")]
pub struct DeviceProfileError(#[from] serde_json::Error);

impl DeviceProfileFile {
    /// Compact one-line JSON (no trailing newline), keys in the sample's order.
    pub fn to_compact_json(&self) -> String {
        // Serialising a struct of strings, numbers, bools and a JSON map cannot fail.
        serde_json::to_string(self).unwrap_or_default()
    }

    /// Parses the file (UTF-8 with or without BOM, or UTF-16 with BOM).
    pub fn parse(bytes: &[u8]) -> Result<Self, DeviceProfileError> {
        let text = crate::text::decode_whole(bytes);
        Ok(serde_json::from_str(text.trim_start_matches('\u{feff}'))?)
    }
}
