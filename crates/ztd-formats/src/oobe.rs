//! `CloudAssignedOobeConfig`: the OOBE bitmask carried by both the offline
//! `AutopilotConfigurationFile.json` and the device-side cached profile.
//!
//! Computation as in `ConvertTo-AutopilotConfigurationJSON` (research notes §2.3):
//! start at `8 + 256 = 264`; `+2` for a standard user, `+4` when privacy settings are
//! hidden, `+16` when the EULA is hidden, `+1024` when the keyboard selection page is
//! skipped, `+32 + 64` for shared (self-deploying) devices.

/// The deployment-profile settings that feed `CloudAssignedOobeConfig`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub struct OobeSettings {
    /// `userType == "standard"` → bit 2 (`OobeUserNotLocalAdmin`).
    pub user_type_standard: bool,
    /// `hidePrivacySettings` → bit 4 (`SkipExpressSettings`).
    pub privacy_settings_hidden: bool,
    /// `hideEULA` → bit 16 (`SkipEula`).
    pub eula_hidden: bool,
    /// `skipKeyboardSelectionPage` → bit 1024.
    pub keyboard_selection_page_skipped: bool,
    /// `deviceUsageType == "shared"` (self-deploying) → bits 32 + 64.
    pub shared_device: bool,
}

/// Bit 1: skip Cortana opt-in.
pub const SKIP_CORTANA_OPT_IN: u32 = 1;
/// Bit 2: the user is not a local administrator (standard user).
pub const OOBE_USER_NOT_LOCAL_ADMIN: u32 = 2;
/// Bit 4: skip express (privacy) settings.
pub const SKIP_EXPRESS_SETTINGS: u32 = 4;
/// Bit 8: skip OEM registration.
pub const SKIP_OEM_REGISTRATION: u32 = 8;
/// Bit 16: skip the EULA page.
pub const SKIP_EULA: u32 = 16;
/// Bit 32: TPM attestation (self-deploying).
pub const TPM_ATTESTATION: u32 = 32;
/// Bit 64: Entra (AAD) device authentication (self-deploying / device token).
pub const AAD_DEVICE_AUTH: u32 = 64;
/// Bit 128: Entra (AAD) TPM required.
pub const AAD_TPM_REQUIRED: u32 = 128;
/// Bit 256: skip the Windows upgrade UX.
pub const SKIP_WINDOWS_UPGRADE_UX: u32 = 256;
/// Bit 512: enable patch download.
pub const ENABLE_PATCH_DOWNLOAD: u32 = 512;
/// Bit 1024: skip keyboard selection.
pub const SKIP_KEYBOARD_SELECTION: u32 = 1024;

/// Every known bit with its name, lowest first.
pub const OOBE_BITS: [(u32, &str); 11] = [
    (SKIP_CORTANA_OPT_IN, "SkipCortanaOptIn"),
    (OOBE_USER_NOT_LOCAL_ADMIN, "OobeUserNotLocalAdmin"),
    (SKIP_EXPRESS_SETTINGS, "SkipExpressSettings"),
    (SKIP_OEM_REGISTRATION, "SkipOemRegistration"),
    (SKIP_EULA, "SkipEula"),
    (TPM_ATTESTATION, "TpmAttestation"),
    (AAD_DEVICE_AUTH, "AadDeviceAuth"),
    (AAD_TPM_REQUIRED, "AadTpmRequired"),
    (SKIP_WINDOWS_UPGRADE_UX, "SkipWindowsUpgradeUx"),
    (ENABLE_PATCH_DOWNLOAD, "EnablePatchDownload"),
    (SKIP_KEYBOARD_SELECTION, "SkipKeyboardSelection"),
];

/// Name returned by [`describe_oobe_config`] (once) when bits above 1024 are set.
pub const UNKNOWN_BITS: &str = "Unknown";

/// Computes `CloudAssignedOobeConfig` exactly as the WindowsAutopilotIntune module does.
pub fn cloud_assigned_oobe_config(settings: &OobeSettings) -> u32 {
    let mut value = SKIP_OEM_REGISTRATION | SKIP_WINDOWS_UPGRADE_UX;
    if settings.user_type_standard {
        value |= OOBE_USER_NOT_LOCAL_ADMIN;
    }
    if settings.privacy_settings_hidden {
        value |= SKIP_EXPRESS_SETTINGS;
    }
    if settings.eula_hidden {
        value |= SKIP_EULA;
    }
    if settings.keyboard_selection_page_skipped {
        value |= SKIP_KEYBOARD_SELECTION;
    }
    if settings.shared_device {
        value |= TPM_ATTESTATION | AAD_DEVICE_AUTH;
    }
    value
}

