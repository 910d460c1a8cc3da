//! Application registrations and their credentials: client secrets (shown once, stored hashed, with an
//! expiry) and certificates (whose keys sign client assertions). An application may hold several of each, so
//! a credential is rotated by adding the new one before removing the old.

use base64::Engine;
use serde::Serialize;
use sha2::{Digest, Sha256};
use ztd_core::error::ObjectKind;
use ztd_core::event::EventKind;
use ztd_core::tenant::{ClientCertificate, ClientCredential, ClientSecret};
use ztd_core::{TenantId, Timestamp};
use ztd_oauth::{AssertionError, CertificateCredential, ClientAssertion};
use ztd_store::Tx;

use crate::tenants::check_permission;
use crate::{App, AppError, AppResult};

/// Graph's `addPassword` default: a secret lives two years unless told otherwise.
pub const DEFAULT_SECRET_LIFETIME_DAYS: u32 = 730;
/// Entra refuses secrets valid for longer; so does ztd.
pub const MAX_SECRET_LIFETIME_DAYS: u32 = 730;
const MAX_REDIRECT_URIS: usize = 32;
const MAX_CREDENTIALS_PER_KIND: usize = 16;
const DAY_MS: i64 = 24 * 60 * 60 * 1000;

/// Public clients that sign users in on behalf of Microsoft's own tools (azure-cli, Azure PowerShell, the
/// Microsoft Authentication Broker, Intune's company portal, Windows' own PRT client); tools such as roadtx
/// and azure-identity send these ids by default. ztd accepts them in every tenant for user sign-in, as Entra
/// does.
pub const FIRST_PARTY_PUBLIC_CLIENTS: &[&str] = &[
    "04b07795-8ddb-461a-bbee-02f9e1bf7b46",
    "38aa3b87-a06d-4817-b275-7a316988d93b",
    "1950a258-227b-4e31-a9cf-717495945fc2",
    "1b730954-1685-4b74-9bfd-dac224a7b894",
    "29d9ed98-a469-4536-ade2-f981bc1d605e",
    "9ba1a5c7-f17a-4de9-a1f1-6178c8d51223",
    "d3590ed6-52b3-4102-aeff-aad2292ab01c",
];

/// Whether `client_id` is one of [`FIRST_PARTY_PUBLIC_CLIENTS`].
pub fn is_first_party_public(client_id: &str) -> bool {
    FIRST_PARTY_PUBLIC_CLIENTS
        .iter()
        .any(|known| known.eq_ignore_ascii_case(client_id))
}

/// Who a token was issued to.
#[derive(Clone, Copy, Debug)]
pub enum Principal<'a> {
    /// An application, and the credential (secret or certificate key id) it signed in with, when known.
    App {
        client_id: &'a str,
        credential: Option<uuid::Uuid>,
    },
    User(ztd_core::DirectoryObjectId),
}

/// What an application is registered with.
#[derive(Clone, Debug, Default)]
pub struct ClientSpec {
    pub display_name: String,
    /// Application permissions, `<family>.Read.All` or `<family>.ReadWrite.All`.
    pub scopes: Vec<String>,
    pub redirect_uris: Vec<String>,
    /// Lifetime of the first secret in days; `None` for a secret that never expires (the first start's
    /// administrator credential only: an operator rotates it with `ztd app secret add`).
    pub secret_lifetime_days: Option<u32>,
}

impl ClientSpec {
    /// An application with these permissions, no redirect URI, and a first secret of the default lifetime.
    pub fn new(display_name: &str, scopes: &[&str]) -> Self {
        Self {
            display_name: display_name.to_string(),
            scopes: scopes.iter().map(|s| s.to_string()).collect(),
            redirect_uris: Vec::new(),
            secret_lifetime_days: Some(DEFAULT_SECRET_LIFETIME_DAYS),
        }
    }
}

/// A freshly created application; the secret is shown once.
#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct NewClient {
    pub tenant_id: TenantId,
    pub client_id: String,
    pub client_secret: String,
    pub secret_key_id: uuid::Uuid,
    pub secret_expires: Option<Timestamp>,
    pub scopes: Vec<String>,
}

