//! Tenants and the application credentials that act on them.

use base64::Engine;
use serde::Serialize;
use sha2::{Digest, Sha256};
use ztd_core::error::ObjectKind;
use ztd_core::esp::EspConfiguration;
use ztd_core::event::EventKind;
use ztd_core::tenant::{ClientCredential, Tenant};
use ztd_core::TenantId;

use ztd_store::{Lock, Tx};

use crate::{App, AppError, AppResult};

/// Where the first start saved the administrator credential, as its node described it.
const BOOTSTRAP_CREDENTIALS_SETTING: &str = "bootstrap-credentials";

/// The scopes an administrator credential gets.
pub const ADMIN_SCOPES: &[&str] = &[
    "DeviceManagementServiceConfig.ReadWrite.All",
    "DeviceManagementManagedDevices.ReadWrite.All",
    "Device.ReadWrite.All",
    "Group.ReadWrite.All",
    "GroupMember.ReadWrite.All",
    "Organization.Read.All",
    "User.ReadWrite.All",
];

/// Who a token was issued to.
#[derive(Clone, Copy, Debug)]
pub enum Principal<'a> {
    App(&'a str),
    User(ztd_core::DirectoryObjectId),
}

/// The permission families an application can be granted, `{family}.Read.All` or `{family}.ReadWrite.All`.
pub const PERMISSION_FAMILIES: &[&str] = &[
    "DeviceManagementServiceConfig",
    "DeviceManagementManagedDevices",
    "DeviceManagementConfiguration",
    "Device",
    "Group",
    "GroupMember",
    "Organization",
    "Directory",
    "User",
];

fn check_permission(scope: &str) -> AppResult<()> {
    let known = PERMISSION_FAMILIES.iter().any(|family| {
        scope.eq_ignore_ascii_case(&format!("{family}.Read.All"))
            || scope.eq_ignore_ascii_case(&format!("{family}.ReadWrite.All"))
    });
    if known {
        Ok(())
    } else {
        Err(AppError::invalid(
            "roles",
            format!(
                "{scope:?} is not a permission ztd knows: use <family>.Read.All or <family>.ReadWrite.All with a family of {}",
                PERMISSION_FAMILIES.join(", ")
            ),
        ))
    }
}

/// What the first start created. The secret is shown once and never stored.
#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Bootstrap {
    pub tenant: Tenant,
    pub client_id: String,
    pub client_secret: String,
}

/// What [`App::bootstrap`] did.
#[derive(Clone, Debug)]
pub enum BootstrapOutcome {
    /// This call set the deployment up.
    Created(Bootstrap),
    /// A tenant existed already (created by an earlier start, or by another node starting at the same
    /// time); `credentials` says where the first start saved its administrator credential.
    AlreadyDone { credentials: String },
}

impl BootstrapOutcome {
    /// What this call created, if it set the deployment up.
    pub fn created(self) -> Option<Bootstrap> {
        match self {
            Self::Created(first) => Some(first),
            Self::AlreadyDone { .. } => None,
        }
    }
}

/// A freshly created credential; the secret is shown once.
#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct NewClient {
    pub tenant_id: TenantId,
    pub client_id: String,
    pub client_secret: String,
    pub scopes: Vec<String>,
}

/// Secrets are 256 random bits, so a salted SHA-256 is enough to make a stolen database useless for
/// signing in (there is nothing to brute-force); a slow password hash would only slow every token request.
fn hash_secret(client_id: &str, secret: &str) -> String {
    let mut hasher = Sha256::new();
    hasher.update(b"ztd-client-secret\0");
    hasher.update(client_id.as_bytes());
    hasher.update(b"\0");
    hasher.update(secret.as_bytes());
    hex::encode(hasher.finalize())
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    // `subtle` compares lengths first (not secret: both are hex SHA-256), then every byte.
    bool::from(subtle::ConstantTimeEq::ct_eq(a, b))
}

fn encode_secret(bytes: [u8; 32]) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

