//! Role scope tags and assignment filters (docs/graph-api.md): their use cases, the checks every object
//! carrying tags or assignments with filters goes through, and a managed device's view for filter rules.
//!
//! Decisions: the built-in `Default` tag (`"0"`) is in every tenant without being stored and can be neither
//! changed nor deleted; a custom tag or a filter still carried by an object cannot be deleted (409 naming
//! the objects) — Intune refuses to delete a filter in use, and ztd refuses a tag in use rather than leave
//! objects naming a tag that no longer exists.

use std::collections::BTreeSet;

use ztd_core::device_policy::{self, PolicyKind};
use ztd_core::error::ObjectKind;
use ztd_core::event::EventKind;
use ztd_core::managed::{EnrollmentType, JoinType, ManagedDevice};
use ztd_core::scope::{
    self, AssignmentFilter, FilterRef, RoleScopeTag, DEFAULT_SCOPE_TAG_ID, MAX_FILTERS,
    MAX_SCOPE_TAGS,
};
use ztd_core::{DomainError, TenantId};
use ztd_rules::Dialect;
use ztd_store::{Lock, Tx};

use crate::{App, AppError, AppResult};

/// Graph's `roleScopeTagIds` property name, the field scope tag errors name.
pub const TAGS_FIELD: &str = "roleScopeTagIds";

/// A filter rule checked: `Ok` or the problem, positioned.
pub fn check_filter_rule(rule: &str) -> AppResult<ztd_rules::Rule> {
    ztd_rules::parse_filter(rule).map_err(|e| {
        AppError::invalid(
            "rule",
            format!("{} (line {}, column {})", e.message, e.line, e.column),
        )
    })
}

/// Checks that every id of `ids` is a tag of the tenant (or the built-in one).
pub(crate) async fn check_tags(
    tx: &mut Tx,
    tenant: TenantId,
    field: &str,
    ids: &[String],
) -> AppResult<()> {
    if ids.iter().all(|id| id == DEFAULT_SCOPE_TAG_ID) {
        return Ok(());
    }
    let existing: BTreeSet<String> = tx
        .list_scope_tags(tenant)
        .await?
        .into_iter()
        .map(|t| t.id)
        .collect();
    scope::unknown_tag(field, ids, &existing)?;
    Ok(())
}

/// The tag ids an object carries as sent (`None`: absent, `["0"]`), normalised and checked against the
/// tenant's tags. Ids the object already carries (`kept`) pass as they are, so an object stored before its
/// tags were checked still takes a round trip of what it reads.
pub(crate) async fn tags_of(
    tx: &mut Tx,
    tenant: TenantId,
    sent: Option<Vec<String>>,
    kept: &[String],
) -> AppResult<Vec<String>> {
    let ids = scope::scope_tag_ids(TAGS_FIELD, sent)?;
    let new: Vec<String> = ids
        .iter()
        .filter(|id| !kept.contains(id))
        .cloned()
        .collect();
    check_tags(tx, tenant, TAGS_FIELD, &new).await?;
    Ok(ids)
}

/// Checks that an assignment's filter is a filter of the tenant.
pub(crate) async fn check_filter(
    tx: &mut Tx,
    tenant: TenantId,
    filter: Option<&FilterRef>,
) -> AppResult<()> {
    if let Some(f) = filter {
        if tx
            .get_assignment_filter(tenant, f.filter_id)
            .await?
            .is_none()
        {
            return Err(AppError::invalid(
                "target.deviceAndAppManagementAssignmentFilterId",
                format!(
                    "no assignment filter has the id {} in this tenant",
                    f.filter_id
                ),
            ));
        }
    }
    Ok(())
}

/// A managed device as filter rules see it: the properties ztd knows of it.
pub fn filter_device(device: &ManagedDevice) -> ztd_rules::Device {
    let mut d = ztd_rules::Device::new();
    let mut set = |name: &str, value: &str| {
        let value = (!value.is_empty()).then(|| value.to_string());
        d.set_in(Dialect::Filter, name, value);
    };
    set("deviceName", &device.device_name);
    set("manufacturer", device.manufacturer());
    set("model", device.model());
    set("osVersion", device.os_version());
    set(
        "deviceOwnership",
        match device.enrollment_type {
            EnrollmentType::Device => "Corporate",
            EnrollmentType::Full => "Personal",
        },
    );
    set(
        "deviceTrustType",
        match device.join_type {
            JoinType::AzureAdJoined => "Azure AD joined",
            JoinType::AzureAdRegistered => "Azure AD registered",
            JoinType::HybridAzureAdJoined => "Hybrid Azure AD joined",
            JoinType::Unknown => "",
        },
    );
    d
}