/// A freshly added secret, Graph's `passwordCredential` with its `secretText` (shown once).
#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct NewSecret {
    pub client_id: String,
    pub key_id: uuid::Uuid,
    pub secret_text: String,
    pub hint: String,
    pub display_name: String,
    pub start: Timestamp,
    pub end: Option<Timestamp>,
}

/// An application's credentials, without secrets.
#[derive(Clone, Debug, Default)]
pub struct ClientCredentials {
    pub secrets: Vec<ClientSecret>,
    pub certificates: Vec<ClientCertificate>,
}

/// The outcome of a client authentication at the token endpoint.
#[derive(Debug)]
pub enum ClientAuthentication {
    Authenticated {
        client: ClientCredential,
        /// The key id of the secret or certificate used.
        credential: uuid::Uuid,
    },
    UnknownClient,
    WrongSecret,
    ExpiredSecret,
    /// The assertion names no certificate of this client.
    UnknownCertificate,
    ExpiredCertificate,
    BadAssertion(AssertionError),
}

/// Secrets are 256 random bits, so a salted SHA-256 is enough to make a stolen database useless for
/// signing in (there is nothing to brute-force); a slow password hash would only slow every token request.
fn hash_secret(client_id: &str, secret: &str) -> String {
    let mut hasher = Sha256::new();
    hasher.update(b"ztd-client-secret\0");
    hasher.update(client_id.as_bytes());
    hasher.update(b"\0");
    hasher.update(secret.as_bytes());
    hex::encode(hasher.finalize())
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    // `subtle` compares lengths first (not secret: both are hex SHA-256), then every byte.
    bool::from(subtle::ConstantTimeEq::ct_eq(a, b))
}

fn encode_secret(bytes: [u8; 32]) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

/// A redirect URI as a browser reads it: an absolute URL without user info or fragment (a `user@host` form
/// would send the browser, and the code, to another host than it seems to name).
fn parse_redirect(uri: &str) -> Option<url::Url> {
    if uri.len() > 256 || uri.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return None;
    }
    let url = url::Url::parse(uri).ok()?;
    (url.username().is_empty()
        && url.password().is_none()
        && url.fragment().is_none()
        && url.host_str().is_some())
    .then_some(url)
}

fn is_loopback(url: &url::Url) -> bool {
    url.scheme() == "http" && matches!(url.host_str(), Some("localhost" | "127.0.0.1" | "[::1]"))
}

/// Whether `uri` is an `http` loopback redirect URI (native clients), any port.
pub fn is_loopback_redirect(uri: &str) -> bool {
    parse_redirect(uri).is_some_and(|url| is_loopback(&url))
}

/// Entra accepts `https` redirect URIs, and `http` only for the loopback (native and CLI clients).
fn check_redirect_uri(uri: &str) -> AppResult<()> {
    let ok = parse_redirect(uri).is_some_and(|url| url.scheme() == "https" || is_loopback(&url));
    if ok {
        Ok(())
    } else {
        Err(AppError::invalid(
            "redirectUris",
            format!(
                "{:?} is not a redirect URI Entra accepts: https://…, or http://localhost[:port][/path] for a native client, up to 256 characters, no user info, no fragment",
                ztd_formats::excerpt_chars(uri, 80)
            ),
        ))
    }
}

/// Whether the redirect URI `uri` matches a registered one: exactly, or, for loopback URIs, with any port
/// (RFC 8252 §7.3: a native client's port varies).
pub fn redirect_uri_matches(registered: &str, uri: &str) -> bool {
    let (Some(registered), Some(presented)) = (parse_redirect(registered), parse_redirect(uri))
    else {
        return false;
    };
    if registered == presented {
        return true;
    }
    is_loopback(&registered)
        && is_loopback(&presented)
        && registered.host_str() == presented.host_str()
        && registered.path() == presented.path()
        && registered.query() == presented.query()
}

