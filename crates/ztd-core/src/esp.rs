//! Enrollment Status Page configurations (Graph `windows10EnrollmentCompletionPageConfiguration`).

use std::collections::BTreeSet;

use serde::{Deserialize, Serialize};

use crate::profile::AssignmentTarget;
use crate::{DomainError, GroupId, TenantId, Timestamp};

/// The id suffix of a tenant's default ESP: `{tenantId}_DefaultWindows10EnrollmentCompletionPageConfiguration`.
pub const DEFAULT_ESP_SUFFIX: &str = "_DefaultWindows10EnrollmentCompletionPageConfiguration";

/// The most ESP configurations a tenant may hold, the default included.
pub const MAX_ESP_PER_TENANT: usize = 51;

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct EspSettings {
    pub show_installation_progress: bool,
    pub block_device_setup_retry_by_user: bool,
    pub allow_device_reset_on_install_failure: bool,
    pub allow_log_collection_on_install_failure: bool,
    pub custom_error_message: Option<String>,
    pub install_progress_timeout_in_minutes: i32,
    pub allow_device_use_on_install_failure: bool,
    pub selected_mobile_app_ids: Vec<String>,
    pub allow_non_blocking_app_installation: bool,
    pub install_quality_updates: bool,
    pub track_install_progress_for_autopilot_only: bool,
    pub disable_user_status_tracking_after_first_user: bool,
}

