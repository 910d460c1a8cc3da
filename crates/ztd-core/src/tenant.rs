//! Tenants: the unit of isolation. Every stored object carries its tenant id and every query is scoped by it.

use serde::{Deserialize, Serialize};

use crate::{TenantId, Timestamp};

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Tenant {
    pub id: TenantId,
    pub display_name: String,
    /// The default verified domain (for `CloudAssignedTenantDomain`), e.g. `contoso.onmicrosoft.com`.
    pub domain: String,
    pub created_at: Timestamp,
}

/// An application registration allowed to call the admin API of one tenant (OAuth2 client credentials).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ClientCredential {
    pub tenant_id: TenantId,
    pub client_id: String,
    /// A salted hash of the secret, never the secret itself (see `ztd-app`).
    pub secret_hash: String,
    pub display_name: String,
    /// Granted scopes, e.g. `DeviceManagementServiceConfig.ReadWrite.All`.
    pub scopes: Vec<String>,
    pub created_at: Timestamp,
}
