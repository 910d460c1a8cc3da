//! Device configuration profiles and compliance policies, their assignments, and each managed device's
//! state for each.

use serde::{Deserialize, Serialize};
use sqlx::any::AnyRow;
use ztd_core::device_policy::{
    AssignmentTarget, DevicePolicy, PolicyAssignment, PolicyDeviceState, PolicyKind, PolicyStatus,
};
use ztd_core::scope::FilterRef;
use ztd_core::{ManagedDeviceId, TenantId};

use crate::codec::{id, int, json, text, to_json, ts, wire};
use crate::{StoreError, Tx};

const POLICY_COLS: &str =
    "tenant_id, kind, id, display_name, document, version, created_at, updated_at";

fn policy(row: &AnyRow) -> Result<DevicePolicy, StoreError> {
    Ok(DevicePolicy {
        tenant_id: id(row, "tenant_id")?,
        kind: wire(row, "kind", PolicyKind::parse)?,
        id: id(row, "id")?,
        display_name: text(row, "display_name")?,
        document: json(row, "document")?,
        version: int(row, "version")?,
        created_at: ts(row, "created_at")?,
        updated_at: ts(row, "updated_at")?,
    })
}

/// The stored `target` column: the target's own form, with the assignment's filter beside it (absent in
/// rows written before filters).
#[derive(Serialize, Deserialize)]
struct StoredTarget {
    #[serde(flatten)]
    target: AssignmentTarget,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    filter: Option<FilterRef>,
}

fn assignment(row: &AnyRow) -> Result<(uuid::Uuid, PolicyAssignment), StoreError> {
    let stored: StoredTarget = json(row, "target")?;
    Ok((
        id(row, "policy_id")?,
        PolicyAssignment {
            id: text(row, "id")?,
            target: stored.target,
            filter: stored.filter,
        },
    ))
}

const STATE_COLS: &str =
    "tenant_id, kind, policy_id, managed_device_id, version, status, settings, reported_at";

fn state(row: &AnyRow) -> Result<PolicyDeviceState, StoreError> {
    Ok(PolicyDeviceState {
        tenant_id: id(row, "tenant_id")?,
        kind: wire(row, "kind", PolicyKind::parse)?,
        policy_id: id(row, "policy_id")?,
        managed_device_id: id(row, "managed_device_id")?,
        version: int(row, "version")?,
        status: wire(row, "status", PolicyStatus::parse)?,
        settings: json(row, "settings")?,
        reported_at: ts(row, "reported_at")?,
    })
}

impl Tx {
    pub async fn insert_device_policy(&mut self, p: &DevicePolicy) -> Result<(), StoreError> {
        let sql = format!(
            "INSERT INTO device_policies ({POLICY_COLS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)"
        );
        let q = sqlx::query(&sql)
            .bind(p.tenant_id.to_string())
            .bind(p.kind.as_str())
            .bind(p.id.to_string())
            .bind(p.display_name.as_str())
            .bind(to_json(&p.document))
            .bind(p.version)
            .bind(p.created_at.0)
            .bind(p.updated_at.0);
        self.execute(q).await.map(drop)
    }

    /// Writes a policy whose stored version is `p.version - 1`; `false` when another change came first.
    pub async fn update_device_policy(&mut self, p: &DevicePolicy) -> Result<bool, StoreError> {
        let q = sqlx::query(
            "UPDATE device_policies SET display_name = $4, document = $5, version = $6, updated_at = $7 \
             WHERE tenant_id = $1 AND kind = $2 AND id = $3 AND version = $8",
        )
        .bind(p.tenant_id.to_string())
        .bind(p.kind.as_str())
        .bind(p.id.to_string())
        .bind(p.display_name.as_str())
        .bind(to_json(&p.document))
        .bind(p.version)
        .bind(p.updated_at.0)
        .bind(p.version - 1);
        Ok(self.execute(q).await? == 1)
    }

