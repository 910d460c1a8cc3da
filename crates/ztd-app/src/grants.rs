//! Sign-ins that finish on another request: the authorization code flow with PKCE (a person signs in on
//! ztd's page, the application redeems the code) and the device code flow (a person enters the code a device
//! shows, the device polls). Each code is stored only as its SHA-256 and is redeemed once.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use sha2::{Digest, Sha256};
use ztd_core::sign_in::{
    GrantKind, GrantStatus, PendingSignIn, RedeemRefusal, AUTHORIZATION_CODE_LIFETIME_MS,
    DEVICE_CODE_INTERVAL_SECS, DEVICE_CODE_LIFETIME_MS,
};
use ztd_core::tenant::ClientCredential;
use ztd_core::user::User;
use ztd_core::{TenantId, Timestamp};
use ztd_oauth::pkce::{self, ChallengeMethod};

use crate::clients::{is_first_party_public, is_loopback_redirect, redirect_uri_matches};
use crate::users::{SignInClient, SignInRefusal};
use crate::{App, AppResult};

/// The redirect URI Entra gives native clients that have no web server of their own.
pub const NATIVE_CLIENT_REDIRECT: &str =
    "https://login.microsoftonline.com/common/oauth2/nativeclient";
/// Expired sign-ins are forgotten an hour after they expire.
const SWEEP_AFTER_MS: i64 = 60 * 60 * 1000;
/// The longest scope, resource, state or nonce kept (each is echoed or stored).
const MAX_PARAMETER_CHARS: usize = 2048;

/// What a client asked for when it started a sign-in.
#[derive(Clone, Debug, Default)]
pub struct SignInRequest {
    /// The tenant the path named (`None` at `common` and `organizations`).
    pub requested_tenant: Option<TenantId>,
    pub client_id: String,
    pub scope: Option<String>,
    pub resource: Option<String>,
    pub v2: bool,
    pub redirect_uri: Option<String>,
    pub code_challenge: Option<String>,
    pub code_challenge_method: Option<String>,
    pub nonce: Option<String>,
}

/// Why a sign-in request is refused before anyone signs in.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RequestRefusal {
    /// The client is neither a first-party public client nor an application of the tenant.
    UnknownClient,
    /// The redirect URI is not registered for the client.
    RedirectUriMismatch,
    /// A public client must prove possession with PKCE (`code_challenge`, S256 or plain).
    PkceRequired,
    /// A parameter is malformed or too long; the text says which.
    Malformed(String),
}

/// Why the sign-in page refused.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PageRefusal {
    /// No pending sign-in has this code (or it was already finished).
    UnknownCode,
    Expired,
    Request(RequestRefusal),
    SignIn(SignInRefusal),
    /// The user is of another tenant than the one the client's request named.
    WrongTenant,
}

/// The answer to a device authorization request.
#[derive(Clone, Debug)]
pub struct DeviceAuthorization {
    pub device_code: String,
    pub user_code: String,
    pub expires_in_secs: i64,
    pub interval_secs: i64,
}

/// A redeemed code: who signed in, what was asked for, and the start of a refresh-token family.
#[derive(Clone, Debug)]
pub struct Redeemed {
    pub user: User,
    pub grant: PendingSignIn,
    pub refresh_token: String,
    /// The device the sign-in was made through (PRT single sign-on), while it is enabled.
    pub device: Option<ztd_core::directory::DirectoryDevice>,
}

fn code_hash(code: &str) -> String {
    hex::encode(Sha256::digest(code.trim().as_bytes()))
}

fn bounded(name: &str, value: &Option<String>) -> Result<(), RequestRefusal> {
    match value {
        Some(v) if v.chars().count() > MAX_PARAMETER_CHARS => Err(RequestRefusal::Malformed(
            format!("{name} is longer than {MAX_PARAMETER_CHARS} characters"),
        )),
        _ => Ok(()),
    }
}