impl Default for EspSettings {
    /// The service defaults: progress shown, 60-minute timeout, block until all apps install.
    fn default() -> Self {
        Self {
            show_installation_progress: true,
            block_device_setup_retry_by_user: false,
            allow_device_reset_on_install_failure: false,
            allow_log_collection_on_install_failure: false,
            custom_error_message: None,
            install_progress_timeout_in_minutes: 60,
            allow_device_use_on_install_failure: false,
            selected_mobile_app_ids: Vec::new(),
            allow_non_blocking_app_installation: false,
            install_quality_updates: true,
            track_install_progress_for_autopilot_only: false,
            disable_user_status_tracking_after_first_user: false,
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct EspConfiguration {
    pub tenant_id: TenantId,
    /// A UUID, or `{tenantId}_DefaultWindows10EnrollmentCompletionPageConfiguration` for the default.
    pub id: String,
    pub display_name: String,
    pub description: String,
    /// Lower number wins. The default ESP has priority 0 and applies only when nothing else does.
    pub priority: i32,
    pub settings: EspSettings,
    pub assignments: Vec<AssignmentTarget>,
    /// The assignment filter of each filtered assignment (Graph beta): stored so a backup round-trips, not
    /// evaluated (an ESP is chosen before the device is managed; docs/graph-api.md).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub assignment_filters: Vec<(AssignmentTarget, crate::scope::FilterRef)>,
    /// Graph `roleScopeTagIds` (the default ESP carries none).
    #[serde(default)]
    pub role_scope_tag_ids: Vec<String>,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
}

impl EspConfiguration {
    /// The assignment filter of one of this configuration's assignments, if it has one.
    pub fn filter_of(&self, target: AssignmentTarget) -> Option<crate::scope::FilterRef> {
        self.assignment_filters
            .iter()
            .find(|(t, _)| *t == target)
            .map(|(_, f)| *f)
    }

    pub fn is_default(&self) -> bool {
        self.id.ends_with(DEFAULT_ESP_SUFFIX)
    }

    pub fn default_id(tenant_id: TenantId) -> String {
        format!("{tenant_id}{DEFAULT_ESP_SUFFIX}")
    }
}

/// The display name of every tenant's default ESP (Graph, live).
pub const DEFAULT_ESP_DISPLAY_NAME: &str = "All users and all devices";
/// The most apps an ESP may list as blocking ("Selected", spec §4).
pub const MAX_ESP_SELECTED_APPS: usize = 100;
/// The accepted `installProgressTimeoutInMinutes` range. `[I]`: the docs give only the default (60); ztd
/// accepts 1 minute to 1 day, enough for any real deployment and small enough to catch unit mistakes
/// (seconds or milliseconds typed as minutes).
pub const ESP_TIMEOUT_MINUTES: std::ops::RangeInclusive<i32> = 1..=1440;
/// Name and description limits. `[I]`: the docs give none for ESPs; ztd uses the deployment profile's.
pub const MAX_ESP_DISPLAY_NAME_LEN: usize = 200;
pub const MAX_ESP_DESCRIPTION_LEN: usize = 1500;

impl EspConfiguration {
    /// The tenant default ESP as the service creates it: id `{tenantId}_Default…`, "All users and all
    /// devices", priority 0, created "never" (`0001-01-01T00:00:00Z`), no assignments.
    ///
    /// `[I]` It starts with `showInstallationProgress = false` (the page hidden until an admin turns it on,
    /// as a new Intune tenant's default does); every other setting is the service default.
    pub fn default_for(tenant_id: TenantId, now: Timestamp) -> EspConfiguration {
        EspConfiguration {
            tenant_id,
            id: Self::default_id(tenant_id),
            display_name: DEFAULT_ESP_DISPLAY_NAME.to_string(),
            description: String::new(),
            priority: 0,
            settings: EspSettings {
                show_installation_progress: false,
                ..EspSettings::default()
            },
            assignments: Vec::new(),
            assignment_filters: Vec::new(),
            role_scope_tag_ids: Vec::new(),
            // Created with the tenant. Graph shows the minimum date for it, as Intune does; ztd's own JSON
            // shows this real time instead of a negative epoch. It never orders the default (always last).
            created_at: now,
            updated_at: now,
        }
    }

    /// Checks an ESP before it is stored; returns every broken rule, each naming the Graph property.
    ///
    /// Rules: `displayName` required (≤ 200, `[I]`), `description` ≤ 1500 (`[I]`),
    /// `installProgressTimeoutInMinutes` in [`ESP_TIMEOUT_MINUTES`] (`[I]`), `selectedMobileAppIds` ≤ 100
    /// with no blank or repeated id; the default ESP keeps its id, priority 0 and no assignments (Graph:
    /// "cannot be assigned"), and any other ESP has priority ≥ 1 (0 belongs to the default). Not checked:
    /// the per-tenant count ([`MAX_ESP_PER_TENANT`], a store-level rule) and `customErrorMessage` (free text).
    pub fn validate(&self) -> Result<(), Vec<DomainError>> {
        let mut errors = Vec::new();
        let name_len = self.display_name.chars().count();
        if self.display_name.trim().is_empty() {
            errors.push(DomainError::invalid(
                "displayName",
                "an Enrollment Status Page profile needs a name",
            ));
        } else if name_len > MAX_ESP_DISPLAY_NAME_LEN {
            errors.push(DomainError::invalid(
                "displayName",
                format!("the name is {name_len} characters long; the most is {MAX_ESP_DISPLAY_NAME_LEN}"),
            ));
        }
        let description_len = self.description.chars().count();
        if description_len > MAX_ESP_DESCRIPTION_LEN {
            errors.push(DomainError::invalid(
                "description",
                format!(
                    "the description is {description_len} characters long; the most is {MAX_ESP_DESCRIPTION_LEN}"
                ),
            ));
        }
        let timeout = self.settings.install_progress_timeout_in_minutes;
        if !ESP_TIMEOUT_MINUTES.contains(&timeout) {
            errors.push(DomainError::invalid(
                "installProgressTimeoutInMinutes",
                format!(
                    "{timeout} minutes is out of range: use {} to {} (the default is 60)",
                    ESP_TIMEOUT_MINUTES.start(),
                    ESP_TIMEOUT_MINUTES.end()
                ),
            ));
        }
        let apps = &self.settings.selected_mobile_app_ids;
        if apps.len() > MAX_ESP_SELECTED_APPS {
            errors.push(DomainError::invalid(
                "selectedMobileAppIds",
                format!(
                    "{} blocking apps are selected; the most is {MAX_ESP_SELECTED_APPS}",
                    apps.len()
                ),
            ));
        }
        if apps.iter().any(|app| app.trim().is_empty()) {
            errors.push(DomainError::invalid(
                "selectedMobileAppIds",
                "an app id is blank",
            ));
        }
        let mut seen = BTreeSet::new();
        if let Some(repeated) = apps.iter().find(|app| !seen.insert(app.as_str())) {
            errors.push(DomainError::invalid(
                "selectedMobileAppIds",
                format!("app {repeated} is listed more than once"),
            ));
        }
        if self.is_default() {
            if self.id != Self::default_id(self.tenant_id) {
                errors.push(DomainError::invalid(
                    "id",
                    "a default ESP id must be the tenant's own id followed by \
                     _DefaultWindows10EnrollmentCompletionPageConfiguration",
                ));
            }
            if self.priority != 0 {
                errors.push(DomainError::invalid(
                    "priority",
                    "the default ESP always has priority 0: it applies only when no other ESP does",
                ));
            }
            if !self.assignments.is_empty() {
                errors.push(DomainError::invalid(
                    "assignments",
                    "the default ESP applies to all users and all devices and cannot be assigned",
                ));
            }
        } else if self.priority < 1 {
            errors.push(DomainError::invalid(
                "priority",
                format!(
                    "priority {} is reserved or invalid: ESPs other than the default have priority 1 or more",
                    self.priority
                ),
            ));
        }
        if errors.is_empty() {
            Ok(())
        } else {
            Err(errors)
        }
    }

    /// Whether the Graph `assign` action may run on this ESP (not on the default).
    pub fn can_assign(&self) -> Result<(), DomainError> {
        if self.is_default() {
            Err(DomainError::invalid(
                "assignments",
                "the default ESP applies to all users and all devices and cannot be assigned",
            ))
        } else {
            Ok(())
        }
    }

    /// Whether the Graph `setPriority` action may set `priority` (never on the default; never below 1).
    pub fn can_set_priority(&self, priority: i32) -> Result<(), DomainError> {
        if self.is_default() {
            Err(DomainError::invalid(
                "priority",
                "the priority of the default ESP cannot change: it always applies last",
            ))
        } else if priority < 1 {
            Err(DomainError::invalid(
                "priority",
                format!(
                    "priority {priority} is invalid: use 1 or more (0 belongs to the default ESP)"
                ),
            ))
        } else {
            Ok(())
        }
    }

    /// Whether the ESP may be deleted (the default may not: every tenant has one).
    pub fn can_delete(&self) -> Result<(), DomainError> {
        if self.is_default() {
            Err(DomainError::conflict(
                "the default ESP cannot be deleted; change its settings instead",
            ))
        } else {
            Ok(())
        }
    }
}

/// What happened to one ESP in a resolution.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", tag = "kind")]
pub enum EspOutcome {
    /// Targeted at the device, not excluded, lowest priority number.
    Won,
    /// Targeted at the device, but another targeted ESP has a lower priority number.
    LostToHigherPriority { winner: String },
    /// Targeted, but excluded through a group the device is in.
    Excluded,
    /// Not targeted at the device.
    NotTargeted,
    /// The tenant default, applied because no other ESP is targeted at the device.
    DefaultApplied,
    /// The tenant default, not needed because a targeted ESP applies.
    DefaultNotNeeded { winner: String },
}

/// One ESP as the resolution saw it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ConsideredEsp {
    pub esp_id: String,
    pub display_name: String,
    pub priority: i32,
    /// The ESP's targets that include the device.
    pub via: Vec<AssignmentTarget>,
    /// The device's groups this ESP excludes.
    pub excluded_by: Vec<GroupId>,
    pub outcome: EspOutcome,
}

/// The ESP a device gets, why, and every ESP with its outcome (in contest order, the default last).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct EspResolution {
    /// The winning ESP's id.
    pub winner: Option<String>,
    pub reason: String,
    pub considered: Vec<ConsideredEsp>,
}

/// Which ESP a device in `device_groups` gets (behaviour spec §4, "Priority").
///
/// 1. Among ESPs other than the default that are targeted at the device (a group include of a group it is
///    in, or All Devices) and not excluded through one of its groups (exclusion beats inclusion, All
///    Devices included, as for profiles), the **lowest `priority` number** wins. `[I]` The service keeps
///    priorities unique; if two are equal, the older `createdDateTime` wins, then the smaller id.
/// 2. Otherwise the tenant default ESP (`is_default()`) applies; if the list holds several (it should not),
///    the smallest id. Assignments on the default are ignored: it is the fallback, never targeted.
/// 3. Otherwise none.
///
/// ztd targets ESPs **at devices only**. The service's second step (the highest-priority *user*-targeted
/// ESP) is out of scope: user-targeted blocking apps are ignored during device ESP anyway (`KI`), and
/// self-deploying and pre-provisioning have no user. The winner is returned even when its
/// `showInstallationProgress` is false: whether the page then shows is for the provisioning plan.
pub fn resolve_esp(device_groups: &BTreeSet<GroupId>, esps: &[EspConfiguration]) -> EspResolution {
    #[derive(PartialEq)]
    enum Tier {
        Targeted,
        Excluded,
        NotTargeted,
        Default,
    }
    let mut ordered: Vec<&EspConfiguration> = esps.iter().collect();
    ordered.sort_by(|a, b| {
        (a.is_default(), a.priority, a.created_at, &a.id).cmp(&(
            b.is_default(),
            b.priority,
            b.created_at,
            &b.id,
        ))
    });
    let mut rows: Vec<(ConsideredEsp, Tier)> = Vec::with_capacity(ordered.len());
    for esp in ordered {
        let mut via = BTreeSet::new();
        let mut excluded_by = BTreeSet::new();
        if !esp.is_default() {
            for target in &esp.assignments {
                match *target {
                    AssignmentTarget::AllDevices => {
                        via.insert(*target);
                    }
                    AssignmentTarget::Group(group) if device_groups.contains(&group) => {
                        via.insert(*target);
                    }
                    AssignmentTarget::ExcludeGroup(group) if device_groups.contains(&group) => {
                        excluded_by.insert(group);
                    }
                    AssignmentTarget::Group(_) | AssignmentTarget::ExcludeGroup(_) => {}
                }
            }
        }
        let tier = if esp.is_default() {
            Tier::Default
        } else if via.is_empty() {
            Tier::NotTargeted
        } else if !excluded_by.is_empty() {
            Tier::Excluded
        } else {
            Tier::Targeted
        };
        rows.push((
            ConsideredEsp {
                esp_id: esp.id.clone(),
                display_name: esp.display_name.clone(),
                priority: esp.priority,
                via: via.into_iter().collect(),
                excluded_by: excluded_by.into_iter().collect(),
                outcome: EspOutcome::NotTargeted,
            },
            tier,
        ));
    }

    let targeted_count = rows.iter().filter(|(_, t)| *t == Tier::Targeted).count();
    let excluded_count = rows.iter().filter(|(_, t)| *t == Tier::Excluded).count();
    let targeted_winner = rows.iter().position(|(_, t)| *t == Tier::Targeted);
    let default_winner = rows.iter().position(|(_, t)| *t == Tier::Default);
    let winner_at = targeted_winner.or(default_winner);
    let winner_id = winner_at
        .and_then(|at| rows.get(at))
        .map(|(row, _)| row.esp_id.clone());

    for (at, (row, tier)) in rows.iter_mut().enumerate() {
        let winner = winner_id.clone().unwrap_or_default();
        row.outcome = match tier {
            Tier::Targeted if Some(at) == winner_at => EspOutcome::Won,
            Tier::Targeted => EspOutcome::LostToHigherPriority { winner },
            Tier::Excluded => EspOutcome::Excluded,
            Tier::NotTargeted => EspOutcome::NotTargeted,
            Tier::Default if Some(at) == winner_at => EspOutcome::DefaultApplied,
            Tier::Default if targeted_winner.is_some() => EspOutcome::DefaultNotNeeded { winner },
            // A second default ESP (ill-formed data) that lost to the first.
            Tier::Default => EspOutcome::NotTargeted,
        };
    }

    let winner_row = winner_at.and_then(|at| rows.get(at)).map(|(row, _)| row);
    let excluded_note = if excluded_count > 0 {
        format!(" ({excluded_count} targeted ESP(s) excluded through the device's groups)")
    } else {
        String::new()
    };
    let reason = match (winner_row, targeted_winner.is_some()) {
        (Some(row), true) => {
            let targets: Vec<String> = row
                .via
                .iter()
                .map(|t| match t {
                    AssignmentTarget::AllDevices => "All Devices".to_string(),
                    AssignmentTarget::Group(group) | AssignmentTarget::ExcludeGroup(group) => {
                        format!("group {group}")
                    }
                })
                .collect();
            let mut reason = format!(
                "ESP \"{}\" ({}) applies: it is targeted at the device through {} with priority {}",
                row.display_name,
                row.esp_id,
                targets.join(", "),
                row.priority
            );
            if targeted_count > 1 {
                reason.push_str(&format!(
                    ", the highest of the {targeted_count} ESPs targeted at the device (lowest number wins)"
                ));
            }
            reason.push('.');
            reason
        }
        (Some(row), false) => format!(
            "No other ESP is targeted at the device{excluded_note}, so the tenant default \"{}\" applies.",
            row.display_name
        ),
        (None, _) => format!(
            "No ESP applies: none is targeted at the device{excluded_note} and there is no tenant default."
        ),
    };

    EspResolution {
        winner: winner_id,
        reason,
        considered: rows.into_iter().map(|(row, _)| row).collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use uuid::Uuid;

    const TENANT: TenantId = TenantId(Uuid::from_u128(0xaa));

    fn gid(n: u128) -> GroupId {
        GroupId(Uuid::from_u128(0x2000 + n))
    }

    fn groups(ids: &[u128]) -> BTreeSet<GroupId> {
        ids.iter().map(|&n| gid(n)).collect()
    }

    fn esp(id: &str, priority: i32, assignments: Vec<AssignmentTarget>) -> EspConfiguration {
        EspConfiguration {
            tenant_id: TENANT,
            id: id.to_string(),
            display_name: format!("ESP {id}"),
            description: String::new(),
            priority,
            settings: EspSettings::default(),
            assignments,
            assignment_filters: Vec::new(),
            role_scope_tag_ids: Vec::new(),
            created_at: Timestamp(1_000),
            updated_at: Timestamp(1_000),
        }
    }

    fn default_esp() -> EspConfiguration {
        EspConfiguration::default_for(TENANT, Timestamp(5_000))
    }

    fn outcome(r: &EspResolution, id: &str) -> Option<EspOutcome> {
        r.considered
            .iter()
            .find(|c| c.esp_id == id)
            .map(|c| c.outcome.clone())
    }

    #[test]
    fn lowest_priority_number_wins_among_targeted_esps() {
        let esps = [
            esp("b", 2, vec![AssignmentTarget::Group(gid(1))]),
            esp("a", 1, vec![AssignmentTarget::Group(gid(2))]),
            default_esp(),
        ];
        let r = resolve_esp(&groups(&[1, 2]), &esps);
        assert_eq!(r.winner.as_deref(), Some("a"));
        assert_eq!(
            outcome(&r, "b"),
            Some(EspOutcome::LostToHigherPriority { winner: "a".into() })
        );
        assert_eq!(
            outcome(&r, &EspConfiguration::default_id(TENANT)),
            Some(EspOutcome::DefaultNotNeeded { winner: "a".into() })
        );
        assert!(r.reason.contains("highest of the 2"), "{}", r.reason);
    }

    #[test]
    fn all_devices_target_competes_on_priority_with_group_targets() {
        let esps = [
            esp("all", 1, vec![AssignmentTarget::AllDevices]),
            esp("group", 2, vec![AssignmentTarget::Group(gid(1))]),
        ];
        assert_eq!(
            resolve_esp(&groups(&[1]), &esps).winner.as_deref(),
            Some("all")
        );
    }

    #[test]
    fn default_esp_applies_when_nothing_targets_the_device() {
        let esps = [
            esp("a", 1, vec![AssignmentTarget::Group(gid(1))]),
            default_esp(),
        ];
        let r = resolve_esp(&groups(&[7]), &esps);
        assert_eq!(r.winner, Some(EspConfiguration::default_id(TENANT)));
        assert_eq!(outcome(&r, "a"), Some(EspOutcome::NotTargeted));
        assert!(
            r.reason.contains("All users and all devices"),
            "{}",
            r.reason
        );
    }

    #[test]
    fn esp_exclusion_beats_inclusion_and_falls_back_to_the_default() {
        let esps = [
            esp(
                "a",
                1,
                vec![
                    AssignmentTarget::AllDevices,
                    AssignmentTarget::ExcludeGroup(gid(3)),
                ],
            ),
            default_esp(),
        ];
        let r = resolve_esp(&groups(&[3]), &esps);
        assert_eq!(r.winner, Some(EspConfiguration::default_id(TENANT)));
        assert_eq!(outcome(&r, "a"), Some(EspOutcome::Excluded));
        assert!(
            r.reason.contains("1 targeted ESP(s) excluded"),
            "{}",
            r.reason
        );
        assert_eq!(
            resolve_esp(&groups(&[1]), &esps).winner.as_deref(),
            Some("a")
        );
    }

    #[test]
    fn no_esp_applies_without_targets_or_default() {
        let r = resolve_esp(&groups(&[1]), &[esp("a", 1, vec![])]);
        assert_eq!(r.winner, None);
        assert!(r.reason.starts_with("No ESP applies"), "{}", r.reason);
    }

    #[test]
    fn assignments_on_the_default_esp_are_ignored() {
        let mut default = default_esp();
        default.assignments = vec![AssignmentTarget::Group(gid(1))];
        let esps = [default, esp("a", 5, vec![AssignmentTarget::Group(gid(1))])];
        assert_eq!(
            resolve_esp(&groups(&[1]), &esps).winner.as_deref(),
            Some("a")
        );
    }

    #[test]
    fn equal_priorities_break_ties_on_age_then_id() {
        let mut older = esp("z", 1, vec![AssignmentTarget::AllDevices]);
        older.created_at = Timestamp(10);
        let esps = [
            esp("b", 1, vec![AssignmentTarget::AllDevices]),
            older.clone(),
        ];
        assert_eq!(
            resolve_esp(&groups(&[]), &esps).winner.as_deref(),
            Some("z")
        );
        let esps = [
            esp("b", 1, vec![AssignmentTarget::AllDevices]),
            esp("a", 1, vec![AssignmentTarget::AllDevices]),
        ];
        assert_eq!(
            resolve_esp(&groups(&[]), &esps).winner.as_deref(),
            Some("a")
        );
    }

    #[test]
    fn default_for_matches_the_live_default() {
        let default = default_esp();
        assert_eq!(
            default.id,
            format!(
                "{}_DefaultWindows10EnrollmentCompletionPageConfiguration",
                TENANT
            )
        );
        assert!(default.is_default());
        assert_eq!(default.display_name, "All users and all devices");
        assert_eq!(default.priority, 0);
        assert_eq!(default.created_at, Timestamp(5_000));
        assert_eq!(default.updated_at, Timestamp(5_000));
        assert!(default.assignments.is_empty());
        assert!(default.validate().is_ok());
    }

    fn fields(esp: &EspConfiguration) -> Vec<String> {
        match esp.validate() {
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
    fn esp_validation_names_each_broken_rule() {
        type Edit = fn(&mut EspConfiguration);
        let cases: &[(&str, Edit, &[&str])] = &[
            ("valid", |_| {}, &[]),
            (
                "blank name",
                |e| e.display_name = " ".into(),
                &["displayName"],
            ),
            (
                "long name",
                |e| e.display_name = "x".repeat(201),
                &["displayName"],
            ),
            (
                "long description",
                |e| e.description = "x".repeat(1501),
                &["description"],
            ),
            (
                "zero timeout",
                |e| e.settings.install_progress_timeout_in_minutes = 0,
                &["installProgressTimeoutInMinutes"],
            ),
            (
                "day-long timeout",
                |e| e.settings.install_progress_timeout_in_minutes = 1440,
                &[],
            ),
            (
                "timeout in seconds",
                |e| e.settings.install_progress_timeout_in_minutes = 3600,
                &["installProgressTimeoutInMinutes"],
            ),
            (
                "100 apps",
                |e| e.settings.selected_mobile_app_ids = (0..100).map(|n| n.to_string()).collect(),
                &[],
            ),
            (
                "101 apps",
                |e| e.settings.selected_mobile_app_ids = (0..101).map(|n| n.to_string()).collect(),
                &["selectedMobileAppIds"],
            ),
            (
                "blank app",
                |e| e.settings.selected_mobile_app_ids = vec![String::new()],
                &["selectedMobileAppIds"],
            ),
            (
                "repeated app",
                |e| e.settings.selected_mobile_app_ids = vec!["a".into(), "a".into()],
                &["selectedMobileAppIds"],
            ),
            ("priority 0", |e| e.priority = 0, &["priority"]),
        ];
        for (what, edit, expected) in cases {
            let mut config = esp("a", 1, vec![AssignmentTarget::AllDevices]);
            edit(&mut config);
            assert_eq!(fields(&config), expected.to_vec(), "{what}");
        }
    }

    #[test]
    fn default_esp_cannot_be_assigned_reprioritised_or_deleted() {
        let mut default = default_esp();
        default.priority = 3;
        default.assignments = vec![AssignmentTarget::AllDevices];
        assert_eq!(fields(&default), vec!["priority", "assignments"]);
        let default = default_esp();
        assert!(default.can_assign().is_err());
        assert!(default.can_set_priority(1).is_err());
        assert!(default.can_delete().is_err());
        let other = esp("a", 1, vec![]);
        assert!(other.can_assign().is_ok());
        assert!(other.can_set_priority(2).is_ok());
        assert!(other.can_set_priority(0).is_err());
        assert!(other.can_delete().is_ok());
    }

    #[test]
    fn default_id_of_another_tenant_is_refused() {
        let mut default = default_esp();
        default.tenant_id = TenantId(Uuid::from_u128(0xbb));
        assert_eq!(fields(&default), vec!["id"]);
    }
}
