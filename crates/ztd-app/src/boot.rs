//! The device side of the service: a device presents its hardware hash at first boot and receives its
//! provisioning plan; and the offline profile file for Autopilot for existing devices.

use std::collections::BTreeSet;

use rand::Rng;
use serde::Serialize;
use ztd_core::device::{AutopilotDevice, RemediationState};
use ztd_core::esp::{resolve_esp, EspConfiguration};
use ztd_core::profile::{DeploymentMode, DeploymentProfile, DeviceUsageType, JoinType, UserType};
use ztd_core::provisioning::{decide_device_name, NameDecision};
use ztd_core::registration::{classify_match, identity_key, IdentityMatch};
use ztd_core::tenant::Tenant;
use ztd_core::{GroupId, ProfileId, TenantId, Ztdid};
use ztd_formats::config_file::AutopilotConfigurationFile;
use ztd_formats::device_profile::DeviceProfileFile;
use ztd_formats::oobe::{cloud_assigned_oobe_config, OobeSettings};
use ztd_hwhash::HardwareHash;

use crate::{App, AppError, AppResult};

/// The `CloudAssignedOobeConfig` of a profile.
pub fn oobe_config(profile: &DeploymentProfile) -> u32 {
    cloud_assigned_oobe_config(&OobeSettings {
        user_type_standard: profile.oobe.user_type == UserType::Standard,
        privacy_settings_hidden: profile.oobe.privacy_settings_hidden,
        eula_hidden: profile.oobe.eula_hidden,
        keyboard_selection_page_skipped: profile.oobe.keyboard_selection_page_skipped,
        shared_device: profile.oobe.device_usage_type == DeviceUsageType::Shared,
    })
}

fn language(profile: &DeploymentProfile) -> Option<String> {
    (profile.oobe.keyboard_selection_page_skipped
        && !profile.locale.is_empty()
        && profile.locale != "os-default")
        .then(|| profile.locale.clone())
}

/// `AutopilotConfigurationFile.json` for a profile, as `ConvertTo-AutopilotConfigurationJSON` writes it.
pub fn configuration_file(
    profile: &DeploymentProfile,
    tenant: &Tenant,
) -> AutopilotConfigurationFile {
    let mut file = AutopilotConfigurationFile::new(
        &profile.display_name,
        &profile.id.to_string(),
        &tenant.id.to_string(),
        &tenant.domain,
    );
    file.domain_join_method = u32::from(profile.join_type == JoinType::Hybrid);
    file.device_name =
        (!profile.device_name_template.is_empty()).then(|| profile.device_name_template.clone());
    file.language = language(profile);
    // The community module (and the scripts derived from it) also write the region; Windows reads either.
    file.region = file.language.clone();
    file.oobe_config = oobe_config(profile);
    file.forced_enrollment = profile.oobe.escape_link_hidden;
    file.hybrid_skip_dc_check =
        profile.join_type == JoinType::Hybrid && profile.hybrid_skip_connectivity_check;
    file.refresh_aad_server_data();
    file
}

/// What a registered device receives at first boot.
#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ProvisioningPlan {
    pub tenant_id: TenantId,
    pub tenant_domain: String,
    pub ztdid: Ztdid,
    pub serial_number: String,
    pub profile_id: Option<ProfileId>,
    pub profile_name: Option<String>,
    /// `userDriven` or `selfDeploying`, with `preprovisioningAllowed` for the technician flow.
    pub deployment_mode: Option<DeploymentMode>,
    pub join_type: Option<String>,
    pub preprovisioning_allowed: bool,
    pub device_name: NameDecision,
    pub oobe_config: u32,
    /// The profile as the device caches it (`AutopilotDDSZTDFile.json`), when a profile applies.
    pub device_profile: Option<DeviceProfileFile>,
    pub esp: Option<EspConfiguration>,
    pub assigned_user_principal_name: String,
}

/// The answer to a device at first boot.
#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase", tag = "status")]
pub enum BootOutcome {
    /// The device is registered; here is its plan.
    Registered(Box<ProvisioningPlan>),
    /// No registration matches: the device continues normal Windows setup (event 807).
    NotRegistered { reason: String },
}

