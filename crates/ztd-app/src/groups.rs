//! Static and dynamic groups. Dynamic groups hold devices chosen by their rule; static groups hold devices
//! and users added by hand.

use ztd_core::directory::DirectoryDevice;
use ztd_core::error::ObjectKind;
use ztd_core::event::EventKind;
use ztd_core::group::{Group, MembershipSource};
use ztd_core::profile::AssignmentTarget;
use ztd_core::user::User;
use ztd_core::{DirectoryObjectId, GroupId, TenantId};

use ztd_store::Lock;

use crate::targeting::{refresh_devices, refresh_tenant, Targeting};
use crate::{App, AppError, AppResult};

/// A member of a group: a directory device, or (in a static group) a user.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum GroupMember {
    Device(DirectoryDevice),
    User(User),
}

impl GroupMember {
    pub fn id(&self) -> DirectoryObjectId {
        match self {
            Self::Device(device) => device.id,
            Self::User(user) => user.id,
        }
    }
}

/// Which members a page reads (Graph's type casts: `members/microsoft.graph.device`, `.../user`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MemberKinds {
    pub devices: bool,
    pub users: bool,
}

impl MemberKinds {
    pub const ALL: Self = Self {
        devices: true,
        users: true,
    };
    pub const DEVICES: Self = Self {
        devices: true,
        users: false,
    };
    pub const USERS: Self = Self {
        devices: false,
        users: true,
    };
}

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct NewGroup {
    pub display_name: String,
    pub description: String,
    /// `Some` makes a dynamic group.
    pub membership_rule: Option<String>,
}

/// Validates a rule and returns its normalised text.
fn check_rule(rule: &str) -> AppResult<String> {
    ztd_rules::parse(rule)
        .map(|parsed| parsed.to_string())
        .map_err(|err| {
            AppError::invalid(
                "membershipRule",
                format!("{} (line {}, column {})", err.message, err.line, err.column),
            )
        })
}

impl App {
    pub async fn create_group(&self, tenant: TenantId, new: NewGroup) -> AppResult<Group> {
        if new.display_name.trim().is_empty() {
            return Err(AppError::invalid(
                "displayName",
                "a group needs a display name",
            ));
        }
        if let Some(rule) = &new.membership_rule {
            check_rule(rule)?;
        }
        let now = self.now();
        let group = Group {
            tenant_id: tenant,
            id: GroupId(self.next_uuid()),
            display_name: new.display_name.trim().to_string(),
            description: new.description,
            membership_rule: new.membership_rule.map(|r| r.trim().to_string()),
            rule_processing_on: true,
            created_at: now,
        };
        let mut tx = self.store.begin().await?;
        if group.is_dynamic() {
            tx.lock(Lock::Targeting(tenant)).await?;
        }
        if tx.get_tenant(tenant).await?.is_none() {
            return Err(AppError::not_found(ObjectKind::Tenant, tenant));
        }
        tx.insert_group(&group).await?;
        if group.is_dynamic() {
            let targeting = Targeting::load(&mut tx, tenant).await?;
            refresh_tenant(&mut tx, tenant, &targeting, now).await?;
        }
        tx.append_events(&[self.event(
            tenant,
            EventKind::GroupCreated,
            group.id,
            serde_json::json!({ "membershipRule": group.membership_rule }),
        )])
        .await?;
        tx.commit().await?;
        Ok(group)
    }

    pub async fn group(&self, tenant: TenantId, id: GroupId) -> AppResult<Group> {
        let mut tx = self.store.begin_read().await?;
        tx.get_group(tenant, id)
            .await?
            .ok_or_else(|| AppError::not_found(ObjectKind::Group, id))
    }

    pub async fn groups(&self, tenant: TenantId) -> AppResult<Vec<Group>> {
        let mut tx = self.store.begin_read().await?;
        Ok(tx.list_groups(tenant).await?)
    }

