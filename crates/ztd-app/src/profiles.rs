//! Deployment profiles, their assignments, and ESP configurations.

use ztd_core::error::ObjectKind;
use ztd_core::esp::{EspConfiguration, MAX_ESP_PER_TENANT};
use ztd_core::event::Event;
use ztd_core::event::EventKind;
use ztd_core::group::{Group, MembershipSource};
use ztd_core::profile::{AssignmentTarget, DeploymentProfile, ProfileAssignment};
use ztd_core::scope::FilterRef;
use ztd_core::{DomainError, GroupId, ProfileId, TenantId, Timestamp, Ztdid};
use ztd_store::{Lock, Tx};

use crate::targeting::{refresh_tenant, Targeting};
use crate::{App, AppError, AppResult};

/// The most deployment profiles a tenant may hold, as the service enforces.
pub const MAX_PROFILES_PER_TENANT: u64 = 350;

/// What adding an assignment did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Assigned {
    /// The profile already had this target with this filter.
    Unchanged,
    /// The profile had this target; its filter changed (targeting does not: filters are not evaluated on
    /// deployment profiles).
    FilterChanged,
    Added,
}

impl App {
    /// Creates a profile. `draft.id`, `tenant_id` and the timestamps are assigned here.
    pub async fn create_profile(
        &self,
        tenant: TenantId,
        mut draft: DeploymentProfile,
    ) -> AppResult<DeploymentProfile> {
        let now = self.now();
        draft.tenant_id = tenant;
        draft.id = ProfileId(self.next_uuid());
        draft.created_at = now;
        draft.updated_at = now;
        // The service forces the fixed values of a mode (self-deploying hides EULA, privacy...) rather than
        // refusing them; clients such as WindowsAutopilotIntune rely on that.
        draft.normalize();
        draft.validate().map_err(AppError::Invalid)?;
        let mut tx = self.store.begin().await?;
        if tx.get_tenant(tenant).await?.is_none() {
            return Err(AppError::not_found(ObjectKind::Tenant, tenant));
        }
        draft.role_scope_tag_ids =
            crate::scope::tags_of(&mut tx, tenant, Some(draft.role_scope_tag_ids), &[]).await?;
        if tx.count_profiles(tenant).await? >= MAX_PROFILES_PER_TENANT {
            return Err(AppError::Domain(DomainError::conflict(format!(
                "the tenant already has {MAX_PROFILES_PER_TENANT} deployment profiles, the most allowed; delete one first"
            ))));
        }
        tx.insert_profile(&draft).await?;
        tx.append_events(&[self.event(
            tenant,
            EventKind::ProfileCreated,
            draft.id,
            serde_json::json!({ "displayName": draft.display_name }),
        )])
        .await?;
        tx.commit().await?;
        Ok(draft)
    }

    pub async fn profile(&self, tenant: TenantId, id: ProfileId) -> AppResult<DeploymentProfile> {
        let mut tx = self.store.begin_read().await?;
        tx.get_profile(tenant, id)
            .await?
            .ok_or_else(|| AppError::not_found(ObjectKind::DeploymentProfile, id))
    }

    pub async fn profiles(&self, tenant: TenantId) -> AppResult<Vec<DeploymentProfile>> {
        let mut tx = self.store.begin_read().await?;
        Ok(tx.list_profiles(tenant).await?)
    }

    /// Every profile with its assignments (Graph `$expand=assignments` on the collection), read in one
    /// snapshot and two queries whatever the number of profiles.
    pub async fn profiles_with_assignments(
        &self,
        tenant: TenantId,
    ) -> AppResult<Vec<(DeploymentProfile, Vec<ProfileAssignment>)>> {
        let mut tx = self.store.begin_read().await?;
        let profiles = tx.list_profiles(tenant).await?;
        let mut by_profile: std::collections::HashMap<ProfileId, Vec<ProfileAssignment>> =
            std::collections::HashMap::new();
        for a in tx.list_profile_assignments(tenant).await? {
            by_profile.entry(a.profile_id).or_default().push(a);
        }
        Ok(profiles
            .into_iter()
            .map(|p| {
                let assignments = by_profile.remove(&p.id).unwrap_or_default();
                (p, assignments)
            })
            .collect())
    }

