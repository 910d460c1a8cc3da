//! The MDM service's rows: managed devices, their management certificates and their command queues.

use sqlx::any::AnyRow;
use ztd_core::managed::{
    CommandState, ComplianceState, DeviceEnrollmentType, EnrollmentType, JoinType, ManagedDevice,
    ManagementState, QueuedCommand, SentIn,
};
use ztd_core::{ManagedDeviceId, MdmCommandId, TenantId, Timestamp};

use crate::codec::{id, json, opt_id, opt_int, opt_text, opt_ts, text, to_json, ts, wire};
use crate::{StoreError, Tx};

/// A page of a tenant's managed devices in id order.
#[derive(Clone, Debug, Default)]
pub struct ManagedDeviceQuery {
    pub after: Option<ManagedDeviceId>,
    pub limit: Option<u32>,
}

/// A management certificate issued by a tenant's MDM CA.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StoredMdmCertificate {
    /// SHA-256 of the certificate's DER, lower hex.
    pub thumbprint: String,
    pub tenant_id: TenantId,
    pub managed_device_id: ManagedDeviceId,
    /// The certificate, base64 DER.
    pub certificate: String,
    pub issued_at: Timestamp,
    pub expires_at: Timestamp,
    pub revoked_at: Option<Timestamp>,
}

const DEVICE_COLS: &str = "tenant_id, id, device_name, enrollment_type, device_enrollment_type, join_type, \
    directory_object_id, directory_device_id, user_id, user_principal_name, hw_dev_id, provider_id, \
    management_state, compliance_state, noncompliant_since, enrollment_context, inventory, enrolled_at, \
    last_sync_at, sync_requested_at, certificate_expires_at, grace_period_ends_at";

fn managed_device(row: &AnyRow) -> Result<ManagedDevice, StoreError> {
    Ok(ManagedDevice {
        tenant_id: id(row, "tenant_id")?,
        id: id(row, "id")?,
        device_name: text(row, "device_name")?,
        enrollment_type: wire(row, "enrollment_type", EnrollmentType::parse)?,
        device_enrollment_type: wire(row, "device_enrollment_type", DeviceEnrollmentType::parse)?,
        join_type: wire(row, "join_type", JoinType::parse)?,
        directory_object_id: opt_id(row, "directory_object_id")?,
        directory_device_id: opt_id(row, "directory_device_id")?,
        user_id: opt_id(row, "user_id")?,
        user_principal_name: text(row, "user_principal_name")?,
        hw_dev_id: text(row, "hw_dev_id")?,
        provider_id: text(row, "provider_id")?,
        management_state: wire(row, "management_state", ManagementState::parse)?,
        compliance_state: wire(row, "compliance_state", ComplianceState::parse)?,
        noncompliant_since: opt_ts(row, "noncompliant_since")?,
        enrollment_context: json(row, "enrollment_context")?,
        inventory: json(row, "inventory")?,
        enrolled_at: ts(row, "enrolled_at")?,
        last_sync_at: opt_ts(row, "last_sync_at")?,
        sync_requested_at: opt_ts(row, "sync_requested_at")?,
        certificate_expires_at: ts(row, "certificate_expires_at")?,
        grace_period_ends_at: opt_ts(row, "grace_period_ends_at")?,
    })
}

const CERT_COLS: &str =
    "thumbprint, tenant_id, managed_device_id, certificate, issued_at, expires_at, revoked_at";

fn mdm_certificate(row: &AnyRow) -> Result<StoredMdmCertificate, StoreError> {
    Ok(StoredMdmCertificate {
        thumbprint: text(row, "thumbprint")?,
        tenant_id: id(row, "tenant_id")?,
        managed_device_id: id(row, "managed_device_id")?,
        certificate: text(row, "certificate")?,
        issued_at: ts(row, "issued_at")?,
        expires_at: ts(row, "expires_at")?,
        revoked_at: opt_ts(row, "revoked_at")?,
    })
}

