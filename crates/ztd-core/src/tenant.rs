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

/// A verified domain of a tenant (Graph `verifiedDomain`): user names end in one.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct VerifiedDomain {
    pub tenant_id: TenantId,
    /// Lower case.
    pub name: String,
    /// The tenant's default domain (the one it was created with), which cannot be removed.
    pub is_default: bool,
    pub created_at: Timestamp,
}

/// Checks a domain name as Entra does for a custom domain: 2–253 characters of dot-separated labels of
/// letters, digits and hyphens (no label starting or ending with a hyphen), at least two labels, and a top
/// label that is not all digits. Returns it in lower case.
pub fn validate_domain(name: &str) -> Result<String, crate::error::DomainError> {
    let domain = name.trim().trim_end_matches('.').to_ascii_lowercase();
    let labels: Vec<&str> = domain.split('.').collect();
    let label_ok = |l: &&str| {
        !l.is_empty()
            && l.len() <= 63
            && !l.starts_with('-')
            && !l.ends_with('-')
            && l.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
    };
    let ok = domain.len() <= 253
        && labels.len() >= 2
        && labels.iter().all(label_ok)
        && !labels
            .last()
            .is_some_and(|top| top.bytes().all(|b| b.is_ascii_digit()));
    if ok {
        Ok(domain)
    } else {
        Err(crate::error::DomainError::invalid(
            "domain",
            format!(
                "{:?} is not a domain name (e.g. contoso.example: letters, digits and hyphens in dot-separated labels)",
                name.chars().take(80).collect::<String>()
            ),
        ))
    }
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn domains_as_entra_accepts_them() {
        assert_eq!(
            validate_domain("Contoso.Example").unwrap(),
            "contoso.example"
        );
        assert_eq!(
            validate_domain("lab-1.contoso.example.").unwrap(),
            "lab-1.contoso.example"
        );
        for bad in [
            "contoso",
            "-a.example",
            "a-.example",
            "a..example",
            "a b.example",
            "1.2.3.4",
            "",
            "é.example",
        ] {
            assert!(validate_domain(bad).is_err(), "{bad}");
        }
        assert!(validate_domain(&format!("{}.example", "a".repeat(64))).is_err());
    }
}
