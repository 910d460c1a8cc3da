//! Role scope tags (Intune's `roleScopeTag`) and assignment filters (Intune's
//! `deviceAndAppManagementAssignmentFilter`), and the filter an assignment may carry.
//!
//! A filter's rule is kept as the admin wrote it; its syntax is checked and evaluated by `ztd-rules`
//! (`parse_filter`) in the use cases, since this crate depends on no other ztd crate. What is decided here:
//! the objects' own rules (names, platform, tag ids) and what an assignment's filter means.

use std::collections::BTreeSet;

use serde::{Deserialize, Serialize};

use crate::{DomainError, TenantId, Timestamp};

/// The id of the built-in `Default` scope tag, present in every tenant.
pub const DEFAULT_SCOPE_TAG_ID: &str = "0";
/// Its display name.
pub const DEFAULT_SCOPE_TAG_NAME: &str = "Default";
/// The longest scope tag or filter display name (`[I]`: Intune's portal stops at 128 for tags; ztd uses
/// the same for both).
pub const MAX_NAME_CHARS: usize = 128;
/// The longest description (`[I]`: Intune's portal stops at 1,024).
pub const MAX_DESCRIPTION_CHARS: usize = 1024;
/// The most scope tags one object may carry (`[I]`: the number of custom tags Intune allows a tenant).
pub const MAX_TAGS_PER_OBJECT: usize = 100;
/// The most custom scope tags a tenant may hold (`[I]`: Intune documents none; a bound for the store).
pub const MAX_SCOPE_TAGS: usize = 500;
/// The most assignment filters a tenant may hold (Intune: 200 per tenant).
pub const MAX_FILTERS: usize = 200;
/// The only filter platform ztd evaluates.
pub const FILTER_PLATFORM: &str = "windows10AndLater";
/// Every platform Graph names, for the error that refuses the others.
pub const GRAPH_FILTER_PLATFORMS: &[&str] = &[
    "android",
    "androidForWork",
    "iOS",
    "macOS",
    "windowsPhone81",
    "windows81AndLater",
    "windows10AndLater",
    "androidWorkProfile",
    "unknown",
    "androidAOSP",
    "androidMobileApplicationManagement",
    "iOSMobileApplicationManagement",
    "windowsMobileApplicationManagement",
];

/// A role scope tag. The built-in `Default` (id `"0"`) is not stored: [`RoleScopeTag::builtin`].
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RoleScopeTag {
    pub tenant_id: TenantId,
    /// A small integer as text, as Intune numbers them: `"1"`, `"2"`, … per tenant, never reused.
    pub id: String,
    pub display_name: String,
    pub description: String,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
}

impl RoleScopeTag {
    /// The tenant's built-in `Default` tag.
    pub fn builtin(tenant_id: TenantId) -> Self {
        Self {
            tenant_id,
            id: DEFAULT_SCOPE_TAG_ID.into(),
            display_name: DEFAULT_SCOPE_TAG_NAME.into(),
            description: String::new(),
            created_at: Timestamp(0),
            updated_at: Timestamp(0),
        }
    }

    pub fn is_builtin(&self) -> bool {
        self.id == DEFAULT_SCOPE_TAG_ID
    }

    /// Checks a custom tag's name and description.
    pub fn validate(&self) -> Result<(), DomainError> {
        check_name(&self.display_name, "a scope tag")?;
        check_description(&self.description)?;
        if self
            .display_name
            .trim()
            .eq_ignore_ascii_case(DEFAULT_SCOPE_TAG_NAME)
        {
            return Err(DomainError::invalid(
                "displayName",
                "Default is the built-in scope tag's name",
            ));
        }
        Ok(())
    }
}

fn check_name(name: &str, what: &str) -> Result<(), DomainError> {
    let n = name.trim().chars().count();
    if n == 0 || n > MAX_NAME_CHARS || name.chars().any(char::is_control) {
        return Err(DomainError::invalid(
            "displayName",
            format!("{what} needs a display name of 1 to {MAX_NAME_CHARS} characters"),
        ));
    }
    Ok(())
}

fn check_description(text: &str) -> Result<(), DomainError> {
    if text.chars().count() > MAX_DESCRIPTION_CHARS {
        return Err(DomainError::invalid(
            "description",
            format!("a description has at most {MAX_DESCRIPTION_CHARS} characters"),
        ));
    }
    Ok(())
}

/// The id the next custom tag gets: one more than the highest ever issued (`counter`), as text.
pub fn next_scope_tag_id(counter: u64) -> String {
    (counter + 1).to_string()
}

