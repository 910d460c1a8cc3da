//! Directory users: create, read, change, delete, and the password sign-in with smart lockout.

use argon2::password_hash::{PasswordHash, PasswordHasher, SaltString};
use argon2::Argon2;
use sha2::{Digest, Sha256};
use ztd_core::error::ObjectKind;
use ztd_core::event::EventKind;
use ztd_core::user::{validate_upn, Lockout, User, UserRole};
use ztd_core::{DirectoryObjectId, TenantId, Timestamp};
use ztd_store::{Lock, UserQuery};

use crate::{App, AppError, AppResult};

/// Password hashes computed at once on a node. Each takes argon2's memory (19 MiB) and a core for a few
/// tens of milliseconds; more at once would only queue on the cores and stall other requests.
pub const PASSWORD_HASHES_AT_ONCE: usize = 2;
/// Passwords ztd accepts: Entra's length bounds.
const PASSWORD_MIN_CHARS: usize = 8;
const PASSWORD_MAX_CHARS: usize = 256;

/// A user to create.
#[derive(Clone, Debug, Default)]
pub struct NewUser {
    pub user_principal_name: String,
    pub display_name: String,
    pub given_name: String,
    pub surname: String,
    pub mail: String,
    /// `None`: the user cannot sign in with a password.
    pub password: Option<String>,
    pub force_change_password_next_sign_in: bool,
    pub account_enabled: bool,
    pub role: Option<UserRole>,
}

/// A change to a user: each `Some` field replaces the stored value.
#[derive(Clone, Debug, Default)]
pub struct UserUpdate {
    pub user_principal_name: Option<String>,
    pub display_name: Option<String>,
    pub given_name: Option<String>,
    pub surname: Option<String>,
    pub mail: Option<String>,
    pub account_enabled: Option<bool>,
    pub role: Option<UserRole>,
    pub password: Option<String>,
    pub force_change_password_next_sign_in: Option<bool>,
}

/// A refresh token lives this long unless used (then its successor starts over), as Entra's do by default.
pub const REFRESH_TOKEN_LIFETIME_MILLIS: i64 = 90 * 24 * 3_600_000;

/// A redeemed refresh token: its user, the successor token, and the device it is bound to (if any).
#[derive(Clone, Debug)]
pub struct RedeemedRefresh {
    pub user: User,
    pub successor: String,
    pub device: Option<ztd_core::directory::DirectoryDevice>,
}

/// Why a refresh token was refused.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RefreshRefusal {
    /// Unknown, malformed, revoked, or issued to another client.
    Invalid,
    Expired,
    /// Used before: its family is revoked now (someone else holds a copy).
    Replayed,
    /// The user is disabled or gone.
    UserDisabled,
    /// Issued to a confidential client, presented without the client's credential (left unused).
    ClientCredentialRequired,
}

/// The stored form of a refresh token or PRT (a stolen table signs nobody in).
pub(crate) fn refresh_hash(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

/// The client a password sign-in is for.
#[derive(Clone, Copy, Debug)]
pub struct SignInClient<'a> {
    pub client_id: &'a str,
    /// The tenant of a registered application (`None` for a first-party public client, which signs in users
    /// of any tenant).
    pub owner: Option<TenantId>,
    /// Whether the sign-in also starts a refresh-token family.
    pub refresh_token: bool,
}

/// Why a password sign-in was refused.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SignInRefusal {
    /// No user has this name (in this tenant, when the request named one).
    UnknownUser,
    WrongPassword,
    /// The account is disabled (`accountEnabled: false`).
    Disabled,
    /// Smart lockout: sign-ins from this source are refused until then.
    LockedOut {
        until: Timestamp,
    },
    /// The password is right but must be changed first (`forceChangePasswordNextSignIn`).
    PasswordChangeRequired,
    /// The client is an application of another tenant than the user's.
    ClientNotInTenant,
}

fn check_password_rules(password: &str) -> AppResult<()> {
    let chars = password.chars().count();
    if !(PASSWORD_MIN_CHARS..=PASSWORD_MAX_CHARS).contains(&chars) {
        return Err(AppError::invalid(
            "passwordProfile.password",
            format!("a password has {PASSWORD_MIN_CHARS} to {PASSWORD_MAX_CHARS} characters"),
        ));
    }
    let classes = [
        password.chars().any(|c| c.is_lowercase()),
        password.chars().any(|c| c.is_uppercase()),
        password.chars().any(|c| c.is_ascii_digit()),
        password.chars().any(|c| !c.is_alphanumeric()),
    ];
    if classes.iter().filter(|present| **present).count() < 3 {
        return Err(AppError::invalid(
            "passwordProfile.password",
            "a password has three of: lowercase letters, uppercase letters, digits, symbols",
        ));
    }
    Ok(())
}