impl App {
    /// Registers an application in a tenant and returns its first secret (shown once).
    pub async fn create_client(&self, tenant: TenantId, spec: &ClientSpec) -> AppResult<NewClient> {
        if spec.display_name.trim().is_empty() {
            return Err(AppError::invalid(
                "displayName",
                "an application needs a name",
            ));
        }
        for scope in &spec.scopes {
            check_permission(scope)?;
        }
        if spec.redirect_uris.len() > MAX_REDIRECT_URIS {
            return Err(AppError::invalid(
                "redirectUris",
                format!("at most {MAX_REDIRECT_URIS} redirect URIs"),
            ));
        }
        for uri in &spec.redirect_uris {
            check_redirect_uri(uri)?;
        }
        let mut tx = self.store.begin().await?;
        if tx.get_tenant(tenant).await?.is_none() {
            return Err(AppError::not_found(ObjectKind::Tenant, tenant));
        }
        let scopes: Vec<&str> = spec.scopes.iter().map(String::as_str).collect();
        let client = self
            .insert_client(
                &mut tx,
                tenant,
                spec.display_name.trim(),
                &scopes,
                &spec.redirect_uris,
                spec.secret_lifetime_days,
            )
            .await?;
        tx.commit().await?;
        Ok(client)
    }

    pub(crate) async fn insert_client(
        &self,
        tx: &mut Tx,
        tenant: TenantId,
        display_name: &str,
        scopes: &[&str],
        redirect_uris: &[String],
        secret_lifetime_days: Option<u32>,
    ) -> AppResult<NewClient> {
        let client_id = self.next_uuid().to_string();
        let credential = ClientCredential {
            tenant_id: tenant,
            client_id: client_id.clone(),
            display_name: display_name.to_string(),
            scopes: scopes.iter().map(|s| s.to_string()).collect(),
            redirect_uris: redirect_uris.to_vec(),
            created_at: self.now(),
        };
        tx.insert_client(&credential).await?;
        let secret = self.new_secret(tenant, &client_id, "first secret", secret_lifetime_days)?;
        tx.insert_client_secret(&secret.0).await?;
        // Events last: appending takes the tenant's turn on the event feed until the commit.
        tx.append_events(&[self.event(
            tenant,
            EventKind::ClientCreated,
            &client_id,
            serde_json::json!({ "scopes": credential.scopes, "redirectUris": credential.redirect_uris }),
        )])
        .await?;
        Ok(NewClient {
            tenant_id: tenant,
            client_id,
            client_secret: secret.1,
            secret_key_id: secret.0.key_id,
            secret_expires: secret.0.end_at,
            scopes: credential.scopes,
        })
    }

    fn new_secret(
        &self,
        tenant: TenantId,
        client_id: &str,
        display_name: &str,
        lifetime_days: Option<u32>,
    ) -> AppResult<(ClientSecret, String)> {
        if let Some(days) = lifetime_days {
            if days == 0 || days > MAX_SECRET_LIFETIME_DAYS {
                return Err(AppError::invalid(
                    "endDateTime",
                    format!("a secret lives 1 to {MAX_SECRET_LIFETIME_DAYS} days"),
                ));
            }
        }
        let now = self.now();
        let text = encode_secret(self.random_bytes());
        let secret = ClientSecret {
            tenant_id: tenant,
            client_id: client_id.to_string(),
            key_id: self.next_uuid(),
            secret_hash: hash_secret(client_id, &text),
            hint: text.chars().take(3).collect(),
            display_name: display_name.to_string(),
            start_at: now,
            end_at: lifetime_days.map(|days| Timestamp(now.0 + i64::from(days) * DAY_MS)),
            created_at: now,
        };
        Ok((secret, text))
    }

    /// The tenant's registered applications.
    pub async fn clients(&self, tenant: TenantId) -> AppResult<Vec<ClientCredential>> {
        let mut tx = self.store.begin_read().await?;
        Ok(tx.list_clients(tenant).await?)
    }

