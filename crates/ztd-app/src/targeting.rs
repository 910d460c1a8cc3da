//! Derived state: dynamic group membership and each device's intended profile, recomputed inside the
//! transaction of the change that affects them.
//!
//! Evaluation order for `memberOf`: rules that do not use `memberOf` are evaluated first, with the device's
//! static groups as its `memberOf`; rules that use `memberOf` are evaluated second, seeing static groups and
//! the results of the first pass. A rule that uses `memberOf` therefore cannot see membership of another
//! `memberOf` rule, which matches the directory's restriction that such rules reference only groups whose
//! membership does not itself depend on `memberOf`.

use std::collections::{BTreeSet, HashMap, HashSet};

use rayon::prelude::*;
use ztd_core::assignment::ProfileResolver;
use ztd_core::device::AutopilotDevice;
use ztd_core::directory::DirectoryDevice;
use ztd_core::group::{Group, MembershipSource};
use ztd_core::profile::{DeploymentProfile, ProfileAssignment};
use ztd_core::{DirectoryObjectId, GroupId, TenantId, Timestamp, Ztdid};
use ztd_rules::{MembershipIndex, Rule};
use ztd_store::{Lock, StoreError, Tx};

use crate::{AppError, AppResult};

/// Everything needed to target devices in one tenant, loaded once per use case.
pub(crate) struct Targeting {
    pub groups: Vec<Group>,
    pub rules: HashMap<GroupId, Rule>,
    first_pass: MembershipIndex<GroupId>,
    second_pass: MembershipIndex<GroupId>,
    pub profiles: Vec<DeploymentProfile>,
    pub assignments: Vec<ProfileAssignment>,
    resolver: ProfileResolver,
}

impl Targeting {
    pub async fn load(tx: &mut Tx, tenant: TenantId) -> AppResult<Self> {
        let groups = tx.list_groups(tenant).await?;
        let profiles = tx.list_profiles(tenant).await?;
        let assignments = tx.list_profile_assignments(tenant).await?;
        Ok(Self::build(groups, profiles, assignments))
    }

    pub fn build(
        groups: Vec<Group>,
        profiles: Vec<DeploymentProfile>,
        assignments: Vec<ProfileAssignment>,
    ) -> Self {
        let mut rules = HashMap::new();
        let mut first_pass = MembershipIndex::new();
        let mut second_pass = MembershipIndex::new();
        for group in &groups {
            let Some(text) = group.membership_rule.as_deref() else {
                continue;
            };
            if !group.rule_processing_on {
                continue;
            }
            // Stored rules were validated on write; one that no longer parses (after an upgrade of the
            // language, say) matches nothing rather than failing every write in the tenant.
            let Ok(rule) = ztd_rules::parse(text) else {
                tracing::warn!(group = %group.id, "stored membership rule no longer parses; it matches nothing");
                continue;
            };
            if rule.member_of_groups().is_empty() {
                first_pass.insert(group.id, rule.clone());
            } else {
                second_pass.insert(group.id, rule.clone());
            }
            rules.insert(group.id, rule);
        }
        let resolver = ProfileResolver::new(&profiles, &assignments);
        Self {
            groups,
            rules,
            first_pass,
            second_pass,
            profiles,
            assignments,
            resolver,
        }
    }

    /// The dynamic groups a directory object belongs to, given its static groups.
    pub fn dynamic_groups(
        &self,
        device: &DirectoryDevice,
        static_groups: &BTreeSet<GroupId>,
    ) -> BTreeSet<GroupId> {
        let mut member_of: Vec<String> = static_groups.iter().map(ToString::to_string).collect();
        let view = rule_view(device, &member_of);
        let mut matched: BTreeSet<GroupId> = self.first_pass.matching(&view).into_iter().collect();
        if !self.second_pass.is_empty() {
            member_of.extend(matched.iter().map(ToString::to_string));
            let view = rule_view(device, &member_of);
            matched.extend(self.second_pass.matching(&view));
        }
        matched
    }

    pub fn winner(&self, groups: &BTreeSet<GroupId>) -> Option<ztd_core::ProfileId> {
        self.resolver.winner(groups)
    }
}