    /// Replaces a profile's settings (id, tenant and creation time are kept).
    pub async fn update_profile(
        &self,
        tenant: TenantId,
        mut profile: DeploymentProfile,
    ) -> AppResult<DeploymentProfile> {
        let mut tx = self.store.begin().await?;
        let existing = tx
            .get_profile(tenant, profile.id)
            .await?
            .ok_or_else(|| AppError::not_found(ObjectKind::DeploymentProfile, profile.id))?;
        profile.tenant_id = tenant;
        profile.created_at = existing.created_at;
        profile.updated_at = self.now();
        profile.normalize();
        profile.validate().map_err(AppError::Invalid)?;
        profile.role_scope_tag_ids = crate::scope::tags_of(
            &mut tx,
            tenant,
            Some(profile.role_scope_tag_ids),
            &existing.role_scope_tag_ids,
        )
        .await?;
        tx.update_profile(&profile).await?;
        tx.append_events(&[self.event(
            tenant,
            EventKind::ProfileUpdated,
            profile.id,
            serde_json::json!({}),
        )])
        .await?;
        tx.commit().await?;
        Ok(profile)
    }

    /// Deletes a profile and its assignments; devices it targeted fall back to the next profile in line.
    pub async fn delete_profile(&self, tenant: TenantId, id: ProfileId) -> AppResult<()> {
        let now = self.now();
        let mut tx = self.store.begin().await?;
        tx.lock(Lock::Targeting(tenant)).await?;
        if !tx.delete_profile(tenant, id).await? {
            return Err(AppError::not_found(ObjectKind::DeploymentProfile, id));
        }
        let targeting = Targeting::load(&mut tx, tenant).await?;
        refresh_tenant(&mut tx, tenant, &targeting, now).await?;
        tx.append_events(&[self.event(
            tenant,
            EventKind::ProfileDeleted,
            id,
            serde_json::json!({}),
        )])
        .await?;
        tx.commit().await?;
        Ok(())
    }

    /// Assigns a profile. `id` is the client's choice or the `{profileId}_{groupId}_0` convention; assigning the
    /// same target twice is idempotent.
    pub async fn assign_profile(
        &self,
        tenant: TenantId,
        profile_id: ProfileId,
        target: AssignmentTarget,
        id: Option<String>,
    ) -> AppResult<ProfileAssignment> {
        self.assign_profile_filtered(tenant, profile_id, target, id, None)
            .await
    }

    /// [`App::assign_profile`] with the assignment filter the client sent (stored, not evaluated: Intune does
    /// not filter deployment profile assignments). The same target with another filter replaces it.
    pub async fn assign_profile_filtered(
        &self,
        tenant: TenantId,
        profile_id: ProfileId,
        target: AssignmentTarget,
        id: Option<String>,
        filter: Option<FilterRef>,
    ) -> AppResult<ProfileAssignment> {
        let now = self.now();
        let mut tx = self.store.begin().await?;
        tx.lock(Lock::Targeting(tenant)).await?;
        require_profile(&mut tx, tenant, profile_id).await?;
        let (assignment, outcome) = self
            .assign_in(&mut tx, tenant, profile_id, (target, filter), id, now)
            .await?;
        if outcome == Assigned::Unchanged {
            return Ok(assignment);
        }
        if outcome == Assigned::Added {
            let targeting = Targeting::load(&mut tx, tenant).await?;
            refresh_tenant(&mut tx, tenant, &targeting, now).await?;
        }
        // Events last: appending takes the tenant's turn on the event feed until the commit.
        tx.append_events(&[self.assigned_event(&assignment)])
            .await?;
        tx.commit().await?;
        Ok(assignment)
    }