impl App {
    /// Checks a sign-in request before the page is shown: a known client of the right tenant, a redirect
    /// URI it registered (or the loopback and native-client URIs for a first-party public client), and PKCE
    /// for public clients. Returns the registered application, if it is one.
    pub async fn check_sign_in_request(
        &self,
        kind: GrantKind,
        request: &SignInRequest,
    ) -> AppResult<Result<Option<ClientCredential>, RequestRefusal>> {
        for (name, value) in [
            ("scope", &request.scope),
            ("resource", &request.resource),
            ("nonce", &request.nonce),
            ("redirect_uri", &request.redirect_uri),
        ] {
            if let Err(refusal) = bounded(name, value) {
                return Ok(Err(refusal));
            }
        }
        let registered = if is_first_party_public(&request.client_id) {
            None
        } else {
            match self.registered_client(&request.client_id).await? {
                Some(client)
                    if request
                        .requested_tenant
                        .is_none_or(|tenant| tenant == client.tenant_id) =>
                {
                    Some(client)
                }
                _ => return Ok(Err(RequestRefusal::UnknownClient)),
            }
        };
        if kind == GrantKind::DeviceCode {
            return Ok(Ok(registered));
        }
        let Some(redirect) = request.redirect_uri.as_deref() else {
            return Ok(Err(RequestRefusal::Malformed(
                "the request must contain redirect_uri".into(),
            )));
        };
        let allowed = match &registered {
            Some(client) => client
                .redirect_uris
                .iter()
                .any(|uri| redirect_uri_matches(uri, redirect)),
            None => redirect == NATIVE_CLIENT_REDIRECT || is_loopback_redirect(redirect),
        };
        if !allowed {
            return Ok(Err(RequestRefusal::RedirectUriMismatch));
        }
        match (
            &request.code_challenge,
            request.code_challenge_method.as_deref(),
        ) {
            (Some(challenge), method) => {
                if ChallengeMethod::parse(method).is_none() {
                    return Ok(Err(RequestRefusal::Malformed(
                        "code_challenge_method must be S256 or plain".into(),
                    )));
                }
                if !pkce::well_formed(challenge) {
                    return Ok(Err(RequestRefusal::Malformed(
                        "code_challenge must be 43 to 128 characters of A-Z, a-z, 0-9, -, ., _, ~"
                            .into(),
                    )));
                }
            }
            (None, _) if registered.is_none() => return Ok(Err(RequestRefusal::PkceRequired)),
            (None, _) => {}
        }
        Ok(Ok(registered))
    }

    /// Starts a device sign-in: a device code for the device to poll with and a user code for the person.
    pub async fn begin_device_sign_in(
        &self,
        request: &SignInRequest,
    ) -> AppResult<Result<DeviceAuthorization, RequestRefusal>> {
        if let Err(refusal) = self
            .check_sign_in_request(GrantKind::DeviceCode, request)
            .await?
        {
            return Ok(Err(refusal));
        }
        let now = self.now();
        let device_code = URL_SAFE_NO_PAD.encode(self.random_bytes::<32>());
        let mut tx = self.store.begin().await?;
        // Sign-ins expired for an hour go first (until then a late poll still hears "expired").
        tx.sweep_pending_sign_ins(Timestamp(now.0 - SWEEP_AFTER_MS))
            .await?;
        let mut user_code = ztd_oauth::user_code::from_random(self.random_bytes());
        // A clash among live codes is rare (27^9 codes); draw again rather than fail.
        for _ in 0..4 {
            if tx
                .get_pending_sign_in_by_user_code(&user_code)
                .await?
                .is_none()
            {
                break;
            }
            user_code = ztd_oauth::user_code::from_random(self.random_bytes());
        }
        tx.insert_pending_sign_in(&PendingSignIn {
            code_hash: code_hash(&device_code),
            kind: GrantKind::DeviceCode,
            user_code: Some(user_code.clone()),
            requested_tenant: request.requested_tenant,
            client_id: request.client_id.clone(),
            tenant_id: None,
            user_id: None,
            scope: request.scope.clone(),
            resource: request.resource.clone(),
            v2: request.v2,
            redirect_uri: None,
            code_challenge: None,
            code_challenge_method: None,
            nonce: None,
            status: GrantStatus::Pending,
            expires_at: Timestamp(now.0 + DEVICE_CODE_LIFETIME_MS),
            created_at: now,
            device_object_id: None,
        })
        .await?;
        tx.commit().await?;
        Ok(Ok(DeviceAuthorization {
            device_code,
            user_code,
            expires_in_secs: DEVICE_CODE_LIFETIME_MS / 1000,
            interval_secs: DEVICE_CODE_INTERVAL_SECS,
        }))
    }