const COMMAND_COLS: &str =
    "tenant_id, managed_device_id, id, origin, command, state, session_id, msg_id, \
    first_cmd_id, outcome, created_at, completed_at";

fn command(row: &AnyRow) -> Result<QueuedCommand, StoreError> {
    let session = opt_text(row, "session_id")?;
    let msg = opt_int(row, "msg_id")?;
    let first = opt_int(row, "first_cmd_id")?;
    let sent_in = match (session, msg, first) {
        (Some(session_id), Some(msg), Some(first)) => Some(SentIn {
            session_id,
            msg_id: u32::try_from(msg).map_err(|_| crate::codec::corrupt("column msg_id"))?,
            first_cmd_id: u32::try_from(first)
                .map_err(|_| crate::codec::corrupt("column first_cmd_id"))?,
        }),
        _ => None,
    };
    Ok(QueuedCommand {
        tenant_id: id(row, "tenant_id")?,
        managed_device_id: id(row, "managed_device_id")?,
        id: id(row, "id")?,
        origin: json(row, "origin")?,
        command: json(row, "command")?,
        state: wire(row, "state", CommandState::parse)?,
        sent_in,
        outcome: json(row, "outcome")?,
        created_at: ts(row, "created_at")?,
        completed_at: opt_ts(row, "completed_at")?,
    })
}

impl Tx {
    pub async fn insert_managed_device(&mut self, d: &ManagedDevice) -> Result<(), StoreError> {
        let sql = format!(
            "INSERT INTO managed_devices ({DEVICE_COLS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, \
             $11, $12, $13, $14, $15, $16, $17, $18, $19, $20, $21, $22)"
        );
        let q = sqlx::query(&sql)
            .bind(d.tenant_id.to_string())
            .bind(d.id.to_string())
            .bind(d.device_name.as_str())
            .bind(d.enrollment_type.as_str())
            .bind(d.device_enrollment_type.as_str())
            .bind(d.join_type.as_str())
            .bind(d.directory_object_id.map(|o| o.to_string()))
            .bind(d.directory_device_id.map(|o| o.to_string()))
            .bind(d.user_id.map(|u| u.to_string()))
            .bind(d.user_principal_name.as_str())
            .bind(d.hw_dev_id.as_str())
            .bind(d.provider_id.as_str())
            .bind(d.management_state.as_str())
            .bind(d.compliance_state.as_str())
            .bind(d.noncompliant_since.map(|t| t.0))
            .bind(to_json(&d.enrollment_context))
            .bind(to_json(&d.inventory))
            .bind(d.enrolled_at.0)
            .bind(d.last_sync_at.map(|t| t.0))
            .bind(d.sync_requested_at.map(|t| t.0))
            .bind(d.certificate_expires_at.0)
            .bind(d.grace_period_ends_at.map(|t| t.0));
        self.execute(q).await.map(drop)
    }

    /// Writes every column of a managed device but its tenant, id and enrollment time.
    pub async fn update_managed_device(&mut self, d: &ManagedDevice) -> Result<(), StoreError> {
        let q = sqlx::query(
            "UPDATE managed_devices SET device_name = $3, directory_object_id = $4, directory_device_id = $5, \
             management_state = $6, compliance_state = $7, noncompliant_since = $8, inventory = $9, \
             last_sync_at = $10, sync_requested_at = $11, certificate_expires_at = $12, \
             grace_period_ends_at = $13, enrollment_type = $14, device_enrollment_type = $15, join_type = $16, \
             user_id = $17, user_principal_name = $18, hw_dev_id = $19, enrollment_context = $20 \
             WHERE tenant_id = $1 AND id = $2",
        )
        .bind(d.tenant_id.to_string())
        .bind(d.id.to_string())
        .bind(d.device_name.as_str())
        .bind(d.directory_object_id.map(|o| o.to_string()))
        .bind(d.directory_device_id.map(|o| o.to_string()))
        .bind(d.management_state.as_str())
        .bind(d.compliance_state.as_str())
        .bind(d.noncompliant_since.map(|t| t.0))
        .bind(to_json(&d.inventory))
        .bind(d.last_sync_at.map(|t| t.0))
        .bind(d.sync_requested_at.map(|t| t.0))
        .bind(d.certificate_expires_at.0)
        .bind(d.grace_period_ends_at.map(|t| t.0))
        .bind(d.enrollment_type.as_str())
        .bind(d.device_enrollment_type.as_str())
        .bind(d.join_type.as_str())
        .bind(d.user_id.map(|u| u.to_string()))
        .bind(d.user_principal_name.as_str())
        .bind(d.hw_dev_id.as_str())
        .bind(to_json(&d.enrollment_context));
        self.execute(q).await.map(drop)
    }