    /// Graph's `assign` with `deviceIds`: the profile for these devices, one use case in one transaction.
    /// ztd assigns profiles to groups only, so per-device assignment is carried by a static group per
    /// profile (description [`direct_assignment_marker`]), created on first use and assigned to the
    /// profile; the devices' directory objects are added to it. The group is visible like any other, which
    /// makes the assignment explainable. An unknown device refuses the whole call.
    pub async fn assign_profile_to_devices(
        &self,
        tenant: TenantId,
        profile_id: ProfileId,
        devices: &[Ztdid],
    ) -> AppResult<ProfileAssignment> {
        let now = self.now();
        let mut tx = self.store.begin().await?;
        tx.lock(Lock::Targeting(tenant)).await?;
        let profile = require_profile(&mut tx, tenant, profile_id).await?;
        let mut members = Vec::with_capacity(devices.len());
        for ztdid in devices {
            let device = tx
                .get_device(tenant, *ztdid)
                .await?
                .ok_or_else(|| AppError::not_found(ObjectKind::AutopilotDevice, ztdid))?;
            members.push(device.directory_object_id);
        }
        let mut events = Vec::new();
        let marker = direct_assignment_marker(profile_id);
        let existing = tx
            .list_groups(tenant)
            .await?
            .into_iter()
            .find(|g| g.description == marker);
        let group = match existing {
            Some(group) => group,
            None => {
                let group = Group {
                    tenant_id: tenant,
                    id: GroupId(self.next_uuid()),
                    display_name: format!("{} (direct device assignment)", profile.display_name),
                    description: marker,
                    membership_rule: None,
                    rule_processing_on: true,
                    created_at: now,
                };
                tx.insert_group(&group).await?;
                events.push(self.event(
                    tenant,
                    EventKind::GroupCreated,
                    group.id,
                    serde_json::json!({ "membershipRule": null }),
                ));
                group
            }
        };
        for member in members {
            if tx
                .add_member(tenant, group.id, member, MembershipSource::Static)
                .await?
            {
                events.push(self.event(
                    tenant,
                    EventKind::GroupMemberAdded,
                    group.id,
                    serde_json::json!({ "member": member }),
                ));
            }
        }
        let (assignment, outcome) = self
            .assign_in(
                &mut tx,
                tenant,
                profile_id,
                (AssignmentTarget::Group(group.id), None),
                None,
                now,
            )
            .await?;
        if outcome != Assigned::Unchanged {
            events.push(self.assigned_event(&assignment));
        }
        let targeting = Targeting::load(&mut tx, tenant).await?;
        refresh_tenant(&mut tx, tenant, &targeting, now).await?;
        tx.append_events(&events).await?;
        tx.commit().await?;
        Ok(assignment)
    }

    /// Graph's `assign` with `assignments`: the profile's assignments become exactly `wanted`, in one
    /// transaction (assignments not wanted are removed; wanted ones are added, existing ones kept).
    pub async fn replace_profile_assignments(
        &self,
        tenant: TenantId,
        profile_id: ProfileId,
        wanted: Vec<(AssignmentTarget, Option<String>, Option<FilterRef>)>,
    ) -> AppResult<Vec<ProfileAssignment>> {
        let now = self.now();
        let mut tx = self.store.begin().await?;
        tx.lock(Lock::Targeting(tenant)).await?;
        require_profile(&mut tx, tenant, profile_id).await?;
        let current: Vec<ProfileAssignment> = tx
            .list_profile_assignments(tenant)
            .await?
            .into_iter()
            .filter(|a| a.profile_id == profile_id)
            .collect();
        let mut events = Vec::new();
        for a in current
            .iter()
            .filter(|a| !wanted.iter().any(|(t, _, _)| *t == a.target))
        {
            tx.delete_profile_assignment(tenant, &a.id).await?;
            events.push(self.event(
                tenant,
                EventKind::ProfileUnassigned,
                &a.id,
                serde_json::json!({}),
            ));
        }
        let mut result = Vec::with_capacity(wanted.len());
        for (target, id, filter) in wanted {
            let (assignment, outcome) = self
                .assign_in(&mut tx, tenant, profile_id, (target, filter), id, now)
                .await?;
            if outcome != Assigned::Unchanged {
                events.push(self.assigned_event(&assignment));
            }
            result.push(assignment);
        }
        let targeting = Targeting::load(&mut tx, tenant).await?;
        refresh_tenant(&mut tx, tenant, &targeting, now).await?;
        tx.append_events(&events).await?;
        tx.commit().await?;
        Ok(result)
    }

