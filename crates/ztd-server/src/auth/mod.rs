//! OAuth2 and OpenID Connect as Entra speaks them, so standard clients (azure-identity, MSAL, roadtx) obtain
//! tokens from ztd: `POST /{tenant}/oauth2/v2.0/token` (scopes) and `/{tenant}/oauth2/token` (v1, `resource=`),
//! with the client credentials and resource-owner password grants. Tokens are RS256 JWTs signed with the
//! tenant's own key (published at `/{tenant}/discovery/keys`), in Entra's v1.0 access-token shape for every
//! resource: Microsoft Graph, the device registration service, the MDM enrollment service and ztd's own API.

use std::collections::HashMap;
use std::sync::{Mutex, RwLock};

use axum::extract::{FromRef, FromRequestParts};
use axum::http::request::Parts;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde::{Deserialize, Serialize};
use ztd_app::App;
use ztd_core::error::Code;
use ztd_core::event::{Actor, ActorKind};
use ztd_core::user::UserRole;
use ztd_core::TenantId;

use crate::error::ApiError;
use crate::AppState;

mod device_grants;
pub(crate) mod mdm_pages;
mod pages;
pub(crate) mod token;

pub use pages::{
    authorize_get, authorize_post, device_code_handler, device_login_get, device_login_post,
};

pub(crate) use token::path_tenant;
pub use token::{token_v1, token_v2};

/// Access tokens live an hour, as Entra's do by default.
pub const TOKEN_LIFETIME_SECS: i64 = 3599;
/// Clock skew tolerated on `exp` and `nbf`.
const LIFETIME_LEEWAY_SECS: i64 = 30;
/// A verified token is remembered this long at most (and never past its expiry): the bound on how long a
/// change to its signing keys can go unnoticed by a node.
const VERIFIED_TOKEN_CACHE_SECS: i64 = 60;
/// The longest bearer token accepted: Entra's are a few kilobytes; anything longer is refused before parsing.
pub const MAX_TOKEN_BYTES: usize = 16 * 1024;
/// The largest token request body (a form of a few fields; a client assertion with its certificate chain
/// fits many times over).
pub const MAX_TOKEN_REQUEST_BYTES: usize = 64 * 1024;
/// Verified tokens remembered per node; past it the memory starts over.
const VERIFIED_TOKEN_CACHE_CAPACITY: usize = 16_384;

/// The resources ztd issues tokens for.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Resource {
    /// Microsoft Graph: ztd's Graph-compatible admin API.
    Graph,
    /// The device registration service (join, register).
    DeviceRegistration,
    /// The MDM enrollment service.
    Enrollment,
    /// ztd's own admin API (`/ztd/v1`).
    Ztd,
}

impl Resource {
    const ALL: [Resource; 4] = [
        Self::Graph,
        Self::DeviceRegistration,
        Self::Enrollment,
        Self::Ztd,
    ];

    /// The `aud` of its tokens (Entra's v1 audience: the resource URI).
    pub fn audience(self) -> &'static str {
        match self {
            Self::Graph => "https://graph.microsoft.com",
            Self::DeviceRegistration => "urn:ms-drs:enterpriseregistration.windows.net",
            Self::Enrollment => "https://enrollment.manage.microsoft.com/",
            Self::Ztd => "api://ztd",
        }
    }

    /// Microsoft's application id for the resource, which clients may name instead of its URI.
    fn app_id(self) -> Option<&'static str> {
        match self {
            Self::Graph => Some("00000003-0000-0000-c000-000000000000"),
            Self::DeviceRegistration => Some("01cb2876-7ebd-4aa4-9cc9-d28bd4d359a9"),
            Self::Enrollment => Some("d4ebce55-015a-49b5-a083-c84d1797ae8c"),
            Self::Ztd => None,
        }
    }

    /// The resource a `resource=` value or a scope's prefix names (URI with or without its trailing slash,
    /// or application id).
    pub fn parse(text: &str) -> Option<Self> {
        let text = text.trim().trim_end_matches('/');
        Self::ALL.into_iter().find(|r| {
            r.audience()
                .trim_end_matches('/')
                .eq_ignore_ascii_case(text)
                || r.app_id().is_some_and(|id| id.eq_ignore_ascii_case(text))
        })
    }
}