/// Which of the filters `ids` the device matches (a filter that no longer exists matches nothing).
pub(crate) async fn matching_filters(
    tx: &mut Tx,
    device: &ManagedDevice,
    ids: &BTreeSet<uuid::Uuid>,
) -> AppResult<BTreeSet<uuid::Uuid>> {
    let mut out = BTreeSet::new();
    if ids.is_empty() {
        return Ok(out);
    }
    let view = filter_device(device);
    for filter in tx.list_assignment_filters(device.tenant_id).await? {
        if !ids.contains(&filter.id) {
            continue;
        }
        // Stored rules were checked when written; one that no longer parses matches nothing.
        if ztd_rules::parse_filter(&filter.rule).is_ok_and(|rule| rule.evaluate(&view)) {
            out.insert(filter.id);
        }
    }
    Ok(out)
}

fn tags_of_document(doc: &serde_json::Map<String, serde_json::Value>) -> Vec<String> {
    doc.get(TAGS_FIELD)
        .and_then(|v| v.as_array())
        .map(|ids| {
            ids.iter()
                .filter_map(|v| v.as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_else(|| vec![DEFAULT_SCOPE_TAG_ID.to_string()])
}

impl App {
    /// The tenant's scope tags: the built-in `Default` first, then the custom ones in creation order.
    pub async fn scope_tags(&self, tenant: TenantId) -> AppResult<Vec<RoleScopeTag>> {
        let mut tx = self.store.single_read().await?;
        let mut out = vec![RoleScopeTag::builtin(tenant)];
        out.extend(tx.list_scope_tags(tenant).await?);
        Ok(out)
    }

    pub async fn scope_tag(&self, tenant: TenantId, id: &str) -> AppResult<RoleScopeTag> {
        if id == DEFAULT_SCOPE_TAG_ID {
            return Ok(RoleScopeTag::builtin(tenant));
        }
        let mut tx = self.store.single_read().await?;
        tx.get_scope_tag(tenant, id)
            .await?
            .ok_or_else(|| AppError::not_found(ObjectKind::RoleScopeTag, id))
    }

    /// Creates a custom tag with the next id of the tenant (`"1"`, `"2"`, …; never reused).
    pub async fn create_scope_tag(
        &self,
        tenant: TenantId,
        display_name: String,
        description: String,
    ) -> AppResult<RoleScopeTag> {
        let now = self.now();
        let mut tx = self.store.begin().await?;
        tx.lock(Lock::ScopeTags(tenant)).await?;
        if tx.list_scope_tags(tenant).await?.len() >= MAX_SCOPE_TAGS {
            return Err(AppError::Domain(DomainError::conflict(format!(
                "the tenant already has {MAX_SCOPE_TAGS} scope tags, the most allowed"
            ))));
        }
        let counter = tx.scope_tag_counter(tenant).await?;
        let tag = RoleScopeTag {
            tenant_id: tenant,
            id: scope::next_scope_tag_id(counter),
            display_name: display_name.trim().to_string(),
            description,
            created_at: now,
            updated_at: now,
        };
        tag.validate()?;
        tx.set_scope_tag_counter(tenant, counter + 1).await?;
        tx.upsert_scope_tag(&tag).await?;
        tx.append_events(&[self.event(
            tenant,
            EventKind::ScopeTagCreated,
            &tag.id,
            serde_json::json!({ "displayName": tag.display_name }),
        )])
        .await?;
        tx.commit().await?;
        Ok(tag)
    }

    /// Changes a custom tag's name or description; the built-in tag cannot change.
    pub async fn update_scope_tag(
        &self,
        tenant: TenantId,
        id: &str,
        display_name: Option<String>,
        description: Option<String>,
    ) -> AppResult<RoleScopeTag> {
        if id == DEFAULT_SCOPE_TAG_ID {
            return Err(builtin_tag_refused("changed"));
        }
        let mut tx = self.store.begin().await?;
        // Changes made from what was read run one at a time (another node's PATCH of the same tag).
        tx.lock(Lock::ScopeTags(tenant)).await?;
        let mut tag = tx
            .get_scope_tag(tenant, id)
            .await?
            .ok_or_else(|| AppError::not_found(ObjectKind::RoleScopeTag, id))?;
        if let Some(name) = display_name {
            tag.display_name = name.trim().to_string();
        }
        if let Some(text) = description {
            tag.description = text;
        }
        tag.updated_at = self.now();
        tag.validate()?;
        tx.upsert_scope_tag(&tag).await?;
        tx.append_events(&[self.event(
            tenant,
            EventKind::ScopeTagUpdated,
            &tag.id,
            serde_json::json!({ "displayName": tag.display_name }),
        )])
        .await?;
        tx.commit().await?;
        Ok(tag)
    }

    /// Deletes a custom tag no object carries.
    pub async fn delete_scope_tag(&self, tenant: TenantId, id: &str) -> AppResult<()> {
        if id == DEFAULT_SCOPE_TAG_ID {
            return Err(builtin_tag_refused("deleted"));
        }
        let mut tx = self.store.begin().await?;
        tx.lock(Lock::ScopeTags(tenant)).await?;
        let Some(tag) = tx.get_scope_tag(tenant, id).await? else {
            return Err(AppError::not_found(ObjectKind::RoleScopeTag, id));
        };
        let mut carriers = Vec::new();
        let carries = |ids: &[String]| ids.iter().any(|t| t == id);
        for p in tx.list_profiles(tenant).await? {
            if carries(&p.role_scope_tag_ids) {
                carriers.push(format!("windowsAutopilotDeploymentProfile {}", p.id));
            }
        }
        for e in tx.list_esps(tenant).await? {
            if carries(&e.role_scope_tag_ids) {
                carriers.push(format!("deviceEnrollmentConfiguration {}", e.id));
            }
        }
        for (kind, name) in [
            (PolicyKind::Configuration, "deviceConfiguration"),
            (PolicyKind::Compliance, "deviceCompliancePolicy"),
        ] {
            for p in tx.list_device_policies(tenant, kind).await? {
                if carries(&tags_of_document(&p.document)) {
                    carriers.push(format!("{name} {}", p.id));
                }
            }
        }
        for f in tx.list_assignment_filters(tenant).await? {
            if carries(&f.role_scope_tag_ids) {
                carriers.push(format!("deviceAndAppManagementAssignmentFilter {}", f.id));
            }
        }
        if !carriers.is_empty() {
            return Err(in_use("scope tag", id, &carriers));
        }
        tx.delete_scope_tag(tenant, id).await?;
        tx.append_events(&[self.event(
            tenant,
            EventKind::ScopeTagDeleted,
            id,
            serde_json::json!({ "displayName": tag.display_name }),
        )])
        .await?;
        tx.commit().await?;
        Ok(())
    }

    pub async fn assignment_filters(&self, tenant: TenantId) -> AppResult<Vec<AssignmentFilter>> {
        let mut tx = self.store.single_read().await?;
        Ok(tx.list_assignment_filters(tenant).await?)
    }

    pub async fn assignment_filter(
        &self,
        tenant: TenantId,
        id: uuid::Uuid,
    ) -> AppResult<AssignmentFilter> {
        let mut tx = self.store.single_read().await?;
        tx.get_assignment_filter(tenant, id)
            .await?
            .ok_or_else(|| AppError::not_found(ObjectKind::AssignmentFilter, id))
    }

    /// Creates a filter (`tenant_id`, `id` and the times are set here; `role_scope_tag_ids` `None`: `["0"]`).
    pub async fn create_assignment_filter(
        &self,
        tenant: TenantId,
        mut draft: AssignmentFilter,
        role_scope_tag_ids: Option<Vec<String>>,
    ) -> AppResult<AssignmentFilter> {
        let now = self.now();
        draft.tenant_id = tenant;
        draft.id = self.next_uuid();
        draft.created_at = now;
        draft.updated_at = now;
        draft.validate()?;
        check_filter_rule(&draft.rule)?;
        let mut tx = self.store.begin().await?;
        // "How many are there?" then "add one": one creation at a time, so the limit holds on any node.
        tx.lock(Lock::ScopeTags(tenant)).await?;
        draft.role_scope_tag_ids = tags_of(&mut tx, tenant, role_scope_tag_ids, &[]).await?;
        if tx.list_assignment_filters(tenant).await?.len() >= MAX_FILTERS {
            return Err(AppError::Domain(DomainError::conflict(format!(
                "the tenant already has {MAX_FILTERS} assignment filters, the most allowed"
            ))));
        }
        tx.upsert_assignment_filter(&draft).await?;
        tx.append_events(&[self.event(
            tenant,
            EventKind::AssignmentFilterCreated,
            draft.id,
            serde_json::json!({ "displayName": draft.display_name, "rule": draft.rule }),
        )])
        .await?;
        tx.commit().await?;
        Ok(draft)
    }

    /// Replaces a filter's properties (id, tenant and creation time are kept; `role_scope_tag_ids` `None`:
    /// unchanged). Devices see the new rule at their next session.
    pub async fn update_assignment_filter(
        &self,
        tenant: TenantId,
        mut filter: AssignmentFilter,
        role_scope_tag_ids: Option<Vec<String>>,
    ) -> AppResult<AssignmentFilter> {
        let mut tx = self.store.begin().await?;
        tx.lock(Lock::ScopeTags(tenant)).await?;
        let existing = tx
            .get_assignment_filter(tenant, filter.id)
            .await?
            .ok_or_else(|| AppError::not_found(ObjectKind::AssignmentFilter, filter.id))?;
        // `filter` is what the caller read and changed: if another change landed since, this one would undo
        // it, so it is refused (409) and the caller reads again.
        if existing.updated_at != filter.updated_at {
            return Err(AppError::Store(ztd_store::StoreError::Conflict(
                "the filter changed while this update was made; read it again and retry".into(),
            )));
        }
        filter.tenant_id = tenant;
        filter.created_at = existing.created_at;
        filter.updated_at = self.now();
        filter.role_scope_tag_ids = match role_scope_tag_ids {
            Some(ids) => tags_of(&mut tx, tenant, Some(ids), &existing.role_scope_tag_ids).await?,
            None => existing.role_scope_tag_ids,
        };
        filter.validate()?;
        check_filter_rule(&filter.rule)?;
        tx.upsert_assignment_filter(&filter).await?;
        tx.append_events(&[self.event(
            tenant,
            EventKind::AssignmentFilterUpdated,
            filter.id,
            serde_json::json!({ "displayName": filter.display_name, "rule": filter.rule }),
        )])
        .await?;
        tx.commit().await?;
        Ok(filter)
    }

    /// Deletes a filter no assignment uses (Intune refuses to delete a filter in use).
    pub async fn delete_assignment_filter(
        &self,
        tenant: TenantId,
        id: uuid::Uuid,
    ) -> AppResult<()> {
        let mut tx = self.store.begin().await?;
        // Exclusive against every use case that writes assignments (they take the targeting lock), so no
        // assignment can take this filter between the check below and the deletion.
        tx.lock(Lock::Targeting(tenant)).await?;
        let Some(filter) = tx.get_assignment_filter(tenant, id).await? else {
            return Err(AppError::not_found(ObjectKind::AssignmentFilter, id));
        };
        let mut users = Vec::new();
        for a in tx.list_profile_assignments(tenant).await? {
            if a.filter.is_some_and(|f| f.filter_id == id) {
                users.push(format!(
                    "windowsAutopilotDeploymentProfile {}",
                    a.profile_id
                ));
            }
        }
        for e in tx.list_esps(tenant).await? {
            if e.assignment_filters.iter().any(|(_, f)| f.filter_id == id) {
                users.push(format!("deviceEnrollmentConfiguration {}", e.id));
            }
        }
        for (kind, name) in [
            (PolicyKind::Configuration, "deviceConfiguration"),
            (PolicyKind::Compliance, "deviceCompliancePolicy"),
        ] {
            let assignments = tx.policy_assignments(tenant, kind, None).await?;
            let mut policies: Vec<uuid::Uuid> = assignments
                .iter()
                .filter(|(_, a)| device_policy::filters_named([a]).contains(&id))
                .map(|(p, _)| *p)
                .collect();
            policies.dedup();
            users.extend(policies.into_iter().map(|p| format!("{name} {p}")));
        }
        if !users.is_empty() {
            users.dedup();
            return Err(in_use("assignment filter", id, &users));
        }
        tx.delete_assignment_filter(tenant, id).await?;
        tx.append_events(&[self.event(
            tenant,
            EventKind::AssignmentFilterDeleted,
            id,
            serde_json::json!({ "displayName": filter.display_name, "rule": filter.rule }),
        )])
        .await?;
        tx.commit().await?;
        Ok(())
    }
}

fn builtin_tag_refused(what: &str) -> AppError {
    AppError::invalid(
        "id",
        format!("the built-in scope tag Default (id \"0\") cannot be {what}"),
    )
}

fn in_use(what: &str, id: impl std::fmt::Display, users: &[String]) -> AppError {
    let shown: Vec<&str> = users.iter().take(5).map(String::as_str).collect();
    AppError::Domain(DomainError::conflict(format!(
        "the {what} {id} is still used by {} object(s) ({}{}); remove it from them first",
        users.len(),
        shown.join(", "),
        if users.len() > shown.len() {
            ", …"
        } else {
            ""
        }
    )))
}
