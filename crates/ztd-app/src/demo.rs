//! Synthetic fleets: devices with valid generated 4K hashes, for `ztd serve --demo`, tests and benchmarks.

use ztd_core::profile::{
    AssignmentTarget, DeploymentProfile, DeviceType, DeviceUsageType, JoinType, OobeSettings,
    UserType,
};
use ztd_core::{GroupId, ProfileId, TenantId, Timestamp};
use ztd_hwhash::{DeviceDescription, HardwareHash};

use crate::{App, AppResult, ImportRow, NewGroup};

/// A valid base64 hash for a synthetic device. The same serial always gives the same hash.
pub fn synthetic_hash(serial: &str, manufacturer: &str, model: &str) -> String {
    let mut description = DeviceDescription {
        serial_number: serial.to_string(),
        manufacturer: manufacturer.to_string(),
        model: model.to_string(),
        ..Default::default()
    };
    description.fill_defaults(serial.as_bytes());
    HardwareHash::generate(&description).to_base64()
}

/// Import rows for `count` synthetic devices named `{prefix}{n:06}`, with group tags cycling through `tags`.
pub fn synthetic_rows(prefix: &str, count: usize, tags: &[&str]) -> Vec<ImportRow> {
    (0..count)
        .map(|n| {
            let serial = format!("{prefix}{n:06}");
            let model = if n % 3 == 0 {
                "Contoso Laptop 14"
            } else {
                "Contoso Desktop 7"
            };
            ImportRow {
                row: n as u64 + 1,
                hardware_hash: synthetic_hash(&serial, "Contoso", model),
                serial_number: serial,
                group_tag: if tags.is_empty() {
                    String::new()
                } else {
                    tags[n % tags.len()].to_string()
                },
                ..Default::default()
            }
        })
        .collect()
}

/// A profile draft with the service's defaults; `create_profile` fills ids and times.
pub fn profile_draft(
    display_name: &str,
    join_type: JoinType,
    usage: DeviceUsageType,
    template: &str,
) -> DeploymentProfile {
    DeploymentProfile {
        tenant_id: TenantId(uuid::Uuid::nil()),
        id: ProfileId(uuid::Uuid::nil()),
        display_name: display_name.to_string(),
        description: String::new(),
        device_type: DeviceType::WindowsPc,
        join_type,
        oobe: OobeSettings {
            device_usage_type: usage,
            user_type: UserType::Standard,
            ..OobeSettings::default()
        },
        locale: "os-default".into(),
        preprovisioning_allowed: false,
        hardware_hash_extraction_enabled: false,
        device_name_template: template.to_string(),
        hybrid_skip_connectivity_check: false,
        management_service_app_id: None,
        role_scope_tag_ids: vec!["0".into()],
        created_at: Timestamp(0),
        updated_at: Timestamp(0),
    }
}

impl App {
    /// Seeds a tenant with a small, explainable lab: 30 devices in three group tags, a dynamic group per
    /// tag, a user-driven profile, a kiosk self-deploying profile and a default profile for All Devices.
    pub async fn seed_demo(&self, tenant: TenantId) -> AppResult<()> {
        let tags = ["Sales", "Kiosk", "Lab"];
        let rows = synthetic_rows("DEMO-", 30, &tags);
        self.import_devices(tenant, &rows).await?;
        let mut groups: Vec<(String, GroupId)> = Vec::new();
        for tag in tags {
            let group = self
                .create_group(
                    tenant,
                    NewGroup {
                        display_name: format!("Autopilot {tag}"),
                        description: format!("Devices with group tag {tag}"),
                        membership_rule: Some(format!(
                            "(device.devicePhysicalIds -any (_ -eq \"[OrderId]:{tag}\"))"
                        )),
                    },
                )
                .await?;
            groups.push((tag.to_string(), group.id));
        }
        let user_driven = self
            .create_profile(
                tenant,
                profile_draft(
                    "User-driven Entra join",
                    JoinType::AzureAd,
                    DeviceUsageType::SingleUser,
                    "CTS-%SERIAL%",
                ),
            )
            .await?;
        let kiosk = self
            .create_profile(
                tenant,
                profile_draft(
                    "Kiosk self-deploying",
                    JoinType::AzureAd,
                    DeviceUsageType::Shared,
                    "KIOSK-%RAND:5%",
                ),
            )
            .await?;
        let default = self
            .create_profile(
                tenant,
                profile_draft(
                    "Default",
                    JoinType::AzureAd,
                    DeviceUsageType::SingleUser,
                    "",
                ),
            )
            .await?;
        for (tag, group) in &groups {
            let profile = if tag == "Kiosk" {
                kiosk.id
            } else {
                user_driven.id
            };
            if tag != "Lab" {
                self.assign_profile(tenant, profile, AssignmentTarget::Group(*group), None)
                    .await?;
            }
        }
        self.assign_profile(tenant, default.id, AssignmentTarget::AllDevices, None)
            .await?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn synthetic_hashes_decode_to_their_serial() {
        let hash = synthetic_hash("SN-42", "Contoso", "Laptop");
        let identity = HardwareHash::from_base64(&hash).unwrap().identity();
        assert_eq!(identity.serial_number.as_deref(), Some("SN-42"));
        assert_eq!(identity.manufacturer.as_deref(), Some("Contoso"));
        assert_eq!(hash, synthetic_hash("SN-42", "Contoso", "Laptop"));
    }
}
