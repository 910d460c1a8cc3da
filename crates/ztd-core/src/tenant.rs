//! Tenants: the unit of isolation. Every stored object carries its tenant id and every query is scoped by it.

use serde::{Deserialize, Serialize};

use crate::{TenantId, Timestamp};

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Tenant {
    pub id: TenantId,
    pub display_name: String,
    /// The default verified domain (for `CloudAssignedTenantDomain`), e.g. `contoso.onmicrosoft.com`.
    pub domain: String,
    pub created_at: Timestamp,
}
