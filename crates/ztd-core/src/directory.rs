//! The directory (DRS) side: the disabled device object created for every registration, whose
//! `physicalIds` carry the Autopilot tags that dynamic groups select on.

use serde::{Deserialize, Serialize};

use crate::{DirectoryDeviceId, DirectoryObjectId, TenantId, Timestamp, Ztdid};

/// A directory device object (Graph `/devices`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DirectoryDevice {
    pub tenant_id: TenantId,
    pub id: DirectoryObjectId,
    pub device_id: DirectoryDeviceId,
    /// The serial number until the device enrolls.
    pub display_name: String,
    /// Autopilot placeholder objects are created disabled.
    pub account_enabled: bool,
    pub physical_ids: Vec<String>,
    pub operating_system: String,
    pub operating_system_version: String,
    pub manufacturer: String,
    pub model: String,
    pub trust_type: String,
    pub enrollment_profile_name: String,
    pub ztdid: Option<Ztdid>,
    pub created_at: Timestamp,
    /// Set by a join: `X509:<SHA1-TP-PUBKEY>` with the device certificate's thumbprint and key hash.
    pub alternative_security_id: String,
    /// The user who joined or registered the device (its registered owner and user).
    pub registered_user_id: Option<DirectoryObjectId>,
}

/// The `physicalIds` of an Autopilot device object. `[OrderId]` and `[PurchaseOrderId]` are present only
/// when set, as the directory does; `[ZTDID]` always.
pub fn autopilot_physical_ids(
    ztdid: Ztdid,
    group_tag: &str,
    purchase_order_id: &str,
) -> Vec<String> {
    let mut ids = vec![format!("[ZTDID]:{ztdid}")];
    if !group_tag.is_empty() {
        ids.push(format!("[OrderId]:{group_tag}"));
    }
    if !purchase_order_id.is_empty() {
        ids.push(format!("[PurchaseOrderId]:{purchase_order_id}"));
    }
    ids
}

/// Replaces the Autopilot tags of an existing `physicalIds` list, keeping every other entry (for example
/// `[HWID]` or `[USER-GID]` written by enrollment) in its place.
pub fn retag_physical_ids(
    existing: &[String],
    ztdid: Ztdid,
    group_tag: &str,
    purchase_order_id: &str,
) -> Vec<String> {
    let is_autopilot_tag = |id: &str| {
        let lower = id.to_ascii_lowercase();
        lower.starts_with("[ztdid]:")
            || lower.starts_with("[orderid]:")
            || lower.starts_with("[purchaseorderid]:")
    };
    let mut ids = autopilot_physical_ids(ztdid, group_tag, purchase_order_id);
    ids.extend(existing.iter().filter(|id| !is_autopilot_tag(id)).cloned());
    ids
}

#[cfg(test)]
mod tests {
    use super::*;
    use uuid::Uuid;

    #[test]
    fn physical_ids_carry_only_the_tags_that_are_set() {
        let ztdid = Ztdid(Uuid::from_u128(7));
        assert_eq!(
            autopilot_physical_ids(ztdid, "", ""),
            vec![format!("[ZTDID]:{ztdid}")]
        );
        assert_eq!(
            autopilot_physical_ids(ztdid, "Kiosk", "PO-1"),
            vec![
                format!("[ZTDID]:{ztdid}"),
                "[OrderId]:Kiosk".to_string(),
                "[PurchaseOrderId]:PO-1".to_string()
            ]
        );
    }

    #[test]
    fn retagging_replaces_autopilot_tags_and_keeps_the_rest() {
        let ztdid = Ztdid(Uuid::from_u128(7));
        let before = vec![
            format!("[ZTDID]:{ztdid}"),
            "[OrderId]:Old".into(),
            "[HWID]:h:1".into(),
        ];
        let after = retag_physical_ids(&before, ztdid, "New", "");
        assert_eq!(
            after,
            vec![
                format!("[ZTDID]:{ztdid}"),
                "[OrderId]:New".to_string(),
                "[HWID]:h:1".to_string()
            ]
        );
    }
}