    pub async fn get_managed_device(
        &mut self,
        tenant: TenantId,
        id: ManagedDeviceId,
    ) -> Result<Option<ManagedDevice>, StoreError> {
        let sql =
            format!("SELECT {DEVICE_COLS} FROM managed_devices WHERE tenant_id = $1 AND id = $2");
        self.fetch_one_map(
            sqlx::query(&sql)
                .bind(tenant.to_string())
                .bind(id.to_string()),
            managed_device,
        )
        .await
    }

    /// The tenant's managed devices in id order, a page at a time.
    pub async fn list_managed_devices(
        &mut self,
        tenant: TenantId,
        q: &ManagedDeviceQuery,
    ) -> Result<Vec<ManagedDevice>, StoreError> {
        let mut sql = format!("SELECT {DEVICE_COLS} FROM managed_devices WHERE tenant_id = $1");
        if q.after.is_some() {
            sql.push_str(" AND id > $2");
        }
        sql.push_str(" ORDER BY id");
        if let Some(limit) = q.limit {
            sql.push_str(&format!(" LIMIT {limit}"));
        }
        let mut query = sqlx::query(&sql).bind(tenant.to_string());
        if let Some(after) = q.after {
            query = query.bind(after.to_string());
        }
        self.fetch_map(query, managed_device).await
    }

    /// The managed devices enrolled through one directory device object.
    pub async fn managed_devices_of_object(
        &mut self,
        tenant: TenantId,
        object: ztd_core::DirectoryObjectId,
    ) -> Result<Vec<ManagedDevice>, StoreError> {
        let sql = format!(
            "SELECT {DEVICE_COLS} FROM managed_devices WHERE tenant_id = $1 AND directory_object_id = $2 \
             ORDER BY id"
        );
        self.fetch_map(
            sqlx::query(&sql)
                .bind(tenant.to_string())
                .bind(object.to_string()),
            managed_device,
        )
        .await
    }

    /// The managed devices that enrolled with a hardware id (`HWDevID`).
    pub async fn managed_devices_by_hw_dev_id(
        &mut self,
        tenant: TenantId,
        hw_dev_id: &str,
    ) -> Result<Vec<ManagedDevice>, StoreError> {
        let sql = format!(
            "SELECT {DEVICE_COLS} FROM managed_devices WHERE tenant_id = $1 AND hw_dev_id = $2 ORDER BY id"
        );
        self.fetch_map(
            sqlx::query(&sql).bind(tenant.to_string()).bind(hw_dev_id),
            managed_device,
        )
        .await
    }

    /// Removes a managed device with its command queue (its certificates stay, revoked, for the record).
    pub async fn delete_managed_device(
        &mut self,
        tenant: TenantId,
        id: ManagedDeviceId,
    ) -> Result<bool, StoreError> {
        self.execute(
            sqlx::query("DELETE FROM mdm_commands WHERE tenant_id = $1 AND managed_device_id = $2")
                .bind(tenant.to_string())
                .bind(id.to_string()),
        )
        .await?;
        let deleted = self
            .execute(
                sqlx::query("DELETE FROM managed_devices WHERE tenant_id = $1 AND id = $2")
                    .bind(tenant.to_string())
                    .bind(id.to_string()),
            )
            .await?;
        Ok(deleted > 0)
    }

