//! The audit trail: every use case appends events in its own transaction.

use serde::{Deserialize, Serialize};

use crate::{TenantId, Timestamp};

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Event {
    pub tenant_id: TenantId,
    pub id: uuid::Uuid,
    pub at: Timestamp,
    /// Dotted kind, e.g. `device.registered`, `device.contacted`, `group.rule_changed`.
    pub kind: String,
    /// The id of the object the event is about (a ZTDID, group id, profile id...).
    pub subject: String,
    pub data: serde_json::Value,
}