    /// Adds an assignment in `tx` (the caller re-targets, appends the event and commits): the existing one
    /// when the profile already has this target (unchanged, or with the filter changed), the new one
    /// otherwise.
    async fn assign_in(
        &self,
        tx: &mut Tx,
        tenant: TenantId,
        profile_id: ProfileId,
        (target, filter): (AssignmentTarget, Option<FilterRef>),
        id: Option<String>,
        now: Timestamp,
    ) -> AppResult<(ProfileAssignment, Assigned)> {
        if filter.is_some() && matches!(target, AssignmentTarget::ExcludeGroup(_)) {
            return Err(AppError::invalid(
                "target.deviceAndAppManagementAssignmentFilterId",
                "an exclusion group assignment takes no filter",
            ));
        }
        crate::scope::check_filter(tx, tenant, filter.as_ref()).await?;
        if let AssignmentTarget::Group(group) | AssignmentTarget::ExcludeGroup(group) = target {
            if tx.get_group(tenant, group).await?.is_none() {
                return Err(AppError::invalid(
                    "target.groupId",
                    format!("group {group} does not exist in this tenant"),
                ));
            }
        }
        let existing = tx.list_profile_assignments(tenant).await?;
        if let Some(same) = existing
            .iter()
            .find(|a| a.profile_id == profile_id && a.target == target)
        {
            if same.filter == filter {
                return Ok((same.clone(), Assigned::Unchanged));
            }
            // Another filter on the same target: the assignment keeps its id and takes the new filter.
            tx.delete_profile_assignment(tenant, &same.id).await?;
            let changed = ProfileAssignment {
                filter,
                ..same.clone()
            };
            tx.insert_profile_assignment(&changed).await?;
            return Ok((changed, Assigned::FilterChanged));
        }
        // A profile either includes or excludes a group, never both (as in Intune): assigning the other kind
        // replaces the earlier assignment of that group.
        let target_group = |t: &AssignmentTarget| match t {
            AssignmentTarget::Group(g) | AssignmentTarget::ExcludeGroup(g) => Some(*g),
            AssignmentTarget::AllDevices => None,
        };
        if let Some(group) = target_group(&target) {
            for other in existing
                .iter()
                .filter(|a| a.profile_id == profile_id && target_group(&a.target) == Some(group))
            {
                tx.delete_profile_assignment(tenant, &other.id).await?;
            }
        }
        let assignment = ProfileAssignment {
            tenant_id: tenant,
            id: id
                .filter(|i| !i.trim().is_empty())
                .unwrap_or_else(|| ProfileAssignment::conventional_id(profile_id, target)),
            profile_id,
            target,
            filter,
            created_at: now,
        };
        tx.insert_profile_assignment(&assignment).await?;
        Ok((assignment, Assigned::Added))
    }

    fn assigned_event(&self, assignment: &ProfileAssignment) -> Event {
        self.event(
            assignment.tenant_id,
            EventKind::ProfileAssigned,
            assignment.profile_id,
            serde_json::json!({ "assignment": assignment.id }),
        )
    }

