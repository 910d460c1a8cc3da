//! Directory users and the tenants' token signing keys.

use sqlx::any::AnyRow;
use ztd_core::user::{User, UserRole};
use ztd_core::{DirectoryObjectId, TenantId, Timestamp};

use crate::codec::{corrupt, flag, id, json, opt_id, opt_text, opt_ts, text, to_json, ts};
use crate::{StoreError, Tx};

const USER_COLS: &str = "tenant_id, id, upn, upn_lower, display_name, given_name, surname, mail, \
    account_enabled, role, password_hash, force_change_password, lockout, created_at, updated_at";

fn user(row: &AnyRow) -> Result<User, StoreError> {
    let role = text(row, "role")?;
    Ok(User {
        tenant_id: id(row, "tenant_id")?,
        id: id(row, "id")?,
        user_principal_name: text(row, "upn")?,
        display_name: text(row, "display_name")?,
        given_name: text(row, "given_name")?,
        surname: text(row, "surname")?,
        mail: text(row, "mail")?,
        account_enabled: flag(row, "account_enabled")?,
        role: UserRole::parse(&role).ok_or_else(|| corrupt(format!("user role {role:?}")))?,
        password_hash: opt_text(row, "password_hash")?,
        force_change_password_next_sign_in: flag(row, "force_change_password")?,
        lockout: json(row, "lockout")?,
        created_at: ts(row, "created_at")?,
        updated_at: ts(row, "updated_at")?,
    })
}

/// Binds a user in [`USER_COLS`] order.
fn bind_user<'q>(q: crate::tx::Q<'q>, u: &'q User) -> crate::tx::Q<'q> {
    q.bind(u.tenant_id.to_string())
        .bind(u.id.to_string())
        .bind(u.user_principal_name.as_str())
        .bind(u.user_principal_name.to_lowercase())
        .bind(u.display_name.as_str())
        .bind(u.given_name.as_str())
        .bind(u.surname.as_str())
        .bind(u.mail.as_str())
        .bind(i64::from(u.account_enabled))
        .bind(u.role.as_str())
        .bind(u.password_hash.as_deref())
        .bind(i64::from(u.force_change_password_next_sign_in))
        .bind(to_json(&u.lockout))
        .bind(u.created_at.0)
        .bind(u.updated_at.0)
}

/// One of a tenant's RSA signing keys (PKCS#8 DER, hex).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StoredSigningKey {
    pub tenant_id: TenantId,
    pub kid: String,
    pub private_der_hex: String,
    pub created_at: Timestamp,
    /// When it stopped signing; it stays published until its last token expires.
    pub retired_at: Option<Timestamp>,
}

fn signing_key(row: &AnyRow) -> Result<StoredSigningKey, StoreError> {
    Ok(StoredSigningKey {
        tenant_id: id(row, "tenant_id")?,
        kid: text(row, "kid")?,
        private_der_hex: text(row, "private_der")?,
        created_at: ts(row, "created_at")?,
        retired_at: opt_ts(row, "retired_at")?,
    })
}

/// Keyset position and size of a page of users (in object-id order).
#[derive(Clone, Debug, Default)]
pub struct UserQuery {
    pub after: Option<DirectoryObjectId>,
    pub limit: Option<u32>,
}

impl Tx {
    /// Whether any user of the tenant has a user name in `domain`.
    pub async fn any_user_in_domain(
        &mut self,
        tenant: TenantId,
        domain: &str,
    ) -> Result<bool, StoreError> {
        let q = sqlx::query(
            "SELECT upn_lower FROM users WHERE tenant_id = $1 AND upn_lower LIKE $2 LIMIT 1",
        )
        .bind(tenant.to_string())
        .bind(format!(
            "%@{}",
            domain.to_ascii_lowercase().replace(['%', '_', '\\'], "")
        ));
        Ok(self.fetch_one_map(q, |_| Ok(())).await?.is_some())
    }
}

