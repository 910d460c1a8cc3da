//! Device groups: static (members added by hand) or dynamic (members chosen by a membership rule).

use serde::{Deserialize, Serialize};

use crate::{GroupId, TenantId, Timestamp};

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Group {
    pub tenant_id: TenantId,
    pub id: GroupId,
    pub display_name: String,
    pub description: String,
    /// `Some` for a dynamic group (`groupTypes: ["DynamicMembership"]`).
    pub membership_rule: Option<String>,
    /// Graph `membershipRuleProcessingState`: `On` or `Paused`.
    pub rule_processing_on: bool,
    pub created_at: Timestamp,
}

impl Group {
    pub fn is_dynamic(&self) -> bool {
        self.membership_rule.is_some()
    }
}

/// How a member came to be in a group; explained by `ztd device explain`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum MembershipSource {
    Static,
    Rule,
}
