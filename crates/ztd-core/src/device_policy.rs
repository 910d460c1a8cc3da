//! Device configuration profiles and compliance policies (Intune's `deviceConfiguration` and
//! `deviceCompliancePolicy`), their assignments, which managed devices they target, what a configuration
//! profile sends a device, and how compliance is evaluated from what the device reports.
//!
//! A policy is kept as the Graph document the admin wrote (validated here, with the properties ztd acts on
//! read from it), so a tool that writes a policy reads back what it wrote.

use std::collections::BTreeSet;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::managed::{nodes, CommandItem, ComplianceState, ManagedDevice, Operation, Verb};
use crate::scope::FilterRef;
use crate::{DomainError, GroupId, Timestamp};

/// The most OMA settings one custom profile may hold.
pub const MAX_OMA_SETTINGS: usize = 500;
/// The longest OMA-URI.
pub const MAX_OMA_URI: usize = 1024;
/// The longest value of one setting.
pub const MAX_SETTING_VALUE: usize = 64 * 1024;
/// The longest display name.
pub const MAX_DISPLAY_NAME: usize = 256;

/// Which family a policy belongs to.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum PolicyKind {
    Configuration,
    Compliance,
}

impl PolicyKind {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Configuration => "configuration",
            Self::Compliance => "compliance",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        match text {
            "configuration" => Some(Self::Configuration),
            "compliance" => Some(Self::Compliance),
            _ => None,
        }
    }

    /// The Graph `@odata.type`s of this family ztd serves.
    pub fn odata_types(self) -> &'static [&'static str] {
        match self {
            Self::Configuration => &["#microsoft.graph.windows10CustomConfiguration"],
            Self::Compliance => &["#microsoft.graph.windows10CompliancePolicy"],
        }
    }
}

/// A policy as stored: its Graph document and what ztd tracks about it.
#[derive(Clone, Debug, PartialEq)]
pub struct DevicePolicy {
    pub tenant_id: crate::TenantId,
    pub kind: PolicyKind,
    pub id: uuid::Uuid,
    pub display_name: String,
    /// The Graph document without the server's own properties (`id`, dates, `version`).
    pub document: Map<String, Value>,
    /// Bumped by every change; a device applies a configuration profile again when it changes.
    pub version: i64,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
}

/// Where an assignment points.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "camelCase")]
pub enum AssignmentTarget {
    AllDevices,
    AllLicensedUsers,
    Group { group_id: GroupId },
    ExclusionGroup { group_id: GroupId },
}

impl AssignmentTarget {
    /// The target as Graph writes it.
    pub fn to_graph(&self) -> Value {
        match self {
            Self::AllDevices => serde_json::json!({
                "@odata.type": "#microsoft.graph.allDevicesAssignmentTarget",
                "deviceAndAppManagementAssignmentFilterId": null,
                "deviceAndAppManagementAssignmentFilterType": "none",
            }),
            Self::AllLicensedUsers => serde_json::json!({
                "@odata.type": "#microsoft.graph.allLicensedUsersAssignmentTarget",
                "deviceAndAppManagementAssignmentFilterId": null,
                "deviceAndAppManagementAssignmentFilterType": "none",
            }),
            Self::Group { group_id } => serde_json::json!({
                "@odata.type": "#microsoft.graph.groupAssignmentTarget",
                "deviceAndAppManagementAssignmentFilterId": null,
                "deviceAndAppManagementAssignmentFilterType": "none",
                "groupId": group_id.to_string(),
            }),
            Self::ExclusionGroup { group_id } => serde_json::json!({
                "@odata.type": "#microsoft.graph.exclusionGroupAssignmentTarget",
                "deviceAndAppManagementAssignmentFilterId": null,
                "deviceAndAppManagementAssignmentFilterType": "none",
                "groupId": group_id.to_string(),
            }),
        }
    }