fn hashing_failed() -> AppError {
    AppError::Store(ztd_store::StoreError::Corrupt(
        "a stored password hash cannot be read".into(),
    ))
}

impl App {
    /// Hashes a password with argon2id (its default parameters: 19 MiB, 2 passes, 1 lane) and a fresh salt,
    /// off the async workers and at most [`PASSWORD_HASHES_AT_ONCE`] at a time.
    async fn hash_password(&self, password: &str) -> AppResult<String> {
        let salt =
            SaltString::encode_b64(&self.random_bytes::<16>()).map_err(|_| hashing_failed())?;
        let password = password.to_string();
        let _permit = self
            .password_work
            .acquire()
            .await
            .map_err(|_| hashing_failed())?;
        tokio::task::spawn_blocking(move || {
            Argon2::default()
                .hash_password(password.as_bytes(), &salt)
                .map(|hash| hash.to_string())
                .map_err(|_| hashing_failed())
        })
        .await
        .map_err(|_| hashing_failed())?
    }

    /// Whether `password` matches the stored hash, and a digest of what it hashed to (the same wrong
    /// password gives the same digest, so smart lockout counts it once without a second hash).
    async fn check_password(&self, stored: &str, password: &str) -> AppResult<(bool, String)> {
        let stored = stored.to_string();
        let password = password.to_string();
        let _permit = self
            .password_work
            .acquire()
            .await
            .map_err(|_| hashing_failed())?;
        tokio::task::spawn_blocking(move || {
            let expected = PasswordHash::new(&stored).map_err(|_| hashing_failed())?;
            let salt = expected.salt.ok_or_else(hashing_failed)?;
            let params = argon2::Params::try_from(&expected).map_err(|_| hashing_failed())?;
            let hasher = Argon2::new(argon2::Algorithm::Argon2id, argon2::Version::V0x13, params);
            let presented = hasher
                .hash_password(password.as_bytes(), salt)
                .map_err(|_| hashing_failed())?;
            let (Some(got), Some(want)) = (presented.hash, expected.hash) else {
                return Err(hashing_failed());
            };
            let matches = bool::from(subtle::ConstantTimeEq::ct_eq(
                got.as_bytes(),
                want.as_bytes(),
            ));
            Ok((matches, hex::encode(Sha256::digest(got.as_bytes()))))
        })
        .await
        .map_err(|_| hashing_failed())?
    }

    /// The names of the tenant's verified domains; not found if there is no such tenant.
    async fn verified_domain_names(&self, tenant: TenantId) -> AppResult<Vec<String>> {
        let mut tx = self.store.begin_read().await?;
        domain_names(&mut tx, tenant).await
    }

    /// Creates a user. The UPN must be in one of the tenant's verified domains and unused anywhere.
    pub async fn create_user(&self, tenant: TenantId, new: NewUser) -> AppResult<User> {
        let domains = self.verified_domain_names(tenant).await?;
        let upn = new.user_principal_name.trim().to_string();
        validate_upn(&upn, &domains)?;
        if new.display_name.trim().is_empty() {
            return Err(AppError::invalid(
                "displayName",
                "a user needs a display name",
            ));
        }
        let password_hash = match &new.password {
            Some(password) => {
                check_password_rules(password)?;
                Some(self.hash_password(password).await?)
            }
            None => None,
        };
        let now = self.now();
        let user = User {
            tenant_id: tenant,
            id: DirectoryObjectId(self.next_uuid()),
            user_principal_name: upn,
            display_name: new.display_name.trim().to_string(),
            given_name: new.given_name.trim().to_string(),
            surname: new.surname.trim().to_string(),
            mail: new.mail.trim().to_string(),
            account_enabled: new.account_enabled,
            role: new.role.unwrap_or(UserRole::User),
            password_hash,
            force_change_password_next_sign_in: new.force_change_password_next_sign_in,
            lockout: Lockout::default(),
            created_at: now,
            updated_at: now,
        };
        let mut tx = self.store.begin().await?;
        // Checked again under the lock: a domain being removed meanwhile is either still there or the
        // removal waits for this user and then sees them.
        tx.lock(Lock::DomainUse(tenant)).await?;
        validate_upn(
            &user.user_principal_name,
            &domain_names(&mut tx, tenant).await?,
        )?;
        tx.insert_user(&user).await?;
        tx.append_events(&[self.event(
            tenant,
            EventKind::UserCreated,
            user.id,
            serde_json::json!({ "userPrincipalName": user.user_principal_name, "role": user.role.as_str() }),
        )])
        .await?;
        tx.commit().await?;
        Ok(user)
    }