impl Tx {
    /// A UPN already in use anywhere is a `Conflict`.
    pub async fn insert_user(&mut self, u: &User) -> Result<(), StoreError> {
        let sql = format!(
            "INSERT INTO users ({USER_COLS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15)"
        );
        self.execute(bind_user(sqlx::query(&sql), u))
            .await
            .map(drop)
    }

    /// Rewrites every field but the tenant, id and creation time; a UPN taken by another user is a
    /// `Conflict`. A no-op for a user not in `u.tenant_id`.
    pub async fn update_user(&mut self, u: &User) -> Result<(), StoreError> {
        let sql = "UPDATE users SET upn = $3, upn_lower = $4, display_name = $5, given_name = $6, surname = $7, \
            mail = $8, account_enabled = $9, role = $10, password_hash = $11, force_change_password = $12, \
            lockout = $13, updated_at = $15 WHERE tenant_id = $1 AND id = $2";
        // $14 (created_at) is bound but unused: the row keeps its creation time.
        self.execute(bind_user(sqlx::query(sql), u)).await.map(drop)
    }

    pub async fn delete_user(
        &mut self,
        tenant: TenantId,
        user: DirectoryObjectId,
    ) -> Result<bool, StoreError> {
        // Its group memberships go with it (group_members has no foreign keys; see the initial migration).
        let q = sqlx::query("DELETE FROM group_members WHERE tenant_id = $1 AND member_id = $2")
            .bind(tenant.to_string())
            .bind(user.to_string());
        self.execute(q).await?;
        let q = sqlx::query("DELETE FROM users WHERE tenant_id = $1 AND id = $2")
            .bind(tenant.to_string())
            .bind(user.to_string());
        Ok(self.execute(q).await? > 0)
    }

    pub async fn get_user(
        &mut self,
        tenant: TenantId,
        user_id: DirectoryObjectId,
    ) -> Result<Option<User>, StoreError> {
        let sql = format!("SELECT {USER_COLS} FROM users WHERE tenant_id = $1 AND id = $2");
        self.fetch_one_map(
            sqlx::query(&sql)
                .bind(tenant.to_string())
                .bind(user_id.to_string()),
            user,
        )
        .await
    }

    /// The users among `ids` that exist in the tenant, ordered by id.
    pub async fn get_users(
        &mut self,
        tenant: TenantId,
        ids: &[DirectoryObjectId],
    ) -> Result<Vec<User>, StoreError> {
        let tenant = tenant.to_string();
        let mut out = Vec::with_capacity(ids.len());
        for chunk in ids.chunks(self.rows_per_statement(1, 1)) {
            let sql = format!(
                "SELECT {USER_COLS} FROM users WHERE tenant_id = {} AND id IN ({}) ORDER BY id",
                crate::tx::param(self.backend(), 1),
                crate::tx::in_list(self.backend(), 2, chunk.len())
            );
            let mut q = sqlx::query(&sql).bind(tenant.as_str());
            for id in chunk {
                q = q.bind(id.to_string());
            }
            out.extend(self.fetch_map(q, user).await?);
        }
        Ok(out)
    }

    /// A user of the tenant by UPN (case-insensitive).
    pub async fn get_user_by_upn(
        &mut self,
        tenant: TenantId,
        upn: &str,
    ) -> Result<Option<User>, StoreError> {
        let sql = format!("SELECT {USER_COLS} FROM users WHERE tenant_id = $1 AND upn_lower = $2");
        self.fetch_one_map(
            sqlx::query(&sql)
                .bind(tenant.to_string())
                .bind(upn.trim().to_lowercase()),
            user,
        )
        .await
    }

    /// GLOBAL: the user with this UPN in any tenant, for sign-in at `/common` and `/organizations`, where
    /// the UPN names the tenant. Returned only to the password check, never to a caller.
    pub async fn find_user_for_sign_in(&mut self, upn: &str) -> Result<Option<User>, StoreError> {
        let sql = format!("SELECT {USER_COLS} FROM users WHERE upn_lower = $1");
        self.fetch_one_map(sqlx::query(&sql).bind(upn.trim().to_lowercase()), user)
            .await
    }

