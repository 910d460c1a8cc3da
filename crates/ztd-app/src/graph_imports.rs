//! The Graph import queue (`importedWindowsAutopilotDeviceIdentities`): clients POST hashes, the service
//! registers them in the background, and clients poll until the record leaves `unknown`.
//!
//! Records are stored `pending`. A worker ([`spawn_import_worker`]) claims a batch and, **in the claiming
//! transaction**, registers the devices and writes every record's outcome. So a record can never read
//! `complete` while its device does not exist yet, which clients rely on: they GET the device by
//! `deviceRegistrationId` as soon as the import says `complete`.
//!
//! The registration itself is that of every import ([`App::import_devices`]): the worker runs its two
//! phases, preparing outside and registering inside the claiming transaction.

use std::time::Duration;
use ztd_core::error::ObjectKind;
use ztd_core::event::EventKind;

use ztd_core::error::{ImportError, ImportErrorKind};
use ztd_core::import::{ImportRecord, ImportStatus};
use ztd_core::{ImportId, TenantId, Ztdid};
use ztd_store::{ImportQuery, Lock, StoreError, Tx};

use crate::{App, AppError, AppResult, ImportRow, RowResult};

/// Records one worker transaction claims. Large enough for a full 500-row CSV in one commit.
pub const IMPORT_BATCH: u32 = 500;
/// How often an idle worker looks at the queue (other nodes may have enqueued).
pub const IMPORT_POLL: Duration = Duration::from_millis(50);

/// Wakes the workers of this process as soon as something is enqueued, so imports finish in milliseconds
/// rather than one poll interval later. Process-wide: a worker woken for another store's queue just finds
/// nothing to do.
static WAKE: tokio::sync::Notify = tokio::sync::Notify::const_new();

/// One hash to register, as a Graph client sent it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct NewImport {
    pub batch_id: String,
    pub serial_number: String,
    pub product_key: String,
    /// Base64, as the client sent it (checked to be base64 by the caller, decoded by the worker).
    pub hardware_hash: String,
    pub group_tag: String,
    pub assigned_user_principal_name: String,
}

impl App {
    /// Queues hashes for registration (status `pending`) and wakes the worker.
    pub async fn enqueue_imports(
        &self,
        tenant: TenantId,
        imports: Vec<NewImport>,
    ) -> AppResult<Vec<ImportRecord>> {
        let now = self.now();
        // The worker takes records in (created_at, id) order; sorted ids keep a batch in request order, so
        // "the first of two duplicates is processed" means the first the client sent.
        let mut ids: Vec<ImportId> = imports.iter().map(|_| ImportId(self.next_uuid())).collect();
        ids.sort();
        let request_id = ids.first().map(ToString::to_string).unwrap_or_default();
        let records: Vec<ImportRecord> = imports
            .into_iter()
            .zip(ids)
            .map(|(new, id)| ImportRecord {
                tenant_id: tenant,
                id,
                batch_id: new.batch_id,
                serial_number: new.serial_number.trim().to_string(),
                product_key: new.product_key.trim().to_string(),
                hardware_hash: new.hardware_hash.trim().to_string(),
                group_tag: new.group_tag.trim().to_string(),
                assigned_user_principal_name: new.assigned_user_principal_name.trim().to_string(),
                status: ImportStatus::Pending,
                ztdid: None,
                error_code: 0,
                error_name: String::new(),
                error_message: String::new(),
                created_at: now,
                updated_at: now,
                request_id: request_id.clone(),
            })
            .collect();
        let mut tx = self.store.begin().await?;
        if tx.get_tenant(tenant).await?.is_none() {
            return Err(AppError::not_found(ObjectKind::Tenant, tenant));
        }
        tx.insert_imports(&records).await?;
        tx.append_events(&[self.event(
            tenant,
            EventKind::DevicesImportRequested,
            &request_id,
            serde_json::json!({ "rows": records.len() }),
        )])
        .await?;
        tx.commit().await?;
        WAKE.notify_waiters();
        Ok(records)
    }

    pub async fn import_record(&self, tenant: TenantId, id: ImportId) -> AppResult<ImportRecord> {
        let mut tx = self.store.begin_read().await?;
        tx.get_import(tenant, id)
            .await?
            .ok_or_else(|| AppError::not_found(ObjectKind::ImportedHash, id))
    }

    pub async fn import_records(
        &self,
        tenant: TenantId,
        query: &ImportQuery,
    ) -> AppResult<Vec<ImportRecord>> {
        let mut tx = self.store.begin_read().await?;
        Ok(tx.list_imports(tenant, query).await?)
    }

    /// Deletes an import record. The registered device, if any, stays.
    pub async fn delete_import_record(&self, tenant: TenantId, id: ImportId) -> AppResult<()> {
        let mut tx = self.store.begin().await?;
        if !tx.delete_import(tenant, id).await? {
            return Err(AppError::not_found(ObjectKind::ImportedHash, id));
        }
        tx.append_events(&[self.event(
            tenant,
            EventKind::ImportRecordDeleted,
            id,
            serde_json::json!({}),
        )])
        .await?;
        tx.commit().await?;
        Ok(())
    }

