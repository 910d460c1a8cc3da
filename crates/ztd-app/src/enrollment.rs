//! Enrollment settings: the manual Autopilot sync and corporate device identifiers.

use ztd_core::corporate::CorporateIdentifier;
use ztd_core::error::ObjectKind;
use ztd_core::event::EventKind;
use ztd_core::sync::{decide_trigger, sync_state, SyncPolicy, SyncState, SyncTrigger};
use ztd_core::{TenantId, Timestamp};
use ztd_store::{Lock, Tx};

use crate::targeting::{refresh_tenant, Targeting};
use crate::{App, AppError, AppResult};

/// The tenant setting that holds the last manual sync trigger (Unix milliseconds). The whole sync state is
/// derived from it, so it is all that is stored.
const LAST_TRIGGER: &str = "graph.autopilot.lastManualSyncTrigger";

async fn last_trigger(tx: &mut Tx, tenant: TenantId) -> AppResult<Option<Timestamp>> {
    Ok(tx
        .get_setting(tenant, LAST_TRIGGER)
        .await?
        .and_then(|v| v.parse::<i64>().ok())
        .map(Timestamp))
}

impl App {
    /// The tenant's manual sync state now.
    pub async fn autopilot_sync_state(
        &self,
        tenant: TenantId,
        policy: SyncPolicy,
    ) -> AppResult<SyncState> {
        let mut tx = self.store.begin_read().await?;
        let last = last_trigger(&mut tx, tenant).await?;
        Ok(sync_state(last, self.now(), policy))
    }

    /// Triggers a manual sync unless one runs or the last was too recent. ztd keeps derived state current on
    /// every change, so a sync normally finds nothing to do; it still re-evaluates every device's groups and
    /// profile against the rules and assignments, which repairs any drift (a database written by a version
    /// that lost targeting under concurrency, a row edited by hand), and reports how many devices it fixed.
    pub async fn trigger_autopilot_sync(
        &self,
        tenant: TenantId,
        policy: SyncPolicy,
    ) -> AppResult<SyncTrigger> {
        let now = self.now();
        let mut tx = self.store.begin().await?;
        // "Is one running?" and "start one" in one turn: of simultaneous triggers exactly one starts.
        tx.lock(Lock::Sync(tenant)).await?;
        let last = last_trigger(&mut tx, tenant).await?;
        let decision = decide_trigger(last, now, policy);
        if decision != SyncTrigger::Started {
            return Ok(decision);
        }
        tx.put_setting(tenant, LAST_TRIGGER, &now.0.to_string())
            .await?;
        tx.lock(Lock::Targeting(tenant)).await?;
        let targeting = Targeting::load(&mut tx, tenant).await?;
        let repaired = refresh_tenant(&mut tx, tenant, &targeting, now).await?;
        if repaired > 0 {
            tracing::warn!(%tenant, repaired, "the sync repaired devices whose stored targeting had drifted");
        }
        tx.append_events(&[self.event(
            tenant,
            EventKind::AutopilotSyncTriggered,
            tenant,
            serde_json::json!({ "previousTrigger": last.map(Timestamp::to_rfc3339), "devicesRepaired": repaired }),
        )])
        .await?;
        tx.commit().await?;
        Ok(decision)
    }

    /// Declares one identifier. The id, tenant and times are assigned here; an identifier of the same type
    /// already declared is a conflict (from the store's unique index).
    pub async fn create_corporate_identifier(
        &self,
        tenant: TenantId,
        draft: CorporateIdentifier,
    ) -> AppResult<CorporateIdentifier> {
        let item = self.fresh_corporate(tenant, draft);
        let mut tx = self.store.begin().await?;
        tx.insert_corporate_identifier(&item).await?;
        tx.append_events(&[self.event(
            tenant,
            EventKind::CorporateIdentifierCreated,
            &item.id,
            serde_json::json!({ "identifier": item.identifier, "type": item.identifier_type }),
        )])
        .await?;
        tx.commit().await?;
        Ok(item)
    }