impl App {
    /// A device presents its hardware hash. A registered device gets its plan and the contact is recorded; an
    /// unregistered one is told to continue normal setup.
    pub async fn device_boot(&self, hardware_hash: &str) -> AppResult<BootOutcome> {
        let hash = HardwareHash::from_base64(hardware_hash).map_err(|err| {
            AppError::invalid(
                "hardwareHash",
                format!("the hardware hash is not valid: {err}"),
            )
        })?;
        let identity = hash.identity();
        let (Some(manufacturer), Some(serial)) = (
            identity.manufacturer.clone(),
            identity.serial_number.clone(),
        ) else {
            return Err(AppError::invalid(
                "hardwareHash",
                "the hardware hash carries no manufacturer or serial number",
            ));
        };
        let key = identity_key(&manufacturer, &serial);
        let presented = ztd_core::device::HardwareKeys {
            identity_key: key.clone(),
            smbios_uuid: identity.smbios_uuid.clone(),
            tpm_ek_pub_hash: identity.tpm_ek_pub_hash.clone(),
            disk_serial: identity.disk_serial.clone(),
            mac_addresses: identity.mac_addresses.clone(),
        };
        let now = self.now();
        let mut tx = self.store.begin().await?;
        let Some(mut device) = tx
            .find_devices_by_identity_keys(&[key])
            .await?
            .into_iter()
            .next()
        else {
            return Ok(BootOutcome::NotRegistered {
                reason: format!("no Autopilot registration matches {manufacturer} {serial}; continue normal setup"),
            });
        };
        let tenant_id = device.tenant_id;
        if classify_match(&device.keys, &presented) == IdentityMatch::MotherboardReplaced {
            // The hardware no longer matches its registration: flag it for the admin ("Attention required").
            if device.remediation_state != RemediationState::ManualRemediationRequired {
                device.remediation_state = RemediationState::ManualRemediationRequired;
                device.updated_at = now;
                tx.update_device(&device).await?;
                tx.append_events(&[self.event(
                    tenant_id,
                    "device.hardware_changed",
                    device.ztdid,
                    serde_json::json!({}),
                )])
                .await?;
                tx.commit().await?;
            }
            return Ok(BootOutcome::NotRegistered {
                reason: format!(
                    "{serial} is registered with a different motherboard; the administrator must delete the registration and import the new hash"
                ),
            });
        }
        let tenant = tx
            .get_tenant(tenant_id)
            .await?
            .ok_or_else(|| AppError::not_found("tenant", tenant_id))?;
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
        let plan = self.plan(&tenant, &device, profile.as_ref(), esp, now);

        device.last_contacted_at = Some(now);
        device.assignment = device.assignment.delivered();
        device.updated_at = now;
        tx.update_device(&device).await?;
        let event = self.event(
            tenant_id,
            "device.contacted",
            device.ztdid,
            serde_json::json!({ "profileId": plan.profile_id, "deviceName": plan.device_name.name() }),
        );
        tx.append_events(&[event]).await?;
        tx.commit().await?;
        Ok(BootOutcome::Registered(Box::new(plan)))
    }