/// What a rule sees of a device object (`device.<property>`).
pub(crate) fn rule_view(device: &DirectoryDevice, member_of: &[String]) -> ztd_rules::Device {
    let non_empty = |text: &str| (!text.is_empty()).then(|| text.to_string());
    let mut view = ztd_rules::Device::new();
    view.set("deviceId", Some(device.device_id.to_string()));
    view.set("objectId", Some(device.id.to_string()));
    view.set("displayName", Some(device.display_name.clone()));
    view.set_bool("accountEnabled", Some(device.account_enabled));
    view.set("deviceOSType", non_empty(&device.operating_system));
    view.set(
        "deviceOSVersion",
        non_empty(&device.operating_system_version),
    );
    view.set("deviceManufacturer", non_empty(&device.manufacturer));
    view.set("deviceModel", non_empty(&device.model));
    view.set("deviceTrustType", non_empty(&device.trust_type));
    view.set(
        "enrollmentProfileName",
        non_empty(&device.enrollment_profile_name),
    );
    view.set_list("devicePhysicalIds", device.physical_ids.clone());
    view.set_list("memberOf", member_of.to_vec());
    view
}

/// A device with the state its targeting is computed from.
pub(crate) struct Subject<'a> {
    pub device: Option<&'a AutopilotDevice>,
    pub directory: &'a DirectoryDevice,
    /// Current memberships, by source.
    pub static_groups: BTreeSet<GroupId>,
    pub rule_groups: BTreeSet<GroupId>,
}

/// The writes that bring derived state up to date.
#[derive(Default)]
pub(crate) struct Changes {
    pub add: Vec<(GroupId, DirectoryObjectId, MembershipSource)>,
    pub remove: Vec<(GroupId, DirectoryObjectId)>,
    pub assignments: Vec<(Ztdid, ztd_core::device::ProfileAssignmentState)>,
}

impl Changes {
    pub async fn write(self, tx: &mut Tx, tenant: TenantId) -> AppResult<()> {
        if !self.remove.is_empty() {
            tx.remove_members(tenant, &self.remove).await?;
        }
        if !self.add.is_empty() {
            tx.add_members(tenant, &self.add).await?;
        }
        if !self.assignments.is_empty() {
            tx.update_assignment_states(tenant, &self.assignments)
                .await?;
        }
        Ok(())
    }
}

