//! Decisions taken when a registered device asks for its provisioning plan.

use uuid::Uuid;

use crate::device::AutopilotDevice;
use crate::esp::EspConfiguration;
use crate::profile::{DeploymentMode, DeploymentProfile, JoinType, OobeSettings};
use crate::tenant::Tenant;
use crate::DomainError;
use crate::{ProfileId, TenantId, Timestamp, Ztdid};

/// The longest NetBIOS computer name Windows accepts.
pub const MAX_COMPUTER_NAME_LEN: usize = 15;

/// Checks a fixed computer name set on a device (`displayName`): 1–15 letters, digits or hyphens, not all
/// digits, as Windows requires.
pub fn validate_computer_name(name: &str) -> Result<(), DomainError> {
    let invalid = |why: &str| {
        Err(DomainError::invalid(
            "displayName",
            format!("{name:?} {why}"),
        ))
    };
    if name.is_empty() || name.chars().count() > MAX_COMPUTER_NAME_LEN {
        return invalid("must be 1 to 15 characters long");
    }
    if !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '-') {
        return invalid("may contain only letters, digits and hyphens");
    }
    if name.chars().all(|c| c.is_ascii_digit()) {
        return invalid("cannot be only digits");
    }
    Ok(())
}

/// Where a device's computer name comes from.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase", tag = "source", content = "name")]
pub enum NameDecision {
    /// The name set on the device record wins over any template (Entra join only).
    DeviceRecord(String),
    /// The profile's template, rendered for this device.
    Template(String),
    /// Hybrid join: the Domain Join configuration names the computer; Autopilot names are ignored.
    DomainJoinPrefix,
    /// No name is set; Windows generates one.
    WindowsDefault,
}

impl NameDecision {
    pub fn name(&self) -> Option<&str> {
        match self {
            Self::DeviceRecord(name) | Self::Template(name) => Some(name),
            Self::DomainJoinPrefix | Self::WindowsDefault => None,
        }
    }
}

/// Decides the computer name: hybrid profiles never name the device; otherwise the device record's name,
/// else the profile template rendered with the serial and `random_digit` for `%RAND:x%`.
pub fn decide_device_name(
    profile: Option<&DeploymentProfile>,
    device_display_name: &str,
    serial_number: &str,
    random_digit: &mut dyn FnMut() -> u8,
) -> NameDecision {
    if profile.is_some_and(|p| p.join_type == JoinType::Hybrid) {
        return NameDecision::DomainJoinPrefix;
    }
    if !device_display_name.is_empty() {
        return NameDecision::DeviceRecord(device_display_name.to_string());
    }
    let Some(profile) = profile.filter(|p| !p.device_name_template.is_empty()) else {
        return NameDecision::WindowsDefault;
    };
    match crate::naming::NameTemplate::parse(&profile.device_name_template) {
        Ok(template) => NameDecision::Template(template.render(serial_number, random_digit)),
        // Templates are validated on save; one that no longer parses leaves naming to Windows.
        Err(_) => NameDecision::WindowsDefault,
    }
}

/// The profile settings a plan carries: what the device needs of the profile that applies, copied so a plan
/// stands alone.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PlannedProfile {
    pub id: ProfileId,
    pub display_name: String,
    pub mode: DeploymentMode,
    pub join_type: JoinType,
    pub preprovisioning_allowed: bool,
    pub oobe: OobeSettings,
    pub hybrid_skip_connectivity_check: bool,
}

/// What a registered device receives at first boot, decided: its tenant, the profile that applies (if one
/// does), its computer name, the ESP, the user it is assigned to, and this delivery's identity. `ztd-api`
/// renders it for the wire (the OOBE bits and the profile cache file are renderings, not decisions).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ProvisioningPlan {
    pub tenant_id: TenantId,
    pub tenant_domain: String,
    pub ztdid: Ztdid,
    pub serial_number: String,
    pub profile: Option<PlannedProfile>,
    pub device_name: NameDecision,
    pub esp: Option<EspConfiguration>,
    pub assigned_user_principal_name: String,
    /// This delivery's id (`AutopilotServiceCorrelationId` in the device's profile cache).
    pub correlation_id: Uuid,
    pub delivered_at: Timestamp,
    /// The ticket that ties the device's directory join to this registration (minted by the app, which
    /// holds the key; empty until then).
    pub join_ticket: String,
}

/// What a plan is made from: the device's tenant and registration, the profile its targeting chose and the
/// ESP that won for its groups.
pub struct PlanInputs<'a> {
    pub tenant: &'a Tenant,
    pub device: &'a AutopilotDevice,
    pub profile: Option<&'a DeploymentProfile>,
    pub esp: Option<EspConfiguration>,
}

/// Assembles a device's plan. `random_digit` draws the digits of `%RAND:x%`; the caller supplies the
/// delivery's id and time (the domain reads no clock and draws nothing itself).
pub fn assemble_plan(
    inputs: PlanInputs<'_>,
    random_digit: &mut dyn FnMut() -> u8,
    correlation_id: Uuid,
    now: Timestamp,
) -> ProvisioningPlan {
    let PlanInputs {
        tenant,
        device,
        profile,
        esp,
    } = inputs;
    let device_name = decide_device_name(
        profile,
        &device.display_name,
        &device.serial_number,
        random_digit,
    );
    ProvisioningPlan {
        tenant_id: tenant.id,
        tenant_domain: tenant.domain.clone(),
        ztdid: device.ztdid,
        serial_number: device.serial_number.clone(),
        profile: profile.map(|p| PlannedProfile {
            id: p.id,
            display_name: p.display_name.clone(),
            mode: p.mode(),
            join_type: p.join_type,
            preprovisioning_allowed: p.preprovisioning_allowed,
            oobe: p.oobe,
            hybrid_skip_connectivity_check: p.join_type == JoinType::Hybrid
                && p.hybrid_skip_connectivity_check,
        }),
        device_name,
        esp,
        assigned_user_principal_name: device.user_principal_name.clone(),
        correlation_id,
        delivered_at: now,
        join_ticket: String::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn computer_name_rules() {
        assert!(validate_computer_name("KIOSK-01").is_ok());
        assert!(validate_computer_name("123456").is_err());
        assert!(validate_computer_name("ABCDEFGHIJKLMNOP").is_err());
        assert!(validate_computer_name("has space").is_err());
        assert!(validate_computer_name("").is_err());
    }
}