    /// The pending device sign-in a person's typed code names, if it is still waiting.
    pub async fn pending_device_sign_in(&self, typed: &str) -> AppResult<Option<PendingSignIn>> {
        let Some(user_code) = ztd_oauth::user_code::normalize(typed) else {
            return Ok(None);
        };
        let mut tx = self.store.begin_read().await?;
        let found = tx.get_pending_sign_in_by_user_code(&user_code).await?;
        let now = self.now();
        Ok(found.filter(|p| p.status == GrantStatus::Pending && now.0 <= p.expires_at.0))
    }

    /// The person on the device login page signs in (smart lockout applies as for any password sign-in) and
    /// so approves the device's sign-in.
    pub async fn approve_device_sign_in(
        &self,
        typed_code: &str,
        upn: &str,
        password: &str,
        source: &str,
    ) -> AppResult<Result<User, PageRefusal>> {
        let Some(pending) = self.pending_device_sign_in(typed_code).await? else {
            return Ok(Err(PageRefusal::UnknownCode));
        };
        let user = match self
            .sign_in_for(
                &pending.client_id,
                pending.requested_tenant,
                upn,
                password,
                source,
            )
            .await?
        {
            Ok(user) => user,
            Err(refusal) => return Ok(Err(refusal)),
        };
        let mut tx = self.store.begin().await?;
        let moved = tx
            .transition_pending_sign_in(
                &pending.code_hash,
                GrantStatus::Pending,
                GrantStatus::Approved,
                Some((user.tenant_id, user.id)),
            )
            .await?;
        tx.commit().await?;
        if moved {
            Ok(Ok(user))
        } else {
            Ok(Err(PageRefusal::UnknownCode))
        }
    }

    /// The person refuses the device's sign-in: the device's next poll is told so.
    pub async fn decline_device_sign_in(
        &self,
        typed_code: &str,
    ) -> AppResult<Result<(), PageRefusal>> {
        let Some(pending) = self.pending_device_sign_in(typed_code).await? else {
            return Ok(Err(PageRefusal::UnknownCode));
        };
        let mut tx = self.store.begin().await?;
        tx.transition_pending_sign_in(
            &pending.code_hash,
            GrantStatus::Pending,
            GrantStatus::Declined,
            None,
        )
        .await?;
        tx.commit().await?;
        Ok(Ok(()))
    }

    /// The person signs in on the authorize page: returns the authorization code for the client.
    pub async fn authorize_with_password(
        &self,
        request: &SignInRequest,
        upn: &str,
        password: &str,
        source: &str,
    ) -> AppResult<Result<String, PageRefusal>> {
        if let Err(refusal) = self
            .check_sign_in_request(GrantKind::AuthorizationCode, request)
            .await?
        {
            return Ok(Err(PageRefusal::Request(refusal)));
        }
        let user = match self
            .sign_in_for(
                &request.client_id,
                request.requested_tenant,
                upn,
                password,
                source,
            )
            .await?
        {
            Ok(user) => user,
            Err(refusal) => return Ok(Err(refusal)),
        };
        self.issue_authorization_code(request, &user, None)
            .await
            .map(Ok)
    }