/// The scope tag ids an object carries, as sent (`None`: absent): absent → `["0"]`; order kept, duplicates
/// dropped; each id a non-negative integer; at most [`MAX_TAGS_PER_OBJECT`]. Whether each exists in the
/// tenant is the caller's check ([`unknown_tag`]).
pub fn scope_tag_ids(field: &str, sent: Option<Vec<String>>) -> Result<Vec<String>, DomainError> {
    let Some(sent) = sent else {
        return Ok(vec![DEFAULT_SCOPE_TAG_ID.into()]);
    };
    let mut out: Vec<String> = Vec::new();
    for id in sent {
        let id = id.trim().to_string();
        if id.is_empty() || id.len() > 10 || !id.bytes().all(|b| b.is_ascii_digit()) {
            return Err(DomainError::invalid(
                field,
                format!(
                    "{:?} is not a scope tag id (ids are numbers as text: \"0\" is Default)",
                    id.chars().take(40).collect::<String>()
                ),
            ));
        }
        if !out.contains(&id) {
            out.push(id);
        }
    }
    if out.len() > MAX_TAGS_PER_OBJECT {
        return Err(DomainError::invalid(
            field,
            format!("an object carries at most {MAX_TAGS_PER_OBJECT} scope tags"),
        ));
    }
    Ok(out)
}

/// The first of `ids` that is neither the built-in tag nor one of `existing`, as the error naming it.
pub fn unknown_tag(
    field: &str,
    ids: &[String],
    existing: &BTreeSet<String>,
) -> Result<(), DomainError> {
    match ids
        .iter()
        .find(|id| id.as_str() != DEFAULT_SCOPE_TAG_ID && !existing.contains(*id))
    {
        Some(id) => Err(DomainError::invalid(
            field,
            format!("no scope tag has the id {id:?} in this tenant"),
        )),
        None => Ok(()),
    }
}

/// An assignment filter.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AssignmentFilter {
    pub tenant_id: TenantId,
    pub id: uuid::Uuid,
    pub display_name: String,
    pub description: String,
    /// Graph's `devicePlatformType`; ztd takes only [`FILTER_PLATFORM`].
    pub platform: String,
    /// The rule as the admin wrote it.
    pub rule: String,
    pub role_scope_tag_ids: Vec<String>,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
}

impl AssignmentFilter {
    /// Checks everything but the rule's syntax (the caller parses it).
    pub fn validate(&self) -> Result<(), DomainError> {
        check_name(&self.display_name, "a filter")?;
        check_description(&self.description)?;
        if self.platform != FILTER_PLATFORM {
            let known = GRAPH_FILTER_PLATFORMS.iter().any(|p| *p == self.platform);
            return Err(DomainError::invalid(
                "platform",
                format!(
                    "ztd evaluates filters on managed Windows devices only: platform must be {FILTER_PLATFORM}{}",
                    if known {
                        format!(" ({} is a Graph platform ztd does not manage)", self.platform)
                    } else {
                        format!(
                            " ({:?} is not a Graph devicePlatformType)",
                            self.platform.chars().take(40).collect::<String>()
                        )
                    }
                ),
            ));
        }
        if self.rule.trim().is_empty() {
            return Err(DomainError::invalid("rule", "a filter needs a rule"));
        }
        Ok(())
    }
}

/// What an assignment does with its filter (Graph `deviceAndAppManagementAssignmentFilterType`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum FilterMode {
    /// The assignment applies only to devices the filter matches.
    Include,
    /// The assignment applies to devices the filter does not match.
    Exclude,
}

impl FilterMode {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Include => "include",
            Self::Exclude => "exclude",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        match text {
            "include" => Some(Self::Include),
            "exclude" => Some(Self::Exclude),
            _ => None,
        }
    }
}

/// The filter an assignment carries.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct FilterRef {
    pub filter_id: uuid::Uuid,
    pub mode: FilterMode,
}

impl FilterRef {
    /// An assignment target's `deviceAndAppManagementAssignmentFilterId` and `…FilterType` (each `None` when
    /// absent or null): no id and type `none` (or neither) → no filter; an id with `include`/`exclude` → the
    /// filter. Anything else is refused: an id with `none`, a type without an id, an id that is not a
    /// filter id, an unknown type.
    pub fn from_graph(id: Option<&str>, mode: Option<&str>) -> Result<Option<Self>, DomainError> {
        const ID: &str = "target.deviceAndAppManagementAssignmentFilterId";
        const TYPE: &str = "target.deviceAndAppManagementAssignmentFilterType";
        let id = id.map(str::trim).filter(|s| !s.is_empty());
        let mode = match mode {
            None | Some("none") => None,
            Some(text) => Some(FilterMode::parse(text).ok_or_else(|| {
                DomainError::invalid(TYPE, "the filter type is none, include or exclude")
            })?),
        };
        match (id, mode) {
            (None, None) => Ok(None),
            (Some(_), None) => Err(DomainError::invalid(
                TYPE,
                "an assignment with a filter id needs the filter type include or exclude",
            )),
            (None, Some(mode)) => Err(DomainError::invalid(
                ID,
                format!("the filter type {} needs a filter id", mode.as_str()),
            )),
            (Some(id), Some(mode)) => {
                let filter_id = uuid::Uuid::parse_str(id).map_err(|_| {
                    DomainError::invalid(
                        ID,
                        format!(
                            "{:?} is not an assignment filter id",
                            id.chars().take(40).collect::<String>()
                        ),
                    )
                })?;
                Ok(Some(Self { filter_id, mode }))
            }
        }
    }

