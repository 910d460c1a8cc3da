//! `ztd device explain`: why a device is in each group, which profile it gets and why, which ESP applies.

use std::collections::BTreeSet;

pub use ztd_api::native::{DeviceExplanation, GroupVerdict};
use ztd_core::assignment::resolve_profile;
use ztd_core::esp::resolve_esp;
use ztd_core::group::MembershipSource;
use ztd_core::{GroupId, TenantId};

use crate::targeting::{rule_view, Targeting};
use crate::{App, AppResult};

impl App {
    pub async fn explain_device(
        &self,
        tenant: TenantId,
        serial_or_ztdid: &str,
    ) -> AppResult<DeviceExplanation> {
        let device = self.find_device(tenant, serial_or_ztdid).await?;
        let mut tx = self.store.begin_read().await?;
        let directory = tx
            .get_directory_device(tenant, device.directory_object_id)
            .await?;
        let memberships = tx
            .memberships_of(tenant, &[device.directory_object_id])
            .await?;
        let targeting = Targeting::load(&mut tx, tenant).await?;
        let esps = tx.list_esps(tenant).await?;
        let mut events = tx
            .list_events(tenant, Some(&device.ztdid.to_string()), 20)
            .await?;
        events.truncate(20);

        let static_groups: BTreeSet<GroupId> = memberships
            .iter()
            .filter(|m| m.2 == MembershipSource::Static)
            .map(|m| m.1)
            .collect();
        let expected_dynamic = directory
            .as_ref()
            .map(|d| targeting.dynamic_groups(d, &static_groups))
            .unwrap_or_default();
        let member_of: Vec<String> = memberships.iter().map(|m| m.1.to_string()).collect();
        let view = directory.as_ref().map(|d| rule_view(d, &member_of));

        let mut groups = Vec::new();
        for group in &targeting.groups {
            let stored = memberships.iter().find(|m| m.1 == group.id).map(|m| m.2);
            let trace = match (targeting.rules.get(&group.id), &view) {
                (Some(rule), Some(view)) => Some(rule.explain(view)),
                _ => None,
            };
            let consistent = match (group.is_dynamic() && group.rule_processing_on, stored) {
                (true, stored) => {
                    expected_dynamic.contains(&group.id) == (stored == Some(MembershipSource::Rule))
                }
                (false, _) => true,
            };
            let trace_text = trace.as_ref().map(ToString::to_string);
            groups.push(GroupVerdict {
                group_id: group.id,
                display_name: group.display_name.clone(),
                dynamic: group.is_dynamic(),
                member: stored.is_some(),
                source: stored,
                membership_rule: group.membership_rule.clone(),
                trace,
                trace_text,
                consistent,
            });
        }
        let all_groups: BTreeSet<GroupId> = memberships.iter().map(|m| m.1).collect();
        let profile = resolve_profile(&all_groups, &targeting.profiles, &targeting.assignments);
        let esp = resolve_esp(&all_groups, &esps);
        Ok(DeviceExplanation {
            device,
            directory_object: directory,
            groups,
            profile,
            esp,
            recent_events: events,
        })
    }
}