    pub async fn delete_corporate_identifier(&self, tenant: TenantId, id: &str) -> AppResult<()> {
        let mut tx = self.store.begin().await?;
        let item = tx
            .get_corporate_identifier(tenant, id)
            .await?
            .ok_or_else(|| AppError::not_found(ObjectKind::CorporateIdentifier, id))?;
        tx.delete_corporate_identifier(tenant, &item.id).await?;
        tx.append_events(&[self.event(
            tenant,
            EventKind::CorporateIdentifierDeleted,
            &item.id,
            serde_json::json!({ "identifier": item.identifier, "type": item.identifier_type }),
        )])
        .await?;
        tx.commit().await?;
        Ok(())
    }

    /// Declares many identifiers in one transaction, in order. One already declared (same type, identifier
    /// compared case-insensitively, including an earlier item of the same batch) is replaced by the new
    /// declaration when `overwrite`, else kept as it was. Returns, per item, what is now stored and whether
    /// this item was stored.
    pub async fn import_corporate_identifiers(
        &self,
        tenant: TenantId,
        items: Vec<CorporateIdentifier>,
        overwrite: bool,
    ) -> AppResult<Vec<(CorporateIdentifier, bool)>> {
        let mut tx = self.store.begin().await?;
        let mut results = Vec::with_capacity(items.len());
        let (mut created, mut replaced, mut kept) = (0u64, 0u64, 0u64);
        for draft in items {
            let item = self.fresh_corporate(tenant, draft);
            let existing = tx
                .find_corporate_identifier(tenant, &item.identifier_type, &item.identifier)
                .await?;
            match existing {
                Some(old) if !overwrite => {
                    kept += 1;
                    results.push((old, false));
                }
                Some(old) => {
                    tx.delete_corporate_identifier(tenant, &old.id).await?;
                    tx.insert_corporate_identifier(&item).await?;
                    replaced += 1;
                    results.push((item, true));
                }
                None => {
                    tx.insert_corporate_identifier(&item).await?;
                    created += 1;
                    results.push((item, true));
                }
            }
        }
        tx.append_events(&[self.event(
            tenant,
            EventKind::CorporateIdentifiersImported,
            tenant,
            serde_json::json!({
                "created": created, "replaced": replaced, "kept": kept, "overwrite": overwrite,
            }),
        )])
        .await?;
        tx.commit().await?;
        Ok(results)
    }

    /// Every corporate identifier of the tenant, in the store's order.
    pub async fn corporate_identifiers(
        &self,
        tenant: TenantId,
    ) -> AppResult<Vec<CorporateIdentifier>> {
        let mut tx = self.store.single_read().await?;
        Ok(tx.list_corporate_identifiers(tenant).await?)
    }

    pub async fn corporate_identifier(
        &self,
        tenant: TenantId,
        id: &str,
    ) -> AppResult<CorporateIdentifier> {
        let mut tx = self.store.single_read().await?;
        tx.get_corporate_identifier(tenant, id)
            .await?
            .ok_or_else(|| AppError::not_found(ObjectKind::CorporateIdentifier, id))
    }

    /// Graph's `searchExistingIdentities`: of the probes (type, identifier), those declared already, as
    /// stored, in probe order.
    pub async fn find_corporate_identifiers(
        &self,
        tenant: TenantId,
        probes: &[CorporateIdentifier],
    ) -> AppResult<Vec<CorporateIdentifier>> {
        let mut tx = self.store.begin_read().await?;
        let mut found = Vec::new();
        for probe in probes {
            if let Some(existing) = tx
                .find_corporate_identifier(tenant, &probe.identifier_type, &probe.identifier)
                .await?
            {
                found.push(existing);
            }
        }
        Ok(found)
    }

    /// A draft with the identity and times the store needs: a new id, this tenant, created now.
    fn fresh_corporate(&self, tenant: TenantId, draft: CorporateIdentifier) -> CorporateIdentifier {
        let now = self.now();
        CorporateIdentifier {
            tenant_id: tenant,
            id: self.next_uuid().to_string(),
            created_at: now,
            updated_at: now,
            ..draft
        }
    }
}