    /// A page of the tenant's users in object-id order.
    pub async fn list_users(
        &mut self,
        tenant: TenantId,
        q: &UserQuery,
    ) -> Result<Vec<User>, StoreError> {
        let mut sql = format!("SELECT {USER_COLS} FROM users WHERE tenant_id = $1");
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
        self.fetch_map(query, user).await
    }

    pub async fn insert_signing_key(&mut self, key: &StoredSigningKey) -> Result<(), StoreError> {
        let q = sqlx::query(
            "INSERT INTO signing_keys (tenant_id, kid, private_der, created_at, retired_at) \
             VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(key.tenant_id.to_string())
        .bind(key.kid.as_str())
        .bind(key.private_der_hex.as_str())
        .bind(key.created_at.0)
        .bind(key.retired_at.map(|t| t.0));
        self.execute(q).await.map(drop)
    }

    /// Marks every active key of the tenant retired at `at` (a rotation, before inserting the new key).
    pub async fn retire_signing_keys(
        &mut self,
        tenant: TenantId,
        at: Timestamp,
    ) -> Result<u64, StoreError> {
        let q = sqlx::query(
            "UPDATE signing_keys SET retired_at = $2 WHERE tenant_id = $1 AND retired_at IS NULL",
        )
        .bind(tenant.to_string())
        .bind(at.0);
        self.execute(q).await
    }

    /// Forgets keys retired before `before` (their tokens have all expired).
    pub async fn delete_retired_signing_keys(
        &mut self,
        tenant: TenantId,
        before: Timestamp,
    ) -> Result<u64, StoreError> {
        let q = sqlx::query(
            "DELETE FROM signing_keys WHERE tenant_id = $1 AND retired_at IS NOT NULL AND retired_at < $2",
        )
        .bind(tenant.to_string())
        .bind(before.0);
        self.execute(q).await
    }

    /// The tenant's keys, newest first.
    pub async fn list_signing_keys(
        &mut self,
        tenant: TenantId,
    ) -> Result<Vec<StoredSigningKey>, StoreError> {
        self.fetch_map(
            sqlx::query(
                "SELECT tenant_id, kid, private_der, created_at, retired_at FROM signing_keys \
                 WHERE tenant_id = $1 ORDER BY created_at DESC, kid",
            )
            .bind(tenant.to_string()),
            signing_key,
        )
        .await
    }
}

/// A stored refresh token (its hash, never the token).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StoredRefreshToken {
    pub token_hash: String,
    pub tenant_id: TenantId,
    pub family_id: String,
    pub user_id: DirectoryObjectId,
    pub client_id: String,
    pub created_at: Timestamp,
    pub expires_at: Timestamp,
    pub used_at: Option<Timestamp>,
    pub revoked_at: Option<Timestamp>,
    /// Issued to a confidential client, which must authenticate to redeem it.
    pub confidential: bool,
    /// `prt` for a Primary Refresh Token, `refresh` otherwise.
    pub kind: String,
    /// The device the token is bound to (a PRT, and refresh tokens obtained through one).
    pub device_object_id: Option<DirectoryObjectId>,
    /// A PRT's session key (base64).
    pub session_key: Option<String>,
}

const REFRESH_COLS: &str =
    "token_hash, tenant_id, family_id, user_id, client_id, created_at, expires_at, \
     used_at, revoked_at, confidential, kind, device_object_id, session_key";

fn refresh_token(row: &AnyRow) -> Result<StoredRefreshToken, StoreError> {
    Ok(StoredRefreshToken {
        token_hash: text(row, "token_hash")?,
        tenant_id: id(row, "tenant_id")?,
        family_id: text(row, "family_id")?,
        user_id: id(row, "user_id")?,
        client_id: text(row, "client_id")?,
        created_at: ts(row, "created_at")?,
        expires_at: ts(row, "expires_at")?,
        used_at: opt_ts(row, "used_at")?,
        revoked_at: opt_ts(row, "revoked_at")?,
        confidential: flag(row, "confidential")?,
        kind: text(row, "kind")?,
        device_object_id: opt_id(row, "device_object_id")?,
        session_key: opt_text(row, "session_key")?,
    })
}