    /// The target of a Graph assignment's `target` object.
    pub fn from_graph(target: &Value) -> Result<Self, DomainError> {
        let kind = target
            .get("@odata.type")
            .and_then(Value::as_str)
            .unwrap_or_default();
        let group = || {
            target
                .get("groupId")
                .and_then(Value::as_str)
                .and_then(GroupId::parse)
                .ok_or_else(|| {
                    DomainError::invalid("target.groupId", "a group target needs the group's id")
                })
        };
        match kind.trim_start_matches('#') {
            "microsoft.graph.allDevicesAssignmentTarget" => Ok(Self::AllDevices),
            "microsoft.graph.allLicensedUsersAssignmentTarget" => Ok(Self::AllLicensedUsers),
            "microsoft.graph.groupAssignmentTarget" => Ok(Self::Group { group_id: group()? }),
            "microsoft.graph.exclusionGroupAssignmentTarget" => {
                Ok(Self::ExclusionGroup { group_id: group()? })
            }
            _ => Err(DomainError::invalid(
                "target.@odata.type",
                "an assignment target is one of #microsoft.graph.allDevicesAssignmentTarget, \
                 allLicensedUsersAssignmentTarget, groupAssignmentTarget or exclusionGroupAssignmentTarget",
            )),
        }
    }
}

/// One assignment of a policy.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PolicyAssignment {
    pub id: String,
    pub target: AssignmentTarget,
    /// The assignment filter it carries (Graph beta's `deviceAndAppManagementAssignmentFilterId`/`Type`).
    /// Exclusion targets carry none (Intune does not filter exclusions).
    pub filter: Option<FilterRef>,
}

/// Whether a policy with `assignments` targets a device in `groups` (the groups of its directory object and
/// of its user), with or without a user, that matches the assignment filters in `matching_filters`: an
/// exclusion wins over any inclusion; an inclusion with a filter counts only when the filter lets the device
/// through (include: it matches; exclude: it does not).
pub fn targets(
    assignments: &[PolicyAssignment],
    groups: &BTreeSet<GroupId>,
    has_user: bool,
    matching_filters: &BTreeSet<uuid::Uuid>,
) -> bool {
    let mut included = false;
    for assignment in assignments {
        let passes = || FilterRef::allows(assignment.filter.as_ref(), matching_filters);
        match &assignment.target {
            AssignmentTarget::ExclusionGroup { group_id } if groups.contains(group_id) => {
                return false
            }
            AssignmentTarget::ExclusionGroup { .. } => {}
            AssignmentTarget::AllDevices => included |= passes(),
            AssignmentTarget::AllLicensedUsers => included |= has_user && passes(),
            AssignmentTarget::Group { group_id } => {
                included |= groups.contains(group_id) && passes()
            }
        }
    }
    included
}

/// The filters the assignments of some policies name (to evaluate each once per device).
pub fn filters_named<'a>(
    assignments: impl IntoIterator<Item = &'a PolicyAssignment>,
) -> BTreeSet<uuid::Uuid> {
    assignments
        .into_iter()
        .filter_map(|a| a.filter.map(|f| f.filter_id))
        .collect()
}

/// One OMA-URI setting of a custom configuration profile, as the device receives it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct OmaSetting {
    pub display_name: String,
    pub oma_uri: String,
    /// SyncML Meta/Format: `chr`, `int`, `bool`, `b64`, `float`.
    pub format: String,
    pub data: String,
}

fn text<'a>(doc: &'a Map<String, Value>, key: &str) -> Option<&'a str> {
    doc.get(key).and_then(Value::as_str)
}

fn clipped_name(doc: &Map<String, Value>) -> Result<String, DomainError> {
    let name = text(doc, "displayName").map(str::trim).unwrap_or_default();
    if name.is_empty() || name.chars().count() > MAX_DISPLAY_NAME {
        return Err(DomainError::invalid(
            "displayName",
            format!("a policy needs a display name of 1 to {MAX_DISPLAY_NAME} characters"),
        ));
    }
    Ok(name.to_string())
}

