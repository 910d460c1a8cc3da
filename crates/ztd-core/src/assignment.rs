//! Which deployment profile a device gets, and why (behaviour spec §2.3).
//!
//! The rules, in order:
//! 1. A profile *targets* a device through a group include (`groupAssignmentTarget`) of a group the device is
//!    in, or through All Devices (`allDevicesAssignmentTarget`).
//! 2. **Exclusion beats inclusion** (`[I]`, Intune's general rule): a profile with an exclusion
//!    (`exclusionGroupAssignmentTarget`) of any group the device is in does not apply to it, whatever its
//!    includes — **All Devices included**. The docs say "exclusions with All Devices are not supported" and
//!    report assignment problems with them; ztd does not reproduce that flakiness and applies the rule the
//!    admin most plausibly meant ("Groups put under Excluded get nothing"). The device then falls through
//!    to the other profiles.
//! 3. Among profiles that target the device through a **group**, the **oldest** `createdDateTime` wins.
//!    Equal creation times (the service stores them to the tick, so only imports or tests produce them) are
//!    broken by the smaller profile id, so the answer never depends on storage order. `[I]`
//! 4. If no group-targeted profile applies, a profile assigned to **All Devices** applies (the "default
//!    profile"), even when it is newer than a group-targeted profile that was excluded. Among several All
//!    Devices profiles, the same oldest-then-smallest-id rule picks one. A profile assigned both to a group
//!    the device is in and to All Devices competes as group-targeted.
//! 5. Otherwise no profile applies. ztd has no built-in default profile (spec "Main uncertainties" 3: the
//!    docs also document event 815 "no profile and no default"), so the device downloads none.
//!
//! Data hygiene decisions (`[I]`): assignments whose profile is not in the list, or whose tenant differs
//! from the profile's, are ignored; if two profiles share an id, the first one in the list is used.
//!
//! [`resolve_profile`] explains its answer for humans (`ztd device explain`); [`ProfileResolver`] gives the
//! same winner without the explanation, for bulk work.

use std::collections::hash_map::Entry;
use std::collections::{BTreeSet, HashMap};

use serde::{Deserialize, Serialize};

use crate::profile::{AssignmentTarget, DeploymentProfile, ProfileAssignment};
use crate::{GroupId, ProfileId, Timestamp};

/// One profile with its (valid) assignments.
#[derive(Clone, Debug)]
pub struct ProfileCandidate<'a> {
    pub profile: &'a DeploymentProfile,
    pub assignments: Vec<&'a ProfileAssignment>,
}

/// What happened to one profile in a resolution.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", tag = "kind")]
pub enum Outcome {
    /// Targeted through a group the device is in, not excluded, and the oldest such profile.
    Won,
    /// Targeted only through All Devices, and applied because no group-targeted profile applies.
    WonAsDefault,
    /// Targeted in the same way as the winner, but the winner is older (or as old with a smaller id).
    LostToOlder { winner: ProfileId },
    /// Targeted only through All Devices, but a profile targeted through a group applies.
    LostToGroupTargeted { winner: ProfileId },
    /// Targeted, but excluded through a group the device is in.
    Excluded,
    /// Not assigned to any group the device is in, nor to All Devices.
    NotTargeted,
}

/// One profile as the resolution saw it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ConsideredProfile {
    pub profile_id: ProfileId,
    pub display_name: String,
    pub created_at: Timestamp,
    /// The profile's targets that include the device (`AllDevices` or `Group` of a group it is in).
    pub via: Vec<AssignmentTarget>,
    /// The device's groups this profile excludes.
    pub excluded_by: Vec<GroupId>,
    pub outcome: Outcome,
}

/// The profile a device gets, one sentence saying why, and every profile with its outcome, oldest first.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ProfileResolution {
    pub winner: Option<ProfileId>,
    pub reason: String,
    pub considered: Vec<ConsideredProfile>,
}

/// The order of the conflict rule: oldest first, then smaller id.
fn contest_key(profile: &DeploymentProfile) -> (Timestamp, ProfileId) {
    (profile.created_at, profile.id)
}

