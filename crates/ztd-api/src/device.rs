//! `/device/v1`: what a device presents at first boot and what it receives (docs/device-api.md).

use serde::{Deserialize, Serialize};
use ztd_core::esp::EspConfiguration;
use ztd_core::profile::{DeploymentMode, JoinType};
use ztd_core::provisioning::{NameDecision, ProvisioningPlan};
use ztd_core::{ProfileId, TenantId, Ztdid};
use ztd_formats::device_profile::DeviceProfileFile;

use crate::files::{device_profile_file, oobe_config};

/// `POST /device/v1/boot`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct BootRequest {
    /// The 4K hardware hash, base64.
    pub hardware_hash: String,
}

/// The answer to a boot: 200 with a plan, or 404 with the one sentence every unmatched device gets.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", tag = "status")]
pub enum BootAnswer {
    Registered(Box<PlanBody>),
    /// The same words whether the serial is unknown, registered to other hardware, or presented without
    /// proof: a stranger learns nothing from it.
    NotRegistered {
        reason: String,
    },
}

impl BootAnswer {
    pub const NOT_REGISTERED: &'static str =
        "No Autopilot registration matches this device; continue normal setup.";

    pub fn not_registered() -> Self {
        Self::NotRegistered {
            reason: Self::NOT_REGISTERED.into(),
        }
    }
}

/// A provisioning plan as the device reads it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PlanBody {
    pub tenant_id: TenantId,
    pub tenant_domain: String,
    pub ztdid: Ztdid,
    pub serial_number: String,
    pub profile_id: Option<ProfileId>,
    pub profile_name: Option<String>,
    /// `userDriven` or `selfDeploying`, with `preprovisioningAllowed` for the technician flow.
    pub deployment_mode: Option<DeploymentMode>,
    /// `azureADJoined` or `hybridAzureADJoined`.
    pub join_type: Option<String>,
    pub preprovisioning_allowed: bool,
    pub device_name: NameDecision,
    pub oobe_config: u32,
    /// The profile as the device caches it (`AutopilotDDSZTDFile.json`), when a profile applies.
    pub device_profile: Option<DeviceProfileFile>,
    pub esp: Option<EspConfiguration>,
    pub assigned_user_principal_name: String,
    /// Ties the device's directory join to this registration: the device sends it in the join's
    /// `attributes` as `ztdJoinTicket` (docs/device-registration.md).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub join_ticket: String,
}

impl From<&ProvisioningPlan> for PlanBody {
    fn from(plan: &ProvisioningPlan) -> Self {
        let profile = plan.profile.as_ref();
        Self {
            tenant_id: plan.tenant_id,
            tenant_domain: plan.tenant_domain.clone(),
            ztdid: plan.ztdid,
            serial_number: plan.serial_number.clone(),
            profile_id: profile.map(|p| p.id),
            profile_name: profile.map(|p| p.display_name.clone()),
            deployment_mode: profile.map(|p| p.mode),
            join_type: profile.map(|p| {
                match p.join_type {
                    JoinType::AzureAd => "azureADJoined",
                    JoinType::Hybrid => "hybridAzureADJoined",
                }
                .to_string()
            }),
            preprovisioning_allowed: profile.is_some_and(|p| p.preprovisioning_allowed),
            device_name: plan.device_name.clone(),
            oobe_config: profile.map(|p| oobe_config(&p.oobe)).unwrap_or(0),
            device_profile: device_profile_file(plan),
            esp: plan.esp.clone(),
            assigned_user_principal_name: plan.assigned_user_principal_name.clone(),
            join_ticket: plan.join_ticket.clone(),
        }
    }
}
