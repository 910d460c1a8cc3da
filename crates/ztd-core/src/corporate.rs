//! Corporate device identifiers (Graph beta `importedDeviceIdentities`).
//!
//! A plain record: ztd makes no decision on them yet (they only gate enrollment in Autopilot device
//! preparation, which ztd does not implement), but they are tenant data written by use cases, so the
//! entity lives with the rest of the domain.

use crate::{TenantId, Timestamp};

/// One declared identifier. Enum-like fields hold their Graph wire names.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CorporateIdentifier {
    pub tenant_id: TenantId,
    /// A UUID, lowercase hyphenated.
    pub id: String,
    /// The identifier as declared, e.g. `Contoso,Laptop 7,PF1ABCDE` for `manufacturerModelSerial`.
    pub identifier: String,
    /// `unknown`, `imei`, `serialNumber` or `manufacturerModelSerial`.
    pub identifier_type: String,
    pub platform: String,
    pub description: String,
    pub enrollment_state: String,
    pub last_contacted_at: Option<Timestamp>,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
}