    /// Whether an assignment with this filter applies to a device that matches the filters in `matching`.
    pub fn allows(filter: Option<&FilterRef>, matching: &BTreeSet<uuid::Uuid>) -> bool {
        match filter {
            None => true,
            Some(f) => match f.mode {
                FilterMode::Include => matching.contains(&f.filter_id),
                FilterMode::Exclude => !matching.contains(&f.filter_id),
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tag_ids_default_dedupe_and_refuse_non_numbers() {
        assert_eq!(scope_tag_ids("roleScopeTagIds", None).unwrap(), vec!["0"]);
        assert_eq!(
            scope_tag_ids(
                "roleScopeTagIds",
                Some(vec!["2".into(), "0".into(), "2".into()])
            )
            .unwrap(),
            vec!["2", "0"]
        );
        assert!(scope_tag_ids("roleScopeTagIds", Some(vec!["Default".into()])).is_err());
        assert!(scope_tag_ids("roleScopeTagIds", Some(vec![]))
            .unwrap()
            .is_empty());
        let existing: BTreeSet<String> = ["1".to_string()].into();
        assert!(unknown_tag("roleScopeTagIds", &["0".into(), "1".into()], &existing).is_ok());
        match unknown_tag("roleScopeTagIds", &["1".into(), "7".into()], &existing) {
            Err(DomainError::InvalidField { message, .. }) => assert!(message.contains("\"7\"")),
            other => panic!("{other:?}"),
        }
        assert_eq!(next_scope_tag_id(0), "1");
    }

    #[test]
    fn filter_refs_follow_graphs_pairs() {
        let id = "5f2c1f5e-1d5b-4a4e-9d7c-3b8a8f2e6c11";
        assert_eq!(FilterRef::from_graph(None, None).unwrap(), None);
        assert_eq!(FilterRef::from_graph(None, Some("none")).unwrap(), None);
        assert!(FilterRef::from_graph(Some(id), Some("none")).is_err());
        assert!(FilterRef::from_graph(Some(id), None).is_err());
        assert!(FilterRef::from_graph(None, Some("include")).is_err());
        assert!(FilterRef::from_graph(Some("nope"), Some("include")).is_err());
        assert!(FilterRef::from_graph(Some(id), Some("sometimes")).is_err());
        let f = FilterRef::from_graph(Some(id), Some("exclude"))
            .unwrap()
            .unwrap();
        assert_eq!(f.mode, FilterMode::Exclude);
        let matching: BTreeSet<uuid::Uuid> = [f.filter_id].into();
        assert!(!FilterRef::allows(Some(&f), &matching));
        assert!(FilterRef::allows(Some(&f), &BTreeSet::new()));
        let inc = FilterRef {
            mode: FilterMode::Include,
            ..f
        };
        assert!(FilterRef::allows(Some(&inc), &matching));
        assert!(!FilterRef::allows(Some(&inc), &BTreeSet::new()));
        assert!(FilterRef::allows(None, &BTreeSet::new()));
    }

    #[test]
    fn filters_take_windows_only() {
        let mut f = AssignmentFilter {
            tenant_id: TenantId(uuid::Uuid::nil()),
            id: uuid::Uuid::nil(),
            display_name: "Surface".into(),
            description: String::new(),
            platform: FILTER_PLATFORM.into(),
            rule: "(device.model -startsWith \"Surface\")".into(),
            role_scope_tag_ids: vec!["0".into()],
            created_at: Timestamp(0),
            updated_at: Timestamp(0),
        };
        assert!(f.validate().is_ok());
        f.platform = "iOS".into();
        match f.validate() {
            Err(DomainError::InvalidField { field, message }) => {
                assert_eq!(field, "platform");
                assert!(message.contains("windows10AndLater"));
            }
            other => panic!("{other:?}"),
        }
    }
}