/// Checks a policy document an admin sent for `kind` (create: whole; update: merged onto the stored one)
/// and returns its display name.
pub fn validate(kind: PolicyKind, doc: &Map<String, Value>) -> Result<String, DomainError> {
    let odata_type = text(doc, "@odata.type").unwrap_or_default();
    if !kind.odata_types().contains(&odata_type) {
        return Err(DomainError::invalid(
            "@odata.type",
            format!(
                "ztd serves {} here; {:?} is not one of them",
                kind.odata_types().join(", "),
                odata_type.chars().take(80).collect::<String>()
            ),
        ));
    }
    let name = clipped_name(doc)?;
    match kind {
        PolicyKind::Configuration => {
            oma_settings(doc)?;
        }
        PolicyKind::Compliance => {
            ComplianceRules::from_document(doc)?;
        }
    }
    Ok(name)
}

/// The OMA settings of a custom configuration profile, in order.
pub fn oma_settings(doc: &Map<String, Value>) -> Result<Vec<OmaSetting>, DomainError> {
    let settings = match doc.get("omaSettings") {
        None | Some(Value::Null) => return Ok(Vec::new()),
        Some(Value::Array(settings)) => settings,
        Some(_) => return Err(DomainError::invalid("omaSettings", "must be an array")),
    };
    if settings.len() > MAX_OMA_SETTINGS {
        return Err(DomainError::invalid(
            "omaSettings",
            format!("a profile holds at most {MAX_OMA_SETTINGS} settings"),
        ));
    }
    let mut seen = BTreeSet::new();
    settings
        .iter()
        .enumerate()
        .map(|(i, setting)| {
            let field = |name: &str| format!("omaSettings[{i}].{name}");
            let odata_type = setting
                .get("@odata.type")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .trim_start_matches('#');
            let uri = setting
                .get("omaUri")
                .and_then(Value::as_str)
                .map(str::trim)
                .unwrap_or_default();
            if !uri.starts_with("./") || uri.len() > MAX_OMA_URI || uri.chars().any(char::is_control) {
                return Err(DomainError::invalid(
                    field("omaUri"),
                    format!("an OMA-URI starts with ./ (./Device/Vendor/MSFT/…, ./User/Vendor/MSFT/…) and has at most {MAX_OMA_URI} characters"),
                ));
            }
            if !seen.insert(uri.to_string()) {
                return Err(DomainError::invalid(field("omaUri"), "two settings name the same OMA-URI"));
            }
            let value = setting.get("value").unwrap_or(&Value::Null);
            let (format, data) = match (odata_type, value) {
                ("microsoft.graph.omaSettingString", Value::String(s)) => ("chr", s.clone()),
                ("microsoft.graph.omaSettingInteger", Value::Number(n)) if n.is_i64() => {
                    ("int", n.to_string())
                }
                ("microsoft.graph.omaSettingBoolean", Value::Bool(b)) => ("bool", b.to_string()),
                ("microsoft.graph.omaSettingFloatingPoint", Value::Number(n)) => ("float", n.to_string()),
                ("microsoft.graph.omaSettingDateTime", Value::String(s)) => ("chr", s.clone()),
                ("microsoft.graph.omaSettingBase64", Value::String(s)) => ("b64", s.clone()),
                // StringXml carries the XML as base64 bytes in Graph; the device gets the XML text.
                ("microsoft.graph.omaSettingStringXml", Value::String(s)) => {
                    let xml = base64_text(s).ok_or_else(|| {
                        DomainError::invalid(field("value"), "an omaSettingStringXml value is the XML, base64-encoded UTF-8")
                    })?;
                    ("chr", xml)
                }
                (
                    "microsoft.graph.omaSettingString"
                    | "microsoft.graph.omaSettingInteger"
                    | "microsoft.graph.omaSettingBoolean"
                    | "microsoft.graph.omaSettingFloatingPoint"
                    | "microsoft.graph.omaSettingDateTime"
                    | "microsoft.graph.omaSettingBase64",
                    _,
                ) => {
                    return Err(DomainError::invalid(
                        field("value"),
                        format!("the value does not have the type {odata_type} needs"),
                    ))
                }
                _ => {
                    return Err(DomainError::invalid(
                        field("@odata.type"),
                        "a setting is #microsoft.graph.omaSettingString, omaSettingInteger, omaSettingBoolean, \
                         omaSettingFloatingPoint, omaSettingDateTime, omaSettingBase64 or omaSettingStringXml",
                    ))
                }
            };
            if data.len() > MAX_SETTING_VALUE {
                return Err(DomainError::invalid(
                    field("value"),
                    format!("a value has at most {MAX_SETTING_VALUE} bytes"),
                ));
            }
            Ok(OmaSetting {
                display_name: setting
                    .get("displayName")
                    .and_then(Value::as_str)
                    .unwrap_or(uri)
                    .to_string(),
                oma_uri: uri.to_string(),
                format: format.to_string(),
                data,
            })
        })
        .collect()
}