    fn plan(
        &self,
        tenant: &Tenant,
        device: &AutopilotDevice,
        profile: Option<&DeploymentProfile>,
        esp: Option<EspConfiguration>,
        now: ztd_core::Timestamp,
    ) -> ProvisioningPlan {
        let mut rng = rand::thread_rng();
        let mut digit = || rng.gen_range(0..10u8);
        let device_name = decide_device_name(
            profile,
            &device.display_name,
            &device.serial_number,
            &mut digit,
        );
        let oobe = profile.map(oobe_config).unwrap_or(0);
        let device_profile = profile.map(|p| DeviceProfileFile {
            autopilot_service_correlation_id: self.next_uuid().to_string(),
            ztd_registration_id: device.ztdid.to_string(),
            aad_device_id: None,
            cloud_assigned_oobe_config: oobe,
            cloud_assigned_domain_join_method: u32::from(p.join_type == JoinType::Hybrid),
            cloud_assigned_forced_enrollment: u32::from(p.oobe.escape_link_hidden),
            cloud_assigned_tenant_domain: tenant.domain.clone(),
            cloud_assigned_tenant_id: tenant.id.to_string(),
            cloud_assigned_mdm_id: String::new(),
            cloud_assigned_device_name: device_name.name().map(str::to_string),
            deployment_profile_name: p.display_name.clone(),
            is_explicit_profile_assignment: true,
            cloud_assigned_autopilot_update_disabled: 1,
            cloud_assigned_privacy_diagnostics: u32::from(!p.oobe.privacy_settings_hidden),
            hybrid_join_skip_dc_connectivity_check: u32::from(
                p.join_type == JoinType::Hybrid && p.hybrid_skip_connectivity_check,
            ),
            cloud_assigned_autopilot_update_timeout: 1_800_000,
            policy_download_date: Some(now.to_rfc3339_seconds()),
            extra: Default::default(),
        });
        ProvisioningPlan {
            tenant_id: tenant.id,
            tenant_domain: tenant.domain.clone(),
            ztdid: device.ztdid,
            serial_number: device.serial_number.clone(),
            profile_id: profile.map(|p| p.id),
            profile_name: profile.map(|p| p.display_name.clone()),
            deployment_mode: profile.map(DeploymentProfile::mode),
            join_type: profile.map(|p| match p.join_type {
                JoinType::AzureAd => "azureADJoined".to_string(),
                JoinType::Hybrid => "hybridAzureADJoined".to_string(),
            }),
            preprovisioning_allowed: profile.is_some_and(|p| p.preprovisioning_allowed),
            device_name,
            oobe_config: oobe,
            device_profile,
            esp,
            assigned_user_principal_name: device.user_principal_name.clone(),
        }
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
            .ok_or_else(|| AppError::not_found("tenant", tenant))?;
        let profile = tx
            .get_profile(tenant.id, profile_id)
            .await?
            .ok_or_else(|| AppError::not_found("windowsAutopilotDeploymentProfile", profile_id))?;
        Ok(configuration_file(&profile, &tenant).to_file_bytes())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ztd_core::profile::{DeviceType, OobeSettings};
    use ztd_core::{ProfileId, TenantId, Timestamp};

    fn tenant() -> Tenant {
        Tenant {
            id: TenantId::parse("11111111-2222-3333-4444-555555555555").unwrap(),
            display_name: "Contoso".into(),
            domain: "contoso.onmicrosoft.com".into(),
            created_at: Timestamp(0),
        }
    }

    fn profile(
        id: &str,
        name: &str,
        join_type: JoinType,
        oobe: OobeSettings,
        locale: &str,
        template: &str,
    ) -> DeploymentProfile {
        DeploymentProfile {
            tenant_id: tenant().id,
            id: ProfileId::parse(id).unwrap(),
            display_name: name.into(),
            description: String::new(),
            device_type: DeviceType::WindowsPc,
            join_type,
            oobe,
            locale: locale.into(),
            preprovisioning_allowed: false,
            hardware_hash_extraction_enabled: false,
            device_name_template: template.into(),
            hybrid_skip_connectivity_check: join_type == JoinType::Hybrid,
            management_service_app_id: None,
            role_scope_tag_ids: vec!["0".into()],
            created_at: Timestamp(0),
            updated_at: Timestamp(0),
        }
    }

    #[test]
    fn export_of_a_user_driven_profile_is_byte_identical_to_the_module_output() {
        let oobe = OobeSettings {
            device_usage_type: DeviceUsageType::SingleUser,
            user_type: UserType::Standard,
            privacy_settings_hidden: true,
            eula_hidden: true,
            keyboard_selection_page_skipped: true,
            escape_link_hidden: true,
        };
        let p = profile(
            "aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee",
            "Contoso user-driven",
            JoinType::AzureAd,
            oobe,
            "en-US",
            "CTSO-%SERIAL%",
        );
        let expected = include_bytes!("../../ztd-formats/tests/data/AutopilotConfigurationFile.synthetic-userdriven-aadj.json");
        assert_eq!(
            String::from_utf8_lossy(&configuration_file(&p, &tenant()).to_file_bytes()),
            String::from_utf8_lossy(expected)
        );
        assert_eq!(oobe_config(&p), 1310);
    }

    #[test]
    fn export_of_a_hybrid_profile_is_byte_identical_to_the_module_output() {
        let oobe = OobeSettings {
            device_usage_type: DeviceUsageType::SingleUser,
            user_type: UserType::Administrator,
            privacy_settings_hidden: false,
            eula_hidden: false,
            keyboard_selection_page_skipped: false,
            escape_link_hidden: false,
        };
        let p = profile(
            "ffffffff-0000-1111-2222-333333333333",
            "Contoso hybrid",
            JoinType::Hybrid,
            oobe,
            "os-default",
            "",
        );
        let expected = include_bytes!(
            "../../ztd-formats/tests/data/AutopilotConfigurationFile.synthetic-hybrid.json"
        );
        assert_eq!(
            String::from_utf8_lossy(&configuration_file(&p, &tenant()).to_file_bytes()),
            String::from_utf8_lossy(expected)
        );
        assert_eq!(oobe_config(&p), 264);
    }
}
