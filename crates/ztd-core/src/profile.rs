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
    /// The assignment filter it carries (Graph beta). Stored so a backup round-trips; Intune does not
    /// evaluate filters on Autopilot deployment profile assignments and neither does ztd (docs/graph-api.md).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub filter: Option<crate::scope::FilterRef>,
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

/// The longest `displayName` the service accepts (spec §2.1).
pub const MAX_PROFILE_DISPLAY_NAME_LEN: usize = 200;
/// The longest `description` the service accepts (spec §2.1).
pub const MAX_PROFILE_DESCRIPTION_LEN: usize = 1500;
/// The `locale` value for "Operating system default".
pub const LOCALE_OS_DEFAULT: &str = "os-default";

/// Whether `locale` has the shape of a culture name: `ll`/`lll`, then an optional 4-letter script, then an
/// optional region of 2 letters or 3 digits (`en`, `en-US`, `sr-Latn-RS`, `es-419`). ASCII, case-insensitive
/// (culture names are). Structural only: ztd holds no list of the cultures Windows ships. `[I]`
pub fn is_culture_name(locale: &str) -> bool {
    let mut subtags = locale.split('-');
    let language_ok = subtags
        .next()
        .is_some_and(|s| (2..=3).contains(&s.len()) && s.chars().all(|c| c.is_ascii_alphabetic()));
    if !language_ok {
        return false;
    }
    let rest: Vec<&str> = subtags.collect();
    let is_script = |s: &str| s.len() == 4 && s.chars().all(|c| c.is_ascii_alphabetic());
    let is_region = |s: &str| {
        (s.len() == 2 && s.chars().all(|c| c.is_ascii_alphabetic()))
            || (s.len() == 3 && s.chars().all(|c| c.is_ascii_digit()))
    };
    match rest.as_slice() {
        [] => true,
        [one] => is_script(one) || is_region(one),
        [script, region] => is_script(script) && is_region(region),
        _ => false,
    }
}

impl DeploymentProfile {
    /// Whether the profile names a language for OOBE (`os-default` or a culture). An empty `locale` (Graph's
    /// `null`) means none: OOBE shows the language page.
    pub fn has_language(&self) -> bool {
        !self.locale.is_empty()
    }

    /// Forces the values the service fixes, so a lenient writer (the Graph layer) can accept what real
    /// clients send and store what the device will actually do. Call before [`validate`](Self::validate).
    ///
    /// Forced, not refused (the Intune UI shows these settings fixed, and `WindowsAutopilotIntune`'s
    /// `New-AutopilotProfile -mode SelfDeployingAAD` sends whatever its switches say, so refusing would
    /// break a real client):
    /// - self-deploying (Entra join + `shared`): `eulaHidden`, `privacySettingsHidden` and
    ///   `escapeLinkHidden` become `true`, `userType` becomes `standard`, `preprovisioningAllowed` becomes
    ///   `false` (spec §2.1: fixed Hide/Standard; pre-provisioning is a user-driven flag, §3.4);
    /// - `keyboardSelectionPageSkipped` becomes `false` when no language is set (spec §2.1: "only with a
    ///   language set"; with no language the page shows anyway, so the flag is ignored, as the UI does).
    ///
    /// Everything else is left alone and refused by `validate`, because changing it silently would change
    /// what the admin asked for (a name template they expect to see, a join type, a locale).
    pub fn normalize(&mut self) {
        if self.mode() == DeploymentMode::SelfDeploying {
            self.oobe.eula_hidden = true;
            self.oobe.privacy_settings_hidden = true;
            self.oobe.escape_link_hidden = true;
            self.oobe.user_type = UserType::Standard;
            self.preprovisioning_allowed = false;
        }
        if !self.has_language() {
            self.oobe.keyboard_selection_page_skipped = false;
        }
    }