    /// Changes a group's name, description, rule or processing state; membership follows before commit.
    pub async fn update_group(
        &self,
        tenant: TenantId,
        id: GroupId,
        display_name: Option<String>,
        description: Option<String>,
        membership_rule: Option<Option<String>>,
        rule_processing_on: Option<bool>,
    ) -> AppResult<Group> {
        if let Some(Some(rule)) = &membership_rule {
            check_rule(rule)?;
        }
        let now = self.now();
        let mut tx = self.store.begin().await?;
        if membership_rule.is_some() || rule_processing_on.is_some() {
            tx.lock(Lock::Targeting(tenant)).await?;
        }
        let mut group = tx
            .get_group(tenant, id)
            .await?
            .ok_or_else(|| AppError::not_found(ObjectKind::Group, id))?;
        let before = group.clone();
        if let Some(name) = display_name {
            if name.trim().is_empty() {
                return Err(AppError::invalid(
                    "displayName",
                    "a group needs a display name",
                ));
            }
            group.display_name = name.trim().to_string();
        }
        if let Some(description) = description {
            group.description = description;
        }
        if let Some(rule) = membership_rule {
            if before.membership_rule.is_none() && rule.is_some() {
                let members = tx.group_members(tenant, id).await?;
                if !members.is_empty() {
                    return Err(AppError::invalid(
                        "membershipRule",
                        "the group has static members; remove them before giving it a membership rule",
                    ));
                }
            }
            group.membership_rule = rule.map(|r| r.trim().to_string());
        }
        if let Some(on) = rule_processing_on {
            group.rule_processing_on = on;
        }
        if group == before {
            return Ok(group);
        }
        tx.update_group(&group).await?;
        if group.membership_rule != before.membership_rule
            || group.rule_processing_on != before.rule_processing_on
        {
            crate::targeting::bump_targeting_generation(&mut tx, tenant).await?;
            let targeting = Targeting::load(&mut tx, tenant).await?;
            // A group that stopped being dynamic keeps no rule members.
            if group.membership_rule.is_none() {
                let members = tx.group_members(tenant, id).await?;
                let rule_members: Vec<(GroupId, DirectoryObjectId)> = members
                    .into_iter()
                    .filter(|(_, s)| *s == MembershipSource::Rule)
                    .map(|(m, _)| (id, m))
                    .collect();
                tx.remove_members(tenant, &rule_members).await?;
            }
            // Paused processing freezes membership as it is, as the directory does.
            if group.rule_processing_on {
                refresh_tenant(&mut tx, tenant, &targeting, now).await?;
            }
        }
        tx.append_events(&[self.event(
            tenant,
            EventKind::GroupUpdated,
            id,
            serde_json::json!({ "membershipRule": group.membership_rule }),
        )])
        .await?;
        tx.commit().await?;
        Ok(group)
    }

    /// Deletes a group, its memberships and every profile assignment that targets it.
    pub async fn delete_group(&self, tenant: TenantId, id: GroupId) -> AppResult<()> {
        let now = self.now();
        let mut tx = self.store.begin().await?;
        tx.lock(Lock::Targeting(tenant)).await?;
        if !tx.delete_group(tenant, id).await? {
            return Err(AppError::not_found(ObjectKind::Group, id));
        }
        for assignment in tx.list_profile_assignments(tenant).await? {
            if matches!(assignment.target, AssignmentTarget::Group(g) | AssignmentTarget::ExcludeGroup(g) if g == id)
            {
                tx.delete_profile_assignment(tenant, &assignment.id).await?;
            }
        }
        let targeting = Targeting::load(&mut tx, tenant).await?;
        refresh_tenant(&mut tx, tenant, &targeting, now).await?;
        tx.append_events(&[self.event(tenant, EventKind::GroupDeleted, id, serde_json::json!({}))])
            .await?;
        tx.commit().await?;
        Ok(())
    }

    pub async fn group_members(
        &self,
        tenant: TenantId,
        id: GroupId,
    ) -> AppResult<Vec<(DirectoryDevice, MembershipSource)>> {
        let mut tx = self.store.begin_read().await?;
        if tx.get_group(tenant, id).await?.is_none() {
            return Err(AppError::not_found(ObjectKind::Group, id));
        }
        let sources: std::collections::HashMap<DirectoryObjectId, MembershipSource> =
            tx.group_members(tenant, id).await?.into_iter().collect();
        let ids: Vec<DirectoryObjectId> = sources.keys().copied().collect();
        let objects = tx.get_directory_devices(tenant, &ids).await?;
        Ok(objects
            .into_iter()
            .filter_map(|object| sources.get(&object.id).map(|source| (object, *source)))
            .collect())
    }