    pub async fn profile_assignments(
        &self,
        tenant: TenantId,
        profile_id: ProfileId,
    ) -> AppResult<Vec<ProfileAssignment>> {
        let mut tx = self.store.begin_read().await?;
        if tx.get_profile(tenant, profile_id).await?.is_none() {
            return Err(AppError::not_found(
                ObjectKind::DeploymentProfile,
                profile_id,
            ));
        }
        Ok(tx
            .list_profile_assignments(tenant)
            .await?
            .into_iter()
            .filter(|a| a.profile_id == profile_id)
            .collect())
    }

    pub async fn unassign_profile(&self, tenant: TenantId, assignment_id: &str) -> AppResult<()> {
        let now = self.now();
        let mut tx = self.store.begin().await?;
        tx.lock(Lock::Targeting(tenant)).await?;
        if !tx.delete_profile_assignment(tenant, assignment_id).await? {
            return Err(AppError::not_found(
                ObjectKind::ProfileAssignment,
                assignment_id,
            ));
        }
        let targeting = Targeting::load(&mut tx, tenant).await?;
        refresh_tenant(&mut tx, tenant, &targeting, now).await?;
        tx.append_events(&[self.event(
            tenant,
            EventKind::ProfileUnassigned,
            assignment_id,
            serde_json::json!({}),
        )])
        .await?;
        tx.commit().await?;
        Ok(())
    }

    // ESP -------------------------------------------------------------------------------------------

    /// Creates an ESP configuration; a zero priority is replaced by the next free one.
    pub async fn create_esp(
        &self,
        tenant: TenantId,
        mut draft: EspConfiguration,
    ) -> AppResult<EspConfiguration> {
        let now = self.now();
        draft.tenant_id = tenant;
        draft.id = self.next_uuid().to_string();
        draft.created_at = now;
        draft.updated_at = now;
        let mut tx = self.store.begin().await?;
        let existing = tx.list_esps(tenant).await?;
        if existing.len() >= MAX_ESP_PER_TENANT {
            return Err(AppError::Domain(DomainError::conflict(format!(
                "the tenant already has {MAX_ESP_PER_TENANT} ESP configurations (the default included), the most allowed"
            ))));
        }
        if draft.priority <= 0 {
            draft.priority = existing.iter().map(|e| e.priority).max().unwrap_or(0) + 1;
        }
        draft.validate().map_err(AppError::Invalid)?;
        draft.role_scope_tag_ids =
            crate::scope::tags_of(&mut tx, tenant, Some(draft.role_scope_tag_ids), &[]).await?;
        draft.assignment_filters = Vec::new();
        tx.upsert_esp(&draft).await?;
        tx.append_events(&[self.event(
            tenant,
            EventKind::EspCreated,
            &draft.id,
            serde_json::json!({ "priority": draft.priority }),
        )])
        .await?;
        tx.commit().await?;
        Ok(draft)
    }

    pub async fn esp(&self, tenant: TenantId, id: &str) -> AppResult<EspConfiguration> {
        let mut tx = self.store.begin_read().await?;
        tx.get_esp(tenant, id)
            .await?
            .ok_or_else(|| AppError::not_found(ObjectKind::EnrollmentConfiguration, id))
    }

    pub async fn esps(&self, tenant: TenantId) -> AppResult<Vec<EspConfiguration>> {
        let mut tx = self.store.begin_read().await?;
        Ok(tx.list_esps(tenant).await?)
    }