    /// Claims up to `limit` pending records (any tenant), registers them and records each outcome, all in
    /// one transaction. Returns how many records were processed.
    pub async fn process_import_queue(&self, limit: u32) -> AppResult<usize> {
        let now = self.now();
        let mut tx = self.store.begin().await?;
        let claimed = tx.claim_pending_imports(limit).await?;
        if claimed.is_empty() {
            return Ok(0);
        }
        let mut by_tenant: Vec<(TenantId, Vec<ImportRecord>)> = Vec::new();
        for record in claimed {
            match by_tenant.iter_mut().find(|(t, _)| *t == record.tenant_id) {
                Some((_, records)) => records.push(record),
                None => by_tenant.push((record.tenant_id, vec![record])),
            }
        }
        // Every tenant's lock before any registration, in one order, so no two workers wait on each other.
        // (The claimed rows are locked before these; no holder of a targeting lock ever touches the queue.)
        let mut tenants: Vec<TenantId> = by_tenant.iter().map(|(t, _)| *t).collect();
        tenants.sort();
        for tenant in tenants {
            tx.lock(Lock::Targeted(tenant)).await?;
        }
        let mut processed = Vec::new();
        let mut events = Vec::new();
        for (tenant, mut records) in by_tenant {
            let outcomes = self.register_in(&mut tx, tenant, &records).await?;
            let mut registered = 0usize;
            for (record, outcome) in records.iter_mut().zip(outcomes) {
                match outcome {
                    Ok(ztdid) => {
                        registered += 1;
                        record.status = ImportStatus::Complete;
                        record.ztdid = Some(ztdid);
                        record.error_code = 0;
                        record.error_name.clear();
                        record.error_message.clear();
                    }
                    Err(error) => {
                        record.status = ImportStatus::Error;
                        record.ztdid = None;
                        record.error_code = error.kind.code();
                        record.error_name = error.kind.name().to_string();
                        record.error_message = error.message;
                    }
                }
                record.updated_at = now;
            }
            events.push(self.event(
                tenant,
                EventKind::DevicesImported,
                "",
                serde_json::json!({ "rows": records.len(), "registered": registered, "rejected": records.len() - registered, "source": "graph" }),
            ));
            processed.extend(records);
        }
        tx.update_imports(&processed).await?;
        tx.append_events(&events).await?;
        tx.commit().await?;
        Ok(processed.len())
    }

    /// Registers `records` of one tenant inside `tx` with the rules of every import
    /// ([`App::prepare_import`], [`App::register_prepared`]): one outcome per record, in order.
    async fn register_in(
        &self,
        tx: &mut Tx,
        tenant: TenantId,
        records: &[ImportRecord],
    ) -> AppResult<Vec<Result<Ztdid, ImportError>>> {
        let rows: Vec<ImportRow> = records
            .iter()
            .enumerate()
            .map(|(n, record)| ImportRow {
                row: n as u64 + 1,
                serial_number: record.serial_number.clone(),
                product_key: record.product_key.clone(),
                hardware_hash: record.hardware_hash.clone(),
                group_tag: record.group_tag.clone(),
                assigned_user: record.assigned_user_principal_name.clone(),
            })
            .collect();
        // Records of one request share its id; the queue order keeps a request's records together.
        let mut request_numbers: std::collections::HashMap<&str, usize> = Default::default();
        let requests: Vec<usize> = records
            .iter()
            .enumerate()
            .map(|(n, record)| match record.request_id.as_str() {
                // Queued before requests were recorded: a request of its own.
                "" => usize::MAX - n,
                id => {
                    let next = request_numbers.len();
                    *request_numbers.entry(id).or_insert(next)
                }
            })
            .collect();
        let prepared = match self.prepare_import(tenant, &rows, &requests).await {
            Ok(prepared) => prepared,
            Err(AppError::Domain(ztd_core::DomainError::NotFound { .. })) => {
                let gone = ImportError::new(
                    ImportErrorKind::InvalidZtdRequestBody,
                    "the tenant of this import no longer exists",
                );
                return Ok(records.iter().map(|_| Err(gone.clone())).collect());
            }
            Err(other) => return Err(other),
        };
        let (outcomes, _) = self.register_prepared(tx, prepared).await?;
        Ok(outcomes
            .into_iter()
            .map(|outcome| match outcome.result {
                RowResult::Registered { ztdid } => Ok(ztdid),
                RowResult::Rejected {
                    error_code,
                    message,
                    ..
                } => Err(ImportError::new(
                    ImportErrorKind::from_code(error_code).unwrap_or(ImportErrorKind::StorageError),
                    message,
                )),
            })
            .collect())
    }
}

/// Starts the background worker that drains the import queue: it runs whenever something is enqueued in
/// this process and every [`IMPORT_POLL`] otherwise (for records enqueued by other nodes). A failed batch
/// (database down, a concurrent registration of the same hardware on another node) stays pending and is
/// retried on the next round.
pub fn spawn_import_worker(app: App) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        loop {
            let notified = WAKE.notified();
            tokio::pin!(notified);
            // Registered before looking at the queue, so an enqueue during the round is not missed.
            notified.as_mut().enable();
            match app.process_import_queue(IMPORT_BATCH).await {
                Ok(n) if n > 0 => continue,
                Ok(_) => {}
                Err(AppError::Store(StoreError::Conflict(message))) => {
                    tracing::info!(%message, "import batch conflicted with a concurrent registration; retrying");
                }
                Err(error) => tracing::warn!(%error, "import batch failed; retrying"),
            }
            tokio::select! {
                _ = &mut notified => {}
                _ = tokio::time::sleep(IMPORT_POLL) => {}
            }
        }
    })
}