    /// One page of a group's members (devices and users) in object-id order, after `after`: read through
    /// the membership index, so a page costs the same in a group of 100 or of 100,000.
    pub async fn group_member_page(
        &self,
        tenant: TenantId,
        id: GroupId,
        after: Option<DirectoryObjectId>,
        limit: u32,
        kinds: MemberKinds,
    ) -> AppResult<Vec<GroupMember>> {
        // One statement in the usual case (a group without user members): members exist only while their
        // group does, so only an empty page needs a second look to tell "no such group" from "no more
        // members", and only a page with users a read of those users.
        let mut tx = self.store.single_read().await?;
        let kind = match (kinds.devices, kinds.users) {
            (true, false) => Some("device"),
            (false, true) => Some("user"),
            _ => None,
        };
        let rows = tx.group_member_page(tenant, id, after, limit, kind).await?;
        let user_ids: Vec<DirectoryObjectId> = rows
            .iter()
            .filter_map(|row| match row {
                ztd_store::MemberRow::User(user) => Some(*user),
                _ => None,
            })
            .collect();
        let mut members: Vec<GroupMember> = Vec::with_capacity(rows.len());
        for row in rows {
            if let ztd_store::MemberRow::Device(device) = row {
                members.push(GroupMember::Device(*device));
            }
        }
        if !user_ids.is_empty() {
            let users = tx.get_users(tenant, &user_ids).await?;
            members.extend(users.into_iter().map(GroupMember::User));
        }
        members.sort_unstable_by_key(GroupMember::id);
        members.truncate(limit as usize);
        if members.is_empty() && tx.get_group(tenant, id).await?.is_none() {
            return Err(AppError::not_found(ObjectKind::Group, id));
        }
        Ok(members)
    }

    /// The groups `member` (a device object or a user the caller has found) is in, ordered by group id:
    /// two statements, however many groups.
    pub async fn member_groups(
        &self,
        tenant: TenantId,
        member: DirectoryObjectId,
    ) -> AppResult<Vec<Group>> {
        let mut tx = self.store.begin_read().await?;
        let of_member: std::collections::HashSet<GroupId> = tx
            .memberships_of(tenant, &[member])
            .await?
            .into_iter()
            .map(|(_, group, _)| group)
            .collect();
        if of_member.is_empty() {
            return Ok(Vec::new());
        }
        let mut groups = tx.list_groups(tenant).await?;
        groups.retain(|g| of_member.contains(&g.id));
        groups.sort_unstable_by_key(|g| g.id);
        Ok(groups)
    }

    /// The event feed of a tenant: events numbered above `after`, in order, each with its number (what a
    /// monitoring stream follows). Reading on from the last number seen never misses one (see
    /// `Tx::list_events_after`).
    pub async fn event_feed(
        &self,
        tenant: TenantId,
        after: i64,
        limit: u32,
    ) -> AppResult<Vec<(i64, ztd_core::event::Event)>> {
        let mut tx = self.store.single_read().await?;
        Ok(tx.list_events_after(tenant, after, limit).await?)
    }

    /// One directory device object by its object id, if the tenant has it.
    pub async fn directory_device(
        &self,
        tenant: TenantId,
        id: DirectoryObjectId,
    ) -> AppResult<Option<DirectoryDevice>> {
        let mut tx = self.store.single_read().await?;
        Ok(tx.get_directory_device(tenant, id).await?)
    }

    /// A page of directory device objects (filters pushed down), read in one statement.
    pub async fn directory_devices(
        &self,
        tenant: TenantId,
        query: &ztd_store::DirectoryQuery,
    ) -> AppResult<Vec<DirectoryDevice>> {
        let mut tx = self.store.single_read().await?;
        Ok(tx.list_directory_devices(tenant, query).await?)
    }

    /// The number of members of a group, counted in the database.
    pub async fn count_group_members(&self, tenant: TenantId, id: GroupId) -> AppResult<u64> {
        self.count_group_members_of_kind(tenant, id, MemberKinds::ALL)
            .await
    }

    /// The members of a group of the given kinds (Graph `members/microsoft.graph.device/$count`).
    pub async fn count_group_members_of_kind(
        &self,
        tenant: TenantId,
        id: GroupId,
        kinds: MemberKinds,
    ) -> AppResult<u64> {
        let mut tx = self.store.begin_read().await?;
        if tx.get_group(tenant, id).await?.is_none() {
            return Err(AppError::not_found(ObjectKind::Group, id));
        }
        let kind = match (kinds.devices, kinds.users) {
            (true, false) => Some("device"),
            (false, true) => Some("user"),
            _ => None,
        };
        Ok(tx.count_group_members(tenant, id, kind).await?)
    }

    /// Adds a device object or a user to a static group (Graph `members/$ref`); adding a member twice is
    /// refused, as Graph does.
    pub async fn add_group_member(
        &self,
        tenant: TenantId,
        group: GroupId,
        member: DirectoryObjectId,
    ) -> AppResult<()> {
        self.change_static_member(tenant, group, member, true).await
    }