    /// A page of the tenant's users in object-id order.
    pub async fn users(&self, tenant: TenantId, query: &UserQuery) -> AppResult<Vec<User>> {
        let mut tx = self.store.begin_read().await?;
        Ok(tx.list_users(tenant, query).await?)
    }

    /// A user by object id or by user principal name.
    pub async fn user(&self, tenant: TenantId, id_or_upn: &str) -> AppResult<User> {
        let mut tx = self.store.begin_read().await?;
        let found = match DirectoryObjectId::parse(id_or_upn) {
            Some(id) => tx.get_user(tenant, id).await?,
            None => tx.get_user_by_upn(tenant, id_or_upn).await?,
        };
        found.ok_or_else(|| AppError::not_found(ObjectKind::User, id_or_upn))
    }

    pub async fn update_user(
        &self,
        tenant: TenantId,
        id: DirectoryObjectId,
        update: UserUpdate,
    ) -> AppResult<User> {
        if let Some(upn) = &update.user_principal_name {
            validate_upn(upn, &self.verified_domain_names(tenant).await?)?;
        }
        let password_hash = match &update.password {
            Some(password) => {
                check_password_rules(password)?;
                Some(self.hash_password(password).await?)
            }
            None => None,
        };
        let mut tx = self.store.begin().await?;
        if let Some(upn) = &update.user_principal_name {
            tx.lock(Lock::DomainUse(tenant)).await?;
            validate_upn(upn, &domain_names(&mut tx, tenant).await?)?;
        }
        tx.lock(Lock::SignIn(id)).await?;
        let mut user = tx
            .get_user(tenant, id)
            .await?
            .ok_or_else(|| AppError::not_found(ObjectKind::User, id))?;
        let mut changed = Vec::new();
        if let Some(upn) = update.user_principal_name {
            user.user_principal_name = upn.trim().to_string();
            changed.push("userPrincipalName");
        }
        if let Some(name) = update.display_name {
            if name.trim().is_empty() {
                return Err(AppError::invalid(
                    "displayName",
                    "a user needs a display name",
                ));
            }
            user.display_name = name.trim().to_string();
            changed.push("displayName");
        }
        if let Some(value) = update.given_name {
            user.given_name = value.trim().to_string();
            changed.push("givenName");
        }
        if let Some(value) = update.surname {
            user.surname = value.trim().to_string();
            changed.push("surname");
        }
        if let Some(value) = update.mail {
            user.mail = value.trim().to_string();
            changed.push("mail");
        }
        if let Some(enabled) = update.account_enabled {
            user.account_enabled = enabled;
            changed.push("accountEnabled");
        }
        if let Some(role) = update.role {
            user.role = role;
            changed.push("role");
        }
        if let Some(hash) = password_hash {
            user.password_hash = Some(hash);
            // A new password starts the lockout over, as an administrator's reset does in Entra.
            user.lockout = Lockout::default();
            changed.push("passwordProfile.password");
        }
        if let Some(force) = update.force_change_password_next_sign_in {
            user.force_change_password_next_sign_in = force;
            changed.push("passwordProfile.forceChangePasswordNextSignIn");
        }
        user.updated_at = self.now();
        tx.update_user(&user).await?;
        // A new password or a disabled account ends every session the user had.
        if changed.contains(&"passwordProfile.password") || !user.account_enabled {
            tx.revoke_user_refresh_tokens(tenant, user.id, user.updated_at)
                .await?;
        }
        tx.append_events(&[self.event(
            tenant,
            EventKind::UserUpdated,
            user.id,
            serde_json::json!({ "changed": changed }),
        )])
        .await?;
        tx.commit().await?;
        Ok(user)
    }