fn base64_text(text: &str) -> Option<String> {
    use base64::Engine;
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(text.trim())
        .ok()?;
    String::from_utf8(bytes).ok()
}

/// What a configuration profile sends a device: each setting replaced in order (Windows adds a node that
/// does not exist yet), one status per setting.
pub fn delivery(settings: &[OmaSetting]) -> Vec<Operation> {
    settings
        .iter()
        .map(|s| Operation {
            verb: Verb::Replace,
            items: vec![CommandItem::value(
                s.oma_uri.clone(),
                &s.format,
                s.data.clone(),
            )],
        })
        .collect()
}

/// What removing a profile sends a device: each of its nodes deleted (a policy node deleted reverts to its
/// default; a node that cannot be deleted answers with its own status).
pub fn removal(uris: &[String]) -> Vec<Operation> {
    uris.iter()
        .map(|uri| Operation {
            verb: Verb::Delete,
            items: vec![CommandItem::node(uri.clone())],
        })
        .collect()
}

/// A device's state for one policy (Graph `deviceStatuses[].status`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum PolicyStatus {
    /// Sent, not answered yet.
    Pending,
    Compliant,
    NonCompliant,
    Error,
    NotApplicable,
}

impl PolicyStatus {
    /// Graph's `complianceStatus` value (a pending delivery is `unknown`).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "unknown",
            Self::Compliant => "compliant",
            Self::NonCompliant => "nonCompliant",
            Self::Error => "error",
            Self::NotApplicable => "notApplicable",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        [
            Self::Pending,
            Self::Compliant,
            Self::NonCompliant,
            Self::Error,
            Self::NotApplicable,
        ]
        .into_iter()
        .find(|s| s.as_str() == text)
    }
}

/// One setting's state on one device.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SettingState {
    pub setting: String,
    pub status: PolicyStatus,
    /// The device's SyncML status (configuration) or its reported value (compliance).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
}

/// A device's state for one policy.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PolicyDeviceState {
    pub tenant_id: crate::TenantId,
    pub kind: PolicyKind,
    pub policy_id: uuid::Uuid,
    pub managed_device_id: crate::ManagedDeviceId,
    /// The policy version the state is for.
    pub version: i64,
    pub status: PolicyStatus,
    pub settings: Vec<SettingState>,
    pub reported_at: Timestamp,
}

/// The compliance rules ztd evaluates for Windows, read from a `windows10CompliancePolicy` document.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ComplianceRules {
    pub os_minimum_version: Option<String>,
    pub os_maximum_version: Option<String>,
    pub bitlocker_enabled: bool,
    pub secure_boot_enabled: bool,
    pub tpm_required: bool,
    pub password_required: bool,
    pub storage_require_encryption: bool,
    /// Hours a non-compliant device stays "in grace period" before it is non-compliant (the `block`
    /// action's `gracePeriodHours` in `scheduledActionsForRule`; 0 without one).
    pub grace_period_hours: u32,
}

fn flag(doc: &Map<String, Value>, key: &str) -> Result<bool, DomainError> {
    match doc.get(key) {
        None | Some(Value::Null) => Ok(false),
        Some(Value::Bool(b)) => Ok(*b),
        Some(_) => Err(DomainError::invalid(key, "must be true or false")),
    }
}

