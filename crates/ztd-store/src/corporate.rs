//! Corporate device identifiers (Graph beta `importedDeviceIdentities`, table `corporate_identifiers`).
//! The entity is `ztd_core::corporate::CorporateIdentifier`; re-exported here for existing callers.

use sqlx::any::AnyRow;
use ztd_core::TenantId;

pub use ztd_core::corporate::CorporateIdentifier;

use crate::codec::{opt_ts, text, ts};
use crate::tx::Q;
use crate::{StoreError, Tx};

const COLS: &str =
    "tenant_id, id, identifier, identifier_lower, identifier_type, platform, description, \
    enrollment_state, last_contacted_at, created_at, updated_at";

fn bind<'q>(q: Q<'q>, c: &'q CorporateIdentifier) -> Q<'q> {
    q.bind(c.tenant_id.to_string())
        .bind(c.id.as_str())
        .bind(c.identifier.as_str())
        .bind(c.identifier.to_lowercase())
        .bind(c.identifier_type.as_str())
        .bind(c.platform.as_str())
        .bind(c.description.as_str())
        .bind(c.enrollment_state.as_str())
        .bind(c.last_contacted_at.map(|t| t.0))
        .bind(c.created_at.0)
        .bind(c.updated_at.0)
}

fn decode(row: &AnyRow) -> Result<CorporateIdentifier, StoreError> {
    Ok(CorporateIdentifier {
        tenant_id: crate::codec::id(row, "tenant_id")?,
        id: text(row, "id")?,
        identifier: text(row, "identifier")?,
        identifier_type: text(row, "identifier_type")?,
        platform: text(row, "platform")?,
        description: text(row, "description")?,
        enrollment_state: text(row, "enrollment_state")?,
        last_contacted_at: opt_ts(row, "last_contacted_at")?,
        created_at: ts(row, "created_at")?,
        updated_at: ts(row, "updated_at")?,
    })
}

impl Tx {
    /// Inserts one identifier; the same identifier and type already declared in the tenant is a `Conflict`.
    pub async fn insert_corporate_identifier(
        &mut self,
        c: &CorporateIdentifier,
    ) -> Result<(), StoreError> {
        let sql = format!(
            "INSERT INTO corporate_identifiers ({COLS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)"
        );
        self.execute(bind(sqlx::query(&sql), c)).await.map(drop)
    }

    /// The tenant's declaration of `identifier` with `identifier_type`, compared case-insensitively.
    pub async fn find_corporate_identifier(
        &mut self,
        tenant: TenantId,
        identifier_type: &str,
        identifier: &str,
    ) -> Result<Option<CorporateIdentifier>, StoreError> {
        let sql = format!(
            "SELECT {COLS} FROM corporate_identifiers \
             WHERE tenant_id = $1 AND identifier_type = $2 AND identifier_lower = $3"
        );
        let q = sqlx::query(&sql)
            .bind(tenant.to_string())
            .bind(identifier_type)
            .bind(identifier.to_lowercase());
        self.fetch_one_map(q, decode).await
    }

    pub async fn get_corporate_identifier(
        &mut self,
        tenant: TenantId,
        id: &str,
    ) -> Result<Option<CorporateIdentifier>, StoreError> {
        let sql =
            format!("SELECT {COLS} FROM corporate_identifiers WHERE tenant_id = $1 AND id = $2");
        let q = sqlx::query(&sql).bind(tenant.to_string()).bind(id);
        self.fetch_one_map(q, decode).await
    }

    /// Every identifier of the tenant, ordered by id.
    pub async fn list_corporate_identifiers(
        &mut self,
        tenant: TenantId,
    ) -> Result<Vec<CorporateIdentifier>, StoreError> {
        let sql =
            format!("SELECT {COLS} FROM corporate_identifiers WHERE tenant_id = $1 ORDER BY id");
        self.fetch_map(sqlx::query(&sql).bind(tenant.to_string()), decode)
            .await
    }

    pub async fn delete_corporate_identifier(
        &mut self,
        tenant: TenantId,
        id: &str,
    ) -> Result<bool, StoreError> {
        let q = sqlx::query("DELETE FROM corporate_identifiers WHERE tenant_id = $1 AND id = $2")
            .bind(tenant.to_string())
            .bind(id);
        Ok(self.execute(q).await? > 0)
    }
}