    pub async fn delete_user(&self, tenant: TenantId, id: DirectoryObjectId) -> AppResult<()> {
        let mut tx = self.store.begin().await?;
        // Its memberships go with it: no static-member change of the tenant may add one meanwhile.
        tx.lock(Lock::Targeted(tenant)).await?;
        if !tx.delete_user(tenant, id).await? {
            return Err(AppError::not_found(ObjectKind::User, id));
        }
        tx.revoke_user_refresh_tokens(tenant, id, self.now())
            .await?;
        tx.append_events(&[self.event(tenant, EventKind::UserDeleted, id, serde_json::json!({}))])
            .await?;
        tx.commit().await?;
        Ok(())
    }

    /// A password sign-in from `source` (the client's address). `tenant` is the tenant the request named,
    /// or `None` at `/common` and `/organizations`, where the UPN's user names it. Smart lockout applies
    /// (`ztd_core::user`); the counters are written in one transaction per attempt.
    pub async fn sign_in_with_password(
        &self,
        tenant: Option<TenantId>,
        upn: &str,
        password: &str,
        source: &str,
        client: SignInClient<'_>,
    ) -> AppResult<Result<(User, Option<String>), SignInRefusal>> {
        let found = {
            let mut tx = self.store.begin_read().await?;
            match tenant {
                Some(tenant) => tx.get_user_by_upn(tenant, upn).await?,
                None => tx.find_user_for_sign_in(upn).await?,
            }
        };
        let Some(user) = found else {
            return Ok(Err(SignInRefusal::UnknownUser));
        };
        // The client before the password, as Entra checks it: nothing is counted for a client that may not
        // sign this user in.
        if client.owner.is_some_and(|owner| owner != user.tenant_id) {
            return Ok(Err(SignInRefusal::ClientNotInTenant));
        }
        let now = self.now();
        if let Some(until) = user.lockout.locked_for(source, now) {
            return Ok(Err(SignInRefusal::LockedOut { until }));
        }
        let (matches, digest) = match &user.password_hash {
            Some(stored) => self.check_password(stored, password).await?,
            None => (false, String::new()),
        };
        // Record the attempt against the user as it is now (another sign-in may have written meanwhile).
        let mut tx = self.store.begin().await?;
        tx.lock(Lock::SignIn(user.id)).await?;
        let Some(mut current) = tx.get_user(user.tenant_id, user.id).await? else {
            return Ok(Err(SignInRefusal::UnknownUser));
        };
        let before = current.lockout.clone();
        if matches {
            current.lockout.record_success(source);
        } else {
            current.lockout.record_failure(source, &digest, now);
        }
        let mut events = Vec::new();
        let locked_now = current.lockout.locked_for(source, now);
        if !matches {
            if let Some(until) = locked_now {
                events.push(self.event(
                    current.tenant_id,
                    EventKind::UserLockedOut,
                    current.id,
                    serde_json::json!({
                        "familiarSource": current.lockout.is_familiar(source),
                        "lockedUntil": until.to_rfc3339_seconds(),
                    }),
                ));
            }
        }
        if current.lockout != before {
            tx.update_user(&current).await?;
            tx.append_events(&events).await?;
        }
        let refusal = if !matches {
            Some(SignInRefusal::WrongPassword)
        } else if !current.account_enabled {
            Some(SignInRefusal::Disabled)
        } else if current.force_change_password_next_sign_in {
            Some(SignInRefusal::PasswordChangeRequired)
        } else {
            None
        };
        // A refresh token only for a sign-in that succeeds, written with its counters.
        let refresh = match (&refusal, client.refresh_token) {
            (None, true) => {
                let client_id = client.client_id;
                let family = self.next_uuid().to_string();
                // A registered app (it has an owner) authenticated to get here: a confidential client.
                let confidential = client.owner.is_some();
                Some(
                    self.insert_refresh_token(&mut tx, &current, client_id, &family, confidential)
                        .await?,
                )
            }
            _ => None,
        };
        tx.commit().await?;
        match refusal {
            Some(refusal) => Ok(Err(refusal)),
            None => Ok(Ok((current, refresh))),
        }
    }

    pub(crate) async fn insert_refresh_token(
        &self,
        tx: &mut ztd_store::Tx,
        user: &User,
        client_id: &str,
        family: &str,
        confidential: bool,
    ) -> AppResult<String> {
        self.insert_refresh_token_bound(tx, user, client_id, family, confidential, None)
            .await
    }