    /// An authorization code for a user who signed in another way than the password form: single sign-on
    /// with a device's PRT (`x-ms-RefreshTokenCredential`). The request is checked as for the form; a user of
    /// another tenant than the one named is refused, and so is a registered application of another tenant
    /// than the user's (as the password form refuses it: no app signs in another tenant's users).
    pub async fn authorize_signed_in(
        &self,
        request: &SignInRequest,
        user: &User,
        device: ztd_core::DirectoryObjectId,
    ) -> AppResult<Result<String, PageRefusal>> {
        if let Err(refusal) = self
            .check_sign_in_request(GrantKind::AuthorizationCode, request)
            .await?
        {
            return Ok(Err(PageRefusal::Request(refusal)));
        }
        if request
            .requested_tenant
            .is_some_and(|t| t != user.tenant_id)
        {
            return Ok(Err(PageRefusal::WrongTenant));
        }
        if !is_first_party_public(&request.client_id)
            && self.client_tenant(&request.client_id).await? != Some(user.tenant_id)
        {
            return Ok(Err(PageRefusal::SignIn(SignInRefusal::ClientNotInTenant)));
        }
        self.issue_authorization_code(request, user, Some(device))
            .await
            .map(Ok)
    }

    async fn issue_authorization_code(
        &self,
        request: &SignInRequest,
        user: &User,
        device: Option<ztd_core::DirectoryObjectId>,
    ) -> AppResult<String> {
        let now = self.now();
        let code = URL_SAFE_NO_PAD.encode(self.random_bytes::<32>());
        let mut tx = self.store.begin().await?;
        tx.sweep_pending_sign_ins(Timestamp(now.0 - SWEEP_AFTER_MS))
            .await?;
        tx.insert_pending_sign_in(&PendingSignIn {
            code_hash: code_hash(&code),
            kind: GrantKind::AuthorizationCode,
            user_code: None,
            requested_tenant: request.requested_tenant,
            client_id: request.client_id.clone(),
            tenant_id: Some(user.tenant_id),
            user_id: Some(user.id),
            scope: request.scope.clone(),
            resource: request.resource.clone(),
            v2: request.v2,
            redirect_uri: request.redirect_uri.clone(),
            code_challenge: request.code_challenge.clone(),
            code_challenge_method: request.code_challenge.as_ref().map(|_| {
                ChallengeMethod::parse(request.code_challenge_method.as_deref())
                    .unwrap_or(ChallengeMethod::Plain)
                    .as_str()
                    .to_string()
            }),
            nonce: request.nonce.clone(),
            status: GrantStatus::Approved,
            expires_at: Timestamp(now.0 + AUTHORIZATION_CODE_LIFETIME_MS),
            created_at: now,
            device_object_id: device,
        })
        .await?;
        tx.commit().await?;
        Ok(code)
    }

    async fn sign_in_for(
        &self,
        client_id: &str,
        requested_tenant: Option<TenantId>,
        upn: &str,
        password: &str,
        source: &str,
    ) -> AppResult<Result<User, PageRefusal>> {
        let owner = if is_first_party_public(client_id) {
            None
        } else {
            match self.client_tenant(client_id).await? {
                Some(owner) => Some(owner),
                None => return Ok(Err(PageRefusal::Request(RequestRefusal::UnknownClient))),
            }
        };
        let client = SignInClient {
            client_id,
            owner,
            refresh_token: false,
        };
        match self
            .sign_in_with_password(requested_tenant, upn, password, source, client)
            .await?
        {
            Ok((user, _)) if requested_tenant.is_some_and(|t| t != user.tenant_id) => {
                Ok(Err(PageRefusal::WrongTenant))
            }
            Ok((user, _)) => Ok(Ok(user)),
            Err(refusal) => Ok(Err(PageRefusal::SignIn(refusal))),
        }
    }

    /// The device's poll: its tokens once the person approved, and a refusal saying why not otherwise.
    pub async fn redeem_device_code(
        &self,
        device_code: &str,
        client_id: &str,
        tenant: Option<TenantId>,
    ) -> AppResult<Result<Redeemed, RedeemRefusal>> {
        self.redeem(
            GrantKind::DeviceCode,
            device_code,
            client_id,
            tenant,
            |_| Ok(()),
        )
        .await
    }