    /// Removes a device or a user from a static group; removing a non-member is `NotFound`.
    pub async fn remove_group_member(
        &self,
        tenant: TenantId,
        group: GroupId,
        member: DirectoryObjectId,
    ) -> AppResult<()> {
        self.change_static_member(tenant, group, member, false)
            .await
    }

    async fn change_static_member(
        &self,
        tenant: TenantId,
        group_id: GroupId,
        member: DirectoryObjectId,
        add: bool,
    ) -> AppResult<()> {
        let now = self.now();
        let mut tx = self.store.begin().await?;
        // The device's intended profile is recomputed from all its groups: exclusive, or two concurrent
        // changes of its static groups would each recompute it without the other's.
        tx.lock(Lock::Targeting(tenant)).await?;
        let group = tx
            .get_group(tenant, group_id)
            .await?
            .ok_or_else(|| AppError::not_found(ObjectKind::Group, group_id))?;
        if group.is_dynamic() {
            return Err(AppError::invalid(
                "members",
                "members of a dynamic group are chosen by its membership rule and cannot be added or removed by hand",
            ));
        }
        let object = tx.get_directory_device(tenant, member).await?;
        let is_user = object.is_none() && tx.get_user(tenant, member).await?.is_some();
        // A removal needs only the membership (so one whose member is gone can still be removed).
        if add && object.is_none() && !is_user {
            return Err(AppError::not_found(ObjectKind::DirectoryDevice, member));
        }
        // The write is the check (an insert that finds the row, a delete that finds none), so of
        // concurrent adds or removals of one member exactly one acts, on SQLite and PostgreSQL alike.
        let changed = match (add, is_user) {
            (true, false) => {
                tx.add_member(tenant, group_id, member, MembershipSource::Static)
                    .await?
            }
            (true, true) => tx.add_user_member(tenant, group_id, member).await?,
            (false, _) => tx.remove_member(tenant, group_id, member).await?,
        };
        match (add, changed) {
            (true, false) => {
                return Err(AppError::invalid(
                    "members",
                    "One or more added object references already exist for the following modified properties: 'members'.",
                ))
            }
            (false, false) => return Err(AppError::not_found(ObjectKind::GroupMember, member)),
            _ => {}
        }
        let member_type = match (&object, is_user) {
            (Some(_), _) => "device",
            (None, true) => "user",
            (None, false) => "deleted",
        };
        // A device's profile and ESP follow its groups; a user's membership targets nothing (yet).
        if let Some(object) = object {
            let device = match object.ztdid {
                Some(ztdid) => tx.get_device(tenant, ztdid).await?,
                None => None,
            };
            let targeting = Targeting::load(&mut tx, tenant).await?;
            refresh_devices(&mut tx, tenant, &targeting, &[(device, object)], now).await?;
        }
        let kind = if add {
            EventKind::GroupMemberAdded
        } else {
            EventKind::GroupMemberRemoved
        };
        tx.append_events(&[self.event(
            tenant,
            kind,
            group_id,
            serde_json::json!({ "member": member, "memberType": member_type }),
        )])
        .await?;
        tx.commit().await?;
        Ok(())
    }
}

impl App {
    /// Deletes a directory device object that no Autopilot registration owns, with its group memberships.
    /// An owned object is refused: it goes with its registration (`delete_device`), in the documented
    /// order. Only registered devices carry assignments, so nothing else needs re-targeting.
    pub async fn delete_directory_object(
        &self,
        tenant: TenantId,
        id: DirectoryObjectId,
    ) -> AppResult<DirectoryDevice> {
        let mut tx = self.store.begin().await?;
        tx.lock(Lock::Targeted(tenant)).await?;
        let object = tx
            .get_directory_device(tenant, id)
            .await?
            .ok_or_else(|| AppError::not_found(ObjectKind::DirectoryDevice, id))?;
        if let Some(ztdid) = object.ztdid {
            return Err(AppError::invalid(
                "id",
                format!(
                    "This device object belongs to Autopilot device {ztdid}; delete that registration (windowsAutopilotDeviceIdentities/{ztdid}) and the object goes with it."
                ),
            ));
        }
        tx.delete_directory_device(tenant, id).await?;
        tx.append_events(&[self.event(
            tenant,
            EventKind::DirectoryObjectDeleted,
            id,
            serde_json::json!({ "displayName": object.display_name }),
        )])
        .await?;
        tx.commit().await?;
        Ok(object)
    }
}
