//! Decisions taken when a registered device asks for its provisioning plan.

use crate::profile::{DeploymentProfile, JoinType};
use crate::DomainError;

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
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
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