fn version_text(doc: &Map<String, Value>, key: &str) -> Result<Option<String>, DomainError> {
    match doc.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) if s.trim().is_empty() => Ok(None),
        Some(Value::String(s)) if parse_version(s).is_some() => Ok(Some(s.trim().to_string())),
        Some(_) => Err(DomainError::invalid(
            key,
            "a Windows version is major.minor.build.revision, e.g. 10.0.22631.4460",
        )),
    }
}

/// A dotted version as numbers (`10.0.22631.4460`), at most 4 parts.
pub fn parse_version(text: &str) -> Option<Vec<u64>> {
    let parts: Option<Vec<u64>> = text.trim().split('.').map(|p| p.parse().ok()).collect();
    parts.filter(|p| !p.is_empty() && p.len() <= 4)
}

fn compare_versions(a: &[u64], b: &[u64]) -> std::cmp::Ordering {
    let len = a.len().max(b.len());
    (0..len)
        .map(|i| {
            a.get(i)
                .copied()
                .unwrap_or(0)
                .cmp(&b.get(i).copied().unwrap_or(0))
        })
        .find(|o| o.is_ne())
        .unwrap_or(std::cmp::Ordering::Equal)
}

impl ComplianceRules {
    pub fn from_document(doc: &Map<String, Value>) -> Result<Self, DomainError> {
        let grace = doc
            .get("scheduledActionsForRule")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(|rule| {
                rule.get("scheduledActionConfigurations")
                    .and_then(Value::as_array)
            })
            .flatten()
            .filter(|action| action.get("actionType").and_then(Value::as_str) == Some("block"))
            .filter_map(|action| action.get("gracePeriodHours").and_then(Value::as_u64))
            .min()
            .unwrap_or(0);
        Ok(Self {
            os_minimum_version: version_text(doc, "osMinimumVersion")?,
            os_maximum_version: version_text(doc, "osMaximumVersion")?,
            bitlocker_enabled: flag(doc, "bitLockerEnabled")?,
            secure_boot_enabled: flag(doc, "secureBootEnabled")?,
            tpm_required: flag(doc, "tpmRequired")?,
            password_required: flag(doc, "passwordRequired")?,
            storage_require_encryption: flag(doc, "storageRequireEncryption")?,
            grace_period_hours: u32::try_from(grace).unwrap_or(u32::MAX),
        })
    }

    /// Each rule's verdict on what the device reported; a device that has not reported a value is not
    /// compliant with a rule that needs it.
    pub fn evaluate(&self, device: &ManagedDevice) -> Vec<SettingState> {
        let mut out = Vec::new();
        let verdict = |ok: bool| {
            if ok {
                PolicyStatus::Compliant
            } else {
                PolicyStatus::NonCompliant
            }
        };
        let reported = |uri: &str| device.inventory.get(uri).cloned();
        let os = parse_version(device.os_version());
        if let Some(min) = &self.os_minimum_version {
            let ok = match (&os, parse_version(min)) {
                (Some(os), Some(min)) => compare_versions(os, &min).is_ge(),
                _ => false,
            };
            out.push(SettingState {
                setting: "osMinimumVersion".into(),
                status: verdict(ok),
                detail: reported(nodes::OS_VERSION),
            });
        }
        if let Some(max) = &self.os_maximum_version {
            let ok = match (&os, parse_version(max)) {
                (Some(os), Some(max)) => compare_versions(os, &max).is_le(),
                _ => false,
            };
            out.push(SettingState {
                setting: "osMaximumVersion".into(),
                status: verdict(ok),
                detail: reported(nodes::OS_VERSION),
            });
        }
        if self.bitlocker_enabled {
            out.push(SettingState {
                setting: "bitLockerEnabled".into(),
                status: verdict(
                    device
                        .inventory
                        .get(nodes::BITLOCKER_STATUS)
                        .map(String::as_str)
                        == Some("0"),
                ),
                detail: reported(nodes::BITLOCKER_STATUS),
            });
        }
        if self.storage_require_encryption {
            out.push(SettingState {
                setting: "storageRequireEncryption".into(),
                status: verdict(device.is_encrypted()),
                detail: reported(nodes::ENCRYPTION),
            });
        }
        if self.secure_boot_enabled {
            out.push(SettingState {
                setting: "secureBootEnabled".into(),
                status: verdict(device.secure_boot_enabled()),
                detail: reported(nodes::SECURE_BOOT),
            });
        }
        if self.tpm_required {
            out.push(SettingState {
                setting: "tpmRequired".into(),
                status: verdict(device.tpm_version() > 0.0),
                detail: reported(nodes::TPM_VERSION),
            });
        }
        if self.password_required {
            out.push(SettingState {
                setting: "passwordRequired".into(),
                status: verdict(device.password_required()),
                detail: reported(nodes::PASSWORD_REQUIRED),
            });
        }
        out
    }
}

