//! Tenants and the application credentials that act on them.

use serde::Serialize;
use ztd_core::error::ObjectKind;
use ztd_core::esp::EspConfiguration;
use ztd_core::event::EventKind;
use ztd_core::tenant::{validate_domain, Tenant, VerifiedDomain};
use ztd_core::TenantId;

use ztd_store::{Lock, Tx};

use crate::{App, AppError, AppResult};

/// Where the first start saved the administrator credential, as its node described it.
const BOOTSTRAP_CREDENTIALS_SETTING: &str = "bootstrap-credentials";

/// The scopes an administrator credential gets.
pub const ADMIN_SCOPES: &[&str] = &[
    "DeviceManagementServiceConfig.ReadWrite.All",
    "DeviceManagementManagedDevices.ReadWrite.All",
    "DeviceManagementConfiguration.ReadWrite.All",
    "Device.ReadWrite.All",
    "Group.ReadWrite.All",
    "GroupMember.ReadWrite.All",
    "Organization.Read.All",
    "User.ReadWrite.All",
];

/// The permission families an application can be granted, `{family}.Read.All` or `{family}.ReadWrite.All`.
pub const PERMISSION_FAMILIES: &[&str] = &[
    "DeviceManagementServiceConfig",
    "DeviceManagementApps",
    "DeviceManagementManagedDevices",
    "DeviceManagementConfiguration",
    "DeviceManagementRBAC",
    "Device",
    "Group",
    "GroupMember",
    "Organization",
    "Directory",
    "User",
];

pub(crate) fn check_permission(scope: &str) -> AppResult<()> {
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
        let domain = validate_domain(domain)?;
        if tx.find_domain(&domain).await?.is_some() {
            return Err(domain_taken(&domain));
        }
        let now = self.now();
        let tenant = Tenant {
            id: TenantId(self.next_uuid()),
            display_name: display_name.trim().to_string(),
            domain: domain.clone(),
            created_at: now,
        };
        tx.insert_tenant(&tenant).await?;
        tx.insert_tenant_domain(&VerifiedDomain {
            tenant_id: tenant.id,
            name: domain,
            is_default: true,
            created_at: now,
        })
        .await?;
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
            .insert_client(
                &mut tx,
                tenant.id,
                "ztd administrator",
                ADMIN_SCOPES,
                &[],
                None,
            )
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

    /// The tenant's verified domains, the default first.
    pub async fn domains(&self, tenant: TenantId) -> AppResult<Vec<VerifiedDomain>> {
        let mut tx = self.store.begin_read().await?;
        Ok(tx.list_tenant_domains(tenant).await?)
    }

    /// The tenant that verified `domain`, if any (GLOBAL: sign-in at `/common` and the user realm).
    pub async fn tenant_for_domain(&self, domain: &str) -> AppResult<Option<TenantId>> {
        let mut tx = self.store.begin_read().await?;
        Ok(tx.find_domain(domain.trim()).await?.map(|d| d.tenant_id))
    }

    /// Verifies another domain for the tenant (a lab trusts the operator: there is no DNS proof). A domain
    /// belongs to one tenant.
    pub async fn add_domain(&self, tenant: TenantId, domain: &str) -> AppResult<VerifiedDomain> {
        let domain = validate_domain(domain)?;
        let mut tx = self.store.begin().await?;
        if tx.get_tenant(tenant).await?.is_none() {
            return Err(AppError::not_found(ObjectKind::Tenant, tenant));
        }
        if tx.find_domain(&domain).await?.is_some() {
            return Err(domain_taken(&domain));
        }
        let verified = VerifiedDomain {
            tenant_id: tenant,
            name: domain,
            is_default: false,
            created_at: self.now(),
        };
        tx.insert_tenant_domain(&verified).await?;
        tx.append_events(&[self.event(
            tenant,
            EventKind::TenantDomainAdded,
            tenant,
            serde_json::json!({ "domain": verified.name }),
        )])
        .await?;
        tx.commit().await?;
        Ok(verified)
    }

    /// Removes a verified domain; not the default one, and not while a user's name is in it (as Entra
    /// refuses to delete a domain that is still referenced).
    pub async fn remove_domain(&self, tenant: TenantId, domain: &str) -> AppResult<()> {
        let domain = domain.trim().to_ascii_lowercase();
        let mut tx = self.store.begin().await?;
        // No user can be given a name in the domain between the check below and its removal.
        tx.lock(Lock::Domains(tenant)).await?;
        let Some(found) = tx
            .find_domain(&domain)
            .await?
            .filter(|d| d.tenant_id == tenant)
        else {
            return Err(AppError::not_found(ObjectKind::Domain, &domain));
        };
        if found.is_default {
            return Err(AppError::invalid(
                "domain",
                format!("{domain} is the tenant's default domain and cannot be removed"),
            ));
        }
        if tx.any_user_in_domain(tenant, &domain).await? {
            return Err(AppError::invalid(
                "domain",
                format!("users still have names in {domain}: rename or delete them first"),
            ));
        }
        tx.delete_tenant_domain(tenant, &domain).await?;
        tx.append_events(&[self.event(
            tenant,
            EventKind::TenantDomainRemoved,
            tenant,
            serde_json::json!({ "domain": domain }),
        )])
        .await?;
        tx.commit().await?;
        Ok(())
    }
}

fn domain_taken(domain: &str) -> AppError {
    AppError::Domain(ztd_core::error::DomainError::conflict(format!(
        "{domain} is already a verified domain of a tenant; a domain belongs to one tenant"
    )))
}