/// Reads the settings back from a bitmask. Shared device is reported only when both
/// bits 32 and 64 are set (the module always sets them together).
pub fn oobe_settings_from_config(value: u32) -> OobeSettings {
    OobeSettings {
        user_type_standard: value & OOBE_USER_NOT_LOCAL_ADMIN != 0,
        privacy_settings_hidden: value & SKIP_EXPRESS_SETTINGS != 0,
        eula_hidden: value & SKIP_EULA != 0,
        keyboard_selection_page_skipped: value & SKIP_KEYBOARD_SELECTION != 0,
        shared_device: value & (TPM_ATTESTATION | AAD_DEVICE_AUTH)
            == (TPM_ATTESTATION | AAD_DEVICE_AUTH),
    }
}

/// Names of the bits set in `value`, lowest bit first. Bits above 1024 (none observed)
/// are summarised by a single trailing [`UNKNOWN_BITS`] entry.
pub fn describe_oobe_config(value: u32) -> Vec<&'static str> {
    let mut names: Vec<&'static str> = OOBE_BITS
        .iter()
        .filter(|(bit, _)| value & bit != 0)
        .map(|(_, name)| *name)
        .collect();
    let known = OOBE_BITS.iter().fold(0u32, |acc, (bit, _)| acc | bit);
    if value & !known != 0 {
        names.push(UNKNOWN_BITS);
    }
    names
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn examples_from_the_research_notes() {
        let standard_user = OobeSettings {
            user_type_standard: true,
            privacy_settings_hidden: true,
            eula_hidden: true,
            keyboard_selection_page_skipped: true,
            shared_device: false,
        };
        assert_eq!(cloud_assigned_oobe_config(&standard_user), 1310);
        let no_keyboard = OobeSettings {
            keyboard_selection_page_skipped: false,
            ..standard_user
        };
        assert_eq!(cloud_assigned_oobe_config(&no_keyboard), 286);
        assert_eq!(cloud_assigned_oobe_config(&OobeSettings::default()), 264);
        let shared = OobeSettings {
            shared_device: true,
            ..OobeSettings::default()
        };
        assert_eq!(cloud_assigned_oobe_config(&shared), 264 + 96);
    }

    #[test]
    fn round_trip_settings() {
        for bits in 0u32..32 {
            let s = OobeSettings {
                user_type_standard: bits & 1 != 0,
                privacy_settings_hidden: bits & 2 != 0,
                eula_hidden: bits & 4 != 0,
                keyboard_selection_page_skipped: bits & 8 != 0,
                shared_device: bits & 16 != 0,
            };
            assert_eq!(oobe_settings_from_config(cloud_assigned_oobe_config(&s)), s);
        }
    }

    #[test]
    fn describe() {
        assert_eq!(
            describe_oobe_config(1310),
            vec![
                "OobeUserNotLocalAdmin",
                "SkipExpressSettings",
                "SkipOemRegistration",
                "SkipEula",
                "SkipWindowsUpgradeUx",
                "SkipKeyboardSelection"
            ]
        );
        assert_eq!(
            describe_oobe_config(286),
            vec![
                "OobeUserNotLocalAdmin",
                "SkipExpressSettings",
                "SkipOemRegistration",
                "SkipEula",
                "SkipWindowsUpgradeUx"
            ]
        );
        assert_eq!(
            describe_oobe_config(264),
            vec!["SkipOemRegistration", "SkipWindowsUpgradeUx"]
        );
        assert_eq!(
            describe_oobe_config(28),
            vec!["SkipExpressSettings", "SkipOemRegistration", "SkipEula"]
        );
        assert_eq!(describe_oobe_config(0), Vec::<&str>::new());
        assert_eq!(
            describe_oobe_config(4096 | 1),
            vec!["SkipCortanaOptIn", "Unknown"]
        );
    }
}