/// The claims of an access token, in Entra's v1.0 shape.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Claims {
    pub aud: String,
    pub iss: String,
    pub iat: i64,
    pub nbf: i64,
    pub exp: i64,
    pub tid: String,
    pub oid: String,
    pub sub: String,
    /// The client the token was issued to.
    pub appid: String,
    /// How the client authenticated: `0` public client, `1` secret, `2` certificate.
    pub appidacr: String,
    /// `app` for a client's own token, `user` for a user's.
    pub idtyp: String,
    /// Application permissions (client credentials).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub roles: Vec<String>,
    /// Delegated permissions, space-separated (user tokens).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scp: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub upn: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unique_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub amr: Vec<String>,
    pub ver: String,
    /// ztd's own claim: the key id of the application credential (secret or certificate) the token was
    /// issued for, so that removing the credential stops the token within the verifier's bound.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ztd_cred: Option<String>,
    /// The Entra device id, in tokens obtained through a device's PRT or its own certificate.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deviceid: Option<String>,
}

/// Entra's v1 issuer for a tenant.
pub fn issuer_v1(tenant: TenantId) -> String {
    format!("https://sts.windows.net/{tenant}/")
}

/// Entra's v2 issuer for a tenant (v2 id tokens).
pub fn issuer_v2(tenant: TenantId) -> String {
    format!("https://login.microsoftonline.com/{tenant}/v2.0")
}

#[derive(Deserialize)]
struct TenantOnly {
    tid: String,
}

/// Device-code requests and code entries on `/devicelogin` one source address may make per minute (one
/// budget for both). A person enters a code a few times at most; a guesser is slowed to this pace (and
/// smart lockout still guards each account's password).
pub const CODE_ENTRIES_PER_MINUTE: u32 = 30;

/// Refused administrative changes recorded in the audit log per caller per minute. A caller's refusals
/// cost a write each; past this budget they are left out of the log (the server log still has them), so a
/// token holder cannot turn refused requests into unbounded writes.
pub const REFUSALS_RECORDED_PER_MINUTE: u32 = 60;

/// A per-node budget of attempts per key per minute (the burst is the whole minute's worth).
pub struct PerMinuteBudget<K: std::hash::Hash + Eq + Clone>(governor::DefaultKeyedRateLimiter<K>);

impl<K: std::hash::Hash + Eq + Clone> PerMinuteBudget<K> {
    pub fn new(per_minute: u32) -> Self {
        let per_minute = std::num::NonZeroU32::new(per_minute).unwrap_or(std::num::NonZeroU32::MIN);
        Self(governor::RateLimiter::keyed(governor::Quota::per_minute(
            per_minute,
        )))
    }

    /// Spends one attempt of `key`; past the budget, how long to wait.
    pub fn spend(&self, key: &K) -> Result<(), std::time::Duration> {
        crate::device_api::checked(Some(&self.0), key)
    }
}

/// The code-entry budget, keyed by source ([`crate::device_api::source_key`]: an IPv6 /64 is one source).
pub struct CodeEntryLimit(PerMinuteBudget<std::net::IpAddr>);

impl Default for CodeEntryLimit {
    fn default() -> Self {
        Self(PerMinuteBudget::new(CODE_ENTRIES_PER_MINUTE))
    }
}

impl CodeEntryLimit {
    /// Spends one attempt of `source`; past the budget, how long to wait. An unknown source (no socket
    /// address, as in tests that call the router directly) is not limited.
    pub fn check(&self, source: Option<std::net::IpAddr>) -> Result<(), std::time::Duration> {
        source.map_or(Ok(()), |ip| {
            self.0.spend(&crate::device_api::source_key(ip))
        })
    }
}

/// The recorded-refusal budget, keyed by tenant and actor.
pub struct RefusalLimit(PerMinuteBudget<(TenantId, String)>);

impl Default for RefusalLimit {
    fn default() -> Self {
        Self(PerMinuteBudget::new(REFUSALS_RECORDED_PER_MINUTE))
    }
}

impl RefusalLimit {
    /// Whether one more refusal of `actor` in `tenant` is recorded.
    pub fn admit(&self, tenant: TenantId, actor: &str) -> bool {
        self.0.spend(&(tenant, actor.to_string())).is_ok()
    }
}