    /// An application of the tenant with its credentials (secrets without their values).
    pub async fn client(
        &self,
        tenant: TenantId,
        client_id: &str,
    ) -> AppResult<(ClientCredential, ClientCredentials)> {
        let mut tx = self.store.begin_read().await?;
        let client = tx
            .get_client(client_id)
            .await?
            .filter(|c| c.tenant_id == tenant)
            .ok_or_else(|| AppError::not_found(ObjectKind::Client, client_id))?;
        let credentials = ClientCredentials {
            secrets: tx.client_secrets(client_id).await?,
            certificates: tx.client_certificates(client_id).await?,
        };
        Ok((client, credentials))
    }

    /// Deletes an application: its credentials stop working at once, and the tokens it was issued stop
    /// working within the token verifier's bound (a minute, docs/identity.md).
    pub async fn delete_client(&self, tenant: TenantId, client_id: &str) -> AppResult<()> {
        let mut tx = self.store.begin().await?;
        if !tx.delete_client(tenant, client_id).await? {
            return Err(AppError::not_found(ObjectKind::Client, client_id));
        }
        tx.append_events(&[self.event(
            tenant,
            EventKind::ClientDeleted,
            client_id,
            serde_json::json!({}),
        )])
        .await?;
        tx.commit().await?;
        Ok(())
    }

    /// Adds a secret (Graph `addPassword`); the text is shown once.
    pub async fn add_client_secret(
        &self,
        tenant: TenantId,
        client_id: &str,
        display_name: &str,
        lifetime_days: u32,
    ) -> AppResult<NewSecret> {
        let mut tx = self.store.begin().await?;
        self.client_in(&mut tx, tenant, client_id).await?;
        if tx.client_secrets(client_id).await?.len() >= MAX_CREDENTIALS_PER_KIND {
            return Err(AppError::invalid(
                "passwordCredentials",
                format!("an application holds at most {MAX_CREDENTIALS_PER_KIND} secrets; remove one first"),
            ));
        }
        let (secret, text) =
            self.new_secret(tenant, client_id, display_name, Some(lifetime_days))?;
        tx.insert_client_secret(&secret).await?;
        tx.append_events(&[self.event(
            tenant,
            EventKind::ClientSecretAdded,
            client_id,
            serde_json::json!({ "keyId": secret.key_id, "endDateTime": secret.end_at }),
        )])
        .await?;
        tx.commit().await?;
        Ok(NewSecret {
            client_id: client_id.to_string(),
            key_id: secret.key_id,
            secret_text: text,
            hint: secret.hint,
            display_name: secret.display_name,
            start: secret.start_at,
            end: secret.end_at,
        })
    }

    /// Removes a secret (Graph `removePassword`): it stops working at once, and tokens issued with it within
    /// the verifier's bound.
    pub async fn remove_client_secret(
        &self,
        tenant: TenantId,
        client_id: &str,
        key_id: uuid::Uuid,
    ) -> AppResult<()> {
        let mut tx = self.store.begin().await?;
        if !tx.delete_client_secret(tenant, client_id, key_id).await? {
            return Err(AppError::not_found(ObjectKind::ClientCredential, key_id));
        }
        tx.append_events(&[self.event(
            tenant,
            EventKind::ClientSecretRemoved,
            client_id,
            serde_json::json!({ "keyId": key_id }),
        )])
        .await?;
        tx.commit().await?;
        Ok(())
    }