    /// [`App::insert_refresh_token`] for a token bound to a device (obtained through a PRT).
    pub(crate) async fn insert_refresh_token_bound(
        &self,
        tx: &mut ztd_store::Tx,
        user: &User,
        client_id: &str,
        family: &str,
        confidential: bool,
        device: Option<DirectoryObjectId>,
    ) -> AppResult<String> {
        let token = format!(
            "ztd1.{}",
            base64::Engine::encode(
                &base64::engine::general_purpose::URL_SAFE_NO_PAD,
                self.random_bytes::<32>()
            )
        );
        let now = self.now();
        tx.insert_refresh_token(&ztd_store::StoredRefreshToken {
            token_hash: refresh_hash(&token),
            tenant_id: user.tenant_id,
            family_id: family.to_string(),
            user_id: user.id,
            client_id: client_id.to_string(),
            created_at: now,
            expires_at: Timestamp(now.0.saturating_add(REFRESH_TOKEN_LIFETIME_MILLIS)),
            used_at: None,
            revoked_at: None,
            confidential,
            kind: "refresh".into(),
            device_object_id: device,
            session_key: None,
        })
        .await?;
        Ok(token)
    }

    /// Exchanges a refresh token presented by `client_id` for its user and a successor (rotation). A token
    /// used a second time revokes its whole family; a disabled or deleted user's tokens no longer work.
    /// `tenant` is the tenant the token endpoint named, if any: a token of another tenant is refused there
    /// untouched (it is neither used up nor revokes its family). `authenticated`: the client proved itself
    /// with its credential, which a token issued to a confidential client requires (refused untouched too).
    pub async fn redeem_refresh_token(
        &self,
        presented: &str,
        client_id: &str,
        tenant: Option<TenantId>,
        authenticated: bool,
    ) -> AppResult<Result<RedeemedRefresh, RefreshRefusal>> {
        let now = self.now();
        let mut tx = self.store.begin().await?;
        let Some(stored) = tx
            .get_refresh_token_for_update(&refresh_hash(presented.trim()))
            .await?
        else {
            return Ok(Err(RefreshRefusal::Invalid));
        };
        // A PRT is presented only in a session-key-signed request, never as a plain refresh token.
        if stored.revoked_at.is_some()
            || stored.kind != "refresh"
            || !stored.client_id.eq_ignore_ascii_case(client_id)
            || tenant.is_some_and(|t| t != stored.tenant_id)
        {
            return Ok(Err(RefreshRefusal::Invalid));
        }
        if stored.confidential && !authenticated {
            return Ok(Err(RefreshRefusal::ClientCredentialRequired));
        }
        // A deleted application's refresh tokens end with it.
        if !crate::clients::is_first_party_public(client_id)
            && tx
                .get_client(client_id)
                .await?
                .is_none_or(|c| c.tenant_id != stored.tenant_id)
        {
            return Ok(Err(RefreshRefusal::Invalid));
        }
        if stored.used_at.is_some() {
            tx.revoke_refresh_family(stored.tenant_id, &stored.family_id, now)
                .await?;
            tx.commit().await?;
            return Ok(Err(RefreshRefusal::Replayed));
        }
        if now.0 >= stored.expires_at.0 {
            return Ok(Err(RefreshRefusal::Expired));
        }
        let user = match tx.get_user(stored.tenant_id, stored.user_id).await? {
            Some(user) if user.account_enabled => user,
            _ => return Ok(Err(RefreshRefusal::UserDisabled)),
        };
        tx.mark_refresh_token_used(&stored.token_hash, now).await?;
        let successor = self
            .insert_refresh_token_bound(
                &mut tx,
                &user,
                &stored.client_id,
                &stored.family_id,
                stored.confidential,
                stored.device_object_id,
            )
            .await?;
        // A token bound to a device works only while the device does.
        let device = match stored.device_object_id {
            Some(object) => match tx.get_directory_device(stored.tenant_id, object).await? {
                Some(device) if device.account_enabled => Some(device),
                _ => return Ok(Err(RefreshRefusal::Invalid)),
            },
            None => None,
        };
        tx.commit().await?;
        Ok(Ok(RedeemedRefresh {
            user,
            successor,
            device,
        }))
    }
}

/// The names of the tenant's verified domains, read in `tx`; a tenant without any does not exist.
async fn domain_names(tx: &mut ztd_store::Tx, tenant: TenantId) -> AppResult<Vec<String>> {
    let domains = tx.list_tenant_domains(tenant).await?;
    if domains.is_empty() {
        return Err(AppError::not_found(
            ztd_core::error::ObjectKind::Tenant,
            tenant,
        ));
    }
    Ok(domains.into_iter().map(|d| d.name).collect())
}