    /// Replaces an ESP's settings and name; priority and assignments change through their own calls.
    pub async fn update_esp(
        &self,
        tenant: TenantId,
        mut esp: EspConfiguration,
    ) -> AppResult<EspConfiguration> {
        let mut tx = self.store.begin().await?;
        let existing = tx
            .get_esp(tenant, &esp.id)
            .await?
            .ok_or_else(|| AppError::not_found(ObjectKind::EnrollmentConfiguration, &esp.id))?;
        esp.tenant_id = tenant;
        esp.priority = existing.priority;
        esp.assignments = existing.assignments;
        esp.assignment_filters = existing.assignment_filters;
        esp.role_scope_tag_ids = crate::scope::tags_of(
            &mut tx,
            tenant,
            Some(esp.role_scope_tag_ids),
            &existing.role_scope_tag_ids,
        )
        .await?;
        esp.created_at = existing.created_at;
        esp.updated_at = self.now();
        esp.validate().map_err(AppError::Invalid)?;
        tx.upsert_esp(&esp).await?;
        tx.append_events(&[self.event(
            tenant,
            EventKind::EspUpdated,
            &esp.id,
            serde_json::json!({}),
        )])
        .await?;
        tx.commit().await?;
        Ok(esp)
    }

    /// Moves an ESP to `priority`, shifting the others down to keep priorities unique (Graph `setPriority`).
    pub async fn set_esp_priority(
        &self,
        tenant: TenantId,
        id: &str,
        priority: i32,
    ) -> AppResult<()> {
        let now = self.now();
        let mut tx = self.store.begin().await?;
        let mut esps = tx.list_esps(tenant).await?;
        let Some(target) = esps.iter().position(|e| e.id == id) else {
            return Err(AppError::not_found(ObjectKind::EnrollmentConfiguration, id));
        };
        if esps[target].is_default() {
            return Err(AppError::invalid(
                "priority",
                "the default ESP always comes last; its priority cannot change",
            ));
        }
        if priority < 1 {
            return Err(AppError::invalid(
                "priority",
                "priority must be 1 or more (0 belongs to the default ESP)",
            ));
        }
        let mut ordered: Vec<EspConfiguration> = esps
            .iter()
            .filter(|e| !e.is_default() && e.id != id)
            .cloned()
            .collect();
        ordered.sort_by_key(|e| e.priority);
        let moved = esps.remove(target);
        let index = usize::try_from(priority - 1)
            .unwrap_or(0)
            .min(ordered.len());
        ordered.insert(index, moved);
        for (rank, mut esp) in ordered.into_iter().enumerate() {
            let wanted = i32::try_from(rank + 1).unwrap_or(i32::MAX);
            if esp.priority != wanted {
                esp.priority = wanted;
                esp.updated_at = now;
                tx.upsert_esp(&esp).await?;
            }
        }
        tx.append_events(&[self.event(
            tenant,
            EventKind::EspPrioritySet,
            id,
            serde_json::json!({ "priority": priority }),
        )])
        .await?;
        tx.commit().await?;
        Ok(())
    }

    /// Replaces an ESP's assignments (Graph `assign`). The default ESP cannot be assigned.
    pub async fn assign_esp(
        &self,
        tenant: TenantId,
        id: &str,
        targets: Vec<(AssignmentTarget, Option<FilterRef>)>,
    ) -> AppResult<EspConfiguration> {
        self.edit_esp_assignments(tenant, id, |_| Ok(targets)).await
    }

    /// Adds one assignment to an ESP (Graph `POST …/assignments`); one of the same target is replaced.
    pub async fn add_esp_assignment(
        &self,
        tenant: TenantId,
        id: &str,
        target: AssignmentTarget,
        filter: Option<FilterRef>,
    ) -> AppResult<EspConfiguration> {
        self.edit_esp_assignments(tenant, id, |mut current| {
            current.retain(|(t, _)| *t != target);
            current.push((target, filter));
            Ok(current)
        })
        .await
    }

    /// Removes an ESP's assignment of `target` (Graph `DELETE …/assignments/{id}`); 404 when it has none.
    pub async fn remove_esp_assignment(
        &self,
        tenant: TenantId,
        id: &str,
        target: AssignmentTarget,
    ) -> AppResult<EspConfiguration> {
        self.edit_esp_assignments(tenant, id, |mut current| {
            let before = current.len();
            current.retain(|(t, _)| *t != target);
            if current.len() == before {
                return Err(AppError::not_found(
                    ObjectKind::EnrollmentConfiguration,
                    format!("{id} assignment"),
                ));
            }
            Ok(current)
        })
        .await
    }