    /// The client redeems an authorization code, presenting the redirect URI and PKCE verifier of its
    /// request. `tenant` is the tenant the token endpoint named, if any: a code of another tenant's user is
    /// refused there without being used up.
    pub async fn redeem_authorization_code(
        &self,
        code: &str,
        client_id: &str,
        tenant: Option<TenantId>,
        redirect_uri: Option<&str>,
        code_verifier: Option<&str>,
    ) -> AppResult<Result<Redeemed, RedeemRefusal>> {
        self.redeem(
            GrantKind::AuthorizationCode,
            code,
            client_id,
            tenant,
            |grant| {
                // The redirect URI of the request must be presented again, the same (RFC 6749 §4.1.3).
                if let Some(stored) = &grant.redirect_uri {
                    if redirect_uri != Some(stored.as_str()) {
                        return Err(RedeemRefusal::Unknown);
                    }
                }
                match (&grant.code_challenge, code_verifier) {
                    (None, _) => Ok(()),
                    (Some(challenge), Some(verifier)) => {
                        let method = ChallengeMethod::parse(grant.code_challenge_method.as_deref())
                            .unwrap_or(ChallengeMethod::Plain);
                        if pkce::verify(method, challenge, verifier) {
                            Ok(())
                        } else {
                            Err(RedeemRefusal::PkceMismatch)
                        }
                    }
                    (Some(_), None) => Err(RedeemRefusal::PkceMismatch),
                }
            },
        )
        .await
    }

    async fn redeem(
        &self,
        kind: GrantKind,
        code: &str,
        client_id: &str,
        named_tenant: Option<TenantId>,
        check: impl Fn(&PendingSignIn) -> Result<(), RedeemRefusal>,
    ) -> AppResult<Result<Redeemed, RedeemRefusal>> {
        let now = self.now();
        let mut tx = self.store.begin().await?;
        let Some(grant) = tx.get_pending_sign_in(&code_hash(code)).await? else {
            return Ok(Err(RedeemRefusal::Unknown));
        };
        if grant.kind != kind {
            return Ok(Err(RedeemRefusal::Unknown));
        }
        if let Err(refusal) = grant
            .redeemable_by(client_id, now)
            .and_then(|()| check(&grant))
        {
            return Ok(Err(refusal));
        }
        let (Some(tenant), Some(user_id)) = (grant.tenant_id, grant.user_id) else {
            return Ok(Err(RedeemRefusal::Unknown));
        };
        if named_tenant.is_some_and(|named| named != tenant) {
            return Ok(Err(RedeemRefusal::WrongTenant));
        }
        let user = match tx.get_user(tenant, user_id).await? {
            Some(user) if user.account_enabled => user,
            _ => return Ok(Err(RedeemRefusal::Unknown)),
        };
        // Exactly one redemption wins, on any number of nodes.
        if !tx
            .transition_pending_sign_in(
                &grant.code_hash,
                GrantStatus::Approved,
                GrantStatus::Redeemed,
                None,
            )
            .await?
        {
            return Ok(Err(RedeemRefusal::AlreadyRedeemed));
        }
        let family = self.next_uuid().to_string();
        // A registered app redeeming an authorization code proved itself (a confidential client); the
        // device code flow is a public-client flow.
        let confidential = kind == GrantKind::AuthorizationCode
            && !crate::clients::is_first_party_public(&grant.client_id);
        // A code of single sign-on is the device's too: its tokens are bound to it, while it is enabled.
        let device = match grant.device_object_id {
            Some(object) => match tx.get_directory_device(tenant, object).await? {
                Some(device) if device.account_enabled => Some(device),
                _ => return Ok(Err(RedeemRefusal::Unknown)),
            },
            None => None,
        };
        let refresh_token = self
            .insert_refresh_token_bound(
                &mut tx,
                &user,
                &grant.client_id,
                &family,
                confidential,
                grant.device_object_id,
            )
            .await?;
        tx.commit().await?;
        Ok(Ok(Redeemed {
            user,
            grant,
            refresh_token,
            device,
        }))
    }
}