/// Signs tokens with the tenants' keys and verifies them, remembering verified tokens for a short while
/// (RSA verification is the costliest step of an authenticated request otherwise). Also the token service's
/// per-node guards: the code-entry and refusal budgets.
#[derive(Default)]
pub struct Tokens {
    /// The budget of device-code requests and code entries per source (the sign-in pages' own guard).
    pub code_entries: CodeEntryLimit,
    /// The budget of recorded refusals per caller (the audit log's guard).
    pub refusals: RefusalLimit,
    keys: RwLock<HashMap<(TenantId, String), DecodingKey>>,
    verified: Mutex<HashMap<String, (Claims, i64)>>,
    /// When each tenant's keys were last read because a token named an unknown key (at most once a second).
    reloads: Mutex<HashMap<TenantId, i64>>,
}

impl Tokens {
    /// Signs `claims` with the tenant's active key.
    pub async fn sign(
        &self,
        app: &App,
        tenant: TenantId,
        claims: &impl Serialize,
    ) -> Result<String, ApiError> {
        let keys = app.signing_keys(tenant).await?;
        Ok(keys.active.sign(claims)?)
    }

    /// The claims of a token signed by its tenant's key, for one of `audiences`, valid at `now_secs` (the
    /// app's clock: the lifetime is checked here rather than by `jsonwebtoken`, which would read the system
    /// clock).
    pub async fn verify(
        &self,
        app: &App,
        token: &str,
        audiences: &[&str],
        now_secs: i64,
    ) -> Result<Claims, ApiError> {
        if let Some(claims) = self.remembered(token, now_secs) {
            if audiences
                .iter()
                .any(|a| a.eq_ignore_ascii_case(&claims.aud))
            {
                return Ok(claims);
            }
        }
        let invalid =
            |why: &str| ApiError::unauthorized(format!("Access token validation failure: {why}."));
        if token.len() > MAX_TOKEN_BYTES {
            return Err(invalid("the token is longer than any token ztd issues"));
        }
        let header =
            jsonwebtoken::decode_header(token).map_err(|_| invalid("the token is not a JWT"))?;
        if header.alg != Algorithm::RS256 {
            return Err(invalid("the token is not signed with RS256"));
        }
        let kid = header
            .kid
            .ok_or_else(|| invalid("the token names no key"))?;
        let payload = token
            .split('.')
            .nth(1)
            .and_then(|p| URL_SAFE_NO_PAD.decode(p).ok())
            .and_then(|bytes| serde_json::from_slice::<TenantOnly>(&bytes).ok())
            .ok_or_else(|| invalid("the token has no tenant"))?;
        let tenant = TenantId::parse(&payload.tid)
            .ok_or_else(|| invalid("the token has no valid tenant"))?;
        let key = self
            .decoding_key(app, tenant, &kid, now_secs)
            .await?
            .ok_or_else(|| invalid("the token is signed with a key this tenant does not have"))?;
        let mut validation = Validation::new(Algorithm::RS256);
        validation.set_audience(audiences);
        validation.set_issuer(&[issuer_v1(tenant)]);
        validation.validate_exp = false;
        validation.validate_nbf = false;
        validation.required_spec_claims = ["exp", "nbf", "aud", "iss"]
            .iter()
            .map(|c| c.to_string())
            .collect();
        let claims = jsonwebtoken::decode::<Claims>(token, &key, &validation)
            .map(|data| data.claims)
            .map_err(|e| {
                ApiError::unauthorized(format!("Access token validation failure: {e}."))
            })?;
        check_lifetime(&claims, now_secs)?;
        // A deleted application or a disabled or deleted user: its tokens stop here, at most a minute after
        // the change (a verified token is remembered that long).
        // A device's own token lives while its object exists and is enabled.
        if claims.idtyp == "device" {
            let object = ztd_core::DirectoryObjectId::parse(&claims.oid);
            let enabled = match object {
                Some(object) => app.device_object_enabled(tenant, object).await?,
                None => false,
            };
            if !enabled {
                return Err(ApiError::unauthorized(
                    "Access token validation failure: the device it was issued to is disabled or deleted.",
                ));
            }
            self.remember(token, &claims, now_secs);
            return Ok(claims);
        }
        let principal = match claims.idtyp.as_str() {
            "user" => ztd_core::DirectoryObjectId::parse(&claims.oid).map(ztd_app::Principal::User),
            _ => Some(ztd_app::Principal::App {
                client_id: &claims.appid,
                credential: claims
                    .ztd_cred
                    .as_deref()
                    .and_then(|c| uuid::Uuid::parse_str(c).ok()),
            }),
        };
        let active = match principal {
            Some(principal) => app.principal_active(tenant, principal).await?,
            None => false,
        };
        if !active {
            return Err(ApiError::unauthorized(
                "Access token validation failure: the application or user it was issued to no longer exists or is disabled.",
            ));
        }
        self.remember(token, &claims, now_secs);
        Ok(claims)
    }