    /// Adds a certificate credential from its PEM or DER (an RSA key; only the public certificate).
    pub async fn add_client_certificate(
        &self,
        tenant: TenantId,
        client_id: &str,
        certificate: &[u8],
        display_name: Option<&str>,
    ) -> AppResult<ClientCertificate> {
        let parsed = CertificateCredential::parse(certificate)
            .map_err(|e| AppError::invalid("keyCredentials", e.to_string()))?;
        let now = self.now();
        if parsed.not_after.saturating_mul(1000) < now.0 {
            return Err(AppError::invalid(
                "keyCredentials",
                "the certificate has expired; register one that is still valid",
            ));
        }
        let mut tx = self.store.begin().await?;
        self.client_in(&mut tx, tenant, client_id).await?;
        let existing = tx.client_certificates(client_id).await?;
        if existing.len() >= MAX_CREDENTIALS_PER_KIND {
            return Err(AppError::invalid(
                "keyCredentials",
                format!("an application holds at most {MAX_CREDENTIALS_PER_KIND} certificates; remove one first"),
            ));
        }
        let thumbprint = parsed.thumbprint();
        if existing.iter().any(|c| c.thumbprint == thumbprint) {
            return Err(AppError::invalid(
                "keyCredentials",
                format!("the application already has the certificate {thumbprint}"),
            ));
        }
        let credential = ClientCertificate {
            tenant_id: tenant,
            client_id: client_id.to_string(),
            key_id: self.next_uuid(),
            thumbprint,
            display_name: display_name.map_or_else(|| parsed.subject.clone(), str::to_string),
            start_at: Timestamp(parsed.not_before.saturating_mul(1000)),
            end_at: Timestamp(parsed.not_after.saturating_mul(1000)),
            certificate_der: parsed.der,
            created_at: now,
        };
        tx.insert_client_certificate(&credential).await?;
        tx.append_events(&[self.event(
            tenant,
            EventKind::ClientCertificateAdded,
            client_id,
            serde_json::json!({ "keyId": credential.key_id, "thumbprint": credential.thumbprint }),
        )])
        .await?;
        tx.commit().await?;
        Ok(credential)
    }

    pub async fn remove_client_certificate(
        &self,
        tenant: TenantId,
        client_id: &str,
        key_id: uuid::Uuid,
    ) -> AppResult<()> {
        let mut tx = self.store.begin().await?;
        if !tx
            .delete_client_certificate(tenant, client_id, key_id)
            .await?
        {
            return Err(AppError::not_found(ObjectKind::ClientCredential, key_id));
        }
        tx.append_events(&[self.event(
            tenant,
            EventKind::ClientCertificateRemoved,
            client_id,
            serde_json::json!({ "keyId": key_id }),
        )])
        .await?;
        tx.commit().await?;
        Ok(())
    }

    async fn client_in(
        &self,
        tx: &mut Tx,
        tenant: TenantId,
        client_id: &str,
    ) -> AppResult<ClientCredential> {
        tx.get_client(client_id)
            .await?
            .filter(|c| c.tenant_id == tenant)
            .ok_or_else(|| AppError::not_found(ObjectKind::Client, client_id))
    }

    /// Whether the principal a token names still may act: an application that still exists in the tenant
    /// with the credential it signed in with, or a user who still exists there with the account enabled.
    pub async fn principal_active(
        &self,
        tenant: TenantId,
        principal: Principal<'_>,
    ) -> AppResult<bool> {
        let mut tx = self.store.begin_read().await?;
        Ok(match principal {
            Principal::App {
                client_id,
                credential,
            } => {
                let exists = tx
                    .get_client(client_id)
                    .await?
                    .is_some_and(|client| client.tenant_id == tenant);
                match credential {
                    Some(key_id) if exists => {
                        tx.client_secrets(client_id)
                            .await?
                            .iter()
                            .any(|s| s.key_id == key_id)
                            || tx
                                .client_certificates(client_id)
                                .await?
                                .iter()
                                .any(|c| c.key_id == key_id)
                    }
                    _ => exists,
                }
            }
            Principal::User(user) => tx
                .get_user(tenant, user)
                .await?
                .is_some_and(|user| user.account_enabled),
        })
    }

    /// The tenant an application is registered in, if it is registered at all.
    pub async fn client_tenant(&self, client_id: &str) -> AppResult<Option<TenantId>> {
        let mut tx = self.store.begin_read().await?;
        Ok(tx
            .get_client(client_id)
            .await?
            .map(|client| client.tenant_id))
    }

    /// The registered application, for flows that check its redirect URIs.
    pub async fn registered_client(&self, client_id: &str) -> AppResult<Option<ClientCredential>> {
        let mut tx = self.store.begin_read().await?;
        Ok(tx.get_client(client_id).await?)
    }

