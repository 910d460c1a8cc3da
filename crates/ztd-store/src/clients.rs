//! Application registrations and their credentials (secrets and certificates).
//!
//! Lookups by client id are GLOBAL: the token endpoint meets a client before it knows the tenant. Everything
//! else is scoped by tenant.

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use sqlx::any::AnyRow;
use ztd_core::tenant::{ClientCertificate, ClientCredential, ClientSecret};
use ztd_core::TenantId;

use crate::codec::{corrupt, id, json, opt_ts, text, to_json, ts};
use crate::{StoreError, Tx};

const CLIENT_COLS: &str = "client_id, tenant_id, display_name, scopes, redirect_uris, created_at";
const SECRET_COLS: &str =
    "tenant_id, client_id, key_id, secret_hash, hint, display_name, start_at, end_at, created_at";
const CERTIFICATE_COLS: &str = "tenant_id, client_id, key_id, thumbprint, certificate_der, display_name, start_at, end_at, created_at";

fn client(row: &AnyRow) -> Result<ClientCredential, StoreError> {
    Ok(ClientCredential {
        tenant_id: id(row, "tenant_id")?,
        client_id: text(row, "client_id")?,
        display_name: text(row, "display_name")?,
        scopes: json(row, "scopes")?,
        redirect_uris: json(row, "redirect_uris")?,
        created_at: ts(row, "created_at")?,
    })
}

fn key_id(row: &AnyRow) -> Result<uuid::Uuid, StoreError> {
    let raw = text(row, "key_id")?;
    uuid::Uuid::parse_str(&raw).map_err(|_| corrupt(format!("credential key id {raw:?}")))
}

fn secret(row: &AnyRow) -> Result<ClientSecret, StoreError> {
    Ok(ClientSecret {
        tenant_id: id(row, "tenant_id")?,
        client_id: text(row, "client_id")?,
        key_id: key_id(row)?,
        secret_hash: text(row, "secret_hash")?,
        hint: text(row, "hint")?,
        display_name: text(row, "display_name")?,
        start_at: ts(row, "start_at")?,
        end_at: opt_ts(row, "end_at")?,
        created_at: ts(row, "created_at")?,
    })
}

fn certificate(row: &AnyRow) -> Result<ClientCertificate, StoreError> {
    let der = text(row, "certificate_der")?;
    Ok(ClientCertificate {
        tenant_id: id(row, "tenant_id")?,
        client_id: text(row, "client_id")?,
        key_id: key_id(row)?,
        thumbprint: text(row, "thumbprint")?,
        certificate_der: STANDARD
            .decode(der)
            .map_err(|_| corrupt("a stored certificate is not base64"))?,
        display_name: text(row, "display_name")?,
        start_at: ts(row, "start_at")?,
        end_at: ts(row, "end_at")?,
        created_at: ts(row, "created_at")?,
    })
}

impl Tx {
    pub async fn insert_client(&mut self, c: &ClientCredential) -> Result<(), StoreError> {
        let sql = format!("INSERT INTO clients ({CLIENT_COLS}) VALUES ($1, $2, $3, $4, $5, $6)");
        let q = sqlx::query(&sql)
            .bind(c.client_id.as_str())
            .bind(c.tenant_id.to_string())
            .bind(c.display_name.as_str())
            .bind(to_json(&c.scopes))
            .bind(to_json(&c.redirect_uris))
            .bind(c.created_at.0);
        self.execute(q).await.map(drop)
    }

    /// GLOBAL: the token endpoint looks a client up before it knows the tenant.
    pub async fn get_client(
        &mut self,
        client_id: &str,
    ) -> Result<Option<ClientCredential>, StoreError> {
        let sql = format!("SELECT {CLIENT_COLS} FROM clients WHERE client_id = $1");
        self.fetch_one_map(sqlx::query(&sql).bind(client_id), client)
            .await
    }

