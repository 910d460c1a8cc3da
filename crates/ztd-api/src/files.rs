//! Files rendered from domain values: what a profile or a plan looks like to Windows and to the PowerShell
//! tools. Renderings only; every choice in them was made by the domain.

use ztd_core::profile::{DeploymentProfile, DeviceUsageType, JoinType, OobeSettings, UserType};
use ztd_core::provisioning::ProvisioningPlan;
use ztd_core::tenant::Tenant;
use ztd_formats::config_file::AutopilotConfigurationFile;
use ztd_formats::device_profile::DeviceProfileFile;
use ztd_formats::oobe::{cloud_assigned_oobe_config, OobeSettings as OobeBits};

/// How long Windows waits for Autopilot's own update before going on (ms), as the service sends it.
const AUTOPILOT_UPDATE_TIMEOUT_MS: u32 = 1_800_000;

/// The `CloudAssignedOobeConfig` bitmask of a profile's OOBE settings.
pub fn oobe_config(oobe: &OobeSettings) -> u32 {
    cloud_assigned_oobe_config(&OobeBits {
        user_type_standard: oobe.user_type == UserType::Standard,
        privacy_settings_hidden: oobe.privacy_settings_hidden,
        eula_hidden: oobe.eula_hidden,
        keyboard_selection_page_skipped: oobe.keyboard_selection_page_skipped,
        shared_device: oobe.device_usage_type == DeviceUsageType::Shared,
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
    file.oobe_config = oobe_config(&profile.oobe);
    file.forced_enrollment = profile.oobe.escape_link_hidden;
    file.hybrid_skip_dc_check =
        profile.join_type == JoinType::Hybrid && profile.hybrid_skip_connectivity_check;
    file.refresh_aad_server_data();
    file
}

/// The profile as the device caches it (`AutopilotDDSZTDFile.json`), when a profile applies.
pub fn device_profile_file(plan: &ProvisioningPlan) -> Option<DeviceProfileFile> {
    let profile = plan.profile.as_ref()?;
    Some(DeviceProfileFile {
        autopilot_service_correlation_id: plan.correlation_id.to_string(),
        ztd_registration_id: plan.ztdid.to_string(),
        aad_device_id: None,
        cloud_assigned_oobe_config: oobe_config(&profile.oobe),
        cloud_assigned_domain_join_method: u32::from(profile.join_type == JoinType::Hybrid),
        cloud_assigned_forced_enrollment: u32::from(profile.oobe.escape_link_hidden),
        cloud_assigned_tenant_domain: plan.tenant_domain.clone(),
        cloud_assigned_tenant_id: plan.tenant_id.to_string(),
        cloud_assigned_mdm_id: String::new(),
        cloud_assigned_device_name: plan.device_name.name().map(str::to_string),
        deployment_profile_name: profile.display_name.clone(),
        is_explicit_profile_assignment: true,
        cloud_assigned_autopilot_update_disabled: 1,
        cloud_assigned_privacy_diagnostics: u32::from(!profile.oobe.privacy_settings_hidden),
        hybrid_join_skip_dc_connectivity_check: u32::from(profile.hybrid_skip_connectivity_check),
        cloud_assigned_autopilot_update_timeout: AUTOPILOT_UPDATE_TIMEOUT_MS,
        policy_download_date: Some(plan.delivered_at.to_rfc3339_seconds()),
        extra: Default::default(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use ztd_core::profile::DeviceType;
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
        assert_eq!(oobe_config(&p.oobe), 1310);
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
        assert_eq!(oobe_config(&p.oobe), 264);
    }
}
