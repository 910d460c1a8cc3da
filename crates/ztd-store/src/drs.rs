//! The device registration service's rows: device certificates, redeemed nonces, Windows Hello keys, and the
//! tenant settings written once (the device CA).

use sqlx::any::AnyRow;
use ztd_core::{DirectoryDeviceId, DirectoryObjectId, TenantId, Timestamp};

use crate::codec::{id, opt_ts, text, ts};
use crate::{StoreError, Tx};

/// A device certificate issued by a tenant's device CA.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StoredDeviceCertificate {
    /// SHA-256 of the certificate's DER, lower hex.
    pub thumbprint: String,
    pub tenant_id: TenantId,
    pub object_id: DirectoryObjectId,
    pub device_id: DirectoryDeviceId,
    /// The certificate, base64 DER.
    pub certificate: String,
    /// The device's transport key, base64 PKCS#1 `RSAPublicKey` DER.
    pub transport_key: String,
    pub trust_type: String,
    pub issued_at: Timestamp,
    pub expires_at: Timestamp,
    pub revoked_at: Option<Timestamp>,
}

const CERT_COLS: &str = "thumbprint, tenant_id, object_id, device_id, certificate, transport_key, \
    trust_type, issued_at, expires_at, revoked_at";

fn device_certificate(row: &AnyRow) -> Result<StoredDeviceCertificate, StoreError> {
    Ok(StoredDeviceCertificate {
        thumbprint: text(row, "thumbprint")?,
        tenant_id: id(row, "tenant_id")?,
        object_id: id(row, "object_id")?,
        device_id: id(row, "device_id")?,
        certificate: text(row, "certificate")?,
        transport_key: text(row, "transport_key")?,
        trust_type: text(row, "trust_type")?,
        issued_at: ts(row, "issued_at")?,
        expires_at: ts(row, "expires_at")?,
        revoked_at: opt_ts(row, "revoked_at")?,
    })
}

impl Tx {
    pub async fn insert_device_certificate(
        &mut self,
        c: &StoredDeviceCertificate,
    ) -> Result<(), StoreError> {
        let sql = format!(
            "INSERT INTO device_certificates ({CERT_COLS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)"
        );
        let q = sqlx::query(&sql)
            .bind(c.thumbprint.as_str())
            .bind(c.tenant_id.to_string())
            .bind(c.object_id.to_string())
            .bind(c.device_id.to_string())
            .bind(c.certificate.as_str())
            .bind(c.transport_key.as_str())
            .bind(c.trust_type.as_str())
            .bind(c.issued_at.0)
            .bind(c.expires_at.0)
            .bind(c.revoked_at.map(|at| at.0));
        self.execute(q).await.map(drop)
    }

    /// GLOBAL: a device certificate by the SHA-256 of what a device presents (the certificate names no tenant
    /// until it is found; its row names the tenant).
    pub async fn find_device_certificate(
        &mut self,
        thumbprint: &str,
    ) -> Result<Option<StoredDeviceCertificate>, StoreError> {
        let sql = format!("SELECT {CERT_COLS} FROM device_certificates WHERE thumbprint = $1");
        self.fetch_one_map(sqlx::query(&sql).bind(thumbprint), device_certificate)
            .await
    }

    /// The newest certificate of a device object still in force (not revoked; expiry is the caller's).
    pub async fn current_device_certificate(
        &mut self,
        tenant: TenantId,
        object: DirectoryObjectId,
    ) -> Result<Option<StoredDeviceCertificate>, StoreError> {
        let sql = format!(
            "SELECT {CERT_COLS} FROM device_certificates \
             WHERE tenant_id = $1 AND object_id = $2 AND revoked_at IS NULL \
             ORDER BY issued_at DESC, thumbprint LIMIT 1"
        );
        let q = sqlx::query(&sql)
            .bind(tenant.to_string())
            .bind(object.to_string());
        self.fetch_one_map(q, device_certificate).await
    }