    /// Deletes an application of the tenant and its credentials; `false` if it has none by that id.
    pub async fn delete_client(
        &mut self,
        tenant: TenantId,
        client_id: &str,
    ) -> Result<bool, StoreError> {
        for table in ["client_secrets", "client_certificates"] {
            let sql = format!("DELETE FROM {table} WHERE tenant_id = $1 AND client_id = $2");
            let q = sqlx::query(&sql).bind(tenant.to_string()).bind(client_id);
            self.execute(q).await?;
        }
        let q = sqlx::query("DELETE FROM clients WHERE tenant_id = $1 AND client_id = $2")
            .bind(tenant.to_string())
            .bind(client_id);
        Ok(self.execute(q).await? > 0)
    }

    pub async fn list_clients(
        &mut self,
        tenant: TenantId,
    ) -> Result<Vec<ClientCredential>, StoreError> {
        let sql =
            format!("SELECT {CLIENT_COLS} FROM clients WHERE tenant_id = $1 ORDER BY client_id");
        self.fetch_map(sqlx::query(&sql).bind(tenant.to_string()), client)
            .await
    }

    pub async fn insert_client_secret(&mut self, s: &ClientSecret) -> Result<(), StoreError> {
        let sql = format!(
            "INSERT INTO client_secrets ({SECRET_COLS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)"
        );
        let q = sqlx::query(&sql)
            .bind(s.tenant_id.to_string())
            .bind(s.client_id.as_str())
            .bind(s.key_id.to_string())
            .bind(s.secret_hash.as_str())
            .bind(s.hint.as_str())
            .bind(s.display_name.as_str())
            .bind(s.start_at.0)
            .bind(s.end_at.map(|t| t.0))
            .bind(s.created_at.0);
        self.execute(q).await.map(drop)
    }

    /// GLOBAL: every secret of a client, oldest first.
    pub async fn client_secrets(
        &mut self,
        client_id: &str,
    ) -> Result<Vec<ClientSecret>, StoreError> {
        let sql = format!(
            "SELECT {SECRET_COLS} FROM client_secrets WHERE client_id = $1 ORDER BY created_at, key_id"
        );
        self.fetch_map(sqlx::query(&sql).bind(client_id), secret)
            .await
    }

    pub async fn delete_client_secret(
        &mut self,
        tenant: TenantId,
        client_id: &str,
        key_id: uuid::Uuid,
    ) -> Result<bool, StoreError> {
        let q = sqlx::query(
            "DELETE FROM client_secrets WHERE tenant_id = $1 AND client_id = $2 AND key_id = $3",
        )
        .bind(tenant.to_string())
        .bind(client_id)
        .bind(key_id.to_string());
        Ok(self.execute(q).await? > 0)
    }

    pub async fn insert_client_certificate(
        &mut self,
        c: &ClientCertificate,
    ) -> Result<(), StoreError> {
        let sql = format!(
            "INSERT INTO client_certificates ({CERTIFICATE_COLS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)"
        );
        let q = sqlx::query(&sql)
            .bind(c.tenant_id.to_string())
            .bind(c.client_id.as_str())
            .bind(c.key_id.to_string())
            .bind(c.thumbprint.as_str())
            .bind(STANDARD.encode(&c.certificate_der))
            .bind(c.display_name.as_str())
            .bind(c.start_at.0)
            .bind(c.end_at.0)
            .bind(c.created_at.0);
        self.execute(q).await.map(drop)
    }

    /// GLOBAL: every certificate of a client, oldest first.
    pub async fn client_certificates(
        &mut self,
        client_id: &str,
    ) -> Result<Vec<ClientCertificate>, StoreError> {
        let sql = format!(
            "SELECT {CERTIFICATE_COLS} FROM client_certificates WHERE client_id = $1 ORDER BY created_at, key_id"
        );
        self.fetch_map(sqlx::query(&sql).bind(client_id), certificate)
            .await
    }

    pub async fn delete_client_certificate(
        &mut self,
        tenant: TenantId,
        client_id: &str,
        key_id: uuid::Uuid,
    ) -> Result<bool, StoreError> {
        let q = sqlx::query(
            "DELETE FROM client_certificates WHERE tenant_id = $1 AND client_id = $2 AND key_id = $3",
        )
        .bind(tenant.to_string())
        .bind(client_id)
        .bind(key_id.to_string());
        Ok(self.execute(q).await? > 0)
    }
}