impl App {
    /// Creates a tenant with its default ESP.
    pub async fn create_tenant(&self, display_name: &str, domain: &str) -> AppResult<Tenant> {
        let mut tx = self.store.begin().await?;
        let tenant = self.insert_tenant(&mut tx, display_name, domain).await?;
        tx.commit().await?;
        Ok(tenant)
    }

    async fn insert_tenant(
        &self,
        tx: &mut Tx,
        display_name: &str,
        domain: &str,
    ) -> AppResult<Tenant> {
        if display_name.trim().is_empty() {
            return Err(AppError::invalid("displayName", "a tenant needs a name"));
        }
        if !domain.contains('.') {
            return Err(AppError::invalid(
                "domain",
                format!("{domain:?} is not a domain name (e.g. contoso.example)"),
            ));
        }
        let now = self.now();
        let tenant = Tenant {
            id: TenantId(self.next_uuid()),
            display_name: display_name.trim().to_string(),
            domain: domain.trim().to_ascii_lowercase(),
            created_at: now,
        };
        tx.insert_tenant(&tenant).await?;
        tx.upsert_esp(&EspConfiguration::default_for(tenant.id, now))
            .await?;
        tx.append_events(&[self.event(
            tenant.id,
            EventKind::TenantCreated,
            tenant.id,
            serde_json::json!({ "domain": tenant.domain }),
        )])
        .await?;
        Ok(tenant)
    }

    /// On the first start of a deployment (no tenant yet) creates a tenant and an administrator credential,
    /// and records `credentials` (where the caller will save them, for the operator) so that nodes starting
    /// later, or at the same time, can say where to look. Exactly one node bootstraps a database.
    pub async fn bootstrap(
        &self,
        display_name: &str,
        domain: &str,
        credentials: &str,
    ) -> AppResult<BootstrapOutcome> {
        let mut tx = self.store.begin().await?;
        // Nodes starting together on an empty database: one sets it up, the others wait and see it done.
        tx.lock(Lock::Bootstrap).await?;
        if !tx.list_tenants().await?.is_empty() {
            let credentials = tx
                .get_server_setting(BOOTSTRAP_CREDENTIALS_SETTING)
                .await?
                .unwrap_or_else(|| "the file written by the first start".to_string());
            return Ok(BootstrapOutcome::AlreadyDone { credentials });
        }
        let tenant = self.insert_tenant(&mut tx, display_name, domain).await?;
        let client = self
            .insert_client(&mut tx, tenant.id, "ztd administrator", ADMIN_SCOPES)
            .await?;
        tx.init_server_setting(BOOTSTRAP_CREDENTIALS_SETTING, credentials)
            .await?;
        tx.commit().await?;
        Ok(BootstrapOutcome::Created(Bootstrap {
            tenant,
            client_id: client.client_id,
            client_secret: client.client_secret,
        }))
    }

    pub async fn tenants(&self) -> AppResult<Vec<Tenant>> {
        let mut tx = self.store.begin_read().await?;
        Ok(tx.list_tenants().await?)
    }

    pub async fn tenant(&self, id: TenantId) -> AppResult<Tenant> {
        let mut tx = self.store.begin_read().await?;
        tx.get_tenant(id)
            .await?
            .ok_or_else(|| AppError::not_found(ObjectKind::Tenant, id))
    }

    /// Registers an application for a tenant and returns its secret (shown once).
    pub async fn create_client(
        &self,
        tenant: TenantId,
        display_name: &str,
        scopes: &[&str],
    ) -> AppResult<NewClient> {
        for scope in scopes {
            check_permission(scope)?;
        }
        let mut tx = self.store.begin().await?;
        if tx.get_tenant(tenant).await?.is_none() {
            return Err(AppError::not_found(ObjectKind::Tenant, tenant));
        }
        let client = self
            .insert_client(&mut tx, tenant, display_name, scopes)
            .await?;
        tx.commit().await?;
        Ok(client)
    }