    /// Replaces an ESP's assignments with what `edit` makes of the current ones, in one transaction.
    async fn edit_esp_assignments(
        &self,
        tenant: TenantId,
        id: &str,
        edit: impl FnOnce(
            Vec<(AssignmentTarget, Option<FilterRef>)>,
        ) -> AppResult<Vec<(AssignmentTarget, Option<FilterRef>)>>,
    ) -> AppResult<EspConfiguration> {
        let mut tx = self.store.begin().await?;
        // One assignment change at a time (an edit reads the set it changes), and none while a filter it
        // could name is being deleted.
        tx.lock(Lock::Targeting(tenant)).await?;
        let mut esp = tx
            .get_esp(tenant, id)
            .await?
            .ok_or_else(|| AppError::not_found(ObjectKind::EnrollmentConfiguration, id))?;
        let current = esp
            .assignments
            .iter()
            .map(|t| (*t, esp.filter_of(*t)))
            .collect();
        let targets = edit(current)?;
        if esp.is_default() {
            return Err(AppError::invalid(
                "enrollmentConfigurationAssignments",
                "the default ESP applies to everyone and cannot be assigned",
            ));
        }
        for (target, filter) in &targets {
            if filter.is_some() && matches!(target, AssignmentTarget::ExcludeGroup(_)) {
                return Err(AppError::invalid(
                    "target.deviceAndAppManagementAssignmentFilterId",
                    "an exclusion group assignment takes no filter",
                ));
            }
            crate::scope::check_filter(&mut tx, tenant, filter.as_ref()).await?;
            if let AssignmentTarget::Group(group) | AssignmentTarget::ExcludeGroup(group) = target {
                if tx.get_group(tenant, *group).await?.is_none() {
                    return Err(AppError::invalid(
                        "target.groupId",
                        format!("group {group} does not exist in this tenant"),
                    ));
                }
            }
        }
        esp.assignment_filters = targets
            .iter()
            .filter_map(|(t, f)| f.map(|f| (*t, f)))
            .collect();
        esp.assignments = targets.into_iter().map(|(t, _)| t).collect();
        esp.updated_at = self.now();
        tx.upsert_esp(&esp).await?;
        tx.append_events(&[self.event(
            tenant,
            EventKind::EspAssigned,
            id,
            serde_json::json!({ "targets": esp.assignments.len() }),
        )])
        .await?;
        tx.commit().await?;
        Ok(esp)
    }

    pub async fn delete_esp(&self, tenant: TenantId, id: &str) -> AppResult<()> {
        let mut tx = self.store.begin().await?;
        let esp = tx
            .get_esp(tenant, id)
            .await?
            .ok_or_else(|| AppError::not_found(ObjectKind::EnrollmentConfiguration, id))?;
        if esp.is_default() {
            return Err(AppError::invalid("id", "the default ESP cannot be deleted"));
        }
        tx.delete_esp(tenant, id).await?;
        tx.append_events(&[self.event(tenant, EventKind::EspDeleted, id, serde_json::json!({}))])
            .await?;
        tx.commit().await?;
        Ok(())
    }
}

/// The description that marks the static group carrying a profile's per-device assignments
/// ([`App::assign_profile_to_devices`]).
pub fn direct_assignment_marker(profile: ProfileId) -> String {
    format!("ztd:direct-device-assignment:{profile}")
}

/// The profile, or `NotFound`.
async fn require_profile(
    tx: &mut Tx,
    tenant: TenantId,
    profile_id: ProfileId,
) -> AppResult<DeploymentProfile> {
    tx.get_profile(tenant, profile_id)
        .await?
        .ok_or_else(|| AppError::not_found(ObjectKind::DeploymentProfile, profile_id))
}