    pub async fn get_device_policy(
        &mut self,
        tenant: TenantId,
        kind: PolicyKind,
        id: uuid::Uuid,
    ) -> Result<Option<DevicePolicy>, StoreError> {
        let sql = format!(
            "SELECT {POLICY_COLS} FROM device_policies WHERE tenant_id = $1 AND kind = $2 AND id = $3"
        );
        self.fetch_one_map(
            sqlx::query(&sql)
                .bind(tenant.to_string())
                .bind(kind.as_str())
                .bind(id.to_string()),
            policy,
        )
        .await
    }

    /// The tenant's policies of a kind, in id order.
    pub async fn list_device_policies(
        &mut self,
        tenant: TenantId,
        kind: PolicyKind,
    ) -> Result<Vec<DevicePolicy>, StoreError> {
        let sql = format!(
            "SELECT {POLICY_COLS} FROM device_policies WHERE tenant_id = $1 AND kind = $2 ORDER BY id"
        );
        self.fetch_map(
            sqlx::query(&sql)
                .bind(tenant.to_string())
                .bind(kind.as_str()),
            policy,
        )
        .await
    }

    /// Deletes a policy with its assignments. Its device states stay: each device's next session removes
    /// what the policy set, then its state.
    pub async fn delete_device_policy(
        &mut self,
        tenant: TenantId,
        kind: PolicyKind,
        id: uuid::Uuid,
    ) -> Result<bool, StoreError> {
        self.execute(
            sqlx::query(
                "DELETE FROM device_policy_assignments WHERE tenant_id = $1 AND kind = $2 AND policy_id = $3",
            )
            .bind(tenant.to_string())
            .bind(kind.as_str())
            .bind(id.to_string()),
        )
        .await?;
        let deleted = self
            .execute(
                sqlx::query(
                    "DELETE FROM device_policies WHERE tenant_id = $1 AND kind = $2 AND id = $3",
                )
                .bind(tenant.to_string())
                .bind(kind.as_str())
                .bind(id.to_string()),
            )
            .await?;
        Ok(deleted > 0)
    }

    /// Replaces a policy's assignments with `assignments`.
    pub async fn replace_policy_assignments(
        &mut self,
        tenant: TenantId,
        kind: PolicyKind,
        policy: uuid::Uuid,
        assignments: &[PolicyAssignment],
    ) -> Result<(), StoreError> {
        self.execute(
            sqlx::query(
                "DELETE FROM device_policy_assignments WHERE tenant_id = $1 AND kind = $2 AND policy_id = $3",
            )
            .bind(tenant.to_string())
            .bind(kind.as_str())
            .bind(policy.to_string()),
        )
        .await?;
        for a in assignments {
            self.execute(
                sqlx::query(
                    "INSERT INTO device_policy_assignments (tenant_id, kind, policy_id, id, target) \
                     VALUES ($1, $2, $3, $4, $5)",
                )
                .bind(tenant.to_string())
                .bind(kind.as_str())
                .bind(policy.to_string())
                .bind(a.id.as_str())
                .bind(to_json(&StoredTarget {
                    target: a.target.clone(),
                    filter: a.filter,
                })),
            )
            .await?;
        }
        Ok(())
    }

    /// The assignments of every policy of a kind (`None`) or of one, as (policy, assignment), in policy then
    /// assignment order.
    pub async fn policy_assignments(
        &mut self,
        tenant: TenantId,
        kind: PolicyKind,
        policy: Option<uuid::Uuid>,
    ) -> Result<Vec<(uuid::Uuid, PolicyAssignment)>, StoreError> {
        let mut sql = String::from(
            "SELECT policy_id, id, target FROM device_policy_assignments WHERE tenant_id = $1 AND kind = $2",
        );
        if policy.is_some() {
            sql.push_str(" AND policy_id = $3");
        }
        sql.push_str(" ORDER BY policy_id, id");
        let mut q = sqlx::query(&sql)
            .bind(tenant.to_string())
            .bind(kind.as_str());
        if let Some(policy) = policy {
            q = q.bind(policy.to_string());
        }
        self.fetch_map(q, assignment).await
    }