    async fn insert_client(
        &self,
        tx: &mut Tx,
        tenant: TenantId,
        display_name: &str,
        scopes: &[&str],
    ) -> AppResult<NewClient> {
        let client_id = self.next_uuid().to_string();
        let secret = encode_secret(self.random_bytes());
        let credential = ClientCredential {
            tenant_id: tenant,
            client_id: client_id.clone(),
            secret_hash: hash_secret(&client_id, &secret),
            display_name: display_name.to_string(),
            scopes: scopes.iter().map(|s| s.to_string()).collect(),
            created_at: self.now(),
        };
        tx.insert_client(&credential).await?;
        // Events last: appending takes the tenant's turn on the event feed until the commit.
        tx.append_events(&[self.event(
            tenant,
            EventKind::ClientCreated,
            &client_id,
            serde_json::json!({ "scopes": credential.scopes }),
        )])
        .await?;
        Ok(NewClient {
            tenant_id: tenant,
            client_id,
            client_secret: secret,
            scopes: credential.scopes,
        })
    }

    /// The tenant's registered applications (their secrets' hashes included: callers show ids and names).
    pub async fn clients(&self, tenant: TenantId) -> AppResult<Vec<ClientCredential>> {
        let mut tx = self.store.begin_read().await?;
        Ok(tx.list_clients(tenant).await?)
    }

    /// Deletes an application: its secret stops working at once, and the tokens it was issued stop working
    /// within the admin API's verification bound (a minute, docs/identity.md).
    pub async fn delete_client(&self, tenant: TenantId, client_id: &str) -> AppResult<()> {
        let mut tx = self.store.begin().await?;
        if !tx.delete_client(tenant, client_id).await? {
            return Err(AppError::not_found(ObjectKind::Client, client_id));
        }
        tx.append_events(&[self.event(
            tenant,
            EventKind::ClientDeleted,
            client_id,
            serde_json::json!({}),
        )])
        .await?;
        tx.commit().await?;
        Ok(())
    }

    /// Whether the principal a token names still may act: an application that still exists in the tenant,
    /// or a user who still exists there with the account enabled.
    pub async fn principal_active(
        &self,
        tenant: TenantId,
        principal: Principal<'_>,
    ) -> AppResult<bool> {
        let mut tx = self.store.begin_read().await?;
        Ok(match principal {
            Principal::App(client_id) => tx
                .get_client(client_id)
                .await?
                .is_some_and(|client| client.tenant_id == tenant),
            Principal::User(user) => tx
                .get_user(tenant, user)
                .await?
                .is_some_and(|user| user.account_enabled),
        })
    }

    /// The tenant an application is registered in, if it is registered at all.
    pub async fn client_tenant(&self, client_id: &str) -> AppResult<Option<TenantId>> {
        let mut tx = self.store.begin_read().await?;
        Ok(tx
            .get_client(client_id)
            .await?
            .map(|client| client.tenant_id))
    }

    /// Checks a client id and secret; `None` when either is wrong.
    pub async fn authenticate_client(
        &self,
        client_id: &str,
        secret: &str,
    ) -> AppResult<Option<ClientCredential>> {
        let mut tx = self.store.begin_read().await?;
        let Some(credential) = tx.get_client(client_id).await? else {
            return Ok(None);
        };
        let presented = hash_secret(client_id, secret);
        Ok(
            constant_time_eq(presented.as_bytes(), credential.secret_hash.as_bytes())
                .then_some(credential),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secret_hash_depends_on_client_and_secret() {
        assert_ne!(hash_secret("a", "s"), hash_secret("b", "s"));
        assert_ne!(hash_secret("a", "s"), hash_secret("a", "t"));
        assert!(constant_time_eq(
            hash_secret("a", "s").as_bytes(),
            hash_secret("a", "s").as_bytes()
        ));
        assert!(!constant_time_eq(
            hash_secret("a", "s").as_bytes(),
            hash_secret("a", "t").as_bytes()
        ));
        assert!(!constant_time_eq(b"abc", b"ab"));
    }
}
