//! Role scope tags and assignment filters.

use sqlx::any::AnyRow;
use ztd_core::scope::{AssignmentFilter, RoleScopeTag};
use ztd_core::TenantId;

use crate::codec::{id, json, text, to_json, ts};
use crate::{StoreError, Tx};

const TAG_COLS: &str = "tenant_id, id, display_name, description, created_at, updated_at";
const FILTER_COLS: &str = "tenant_id, id, display_name, description, platform, rule, role_scope_tag_ids, created_at, updated_at";
const TAG_COUNTER: &str = "role-scope-tag-counter";

fn tag(row: &AnyRow) -> Result<RoleScopeTag, StoreError> {
    Ok(RoleScopeTag {
        tenant_id: id(row, "tenant_id")?,
        id: text(row, "id")?,
        display_name: text(row, "display_name")?,
        description: text(row, "description")?,
        created_at: ts(row, "created_at")?,
        updated_at: ts(row, "updated_at")?,
    })
}

fn filter(row: &AnyRow) -> Result<AssignmentFilter, StoreError> {
    Ok(AssignmentFilter {
        tenant_id: id(row, "tenant_id")?,
        id: id(row, "id")?,
        display_name: text(row, "display_name")?,
        description: text(row, "description")?,
        platform: text(row, "platform")?,
        rule: text(row, "rule")?,
        role_scope_tag_ids: json(row, "role_scope_tag_ids")?,
        created_at: ts(row, "created_at")?,
        updated_at: ts(row, "updated_at")?,
    })
}

impl Tx {
    /// The highest custom tag id the tenant was ever issued (0: none yet). Read it and
    /// [`Tx::set_scope_tag_counter`] in one transaction; the row write serialises two creations.
    pub async fn scope_tag_counter(&mut self, tenant: TenantId) -> Result<u64, StoreError> {
        Ok(self
            .get_setting(tenant, TAG_COUNTER)
            .await?
            .and_then(|v| v.parse().ok())
            .unwrap_or(0))
    }

    pub async fn set_scope_tag_counter(
        &mut self,
        tenant: TenantId,
        value: u64,
    ) -> Result<(), StoreError> {
        self.put_setting(tenant, TAG_COUNTER, &value.to_string())
            .await
    }

    /// Inserts or replaces a custom tag (keeping its creation time).
    pub async fn upsert_scope_tag(&mut self, t: &RoleScopeTag) -> Result<(), StoreError> {
        let sql = format!(
            "INSERT INTO role_scope_tags ({TAG_COLS}) VALUES ($1, $2, $3, $4, $5, $6) \
             ON CONFLICT (tenant_id, id) DO UPDATE SET display_name = excluded.display_name, \
             description = excluded.description, updated_at = excluded.updated_at"
        );
        let q = sqlx::query(&sql)
            .bind(t.tenant_id.to_string())
            .bind(t.id.as_str())
            .bind(t.display_name.as_str())
            .bind(t.description.as_str())
            .bind(t.created_at.0)
            .bind(t.updated_at.0);
        self.execute(q).await.map(drop)
    }

    pub async fn get_scope_tag(
        &mut self,
        tenant: TenantId,
        id: &str,
    ) -> Result<Option<RoleScopeTag>, StoreError> {
        let sql =
            format!("SELECT {TAG_COLS} FROM role_scope_tags WHERE tenant_id = $1 AND id = $2");
        self.fetch_one_map(sqlx::query(&sql).bind(tenant.to_string()).bind(id), tag)
            .await
    }

    /// The tenant's custom tags (the built-in Default is not stored), in creation order.
    pub async fn list_scope_tags(
        &mut self,
        tenant: TenantId,
    ) -> Result<Vec<RoleScopeTag>, StoreError> {
        let sql = format!(
            "SELECT {TAG_COLS} FROM role_scope_tags WHERE tenant_id = $1 ORDER BY created_at, id"
        );
        self.fetch_map(sqlx::query(&sql).bind(tenant.to_string()), tag)
            .await
    }

    pub async fn delete_scope_tag(
        &mut self,
        tenant: TenantId,
        id: &str,
    ) -> Result<bool, StoreError> {
        let q = sqlx::query("DELETE FROM role_scope_tags WHERE tenant_id = $1 AND id = $2")
            .bind(tenant.to_string())
            .bind(id);
        Ok(self.execute(q).await? > 0)
    }

    /// Inserts or replaces a filter (keeping its creation time).
    pub async fn upsert_assignment_filter(
        &mut self,
        f: &AssignmentFilter,
    ) -> Result<(), StoreError> {
        let sql = format!(
            "INSERT INTO assignment_filters ({FILTER_COLS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) \
             ON CONFLICT (tenant_id, id) DO UPDATE SET display_name = excluded.display_name, \
             description = excluded.description, platform = excluded.platform, rule = excluded.rule, \
             role_scope_tag_ids = excluded.role_scope_tag_ids, updated_at = excluded.updated_at"
        );
        let q = sqlx::query(&sql)
            .bind(f.tenant_id.to_string())
            .bind(f.id.to_string())
            .bind(f.display_name.as_str())
            .bind(f.description.as_str())
            .bind(f.platform.as_str())
            .bind(f.rule.as_str())
            .bind(to_json(&f.role_scope_tag_ids))
            .bind(f.created_at.0)
            .bind(f.updated_at.0);
        self.execute(q).await.map(drop)
    }

    pub async fn get_assignment_filter(
        &mut self,
        tenant: TenantId,
        id: uuid::Uuid,
    ) -> Result<Option<AssignmentFilter>, StoreError> {
        let sql = format!(
            "SELECT {FILTER_COLS} FROM assignment_filters WHERE tenant_id = $1 AND id = $2"
        );
        self.fetch_one_map(
            sqlx::query(&sql)
                .bind(tenant.to_string())
                .bind(id.to_string()),
            filter,
        )
        .await
    }

    /// The tenant's filters, in creation order.
    pub async fn list_assignment_filters(
        &mut self,
        tenant: TenantId,
    ) -> Result<Vec<AssignmentFilter>, StoreError> {
        let sql = format!(
            "SELECT {FILTER_COLS} FROM assignment_filters WHERE tenant_id = $1 ORDER BY created_at, id"
        );
        self.fetch_map(sqlx::query(&sql).bind(tenant.to_string()), filter)
            .await
    }

    pub async fn delete_assignment_filter(
        &mut self,
        tenant: TenantId,
        id: uuid::Uuid,
    ) -> Result<bool, StoreError> {
        let q = sqlx::query("DELETE FROM assignment_filters WHERE tenant_id = $1 AND id = $2")
            .bind(tenant.to_string())
            .bind(id.to_string());
        Ok(self.execute(q).await? > 0)
    }
}