    pub async fn upsert_policy_state(&mut self, s: &PolicyDeviceState) -> Result<(), StoreError> {
        let sql = format!(
            "INSERT INTO device_policy_states ({STATE_COLS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8) \
             ON CONFLICT (tenant_id, kind, policy_id, managed_device_id) DO UPDATE SET \
             version = excluded.version, status = excluded.status, settings = excluded.settings, \
             reported_at = excluded.reported_at"
        );
        let q = sqlx::query(&sql)
            .bind(s.tenant_id.to_string())
            .bind(s.kind.as_str())
            .bind(s.policy_id.to_string())
            .bind(s.managed_device_id.to_string())
            .bind(s.version)
            .bind(s.status.as_str())
            .bind(to_json(&s.settings))
            .bind(s.reported_at.0);
        self.execute(q).await.map(drop)
    }

    pub async fn delete_policy_state(
        &mut self,
        tenant: TenantId,
        kind: PolicyKind,
        policy: uuid::Uuid,
        device: ManagedDeviceId,
    ) -> Result<(), StoreError> {
        self.execute(
            sqlx::query(
                "DELETE FROM device_policy_states WHERE tenant_id = $1 AND kind = $2 AND policy_id = $3 \
                 AND managed_device_id = $4",
            )
            .bind(tenant.to_string())
            .bind(kind.as_str())
            .bind(policy.to_string())
            .bind(device.to_string()),
        )
        .await
        .map(drop)
    }

    /// A device's states for every policy of a kind.
    pub async fn policy_states_of_device(
        &mut self,
        tenant: TenantId,
        kind: PolicyKind,
        device: ManagedDeviceId,
    ) -> Result<Vec<PolicyDeviceState>, StoreError> {
        let sql = format!(
            "SELECT {STATE_COLS} FROM device_policy_states WHERE tenant_id = $1 AND kind = $2 \
             AND managed_device_id = $3 ORDER BY policy_id"
        );
        self.fetch_map(
            sqlx::query(&sql)
                .bind(tenant.to_string())
                .bind(kind.as_str())
                .bind(device.to_string()),
            state,
        )
        .await
    }

    /// Every device's state for one policy, in device order.
    pub async fn policy_states_of_policy(
        &mut self,
        tenant: TenantId,
        kind: PolicyKind,
        policy: uuid::Uuid,
    ) -> Result<Vec<PolicyDeviceState>, StoreError> {
        let sql = format!(
            "SELECT {STATE_COLS} FROM device_policy_states WHERE tenant_id = $1 AND kind = $2 \
             AND policy_id = $3 ORDER BY managed_device_id"
        );
        self.fetch_map(
            sqlx::query(&sql)
                .bind(tenant.to_string())
                .bind(kind.as_str())
                .bind(policy.to_string()),
            state,
        )
        .await
    }

    /// Removes a device's states for every policy of `kind` (it enrolled again: deliver anew), or of every
    /// kind (`None`: it left management).
    pub async fn delete_policy_states_of_device(
        &mut self,
        tenant: TenantId,
        device: ManagedDeviceId,
        kind: Option<PolicyKind>,
    ) -> Result<(), StoreError> {
        let mut sql = String::from(
            "DELETE FROM device_policy_states WHERE tenant_id = $1 AND managed_device_id = $2",
        );
        if kind.is_some() {
            sql.push_str(" AND kind = $3");
        }
        let mut q = sqlx::query(&sql)
            .bind(tenant.to_string())
            .bind(device.to_string());
        if let Some(kind) = kind {
            q = q.bind(kind.as_str());
        }
        self.execute(q).await.map(drop)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn policy_targets_stored_before_filters_still_read() {
        // Rows written before filters hold the domain target's own JSON, nothing beside it.
        let group_id = ztd_core::GroupId::parse("6b1f0e37-3e1c-4c4a-9f5e-2d1f0c3a4b5c").unwrap();
        for target in [
            AssignmentTarget::AllDevices,
            AssignmentTarget::Group { group_id },
            AssignmentTarget::ExclusionGroup { group_id },
        ] {
            let old = serde_json::to_string(&target).unwrap();
            let stored: StoredTarget = serde_json::from_str(&old).unwrap();
            assert_eq!(stored.target, target, "{old}");
            assert!(stored.filter.is_none());
        }
    }
}