    pub async fn insert_mdm_certificate(
        &mut self,
        c: &StoredMdmCertificate,
    ) -> Result<(), StoreError> {
        let sql = format!(
            "INSERT INTO mdm_certificates ({CERT_COLS}) VALUES ($1, $2, $3, $4, $5, $6, $7)"
        );
        let q = sqlx::query(&sql)
            .bind(c.thumbprint.as_str())
            .bind(c.tenant_id.to_string())
            .bind(c.managed_device_id.to_string())
            .bind(c.certificate.as_str())
            .bind(c.issued_at.0)
            .bind(c.expires_at.0)
            .bind(c.revoked_at.map(|t| t.0));
        self.execute(q).await.map(drop)
    }

    /// GLOBAL: a management certificate by the SHA-256 of what a device presents (its row names the tenant).
    pub async fn find_mdm_certificate(
        &mut self,
        thumbprint: &str,
    ) -> Result<Option<StoredMdmCertificate>, StoreError> {
        let sql = format!("SELECT {CERT_COLS} FROM mdm_certificates WHERE thumbprint = $1");
        self.fetch_one_map(sqlx::query(&sql).bind(thumbprint), mdm_certificate)
            .await
    }

    /// Revokes every certificate of a managed device still in force.
    pub async fn revoke_mdm_certificates(
        &mut self,
        tenant: TenantId,
        device: ManagedDeviceId,
        at: Timestamp,
    ) -> Result<u64, StoreError> {
        self.execute(
            sqlx::query(
                "UPDATE mdm_certificates SET revoked_at = $3 \
                 WHERE tenant_id = $1 AND managed_device_id = $2 AND revoked_at IS NULL",
            )
            .bind(tenant.to_string())
            .bind(device.to_string())
            .bind(at.0),
        )
        .await
    }

    pub async fn insert_mdm_command(&mut self, c: &QueuedCommand) -> Result<(), StoreError> {
        let sql = format!(
            "INSERT INTO mdm_commands ({COMMAND_COLS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)"
        );
        let q = sqlx::query(&sql)
            .bind(c.tenant_id.to_string())
            .bind(c.managed_device_id.to_string())
            .bind(c.id.to_string())
            .bind(to_json(&c.origin))
            .bind(to_json(&c.command))
            .bind(c.state.as_str())
            .bind(c.sent_in.as_ref().map(|s| s.session_id.clone()))
            .bind(c.sent_in.as_ref().map(|s| i64::from(s.msg_id)))
            .bind(c.sent_in.as_ref().map(|s| i64::from(s.first_cmd_id)))
            .bind(to_json(&c.outcome))
            .bind(c.created_at.0)
            .bind(c.completed_at.map(|t| t.0));
        self.execute(q).await.map(drop)
    }

    /// Writes a command's progress: its state, where it was sent, the device's answers.
    pub async fn update_mdm_command(&mut self, c: &QueuedCommand) -> Result<(), StoreError> {
        let q = sqlx::query(
            "UPDATE mdm_commands SET state = $4, session_id = $5, msg_id = $6, first_cmd_id = $7, \
             outcome = $8, completed_at = $9 \
             WHERE tenant_id = $1 AND managed_device_id = $2 AND id = $3",
        )
        .bind(c.tenant_id.to_string())
        .bind(c.managed_device_id.to_string())
        .bind(c.id.to_string())
        .bind(c.state.as_str())
        .bind(c.sent_in.as_ref().map(|s| s.session_id.clone()))
        .bind(c.sent_in.as_ref().map(|s| i64::from(s.msg_id)))
        .bind(c.sent_in.as_ref().map(|s| i64::from(s.first_cmd_id)))
        .bind(to_json(&c.outcome))
        .bind(c.completed_at.map(|t| t.0));
        self.execute(q).await.map(drop)
    }