/// The overall state of a list of setting states.
pub fn overall(settings: &[SettingState]) -> PolicyStatus {
    if settings.iter().any(|s| s.status == PolicyStatus::Error) {
        PolicyStatus::Error
    } else if settings
        .iter()
        .any(|s| s.status == PolicyStatus::NonCompliant)
    {
        PolicyStatus::NonCompliant
    } else {
        PolicyStatus::Compliant
    }
}

/// The device's compliance from its policies' verdicts, as Intune decides it: no policy → the tenant's
/// "mark devices with no compliance policy assigned as" (`secure_by_default`: not compliant); all compliant
/// → compliant; otherwise in grace period while the shortest grace period of a failed policy since the
/// device first failed has not run out, then non-compliant. Returns the state and when the device first
/// failed (kept while it stays failing).
pub fn device_compliance(
    verdicts: &[(PolicyStatus, u32)],
    secure_by_default: bool,
    noncompliant_since: Option<Timestamp>,
    now: Timestamp,
) -> (ComplianceState, Option<Timestamp>) {
    if verdicts.is_empty() {
        let state = if secure_by_default {
            ComplianceState::Noncompliant
        } else {
            ComplianceState::Compliant
        };
        return (state, None);
    }
    let failing: Vec<u32> = verdicts
        .iter()
        .filter(|(status, _)| matches!(status, PolicyStatus::NonCompliant | PolicyStatus::Error))
        .map(|(_, grace)| *grace)
        .collect();
    let Some(grace_hours) = failing.iter().min().copied() else {
        return (ComplianceState::Compliant, None);
    };
    let since = noncompliant_since.unwrap_or(now);
    let grace_ends = since.0.saturating_add(i64::from(grace_hours) * 3_600_000);
    if now.0 < grace_ends {
        (ComplianceState::InGracePeriod, Some(since))
    } else {
        (ComplianceState::Noncompliant, Some(since))
    }
}