/// Groups profiles with their assignments, applying the data-hygiene rules of the module docs, and orders
/// them as the conflict rule does (oldest first, then smaller id).
pub fn candidates<'a>(
    profiles: &'a [DeploymentProfile],
    assignments: &'a [ProfileAssignment],
) -> Vec<ProfileCandidate<'a>> {
    let mut index: HashMap<ProfileId, usize> = HashMap::new();
    let mut out: Vec<ProfileCandidate<'a>> = Vec::new();
    for profile in profiles {
        if let Entry::Vacant(slot) = index.entry(profile.id) {
            slot.insert(out.len());
            out.push(ProfileCandidate {
                profile,
                assignments: Vec::new(),
            });
        }
    }
    for assignment in assignments {
        if let Some(candidate) = index
            .get(&assignment.profile_id)
            .and_then(|&at| out.get_mut(at))
        {
            if candidate.profile.tenant_id == assignment.tenant_id {
                candidate.assignments.push(assignment);
            }
        }
    }
    out.sort_by_key(|candidate| contest_key(candidate.profile));
    out
}

/// Resolves and explains the profile of a device in `device_groups` (see the module docs for the rules).
pub fn resolve_profile(
    device_groups: &BTreeSet<GroupId>,
    profiles: &[DeploymentProfile],
    assignments: &[ProfileAssignment],
) -> ProfileResolution {
    resolve_candidates(device_groups, &candidates(profiles, assignments))
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Tier {
    Group,
    Default,
    Excluded,
    NotTargeted,
}

/// [`resolve_profile`] over candidates already grouped by [`candidates`] (any order).
pub fn resolve_candidates(
    device_groups: &BTreeSet<GroupId>,
    candidates: &[ProfileCandidate<'_>],
) -> ProfileResolution {
    let mut ordered: Vec<&ProfileCandidate<'_>> = candidates.iter().collect();
    ordered.sort_by_key(|candidate| contest_key(candidate.profile));

    let mut rows: Vec<(ConsideredProfile, Tier)> = Vec::with_capacity(ordered.len());
    for candidate in ordered {
        let mut via = BTreeSet::new();
        let mut excluded_by = BTreeSet::new();
        for assignment in &candidate.assignments {
            match assignment.target {
                AssignmentTarget::AllDevices => {
                    via.insert(assignment.target);
                }
                AssignmentTarget::Group(group) if device_groups.contains(&group) => {
                    via.insert(assignment.target);
                }
                AssignmentTarget::ExcludeGroup(group) if device_groups.contains(&group) => {
                    excluded_by.insert(group);
                }
                AssignmentTarget::Group(_) | AssignmentTarget::ExcludeGroup(_) => {}
            }
        }
        let tier = if via.is_empty() {
            Tier::NotTargeted
        } else if !excluded_by.is_empty() {
            Tier::Excluded
        } else if via.iter().any(|t| matches!(t, AssignmentTarget::Group(_))) {
            Tier::Group
        } else {
            Tier::Default
        };
        rows.push((
            ConsideredProfile {
                profile_id: candidate.profile.id,
                display_name: candidate.profile.display_name.clone(),
                created_at: candidate.profile.created_at,
                via: via.into_iter().collect(),
                excluded_by: excluded_by.into_iter().collect(),
                outcome: Outcome::NotTargeted,
            },
            tier,
        ));
    }

    // Rows are in contest order, so the first of a tier is its winner.
    let first_of = |tier: Tier| {
        rows.iter()
            .find(|(_, t)| *t == tier)
            .map(|(row, _)| row.profile_id)
    };
    let group_winner = first_of(Tier::Group);
    let default_winner = first_of(Tier::Default);
    let count_of = |tier: Tier| rows.iter().filter(|(_, t)| *t == tier).count();
    let group_count = count_of(Tier::Group);
    let default_count = count_of(Tier::Default);
    let excluded_count = count_of(Tier::Excluded);

    for (row, tier) in &mut rows {
        row.outcome = match (*tier, group_winner, default_winner) {
            (Tier::Group, Some(winner), _) if winner == row.profile_id => Outcome::Won,
            (Tier::Group, Some(winner), _) => Outcome::LostToOlder { winner },
            (Tier::Default, Some(winner), _) => Outcome::LostToGroupTargeted { winner },
            (Tier::Default, None, Some(winner)) if winner == row.profile_id => {
                Outcome::WonAsDefault
            }
            (Tier::Default, None, Some(winner)) => Outcome::LostToOlder { winner },
            (Tier::Excluded, _, _) => Outcome::Excluded,
            // Group/Default rows always have a winner of their tier; NotTargeted stays as is.
            _ => Outcome::NotTargeted,
        };
    }

    let winner = group_winner.or(default_winner);
    let winner_row = rows
        .iter()
        .map(|(row, _)| row)
        .find(|row| Some(row.profile_id) == winner);
    let reason = match (winner_row, group_winner.is_some()) {
        (Some(row), true) => {
            let groups: Vec<String> = row
                .via
                .iter()
                .filter_map(|t| match t {
                    AssignmentTarget::Group(group) => Some(group.to_string()),
                    _ => None,
                })
                .collect();
            let plural = if groups.len() == 1 { "" } else { "s" };
            let mut reason = format!(
                "Profile \"{}\" ({}) applies: it is assigned to the device's group{plural} {}",
                row.display_name,
                row.profile_id,
                groups.join(", ")
            );
            if group_count > 1 {
                reason.push_str(&format!(
                    " and, created {}, is the oldest of the {group_count} profiles assigned to the device's groups",
                    row.created_at
                ));
            }
            reason.push('.');
            reason
        }
        (Some(row), false) => {
            let mut reason = format!(
                "No profile assigned to the device's groups applies, so \"{}\" ({}), assigned to All Devices, \
                 applies as the default profile",
                row.display_name, row.profile_id
            );
            if default_count > 1 {
                reason.push_str(&format!(
                    " (created {}, the oldest of {default_count} All Devices profiles)",
                    row.created_at
                ));
            }
            reason.push('.');
            reason
        }
        (None, _) => {
            let mut reason =
                "No profile applies: none is assigned to the device's groups or to All Devices"
                    .to_string();
            if excluded_count > 0 {
                reason.push_str(&format!(
                    " without an exclusion of one of its groups ({excluded_count} excluded)"
                ));
            }
            reason.push('.');
            reason
        }
    };

    ProfileResolution {
        winner,
        reason,
        considered: rows.into_iter().map(|(row, _)| row).collect(),
    }
}

/// The winner of [`resolve_profile`] without the explanation, for bulk use (an import of 100,000 devices
/// resolves each one). Built once from the tenant's profiles and assignments.
///
/// Profiles are ranked in contest order. `winner` walks the device's groups, and for each the ranks of the
/// profiles including it (sorted, so it stops at the first that is not excluded and at any rank not better
/// than the best so far); then, if nothing was found, the All Devices profiles. With few exclusions this is
/// O(number of the device's groups), and it allocates nothing.
#[derive(Clone, Debug, Default)]
pub struct ProfileResolver {
    /// Profile ids in contest order (rank = index).
    ranked: Vec<ProfileId>,
    /// Per rank: the groups the profile excludes, sorted.
    excludes: Vec<Vec<GroupId>>,
    /// Per group: the ranks of the profiles including it, ascending.
    includes: HashMap<GroupId, Vec<usize>>,
    /// Ranks of the profiles assigned to All Devices, ascending.
    all_devices: Vec<usize>,
}

impl ProfileResolver {
    pub fn new(profiles: &[DeploymentProfile], assignments: &[ProfileAssignment]) -> Self {
        let ordered = candidates(profiles, assignments);
        let mut resolver = ProfileResolver {
            ranked: ordered.iter().map(|c| c.profile.id).collect(),
            excludes: vec![Vec::new(); ordered.len()],
            includes: HashMap::new(),
            all_devices: Vec::new(),
        };
        for (rank, candidate) in ordered.iter().enumerate() {
            for assignment in &candidate.assignments {
                match assignment.target {
                    AssignmentTarget::AllDevices => resolver.all_devices.push(rank),
                    AssignmentTarget::Group(group) => {
                        resolver.includes.entry(group).or_default().push(rank)
                    }
                    AssignmentTarget::ExcludeGroup(group) => {
                        if let Some(excludes) = resolver.excludes.get_mut(rank) {
                            excludes.push(group);
                        }
                    }
                }
            }
        }
        // Ranks were pushed in ascending order; duplicates come from repeated assignments.
        resolver.all_devices.dedup();
        for ranks in resolver.includes.values_mut() {
            ranks.dedup();
        }
        for excludes in &mut resolver.excludes {
            excludes.sort_unstable();
            excludes.dedup();
        }
        resolver
    }

    fn is_excluded(&self, rank: usize, device_groups: &BTreeSet<GroupId>) -> bool {
        self.excludes
            .get(rank)
            .is_some_and(|groups| groups.iter().any(|g| device_groups.contains(g)))
    }

    /// The profile a device in `device_groups` gets; equal to `resolve_profile(..).winner`.
    pub fn winner(&self, device_groups: &BTreeSet<GroupId>) -> Option<ProfileId> {
        let mut best: Option<usize> = None;
        for group in device_groups {
            let Some(ranks) = self.includes.get(group) else {
                continue;
            };
            for &rank in ranks {
                if best.is_some_and(|b| rank >= b) {
                    break;
                }
                if !self.is_excluded(rank, device_groups) {
                    best = Some(rank);
                    break;
                }
            }
        }
        if best.is_none() {
            best = self
                .all_devices
                .iter()
                .copied()
                .find(|&rank| !self.is_excluded(rank, device_groups));
        }
        best.and_then(|rank| self.ranked.get(rank)).copied()
    }

    /// How many profiles the resolver knows.
    pub fn len(&self) -> usize {
        self.ranked.len()
    }

    pub fn is_empty(&self) -> bool {
        self.ranked.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::profile::{DeviceType, JoinType, OobeSettings};
    use crate::TenantId;
    use proptest::prelude::*;
    use uuid::Uuid;

    const TENANT: TenantId = TenantId(Uuid::from_u128(0xaa));

    fn pid(n: u128) -> ProfileId {
        ProfileId(Uuid::from_u128(0x1000 + n))
    }

    fn gid(n: u128) -> GroupId {
        GroupId(Uuid::from_u128(0x2000 + n))
    }

    fn profile(n: u128, created: i64) -> DeploymentProfile {
        DeploymentProfile {
            tenant_id: TENANT,
            id: pid(n),
            display_name: format!("Profile {n}"),
            description: String::new(),
            device_type: DeviceType::WindowsPc,
            join_type: JoinType::AzureAd,
            oobe: OobeSettings::default(),
            locale: "os-default".into(),
            preprovisioning_allowed: false,
            hardware_hash_extraction_enabled: false,
            device_name_template: String::new(),
            hybrid_skip_connectivity_check: false,
            management_service_app_id: None,
            role_scope_tag_ids: Vec::new(),
            created_at: Timestamp(created),
            updated_at: Timestamp(created),
        }
    }

    fn assign(profile: u128, target: AssignmentTarget) -> ProfileAssignment {
        ProfileAssignment {
            tenant_id: TENANT,
            id: ProfileAssignment::conventional_id(pid(profile), target),
            profile_id: pid(profile),
            target,
            filter: None,
            created_at: Timestamp(0),
        }
    }

    fn include(profile: u128, group: u128) -> ProfileAssignment {
        assign(profile, AssignmentTarget::Group(gid(group)))
    }

    fn exclude(profile: u128, group: u128) -> ProfileAssignment {
        assign(profile, AssignmentTarget::ExcludeGroup(gid(group)))
    }

    fn all_devices(profile: u128) -> ProfileAssignment {
        assign(profile, AssignmentTarget::AllDevices)
    }

    fn groups(ids: &[u128]) -> BTreeSet<GroupId> {
        ids.iter().map(|&n| gid(n)).collect()
    }

    /// Resolves, checks the fast path agrees, and returns the resolution.
    fn resolve(
        device: &[u128],
        profiles: &[DeploymentProfile],
        assignments: &[ProfileAssignment],
    ) -> ProfileResolution {
        let resolution = resolve_profile(&groups(device), profiles, assignments);
        let fast = ProfileResolver::new(profiles, assignments).winner(&groups(device));
        assert_eq!(fast, resolution.winner, "fast path disagrees");
        resolution
    }

    fn outcome_of(resolution: &ProfileResolution, n: u128) -> Option<Outcome> {
        resolution
            .considered
            .iter()
            .find(|row| row.profile_id == pid(n))
            .map(|row| row.outcome)
    }

    #[test]
    fn oldest_created_profile_wins_when_two_groups_target_the_device() {
        let profiles = [profile(1, 200), profile(2, 100)];
        let assignments = [include(1, 1), include(2, 2)];
        let r = resolve(&[1, 2], &profiles, &assignments);
        assert_eq!(r.winner, Some(pid(2)));
        assert_eq!(
            outcome_of(&r, 1),
            Some(Outcome::LostToOlder { winner: pid(2) })
        );
        assert_eq!(outcome_of(&r, 2), Some(Outcome::Won));
        assert!(
            r.reason.contains("oldest of the 2 profiles"),
            "{}",
            r.reason
        );
    }

    #[test]
    fn equal_creation_times_break_ties_on_the_smaller_profile_id() {
        let profiles = [profile(2, 100), profile(1, 100)];
        let assignments = [include(1, 1), include(2, 1)];
        assert_eq!(resolve(&[1], &profiles, &assignments).winner, Some(pid(1)));
    }

    #[test]
    fn exclusion_beats_inclusion() {
        let profiles = [profile(1, 100)];
        let assignments = [include(1, 1), exclude(1, 2)];
        let r = resolve(&[1, 2], &profiles, &assignments);
        assert_eq!(r.winner, None);
        assert_eq!(outcome_of(&r, 1), Some(Outcome::Excluded));
        assert_eq!(r.considered[0].excluded_by, vec![gid(2)]);
        assert!(r.reason.contains("1 excluded"), "{}", r.reason);
        // A device outside the excluded group still gets it.
        assert_eq!(resolve(&[1], &profiles, &assignments).winner, Some(pid(1)));
    }

    #[test]
    fn an_excluded_older_profile_lets_the_next_oldest_win() {
        let profiles = [profile(1, 100), profile(2, 200)];
        let assignments = [include(1, 1), exclude(1, 3), include(2, 2)];
        let r = resolve(&[1, 2, 3], &profiles, &assignments);
        assert_eq!(r.winner, Some(pid(2)));
        assert_eq!(outcome_of(&r, 1), Some(Outcome::Excluded));
    }

    #[test]
    fn all_devices_profile_is_the_default() {
        let profiles = [profile(1, 100), profile(2, 50)];
        let assignments = [include(1, 1), all_devices(2)];
        let r = resolve(&[7], &profiles, &assignments);
        assert_eq!(r.winner, Some(pid(2)));
        assert_eq!(outcome_of(&r, 2), Some(Outcome::WonAsDefault));
        assert_eq!(outcome_of(&r, 1), Some(Outcome::NotTargeted));
        assert!(r.reason.contains("default profile"), "{}", r.reason);
        // A device in no group at all gets it too.
        assert_eq!(resolve(&[], &profiles, &assignments).winner, Some(pid(2)));
    }

    #[test]
    fn group_targeted_profile_beats_an_older_all_devices_profile() {
        let profiles = [profile(1, 500), profile(2, 50)];
        let assignments = [include(1, 1), all_devices(2)];
        let r = resolve(&[1], &profiles, &assignments);
        assert_eq!(r.winner, Some(pid(1)));
        assert_eq!(
            outcome_of(&r, 2),
            Some(Outcome::LostToGroupTargeted { winner: pid(1) })
        );
    }

    #[test]
    fn oldest_of_several_all_devices_profiles_is_the_default() {
        let profiles = [profile(1, 300), profile(2, 200), profile(3, 400)];
        let assignments = [all_devices(1), all_devices(2), all_devices(3)];
        let r = resolve(&[], &profiles, &assignments);
        assert_eq!(r.winner, Some(pid(2)));
        assert_eq!(
            outcome_of(&r, 3),
            Some(Outcome::LostToOlder { winner: pid(2) })
        );
        assert!(r.reason.contains("oldest of 3"), "{}", r.reason);
    }

    #[test]
    fn exclusion_also_removes_the_all_devices_assignment_of_that_profile() {
        let profiles = [profile(1, 100), profile(2, 200)];
        let assignments = [all_devices(1), exclude(1, 9), all_devices(2)];
        let r = resolve(&[9], &profiles, &assignments);
        assert_eq!(r.winner, Some(pid(2)));
        assert_eq!(outcome_of(&r, 1), Some(Outcome::Excluded));
        assert_eq!(resolve(&[], &profiles, &assignments).winner, Some(pid(1)));
    }

    #[test]
    fn a_profile_assigned_to_a_group_and_all_devices_competes_as_group_targeted() {
        let profiles = [profile(1, 300), profile(2, 100)];
        let assignments = [include(1, 1), all_devices(1), all_devices(2)];
        let r = resolve(&[1], &profiles, &assignments);
        assert_eq!(r.winner, Some(pid(1)));
        assert_eq!(
            r.considered
                .iter()
                .find(|c| c.profile_id == pid(1))
                .map(|c| c.via.clone()),
            Some(vec![
                AssignmentTarget::AllDevices,
                AssignmentTarget::Group(gid(1))
            ])
        );
        assert_eq!(resolve(&[2], &profiles, &assignments).winner, Some(pid(2)));
    }

    #[test]
    fn no_profile_applies_when_nothing_targets_the_device() {
        let profiles = [profile(1, 100)];
        let r = resolve(&[1], &profiles, &[include(1, 2)]);
        assert_eq!(r.winner, None);
        assert_eq!(outcome_of(&r, 1), Some(Outcome::NotTargeted));
        assert!(r.reason.starts_with("No profile applies"), "{}", r.reason);
        assert_eq!(resolve(&[], &[], &[]).winner, None);
    }

    #[test]
    fn assignments_of_unknown_profiles_or_other_tenants_are_ignored() {
        let profiles = [profile(1, 100)];
        let mut foreign = include(1, 1);
        foreign.tenant_id = TenantId(Uuid::from_u128(0xbb));
        let r = resolve(&[1], &profiles, &[foreign, include(5, 1)]);
        assert_eq!(r.winner, None);
        assert_eq!(r.considered.len(), 1);
    }

    #[test]
    fn explanation_lists_every_profile_oldest_first_and_serialises() {
        let profiles = [profile(1, 300), profile(2, 100), profile(3, 200)];
        let assignments = [include(1, 1), include(2, 1), exclude(3, 1), include(3, 1)];
        let r = resolve(&[1], &profiles, &assignments);
        let order: Vec<ProfileId> = r.considered.iter().map(|c| c.profile_id).collect();
        assert_eq!(order, vec![pid(2), pid(3), pid(1)]);
        let json = serde_json::to_value(&r).unwrap_or_default();
        assert_eq!(json["winner"], pid(2).to_string());
        assert_eq!(json["considered"][0]["outcome"]["kind"], "won");
        assert_eq!(json["considered"][1]["outcome"]["kind"], "excluded");
        assert_eq!(json["considered"][2]["outcome"]["kind"], "lostToOlder");
        assert_eq!(
            json["considered"][2]["outcome"]["winner"],
            pid(2).to_string()
        );
        assert_eq!(json["considered"][0]["via"][0]["kind"], "group");
    }

    fn target_strategy() -> impl Strategy<Value = AssignmentTarget> {
        prop_oneof![
            Just(AssignmentTarget::AllDevices),
            (0u128..5).prop_map(|g| AssignmentTarget::Group(gid(g))),
            (0u128..5).prop_map(|g| AssignmentTarget::ExcludeGroup(gid(g))),
        ]
    }

    proptest! {
        #[test]
        fn fast_resolver_agrees_with_the_explained_resolution(
            created in prop::collection::vec(0i64..4, 0..7),
            raw in prop::collection::vec((0u128..8, target_strategy(), any::<bool>()), 0..20),
            device in prop::collection::btree_set(0u128..6, 0..5),
        ) {
            let profiles: Vec<DeploymentProfile> = created
                .iter()
                .enumerate()
                .map(|(n, &at)| profile(n as u128, at))
                .collect();
            let assignments: Vec<ProfileAssignment> = raw
                .iter()
                .map(|&(p, target, foreign)| {
                    let mut a = assign(p, target);
                    if foreign && p % 3 == 0 {
                        a.tenant_id = TenantId(Uuid::from_u128(0xbb));
                    }
                    a
                })
                .collect();
            let device_groups: BTreeSet<GroupId> = device.iter().map(|&g| gid(g)).collect();
            let resolution = resolve_profile(&device_groups, &profiles, &assignments);
            let resolver = ProfileResolver::new(&profiles, &assignments);
            prop_assert_eq!(resolver.winner(&device_groups), resolution.winner);
            let winners = resolution
                .considered
                .iter()
                .filter(|c| matches!(c.outcome, Outcome::Won | Outcome::WonAsDefault))
                .count();
            prop_assert_eq!(winners, usize::from(resolution.winner.is_some()));
            prop_assert_eq!(resolution.considered.len(), profiles.len());
        }
    }
}
