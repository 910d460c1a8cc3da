//! Pending sign-ins (authorization codes and device codes). GLOBAL by design: found by the hash of the code
//! a client presents, or by the user code a person types; the tenant is known only once someone signs in.

use sqlx::any::AnyRow;
use ztd_core::sign_in::{GrantKind, GrantStatus, PendingSignIn};
use ztd_core::{DirectoryObjectId, TenantId, Timestamp};

use crate::codec::{corrupt, flag, opt_id, opt_text, text, ts};
use crate::{StoreError, Tx};

const COLS: &str = "code_hash, kind, user_code, requested_tenant, client_id, tenant_id, user_id, scope, resource, v2, redirect_uri, code_challenge, code_challenge_method, nonce, status, expires_at, created_at, device_object_id";

fn pending(row: &AnyRow) -> Result<PendingSignIn, StoreError> {
    let kind = text(row, "kind")?;
    let status = text(row, "status")?;
    Ok(PendingSignIn {
        code_hash: text(row, "code_hash")?,
        kind: GrantKind::parse(&kind).ok_or_else(|| corrupt(format!("grant kind {kind:?}")))?,
        user_code: opt_text(row, "user_code")?,
        requested_tenant: opt_id(row, "requested_tenant")?,
        client_id: text(row, "client_id")?,
        tenant_id: opt_id(row, "tenant_id")?,
        user_id: opt_id(row, "user_id")?,
        scope: opt_text(row, "scope")?,
        resource: opt_text(row, "resource")?,
        v2: flag(row, "v2")?,
        redirect_uri: opt_text(row, "redirect_uri")?,
        code_challenge: opt_text(row, "code_challenge")?,
        code_challenge_method: opt_text(row, "code_challenge_method")?,
        nonce: opt_text(row, "nonce")?,
        status: GrantStatus::parse(&status)
            .ok_or_else(|| corrupt(format!("grant status {status:?}")))?,
        expires_at: ts(row, "expires_at")?,
        created_at: ts(row, "created_at")?,
        device_object_id: opt_id(row, "device_object_id")?,
    })
}

impl Tx {
    pub async fn insert_pending_sign_in(&mut self, p: &PendingSignIn) -> Result<(), StoreError> {
        let sql = format!(
            "INSERT INTO pending_sign_ins ({COLS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18)"
        );
        let q = sqlx::query(&sql)
            .bind(p.code_hash.as_str())
            .bind(p.kind.as_str())
            .bind(p.user_code.clone())
            .bind(p.requested_tenant.map(|t| t.to_string()))
            .bind(p.client_id.as_str())
            .bind(p.tenant_id.map(|t| t.to_string()))
            .bind(p.user_id.map(|u| u.to_string()))
            .bind(p.scope.clone())
            .bind(p.resource.clone())
            .bind(i64::from(p.v2))
            .bind(p.redirect_uri.clone())
            .bind(p.code_challenge.clone())
            .bind(p.code_challenge_method.clone())
            .bind(p.nonce.clone())
            .bind(p.status.as_str())
            .bind(p.expires_at.0)
            .bind(p.created_at.0)
            .bind(p.device_object_id.map(|d| d.to_string()));
        self.execute(q).await.map(drop)
    }

    /// GLOBAL: a pending sign-in by the hash of its code.
    pub async fn get_pending_sign_in(
        &mut self,
        code_hash: &str,
    ) -> Result<Option<PendingSignIn>, StoreError> {
        let sql = format!("SELECT {COLS} FROM pending_sign_ins WHERE code_hash = $1");
        self.fetch_one_map(sqlx::query(&sql).bind(code_hash), pending)
            .await
    }

    /// GLOBAL: a device sign-in by the code a person typed.
    pub async fn get_pending_sign_in_by_user_code(
        &mut self,
        user_code: &str,
    ) -> Result<Option<PendingSignIn>, StoreError> {
        let sql = format!("SELECT {COLS} FROM pending_sign_ins WHERE user_code = $1");
        self.fetch_one_map(sqlx::query(&sql).bind(user_code), pending)
            .await
    }

    /// Moves a sign-in from `from` to `to`, recording who signed in; `false` if it was no longer in `from`
    /// (another request got there first: a code is redeemed once).
    pub async fn transition_pending_sign_in(
        &mut self,
        code_hash: &str,
        from: GrantStatus,
        to: GrantStatus,
        signed_in: Option<(TenantId, DirectoryObjectId)>,
    ) -> Result<bool, StoreError> {
        let q = sqlx::query(
            "UPDATE pending_sign_ins SET status = $3, \
             tenant_id = COALESCE($4, tenant_id), user_id = COALESCE($5, user_id) \
             WHERE code_hash = $1 AND status = $2",
        )
        .bind(code_hash)
        .bind(from.as_str())
        .bind(to.as_str())
        .bind(signed_in.map(|(t, _)| t.to_string()))
        .bind(signed_in.map(|(_, u)| u.to_string()));
        Ok(self.execute(q).await? == 1)
    }

    /// GLOBAL: forgets sign-ins that expired before `before` (their codes can no longer be redeemed, and
    /// their user codes become free).
    pub async fn sweep_pending_sign_ins(&mut self, before: Timestamp) -> Result<u64, StoreError> {
        let q = sqlx::query("DELETE FROM pending_sign_ins WHERE expires_at < $1").bind(before.0);
        self.execute(q).await
    }
}