    /// Revokes every certificate of a device object still in force; returns how many.
    pub async fn revoke_device_certificates(
        &mut self,
        tenant: TenantId,
        object: DirectoryObjectId,
        at: Timestamp,
    ) -> Result<u64, StoreError> {
        let q = sqlx::query(
            "UPDATE device_certificates SET revoked_at = $3 \
             WHERE tenant_id = $1 AND object_id = $2 AND revoked_at IS NULL",
        )
        .bind(tenant.to_string())
        .bind(object.to_string())
        .bind(at.0);
        self.execute(q).await
    }

    /// Revokes every PRT of a device object and every refresh token obtained through one; returns how many.
    pub async fn revoke_device_tokens(
        &mut self,
        tenant: TenantId,
        object: DirectoryObjectId,
        at: Timestamp,
    ) -> Result<u64, StoreError> {
        let q = sqlx::query(
            "UPDATE refresh_tokens SET revoked_at = $3 \
             WHERE tenant_id = $1 AND device_object_id = $2 AND revoked_at IS NULL",
        )
        .bind(tenant.to_string())
        .bind(object.to_string())
        .bind(at.0);
        self.execute(q).await
    }

    /// GLOBAL: redeems a nonce (by its hash) until `expires_at`: `true` the first time, `false` when it was
    /// redeemed before. Nonces past their expiry are forgotten on the way (they are refused by their MAC's
    /// time anyway).
    pub async fn redeem_nonce(
        &mut self,
        nonce_hash: &str,
        expires_at: Timestamp,
        now: Timestamp,
    ) -> Result<bool, StoreError> {
        let q = sqlx::query("DELETE FROM used_nonces WHERE expires_at < $1").bind(now.0);
        self.execute(q).await?;
        let q = sqlx::query(
            "INSERT INTO used_nonces (nonce_hash, expires_at) VALUES ($1, $2) ON CONFLICT (nonce_hash) DO NOTHING",
        )
        .bind(nonce_hash)
        .bind(expires_at.0);
        Ok(self.execute(q).await? == 1)
    }

    /// Records a Windows Hello for Business key a device registered for a user.
    pub async fn insert_device_user_key(
        &mut self,
        tenant: TenantId,
        id: uuid::Uuid,
        user: DirectoryObjectId,
        object: Option<DirectoryObjectId>,
        key_blob: &str,
        at: Timestamp,
    ) -> Result<(), StoreError> {
        let q = sqlx::query(
            "INSERT INTO device_user_keys (tenant_id, id, user_id, object_id, key_blob, created_at) \
             VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(tenant.to_string())
        .bind(id.to_string())
        .bind(user.to_string())
        .bind(object.map(|o| o.to_string()))
        .bind(key_blob)
        .bind(at.0);
        self.execute(q).await.map(drop)
    }

    /// The number of Hello keys a user registered (what `ztd` shows; the sign-in with them comes later).
    pub async fn count_device_user_keys(
        &mut self,
        tenant: TenantId,
        user: DirectoryObjectId,
    ) -> Result<u64, StoreError> {
        let q = sqlx::query(
            "SELECT COUNT(*) AS n FROM device_user_keys WHERE tenant_id = $1 AND user_id = $2",
        )
        .bind(tenant.to_string())
        .bind(user.to_string());
        let n = self
            .fetch_one_map(q, |row| crate::codec::int(row, "n"))
            .await?
            .unwrap_or(0);
        Ok(u64::try_from(n).unwrap_or(0))
    }

    /// Sets a tenant setting only if it is not set yet (concurrent first uses on several nodes agree on one
    /// value); returns the value stored afterwards.
    pub async fn init_setting(
        &mut self,
        tenant: TenantId,
        name: &str,
        value: &str,
    ) -> Result<String, StoreError> {
        let q = sqlx::query(
            "INSERT INTO settings (tenant_id, name, value) VALUES ($1, $2, $3) \
             ON CONFLICT (tenant_id, name) DO NOTHING",
        )
        .bind(tenant.to_string())
        .bind(name)
        .bind(value);
        self.execute(q).await?;
        self.get_setting(tenant, name).await?.ok_or_else(|| {
            StoreError::Corrupt(format!(
                "tenant setting {name} vanished after it was written"
            ))
        })
    }
}
