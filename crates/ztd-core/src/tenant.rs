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

/// An application registration of one tenant. It signs in with any of its secrets or certificates
/// ([`ClientSecret`], [`ClientCertificate`]).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ClientCredential {
    pub tenant_id: TenantId,
    pub client_id: String,
    pub display_name: String,
    /// Granted application permissions (`roles`), e.g. `DeviceManagementServiceConfig.ReadWrite.All`.
    pub scopes: Vec<String>,
    /// Where the authorization code flow may send the browser back to (exact match).
    pub redirect_uris: Vec<String>,
    pub created_at: Timestamp,
}

/// A client secret (Graph `passwordCredential`): stored as a salted hash, shown once.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ClientSecret {
    pub tenant_id: TenantId,
    pub client_id: String,
    pub key_id: uuid::Uuid,
    pub secret_hash: String,
    /// The secret's first three characters, to tell secrets apart.
    pub hint: String,
    pub display_name: String,
    pub start_at: Timestamp,
    /// `None`: never expires (only the first start's administrator secret).
    pub end_at: Option<Timestamp>,
    pub created_at: Timestamp,
}

impl ClientSecret {
    pub fn expired_at(&self, now: Timestamp) -> bool {
        self.end_at.is_some_and(|end| now.0 > end.0)
    }
}

/// A certificate credential (Graph `keyCredential` of type `AsymmetricX509Cert`, usage `Verify`): the public
/// certificate whose key signs the application's client assertions.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ClientCertificate {
    pub tenant_id: TenantId,
    pub client_id: String,
    pub key_id: uuid::Uuid,
    /// SHA-1 of the DER in upper-case hex (Graph `customKeyIdentifier`).
    pub thumbprint: String,
    pub certificate_der: Vec<u8>,
    pub display_name: String,
    /// The certificate's own validity.
    pub start_at: Timestamp,
    pub end_at: Timestamp,
    pub created_at: Timestamp,
}