    /// Checks a client id and secret against every secret the client holds.
    pub async fn authenticate_client(
        &self,
        client_id: &str,
        secret: &str,
    ) -> AppResult<ClientAuthentication> {
        let mut tx = self.store.begin_read().await?;
        let Some(client) = tx.get_client(client_id).await? else {
            return Ok(ClientAuthentication::UnknownClient);
        };
        let presented = hash_secret(client_id, secret);
        let now = self.now();
        let mut matched = None;
        // Compare against every secret, so the time taken does not say which one matched.
        for stored in tx.client_secrets(client_id).await? {
            if constant_time_eq(presented.as_bytes(), stored.secret_hash.as_bytes()) {
                matched = Some(stored);
            }
        }
        Ok(match matched {
            None => ClientAuthentication::WrongSecret,
            Some(secret) if secret.expired_at(now) || secret.start_at.0 > now.0 => {
                ClientAuthentication::ExpiredSecret
            }
            Some(secret) => ClientAuthentication::Authenticated {
                client,
                credential: secret.key_id,
            },
        })
    }

    /// Checks a client assertion: signed by a registered, unexpired certificate of the client, from the client
    /// (`iss` = `sub`), for one of the audiences the caller accepts, and valid now.
    pub async fn authenticate_client_assertion(
        &self,
        client_id: &str,
        assertion: &ClientAssertion,
        accepts_audience: impl Fn(&str) -> bool,
    ) -> AppResult<ClientAuthentication> {
        let mut tx = self.store.begin_read().await?;
        let Some(client) = tx.get_client(client_id).await? else {
            return Ok(ClientAuthentication::UnknownClient);
        };
        let now = self.now();
        let mut named = None;
        for stored in tx.client_certificates(client_id).await? {
            // Stored certificates were parsed when registered; one that no longer parses is skipped.
            if let Ok(parsed) = CertificateCredential::parse(&stored.certificate_der) {
                if assertion.names(&parsed) {
                    named = Some((stored, parsed));
                    break;
                }
            }
        }
        let Some((stored, parsed)) = named else {
            return Ok(ClientAuthentication::UnknownCertificate);
        };
        if let Err(refusal) = assertion.verify_signature(&parsed) {
            return Ok(ClientAuthentication::BadAssertion(refusal));
        }
        if let Err(refusal) =
            assertion.check_claims(client_id, accepts_audience, now.0.div_euclid(1000))
        {
            return Ok(ClientAuthentication::BadAssertion(refusal));
        }
        if now.0 > stored.end_at.0 || now.0 < stored.start_at.0 {
            return Ok(ClientAuthentication::ExpiredCertificate);
        }
        Ok(ClientAuthentication::Authenticated {
            client,
            credential: stored.key_id,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secret_hash_depends_on_client_and_secret() {
        assert_ne!(hash_secret("a", "s"), hash_secret("b", "s"));
        assert_ne!(hash_secret("a", "s"), hash_secret("a", "t"));
        assert!(constant_time_eq(
            hash_secret("a", "s").as_bytes(),
            hash_secret("a", "s").as_bytes()
        ));
        assert!(!constant_time_eq(
            hash_secret("a", "s").as_bytes(),
            hash_secret("a", "t").as_bytes()
        ));
        assert!(!constant_time_eq(b"abc", b"ab"));
    }

    #[test]
    fn redirect_uris_as_entra_accepts_them() {
        for ok in [
            "https://app.example/cb",
            "http://localhost",
            "http://localhost:8400/",
            "http://127.0.0.1:1234/cb",
        ] {
            assert!(check_redirect_uri(ok).is_ok(), "{ok}");
        }
        for bad in [
            "http://app.example/cb",
            "https://",
            "https://a/#frag",
            "http://localhostevil.example",
            "ftp://x",
        ] {
            assert!(check_redirect_uri(bad).is_err(), "{bad}");
        }
        assert!(redirect_uri_matches(
            "http://localhost",
            "http://localhost:51234"
        ));
        assert!(redirect_uri_matches(
            "http://localhost:8400/cb",
            "http://localhost:9/cb"
        ));
        assert!(!redirect_uri_matches(
            "http://localhost/cb",
            "http://localhost:9/other"
        ));
        assert!(!redirect_uri_matches(
            "https://a.example/cb",
            "https://a.example/cb2"
        ));
    }
}