    /// A device's commands not yet answered (pending or sent), in queue order.
    pub async fn open_mdm_commands(
        &mut self,
        tenant: TenantId,
        device: ManagedDeviceId,
    ) -> Result<Vec<QueuedCommand>, StoreError> {
        let sql = format!(
            "SELECT {COMMAND_COLS} FROM mdm_commands WHERE tenant_id = $1 AND managed_device_id = $2 \
             AND state IN ('pending', 'sent') ORDER BY id"
        );
        self.fetch_map(
            sqlx::query(&sql)
                .bind(tenant.to_string())
                .bind(device.to_string()),
            command,
        )
        .await
    }

    /// A device's commands sent in one session and already answered (at most 100, the newest).
    pub async fn mdm_commands_of_session(
        &mut self,
        tenant: TenantId,
        device: ManagedDeviceId,
        session: &str,
    ) -> Result<Vec<QueuedCommand>, StoreError> {
        let sql = format!(
            "SELECT {COMMAND_COLS} FROM mdm_commands WHERE tenant_id = $1 AND managed_device_id = $2 \
             AND session_id = $3 AND state IN ('succeeded', 'failed') ORDER BY id DESC LIMIT 100"
        );
        self.fetch_map(
            sqlx::query(&sql)
                .bind(tenant.to_string())
                .bind(device.to_string())
                .bind(session),
            command,
        )
        .await
    }

    /// Deletes a device's answered commands but the newest `keep`.
    pub async fn prune_mdm_commands(
        &mut self,
        tenant: TenantId,
        device: ManagedDeviceId,
        keep: u32,
    ) -> Result<u64, StoreError> {
        let sql = format!(
            "DELETE FROM mdm_commands WHERE tenant_id = $1 AND managed_device_id = $2 \
             AND state IN ('succeeded', 'failed') AND id NOT IN (SELECT id FROM mdm_commands \
             WHERE tenant_id = $1 AND managed_device_id = $2 AND state IN ('succeeded', 'failed') \
             ORDER BY id DESC LIMIT {keep})"
        );
        self.execute(
            sqlx::query(&sql)
                .bind(tenant.to_string())
                .bind(device.to_string()),
        )
        .await
    }

    /// A device's commands, newest first, up to `limit`.
    pub async fn list_mdm_commands(
        &mut self,
        tenant: TenantId,
        device: ManagedDeviceId,
        limit: u32,
    ) -> Result<Vec<QueuedCommand>, StoreError> {
        let sql = format!(
            "SELECT {COMMAND_COLS} FROM mdm_commands WHERE tenant_id = $1 AND managed_device_id = $2 \
             ORDER BY id DESC LIMIT {limit}"
        );
        self.fetch_map(
            sqlx::query(&sql)
                .bind(tenant.to_string())
                .bind(device.to_string()),
            command,
        )
        .await
    }

    pub async fn get_mdm_command(
        &mut self,
        tenant: TenantId,
        device: ManagedDeviceId,
        id: MdmCommandId,
    ) -> Result<Option<QueuedCommand>, StoreError> {
        let sql = format!(
            "SELECT {COMMAND_COLS} FROM mdm_commands WHERE tenant_id = $1 AND managed_device_id = $2 AND id = $3"
        );
        self.fetch_one_map(
            sqlx::query(&sql)
                .bind(tenant.to_string())
                .bind(device.to_string())
                .bind(id.to_string()),
            command,
        )
        .await
    }

    /// Removes a device's commands that have not been sent yet and came from `origin` (JSON as stored), so a
    /// withdrawn setting or action is not delivered.
    pub async fn withdraw_mdm_commands(
        &mut self,
        tenant: TenantId,
        device: ManagedDeviceId,
        origin: &ztd_core::managed::CommandOrigin,
    ) -> Result<u64, StoreError> {
        self.execute(
            sqlx::query(
                "DELETE FROM mdm_commands WHERE tenant_id = $1 AND managed_device_id = $2 \
                 AND state = 'pending' AND origin = $3",
            )
            .bind(tenant.to_string())
            .bind(device.to_string())
            .bind(to_json(origin)),
        )
        .await
    }
}