    /// Checks every rule of spec §2.1 and §2.2; returns all broken rules, each naming the Graph property.
    ///
    /// This is the invariant of a stored profile: a profile that passes is one the service would keep as
    /// is. Rules that [`normalize`](Self::normalize) fixes are still reported here, so a caller that skips
    /// `normalize` cannot store a contradictory profile.
    ///
    /// Decisions where the spec is silent (`[I]`):
    /// - lengths count Unicode scalar values (what a UI counts), not bytes;
    /// - a blank `displayName` (only whitespace) counts as missing;
    /// - hybrid + `shared` is refused, not forced: there is no hybrid self-deploying mode, and guessing
    ///   which of the two the admin meant is unsafe;
    /// - `deviceType` is not cross-checked with the mode (self-deploying on a VM is a device-side failure,
    ///   0x800705B4, not a save-time error in the service).
    pub fn validate(&self) -> Result<(), Vec<crate::DomainError>> {
        use crate::DomainError;
        let mut errors = Vec::new();

        if self.display_name.trim().is_empty() {
            errors.push(DomainError::invalid(
                "displayName",
                "a profile needs a name",
            ));
        } else if self.display_name.chars().count() > MAX_PROFILE_DISPLAY_NAME_LEN {
            errors.push(DomainError::invalid(
                "displayName",
                format!(
                    "the name is {} characters long; the most is {MAX_PROFILE_DISPLAY_NAME_LEN}",
                    self.display_name.chars().count()
                ),
            ));
        }
        if self.description.chars().count() > MAX_PROFILE_DESCRIPTION_LEN {
            errors.push(DomainError::invalid(
                "description",
                format!(
                    "the description is {} characters long; the most is {MAX_PROFILE_DESCRIPTION_LEN}",
                    self.description.chars().count()
                ),
            ));
        }

        match self.join_type {
            JoinType::AzureAd => {
                if !self.device_name_template.is_empty() {
                    if let Err(err) = crate::naming::NameTemplate::parse(&self.device_name_template)
                    {
                        errors.push(err);
                    }
                }
                if self.hybrid_skip_connectivity_check {
                    errors.push(DomainError::invalid(
                        "hybridAzureADJoinSkipConnectivityCheck",
                        "skipping the domain controller connectivity check applies only to \
                         Microsoft Entra hybrid join profiles",
                    ));
                }
            }
            JoinType::Hybrid => {
                if !self.device_name_template.is_empty() {
                    errors.push(DomainError::invalid(
                        "deviceNameTemplate",
                        "hybrid join names devices from the Domain Join profile's computer name prefix; \
                         a device name template applies only to Microsoft Entra join profiles",
                    ));
                }
                if self.oobe.device_usage_type == DeviceUsageType::Shared {
                    errors.push(DomainError::invalid(
                        "outOfBoxExperienceSetting.deviceUsageType",
                        "self-deploying (shared) mode requires Microsoft Entra join; hybrid join is \
                         user-driven only",
                    ));
                }
            }
        }

        if self.mode() == DeploymentMode::SelfDeploying {
            let fixed = [
                (
                    !self.oobe.eula_hidden,
                    "outOfBoxExperienceSetting.eulaHidden",
                    "self-deploying mode always hides the license terms (must be true)",
                ),
                (
                    !self.oobe.privacy_settings_hidden,
                    "outOfBoxExperienceSetting.privacySettingsHidden",
                    "self-deploying mode always hides the privacy settings (must be true)",
                ),
                (
                    !self.oobe.escape_link_hidden,
                    "outOfBoxExperienceSetting.escapeLinkHidden",
                    "self-deploying mode always hides the change-account options (must be true)",
                ),
                (
                    self.oobe.user_type != UserType::Standard,
                    "outOfBoxExperienceSetting.userType",
                    "self-deploying mode has no user to make administrator (must be standard)",
                ),
                (
                    self.preprovisioning_allowed,
                    "preprovisioningAllowed",
                    "pre-provisioning is available only for user-driven profiles, not self-deploying",
                ),
            ];
            for (broken, field, message) in fixed {
                if broken {
                    errors.push(DomainError::invalid(field, message));
                }
            }
        }

        if self.has_language() && self.locale != LOCALE_OS_DEFAULT && !is_culture_name(&self.locale)
        {
            errors.push(DomainError::invalid(
                "locale",
                format!(
                    "\"{}\" is neither \"os-default\" nor a culture name such as en-US or sr-Latn-RS",
                    self.locale
                ),
            ));
        }
        if self.oobe.keyboard_selection_page_skipped && !self.has_language() {
            errors.push(DomainError::invalid(
                "outOfBoxExperienceSetting.keyboardSelectionPageSkipped",
                "the keyboard can be configured automatically only when a language (locale) is set",
            ));
        }

        if errors.is_empty() {
            Ok(())
        } else {
            Err(errors)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::DomainError;
    use uuid::Uuid;

    fn user_driven() -> DeploymentProfile {
        DeploymentProfile {
            tenant_id: TenantId(Uuid::from_u128(1)),
            id: ProfileId(Uuid::from_u128(2)),
            display_name: "Corp user-driven".into(),
            description: String::new(),
            device_type: DeviceType::WindowsPc,
            join_type: JoinType::AzureAd,
            oobe: OobeSettings::default(),
            locale: LOCALE_OS_DEFAULT.into(),
            preprovisioning_allowed: true,
            hardware_hash_extraction_enabled: false,
            device_name_template: "CORP-%SERIAL%".into(),
            hybrid_skip_connectivity_check: false,
            management_service_app_id: None,
            role_scope_tag_ids: vec!["0".into()],
            created_at: Timestamp(1_700_000_000_000),
            updated_at: Timestamp(1_700_000_000_000),
        }
    }

    fn self_deploying() -> DeploymentProfile {
        let mut profile = user_driven();
        profile.oobe.device_usage_type = DeviceUsageType::Shared;
        profile.preprovisioning_allowed = false;
        profile
    }

    fn hybrid() -> DeploymentProfile {
        let mut profile = user_driven();
        profile.join_type = JoinType::Hybrid;
        profile.device_name_template = String::new();
        profile.hybrid_skip_connectivity_check = true;
        profile
    }

    fn fields(profile: &DeploymentProfile) -> Vec<String> {
        match profile.validate() {
            Ok(()) => Vec::new(),
            Err(errors) => errors
                .into_iter()
                .map(|e| match e {
                    DomainError::InvalidField { field, .. } => field,
                    other => other.to_string(),
                })
                .collect(),
        }
    }

    #[test]
    fn valid_profiles_of_every_mode_pass() {
        assert_eq!(fields(&user_driven()), Vec::<String>::new());
        assert_eq!(fields(&self_deploying()), Vec::<String>::new());
        assert_eq!(fields(&hybrid()), Vec::<String>::new());
    }

    #[test]
    fn each_broken_rule_names_its_graph_property() {
        type Edit = fn(&mut DeploymentProfile);
        type Base = fn() -> DeploymentProfile;
        let cases: &[(&str, Base, Edit, &str)] = &[
            (
                "blank name",
                user_driven,
                |p| p.display_name = "  ".into(),
                "displayName",
            ),
            (
                "name over 200",
                user_driven,
                |p| p.display_name = "x".repeat(201),
                "displayName",
            ),
            (
                "description over 1500",
                user_driven,
                |p| p.description = "x".repeat(1501),
                "description",
            ),
            (
                "bad template",
                user_driven,
                |p| p.device_name_template = "MY PC".into(),
                "deviceNameTemplate",
            ),
            (
                "lower-case serial",
                user_driven,
                |p| p.device_name_template = "PC-%serial%".into(),
                "deviceNameTemplate",
            ),
            (
                "skip check on Entra",
                user_driven,
                |p| p.hybrid_skip_connectivity_check = true,
                "hybridAzureADJoinSkipConnectivityCheck",
            ),
            (
                "template on hybrid",
                hybrid,
                |p| p.device_name_template = "CORP-%SERIAL%".into(),
                "deviceNameTemplate",
            ),
            (
                "shared on hybrid",
                hybrid,
                |p| p.oobe.device_usage_type = DeviceUsageType::Shared,
                "outOfBoxExperienceSetting.deviceUsageType",
            ),
            (
                "self-deploying EULA shown",
                self_deploying,
                |p| p.oobe.eula_hidden = false,
                "outOfBoxExperienceSetting.eulaHidden",
            ),
            (
                "self-deploying privacy shown",
                self_deploying,
                |p| p.oobe.privacy_settings_hidden = false,
                "outOfBoxExperienceSetting.privacySettingsHidden",
            ),
            (
                "self-deploying escape link shown",
                self_deploying,
                |p| p.oobe.escape_link_hidden = false,
                "outOfBoxExperienceSetting.escapeLinkHidden",
            ),
            (
                "self-deploying admin",
                self_deploying,
                |p| p.oobe.user_type = UserType::Administrator,
                "outOfBoxExperienceSetting.userType",
            ),
            (
                "self-deploying pre-provisioning",
                self_deploying,
                |p| p.preprovisioning_allowed = true,
                "preprovisioningAllowed",
            ),
            (
                "keyboard without language",
                user_driven,
                |p| {
                    p.locale.clear();
                    p.oobe.keyboard_selection_page_skipped = true;
                },
                "outOfBoxExperienceSetting.keyboardSelectionPageSkipped",
            ),
            (
                "locale not a culture",
                user_driven,
                |p| p.locale = "English".into(),
                "locale",
            ),
            (
                "locale with underscore",
                user_driven,
                |p| p.locale = "en_US".into(),
                "locale",
            ),
        ];
        for (what, base, edit, field) in cases {
            let mut profile = base();
            edit(&mut profile);
            assert_eq!(fields(&profile), vec![field.to_string()], "{what}");
        }
    }

    #[test]
    fn all_broken_rules_are_reported_together() {
        let mut profile = self_deploying();
        profile.display_name.clear();
        profile.oobe.eula_hidden = false;
        profile.oobe.user_type = UserType::Administrator;
        profile.locale = "??".into();
        assert_eq!(
            fields(&profile),
            vec![
                "displayName",
                "outOfBoxExperienceSetting.eulaHidden",
                "outOfBoxExperienceSetting.userType",
                "locale"
            ]
        );
    }

    #[test]
    fn pre_provisioning_is_allowed_for_user_driven_entra_and_hybrid() {
        assert!(user_driven().validate().is_ok());
        let mut profile = hybrid();
        profile.preprovisioning_allowed = true;
        assert!(profile.validate().is_ok());
    }

    #[test]
    fn normalize_forces_the_self_deploying_fixed_values() {
        let mut profile = self_deploying();
        profile.oobe.eula_hidden = false;
        profile.oobe.privacy_settings_hidden = false;
        profile.oobe.escape_link_hidden = false;
        profile.oobe.user_type = UserType::Administrator;
        profile.preprovisioning_allowed = true;
        profile.normalize();
        assert!(profile.validate().is_ok());
        assert!(profile.oobe.eula_hidden && profile.oobe.privacy_settings_hidden);
        assert!(profile.oobe.escape_link_hidden && !profile.preprovisioning_allowed);
        assert_eq!(profile.oobe.user_type, UserType::Standard);
    }

    #[test]
    fn normalize_leaves_user_driven_choices_alone() {
        let mut profile = user_driven();
        profile.oobe.eula_hidden = false;
        profile.oobe.user_type = UserType::Administrator;
        let before = profile.clone();
        profile.normalize();
        assert_eq!(profile, before);
    }

    #[test]
    fn keyboard_skip_is_ignored_without_a_language() {
        let mut profile = user_driven();
        profile.locale.clear();
        profile.oobe.keyboard_selection_page_skipped = true;
        profile.normalize();
        assert!(!profile.oobe.keyboard_selection_page_skipped);
        assert!(profile.validate().is_ok());
        let mut with_default = user_driven();
        with_default.oobe.keyboard_selection_page_skipped = true;
        assert!(with_default.validate().is_ok(), "os-default is a language");
    }

    #[test]
    fn normalize_does_not_hide_refused_settings() {
        let mut profile = hybrid();
        profile.device_name_template = "CORP-%SERIAL%".into();
        profile.normalize();
        assert_eq!(fields(&profile), vec!["deviceNameTemplate"]);
    }

    #[test]
    fn culture_names_are_checked_by_shape() {
        for good in [
            "en",
            "en-US",
            "fr-FR",
            "haw-US",
            "sr-Latn-RS",
            "zh-Hans",
            "es-419",
            "EN-us",
        ] {
            assert!(is_culture_name(good), "{good}");
        }
        for bad in [
            "",
            "e",
            "english",
            "en-",
            "en_US",
            "en-USA1",
            "en-US-x",
            "12-US",
            "sr-Latn-RS-1",
            "en US",
        ] {
            assert!(!is_culture_name(bad), "{bad}");
        }
    }

    #[test]
    fn display_name_limit_counts_characters_not_bytes() {
        let mut profile = user_driven();
        profile.display_name = "é".repeat(200);
        assert!(profile.validate().is_ok());
    }
}