/// When a device's grace period ends (Graph `complianceGracePeriodExpirationDateTime`).
pub fn grace_period_end(since: Timestamp, grace_hours: u32) -> Timestamp {
    Timestamp(since.0.saturating_add(i64::from(grace_hours) * 3_600_000))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn doc(value: Value) -> Map<String, Value> {
        value.as_object().cloned().unwrap()
    }

    #[test]
    fn oma_settings_become_typed_values() {
        let d = doc(json!({
            "@odata.type": "#microsoft.graph.windows10CustomConfiguration",
            "displayName": "Camera off",
            "omaSettings": [
                {"@odata.type": "#microsoft.graph.omaSettingInteger", "displayName": "Camera", "omaUri": "./Device/Vendor/MSFT/Policy/Config/Camera/AllowCamera", "value": 0},
                {"@odata.type": "#microsoft.graph.omaSettingBoolean", "omaUri": "./Vendor/MSFT/A/B", "value": true},
                {"@odata.type": "#microsoft.graph.omaSettingStringXml", "omaUri": "./Vendor/MSFT/A/C", "value": "PGEvPg=="},
            ]
        }));
        assert_eq!(
            validate(PolicyKind::Configuration, &d).unwrap(),
            "Camera off"
        );
        let settings = oma_settings(&d).unwrap();
        assert_eq!(settings[0].format, "int");
        assert_eq!(settings[0].data, "0");
        assert_eq!(settings[1].data, "true");
        assert_eq!(settings[2].data, "<a/>");
        assert_eq!(delivery(&settings).len(), 3);
    }

    #[test]
    fn bad_documents_name_the_field() {
        let cases = [
            (
                json!({"@odata.type": "#microsoft.graph.iosGeneralDeviceConfiguration", "displayName": "x"}),
                "@odata.type",
            ),
            (
                json!({"@odata.type": "#microsoft.graph.windows10CustomConfiguration"}),
                "displayName",
            ),
            (
                json!({"@odata.type": "#microsoft.graph.windows10CustomConfiguration", "displayName": "x", "omaSettings": [{"@odata.type": "#microsoft.graph.omaSettingInteger", "omaUri": "/abs", "value": 1}]}),
                "omaSettings[0].omaUri",
            ),
            (
                json!({"@odata.type": "#microsoft.graph.windows10CustomConfiguration", "displayName": "x", "omaSettings": [{"@odata.type": "#microsoft.graph.omaSettingInteger", "omaUri": "./a", "value": "1"}]}),
                "omaSettings[0].value",
            ),
            (
                json!({"@odata.type": "#microsoft.graph.windows10CustomConfiguration", "displayName": "x", "omaSettings": [{"@odata.type": "#microsoft.graph.omaSettingString", "omaUri": "./a", "value": "1"}, {"@odata.type": "#microsoft.graph.omaSettingString", "omaUri": "./a", "value": "2"}]}),
                "omaSettings[1].omaUri",
            ),
            (
                json!({"@odata.type": "#microsoft.graph.windows10CompliancePolicy", "displayName": "x", "osMinimumVersion": "ten"}),
                "osMinimumVersion",
            ),
            (
                json!({"@odata.type": "#microsoft.graph.windows10CompliancePolicy", "displayName": "x", "tpmRequired": "yes"}),
                "tpmRequired",
            ),
        ];
        for (value, field) in cases {
            let kind = if value["@odata.type"]
                .as_str()
                .unwrap()
                .contains("Compliance")
            {
                PolicyKind::Compliance
            } else {
                PolicyKind::Configuration
            };
            match validate(kind, &doc(value)) {
                Err(DomainError::InvalidField { field: got, .. }) => assert_eq!(got, field),
                other => panic!("{field}: {other:?}"),
            }
        }
    }

    fn t3(a: &[PolicyAssignment], groups: &BTreeSet<GroupId>, has_user: bool) -> bool {
        targets(a, groups, has_user, &BTreeSet::new())
    }

    #[test]
    fn filters_narrow_inclusions() {
        use crate::scope::FilterMode;
        let g1 = GroupId(uuid::Uuid::from_u128(1));
        let f = uuid::Uuid::from_u128(9);
        let groups: BTreeSet<GroupId> = [g1].into();
        let with = |target, mode| PolicyAssignment {
            id: "a".into(),
            target,
            filter: Some(FilterRef { filter_id: f, mode }),
        };
        let matching: BTreeSet<uuid::Uuid> = [f].into();
        let none = BTreeSet::new();
        let include = [with(AssignmentTarget::AllDevices, FilterMode::Include)];
        assert!(targets(&include, &groups, false, &matching));
        assert!(!targets(&include, &groups, false, &none));
        let exclude = [with(
            AssignmentTarget::Group { group_id: g1 },
            FilterMode::Exclude,
        )];
        assert!(!targets(&exclude, &groups, false, &matching));
        assert!(targets(&exclude, &groups, false, &none));
        // Another unfiltered inclusion still targets; an exclusion group still wins.
        let mixed = [
            with(AssignmentTarget::AllDevices, FilterMode::Include),
            PolicyAssignment {
                id: "b".into(),
                target: AssignmentTarget::Group { group_id: g1 },
                filter: None,
            },
        ];
        assert!(targets(&mixed, &groups, false, &none));
        assert_eq!(filters_named(&mixed), [f].into());
    }

    #[test]
    fn exclusions_win_and_all_users_needs_a_user() {
        let g1 = GroupId(uuid::Uuid::from_u128(1));
        let g2 = GroupId(uuid::Uuid::from_u128(2));
        let a = |target| PolicyAssignment {
            id: "a".into(),
            target,
            filter: None,
        };
        let groups: BTreeSet<GroupId> = [g1].into();
        assert!(t3(
            &[a(AssignmentTarget::Group { group_id: g1 })],
            &groups,
            false
        ));
        assert!(!t3(
            &[a(AssignmentTarget::Group { group_id: g2 })],
            &groups,
            false
        ));
        assert!(!t3(
            &[
                a(AssignmentTarget::AllDevices),
                a(AssignmentTarget::ExclusionGroup { group_id: g1 })
            ],
            &groups,
            true
        ));
        assert!(!t3(
            &[a(AssignmentTarget::AllLicensedUsers)],
            &groups,
            false
        ));
        assert!(t3(&[a(AssignmentTarget::AllLicensedUsers)], &groups, true));
        assert!(!t3(&[], &groups, true));
    }

    #[test]
    fn compliance_follows_the_grace_period_and_the_default() {
        let now = Timestamp(10 * 3_600_000);
        assert_eq!(
            device_compliance(&[], true, None, now).0,
            ComplianceState::Noncompliant
        );
        assert_eq!(
            device_compliance(&[], false, None, now).0,
            ComplianceState::Compliant
        );
        assert_eq!(
            device_compliance(&[(PolicyStatus::Compliant, 0)], true, Some(now), now),
            (ComplianceState::Compliant, None)
        );
        let failing = [
            (PolicyStatus::NonCompliant, 24),
            (PolicyStatus::Compliant, 0),
        ];
        assert_eq!(
            device_compliance(&failing, false, None, now),
            (ComplianceState::InGracePeriod, Some(now))
        );
        let later = Timestamp(now.0 + 25 * 3_600_000);
        assert_eq!(
            device_compliance(&failing, false, Some(now), later),
            (ComplianceState::Noncompliant, Some(now))
        );
        assert_eq!(
            device_compliance(&[(PolicyStatus::NonCompliant, 0)], false, None, now).0,
            ComplianceState::Noncompliant
        );
    }

    #[test]
    fn rules_read_the_reported_inventory() {
        let rules = ComplianceRules::from_document(&doc(json!({
            "osMinimumVersion": "10.0.22000",
            "bitLockerEnabled": true,
            "secureBootEnabled": true,
            "tpmRequired": true,
            "passwordRequired": true,
            "scheduledActionsForRule": [{"ruleName": "PasswordRequired", "scheduledActionConfigurations": [{"actionType": "block", "gracePeriodHours": 12}]}],
        })))
        .unwrap();
        assert_eq!(rules.grace_period_hours, 12);
        let mut device = crate::managed::tests::device();
        assert_eq!(
            overall(&rules.evaluate(&device)),
            PolicyStatus::NonCompliant
        );
        device.record_inventory([
            (nodes::OS_VERSION, "10.0.22631.4460"),
            (nodes::BITLOCKER_STATUS, "0"),
            (nodes::SECURE_BOOT, "1"),
            (nodes::TPM_VERSION, "2.0"),
            (nodes::PASSWORD_REQUIRED, "0"),
        ]);
        assert_eq!(overall(&rules.evaluate(&device)), PolicyStatus::Compliant);
        device.record_inventory([(nodes::OS_VERSION, "10.0.19045.1")]);
        let states = rules.evaluate(&device);
        assert_eq!(overall(&states), PolicyStatus::NonCompliant);
        assert_eq!(states[0].setting, "osMinimumVersion");
        assert_eq!(states[0].status, PolicyStatus::NonCompliant);
    }
}