    fn remembered(&self, token: &str, now_secs: i64) -> Option<Claims> {
        let cache = self.verified.lock().ok()?;
        let (claims, until) = cache.get(token)?;
        (now_secs < *until && check_lifetime(claims, now_secs).is_ok()).then(|| claims.clone())
    }

    fn remember(&self, token: &str, claims: &Claims, now_secs: i64) {
        if let Ok(mut cache) = self.verified.lock() {
            if cache.len() >= VERIFIED_TOKEN_CACHE_CAPACITY {
                cache.clear();
            }
            let until = (now_secs + VERIFIED_TOKEN_CACHE_SECS).min(claims.exp);
            cache.insert(token.to_string(), (claims.clone(), until));
        }
    }

    async fn decoding_key(
        &self,
        app: &App,
        tenant: TenantId,
        kid: &str,
        now_secs: i64,
    ) -> Result<Option<DecodingKey>, ApiError> {
        if let Some(key) = self.cached_key(tenant, kid) {
            return Ok(Some(key));
        }
        let mut keys = app.signing_keys(tenant).await?;
        if !keys.published.iter().any(|k| k.kid == kid) {
            // A key this node has not seen (rotated on another node), read again, at most once a second.
            let due = self.reloads.lock().is_ok_and(|mut last| {
                let due = last.get(&tenant).is_none_or(|at| now_secs > *at);
                if due {
                    last.insert(tenant, now_secs);
                }
                due
            });
            if due {
                keys = app.reload_signing_keys(tenant).await?;
            }
        }
        let Some(jwk) = keys.published.iter().find(|k| k.kid == kid) else {
            return Ok(None);
        };
        let key = DecodingKey::from_rsa_components(&jwk.n, &jwk.e).map_err(|_| {
            ApiError::new(Code::InternalServerError, "a published key does not decode")
        })?;
        if let Ok(mut cache) = self.keys.write() {
            cache.insert((tenant, kid.to_string()), key.clone());
        }
        Ok(Some(key))
    }

    fn cached_key(&self, tenant: TenantId, kid: &str) -> Option<DecodingKey> {
        self.keys
            .read()
            .ok()?
            .get(&(tenant, kid.to_string()))
            .cloned()
    }
}

fn check_lifetime(claims: &Claims, now_secs: i64) -> Result<(), ApiError> {
    if now_secs > claims.exp.saturating_add(LIFETIME_LEEWAY_SECS) {
        return Err(ApiError::unauthorized(
            "Lifetime validation failed, the token is expired.",
        ));
    }
    if now_secs < claims.nbf.saturating_sub(LIFETIME_LEEWAY_SECS) {
        return Err(ApiError::unauthorized(
            "Lifetime validation failed, the token is not yet valid.",
        ));
    }
    Ok(())
}

/// A permission family and the access needed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Access {
    Read,
    Write,
}

/// The authenticated caller of an admin route.
#[derive(Clone, Debug)]
pub struct Caller {
    pub tenant_id: TenantId,
    pub client_id: String,
    pub roles: Vec<String>,
}

impl Caller {
    /// Requires `{family}.ReadWrite.All`, or for reads also `{family}.Read.All`; 403 in Graph's shape otherwise.
    pub fn require(&self, family: &str, access: Access) -> Result<(), ApiError> {
        let write = format!("{family}.ReadWrite.All");
        let read = format!("{family}.Read.All");
        let granted = self.roles.iter().any(|r| r.eq_ignore_ascii_case(&write))
            || (access == Access::Read && self.roles.iter().any(|r| r.eq_ignore_ascii_case(&read)));
        if granted {
            Ok(())
        } else {
            let needed = if access == Access::Read {
                format!("{read} or {write}")
            } else {
                write
            };
            Err(ApiError::forbidden(format!(
                "Insufficient privileges to complete the operation. This call needs {needed}."
            )))
        }
    }
}

