//! The Graph import queue (`imports`).

use sqlx::any::AnyRow;
use ztd_core::import::{ImportRecord, ImportStatus};
use ztd_core::{ImportId, TenantId};

use crate::codec::{contains_clause, id, int32, lower_needle, opt_id, text, ts, wire};
use crate::devices::push_limit_offset;
use crate::tx::{bind_all, Bind, Filter, Q};
use crate::{Backend, ImportQuery, StoreError, Tx};

const IMPORT_COLS: &str = "tenant_id, id, batch_id, serial_number, serial_lower, product_key, hardware_hash, \
    group_tag, assigned_user_principal_name, status, ztdid, error_code, error_name, error_message, created_at, \
    updated_at, request_id";
const IMPORT_COL_COUNT: usize = 17;

fn bind_import<'q>(q: Q<'q>, r: &'q ImportRecord) -> Q<'q> {
    q.bind(r.tenant_id.to_string())
        .bind(r.id.to_string())
        .bind(r.batch_id.as_str())
        .bind(r.serial_number.as_str())
        .bind(r.serial_number.to_lowercase())
        .bind(r.product_key.as_str())
        .bind(r.hardware_hash.as_str())
        .bind(r.group_tag.as_str())
        .bind(r.assigned_user_principal_name.as_str())
        .bind(r.status.as_str())
        .bind(r.ztdid.map(|z| z.to_string()))
        .bind(i64::from(r.error_code))
        .bind(r.error_name.as_str())
        .bind(r.error_message.as_str())
        .bind(r.created_at.0)
        .bind(r.updated_at.0)
        .bind(r.request_id.as_str())
}

fn import(row: &AnyRow) -> Result<ImportRecord, StoreError> {
    Ok(ImportRecord {
        tenant_id: id(row, "tenant_id")?,
        id: id(row, "id")?,
        batch_id: text(row, "batch_id")?,
        serial_number: text(row, "serial_number")?,
        product_key: text(row, "product_key")?,
        hardware_hash: text(row, "hardware_hash")?,
        group_tag: text(row, "group_tag")?,
        assigned_user_principal_name: text(row, "assigned_user_principal_name")?,
        status: wire(row, "status", ImportStatus::parse)?,
        ztdid: opt_id(row, "ztdid")?,
        error_code: int32(row, "error_code")?,
        error_name: text(row, "error_name")?,
        error_message: text(row, "error_message")?,
        created_at: ts(row, "created_at")?,
        updated_at: ts(row, "updated_at")?,
        request_id: text(row, "request_id")?,
    })
}

impl Tx {
    pub async fn insert_imports(&mut self, records: &[ImportRecord]) -> Result<(), StoreError> {
        let head = format!("INSERT INTO imports ({IMPORT_COLS}) VALUES ");
        self.insert_rows(&head, IMPORT_COL_COUNT, "", records, bind_import)
            .await
    }

    /// Rewrites each record (matched by tenant and id) but its creation time; absent records are skipped.
    pub async fn update_imports(&mut self, records: &[ImportRecord]) -> Result<(), StoreError> {
        // $15 (created_at) and $17 (request_id) are bound but unused: neither changes.
        let sql = "UPDATE imports SET batch_id = $3, serial_number = $4, serial_lower = $5, product_key = $6, \
            hardware_hash = $7, group_tag = $8, assigned_user_principal_name = $9, status = $10, ztdid = $11, \
            error_code = $12, error_name = $13, error_message = $14, updated_at = $16 \
            WHERE tenant_id = $1 AND id = $2";
        for record in records {
            self.execute(bind_import(sqlx::query(sql), record)).await?;
        }
        Ok(())
    }

    pub async fn get_import(
        &mut self,
        tenant: TenantId,
        id: ImportId,
    ) -> Result<Option<ImportRecord>, StoreError> {
        let sql = format!("SELECT {IMPORT_COLS} FROM imports WHERE tenant_id = $1 AND id = $2");
        let q = sqlx::query(&sql)
            .bind(tenant.to_string())
            .bind(id.to_string());
        self.fetch_one_map(q, import).await
    }

    /// Filtered page ordered by import id.
    pub async fn list_imports(
        &mut self,
        tenant: TenantId,
        q: &ImportQuery,
    ) -> Result<Vec<ImportRecord>, StoreError> {
        let mut filter = Filter::new(&tenant.to_string());
        if let Some(needle) = &q.serial_contains {
            filter.and(
                &contains_clause(self.backend(), "serial_lower"),
                Bind::Text(lower_needle(needle)),
            );
        }
        if let Some(batch) = &q.batch_id {
            filter.and("batch_id = {}", Bind::Text(batch.clone()));
        }
        if let Some(after) = q.after {
            filter.and("id > {}", Bind::Text(after.to_string()));
        }
        let mut sql = format!(
            "SELECT {IMPORT_COLS} FROM imports WHERE {} ORDER BY id",
            filter.sql
        );
        push_limit_offset(&mut sql, &mut filter, q.limit, None);
        self.fetch_map(bind_all(sqlx::query(&sql), filter.binds), import)
            .await
    }

    pub async fn delete_import(
        &mut self,
        tenant: TenantId,
        id: ImportId,
    ) -> Result<bool, StoreError> {
        let q = sqlx::query("DELETE FROM imports WHERE tenant_id = $1 AND id = $2")
            .bind(tenant.to_string())
            .bind(id.to_string());
        Ok(self.execute(q).await? > 0)
    }

    /// GLOBAL worker queue: up to `limit` `pending` records, oldest first, across all tenants. The records
    /// stay claimed until this transaction ends, so the worker should update them (to `complete`/`error`)
    /// in the same transaction. On PostgreSQL the rows are locked `FOR UPDATE SKIP LOCKED`, so concurrent
    /// workers on several nodes each get different records; on SQLite write transactions are serialised.
    pub async fn claim_pending_imports(
        &mut self,
        limit: u32,
    ) -> Result<Vec<ImportRecord>, StoreError> {
        let lock = match self.backend() {
            Backend::Postgres => " FOR UPDATE SKIP LOCKED",
            Backend::Sqlite => "",
        };
        let sql = format!(
            "SELECT {IMPORT_COLS} FROM imports WHERE status = $1 ORDER BY created_at, id LIMIT $2{lock}"
        );
        let q = sqlx::query(&sql)
            .bind(ImportStatus::Pending.as_str())
            .bind(i64::from(limit));
        self.fetch_map(q, import).await
    }
}