/// Computes membership and assignment changes for `subjects`, in parallel.
pub(crate) fn plan_changes(
    targeting: &Targeting,
    subjects: &[Subject<'_>],
    now: Timestamp,
) -> Changes {
    let per_subject: Vec<Changes> = subjects
        .par_iter()
        .map(|subject| {
            let mut changes = Changes::default();
            let dynamic = targeting.dynamic_groups(subject.directory, &subject.static_groups);
            for group in dynamic.difference(&subject.rule_groups) {
                changes
                    .add
                    .push((*group, subject.directory.id, MembershipSource::Rule));
            }
            for group in subject.rule_groups.difference(&dynamic) {
                changes.remove.push((*group, subject.directory.id));
            }
            if let Some(device) = subject.device {
                let all: BTreeSet<GroupId> =
                    subject.static_groups.union(&dynamic).copied().collect();
                let next = device.assignment.retarget(targeting.winner(&all), now);
                if next != device.assignment {
                    changes.assignments.push((device.ztdid, next));
                }
            }
            changes
        })
        .collect();
    let mut all = Changes::default();
    for changes in per_subject {
        all.add.extend(changes.add);
        all.remove.extend(changes.remove);
        all.assignments.extend(changes.assignments);
    }
    all
}

/// Splits stored memberships into per-object static and rule sets.
pub(crate) fn index_memberships(
    memberships: Vec<(DirectoryObjectId, GroupId, MembershipSource)>,
) -> HashMap<DirectoryObjectId, (BTreeSet<GroupId>, BTreeSet<GroupId>)> {
    let mut by_member: HashMap<DirectoryObjectId, (BTreeSet<GroupId>, BTreeSet<GroupId>)> =
        HashMap::new();
    for (member, group, source) in memberships {
        let entry = by_member.entry(member).or_default();
        match source {
            MembershipSource::Static => entry.0.insert(group),
            MembershipSource::Rule => entry.1.insert(group),
        };
    }
    by_member
}

/// Re-targets the given devices (after a change to them): one transaction, current on commit.
pub(crate) async fn refresh_devices(
    tx: &mut Tx,
    tenant: TenantId,
    targeting: &Targeting,
    devices: &[(Option<AutopilotDevice>, DirectoryDevice)],
    now: Timestamp,
) -> AppResult<()> {
    require(
        tx,
        Lock::Targeting(tenant),
        "refresh_devices needs the tenant's targeting lock",
    )?;
    let ids: Vec<DirectoryObjectId> = devices.iter().map(|(_, d)| d.id).collect();
    let mut memberships = index_memberships(tx.memberships_of(tenant, &ids).await?);
    let subjects: Vec<Subject<'_>> = devices
        .iter()
        .map(|(device, directory)| {
            let (static_groups, rule_groups) =
                memberships.remove(&directory.id).unwrap_or_default();
            Subject {
                device: device.as_ref(),
                directory,
                static_groups,
                rule_groups,
            }
        })
        .collect();
    plan_changes(targeting, &subjects, now)
        .write(tx, tenant)
        .await
}

const TARGETING_GENERATION: &str = "targeting-generation";

/// A step that decides on reads a concurrent use case could invalidate checks that its use case took the
/// lock that prevents it (`ztd_store::Lock`; docs/multi-node.md). Failing here is a bug in the use case.
pub(crate) fn require(tx: &Tx, lock: Lock, what: &'static str) -> AppResult<()> {
    if tx.holds(lock) {
        Ok(())
    } else {
        Err(AppError::Store(StoreError::Misuse(what)))
    }
}

/// A value that changes whenever what targets new devices changes (rules, their processing state, profile
/// assignments, profiles). Imports plan on a snapshot outside the write lock and compare it under the lock.
pub(crate) async fn targeting_generation(tx: &mut Tx, tenant: TenantId) -> AppResult<String> {
    Ok(tx
        .get_setting(tenant, TARGETING_GENERATION)
        .await?
        .unwrap_or_default())
}

/// Records that targeting changed (see [`targeting_generation`]).
pub(crate) async fn bump_targeting_generation(tx: &mut Tx, tenant: TenantId) -> AppResult<()> {
    require(
        tx,
        Lock::Targeting(tenant),
        "a targeting change needs the tenant's targeting lock",
    )?;
    // A counter, bumped in the transaction of the change: never repeats within a tenant, and needs no
    // randomness. (Older stores hold a UUID here; it reads as 0, and "1" differs from it all the same.)
    let current = targeting_generation(tx, tenant).await?;
    let next = current.parse::<u64>().unwrap_or(0).saturating_add(1);
    tx.put_setting(tenant, TARGETING_GENERATION, &next.to_string())
        .await?;
    Ok(())
}

/// Re-targets every device of the tenant (after a change to a rule, a profile or an assignment).
pub(crate) async fn refresh_tenant(
    tx: &mut Tx,
    tenant: TenantId,
    targeting: &Targeting,
    now: Timestamp,
) -> AppResult<usize> {
    bump_targeting_generation(tx, tenant).await?;
    let devices = tx.all_devices(tenant).await?;
    let directory = tx.all_directory_devices(tenant).await?;
    let mut memberships = index_memberships(tx.all_memberships(tenant).await?);
    let by_object: HashMap<DirectoryObjectId, &AutopilotDevice> =
        devices.iter().map(|d| (d.directory_object_id, d)).collect();
    let subjects: Vec<Subject<'_>> = directory
        .iter()
        .map(|object| {
            let (static_groups, rule_groups) = memberships.remove(&object.id).unwrap_or_default();
            Subject {
                device: by_object.get(&object.id).copied(),
                directory: object,
                static_groups,
                rule_groups,
            }
        })
        .collect();
    let changes = plan_changes(targeting, &subjects, now);
    let touched: HashSet<DirectoryObjectId> = changes
        .add
        .iter()
        .map(|c| c.1)
        .chain(changes.remove.iter().map(|c| c.1))
        .collect();
    changes.write(tx, tenant).await?;
    Ok(touched.len())
}