/// The client address of a request, as the audit log records it.
pub(crate) fn source_address(extensions: &axum::http::Extensions) -> String {
    extensions
        .get::<axum::extract::ConnectInfo<std::net::SocketAddr>>()
        .map(|info| info.0.ip().to_string())
        .unwrap_or_default()
}

/// Makes the user of a verified token the actor of this request's changes in its tenant (the device
/// registration service: a join is the user's act, as Entra's audit log shows it).
pub(crate) fn act_as(claims: &Claims, tenant: TenantId, address: String) {
    ztd_app::audit::set_actor(tenant, actor(claims, &[], address));
}

/// Makes a user who signed in with a password the actor of this request's changes in their tenant (MDM
/// enrollment with a user name and password).
pub(crate) fn act_as_user(user: &ztd_core::user::User, client_id: &str, address: String) {
    ztd_app::audit::set_actor(
        user.tenant_id,
        Actor {
            kind: ActorKind::User,
            id: user.id.to_string(),
            user_principal_name: user.user_principal_name.clone(),
            application_id: client_id.to_string(),
            permissions: Vec::new(),
            ip_address: address,
            correlation_id: crate::request::current()
                .map(|context| context.id.clone())
                .unwrap_or_default(),
        },
    );
}

/// The audit log's name for the caller of a verified token.
fn actor(claims: &Claims, permissions: &[String], address: String) -> Actor {
    let is_user = claims.idtyp == "user";
    Actor {
        kind: if is_user {
            ActorKind::User
        } else {
            ActorKind::Application
        },
        id: if is_user {
            claims.oid.clone()
        } else {
            claims.appid.clone()
        },
        user_principal_name: claims.upn.clone().unwrap_or_default(),
        application_id: claims.appid.clone(),
        permissions: permissions.to_vec(),
        ip_address: address,
        // Graph's correlationId is a GUID: the caller's client-request-id when it is one, else ours.
        correlation_id: crate::request::current()
            .map(|context| match context.client_request_id.as_deref() {
                Some(theirs) if uuid::Uuid::parse_str(theirs).is_ok() => theirs.to_string(),
                _ => context.id.clone(),
            })
            .unwrap_or_default(),
    }
}

/// The delegated permissions a user's role grants (what a user token's `scp` holds for Graph).
pub fn delegated_scopes(role: UserRole) -> Vec<String> {
    let mut scopes = vec!["User.Read".to_string()];
    for family in ztd_app::PERMISSION_FAMILIES {
        if role.allows(family, true) {
            scopes.push(format!("{family}.ReadWrite.All"));
        } else if role.allows(family, false) {
            scopes.push(format!("{family}.Read.All"));
        }
    }
    scopes
}

impl<S> FromRequestParts<S> for Caller
where
    AppState: FromRef<S>,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        // Graph's throttling middleware has verified the token already (and set the audit actor).
        if let Some(caller) = parts.extensions.get::<Caller>() {
            return Ok(caller.clone());
        }
        let state = AppState::from_ref(state);
        let header = parts
            .headers
            .get(axum::http::header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .ok_or_else(|| ApiError::unauthorized("Access token is empty."))?;
        let token = header
            .strip_prefix("Bearer ")
            .or_else(|| header.strip_prefix("bearer "))
            .ok_or_else(|| {
                ApiError::unauthorized("The Authorization header must carry a Bearer token.")
            })?;
        let graph = Resource::Graph;
        let audiences = [
            graph.audience(),
            "https://graph.microsoft.com/",
            "00000003-0000-0000-c000-000000000000",
            Resource::Ztd.audience(),
        ];
        let claims = state
            .tokens
            .verify(
                &state.app,
                token.trim(),
                &audiences,
                state.app.now().0.div_euclid(1000),
            )
            .await?;
        let tenant_id = TenantId::parse(&claims.tid)
            .ok_or_else(|| ApiError::unauthorized("Access token has no valid tenant."))?;
        // A user's token carries its delegated permissions in `scp`, a client's in `roles`.
        let roles: Vec<String> = match &claims.scp {
            Some(scp) => scp.split_whitespace().map(str::to_string).collect(),
            None => claims.roles.clone(),
        };
        let address = source_address(&parts.extensions);
        ztd_app::audit::set_actor(tenant_id, actor(&claims, &roles, address));
        Ok(Caller {
            tenant_id,
            client_id: claims.appid,
            roles,
        })
    }
}