impl Tx {
    pub async fn insert_refresh_token(&mut self, t: &StoredRefreshToken) -> Result<(), StoreError> {
        let sql = format!("INSERT INTO refresh_tokens ({REFRESH_COLS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)");
        let q = sqlx::query(&sql)
            .bind(t.token_hash.as_str())
            .bind(t.tenant_id.to_string())
            .bind(t.family_id.as_str())
            .bind(t.user_id.to_string())
            .bind(t.client_id.as_str())
            .bind(t.created_at.0)
            .bind(t.expires_at.0)
            .bind(t.used_at.map(|at| at.0))
            .bind(t.revoked_at.map(|at| at.0))
            .bind(i64::from(t.confidential))
            .bind(t.kind.as_str())
            .bind(t.device_object_id.map(|d| d.to_string()))
            .bind(t.session_key.as_deref());
        self.execute(q).await.map(drop)
    }

    /// GLOBAL: a refresh token by the hash of what the client presents (the token names its tenant).
    /// Locks the row on PostgreSQL: a token is redeemed once.
    pub async fn get_refresh_token_for_update(
        &mut self,
        token_hash: &str,
    ) -> Result<Option<StoredRefreshToken>, StoreError> {
        let suffix = match self.backend() {
            crate::Backend::Postgres => " FOR UPDATE",
            crate::Backend::Sqlite => "",
        };
        let sql =
            format!("SELECT {REFRESH_COLS} FROM refresh_tokens WHERE token_hash = $1{suffix}");
        self.fetch_one_map(sqlx::query(&sql).bind(token_hash), refresh_token)
            .await
    }

    /// GLOBAL: a refresh token by the hash of what the client presents, without locking it (a PRT is
    /// presented many times and never used up).
    pub async fn find_refresh_token(
        &mut self,
        token_hash: &str,
    ) -> Result<Option<StoredRefreshToken>, StoreError> {
        let sql = format!("SELECT {REFRESH_COLS} FROM refresh_tokens WHERE token_hash = $1");
        self.fetch_one_map(sqlx::query(&sql).bind(token_hash), refresh_token)
            .await
    }

    /// Marks a token used (it was exchanged for its successor).
    pub async fn mark_refresh_token_used(
        &mut self,
        token_hash: &str,
        at: Timestamp,
    ) -> Result<(), StoreError> {
        let q = sqlx::query("UPDATE refresh_tokens SET used_at = $2 WHERE token_hash = $1")
            .bind(token_hash)
            .bind(at.0);
        self.execute(q).await.map(drop)
    }

    /// Revokes every token of a family (a replayed token: someone else holds a copy).
    pub async fn revoke_refresh_family(
        &mut self,
        tenant: TenantId,
        family_id: &str,
        at: Timestamp,
    ) -> Result<u64, StoreError> {
        let q = sqlx::query(
            "UPDATE refresh_tokens SET revoked_at = $3 WHERE tenant_id = $1 AND family_id = $2 AND revoked_at IS NULL",
        )
        .bind(tenant.to_string())
        .bind(family_id)
        .bind(at.0);
        self.execute(q).await
    }

    /// Revokes every token of a user (password reset, disabled or deleted account).
    pub async fn revoke_user_refresh_tokens(
        &mut self,
        tenant: TenantId,
        user: DirectoryObjectId,
        at: Timestamp,
    ) -> Result<u64, StoreError> {
        let q = sqlx::query(
            "UPDATE refresh_tokens SET revoked_at = $3 WHERE tenant_id = $1 AND user_id = $2 AND revoked_at IS NULL",
        )
        .bind(tenant.to_string())
        .bind(user.to_string())
        .bind(at.0);
        self.execute(q).await
    }
}
