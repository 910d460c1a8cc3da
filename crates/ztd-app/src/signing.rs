//! Each tenant's token signing keys: RSA-2048, one active, older ones published until their tokens expire,
//! as Entra publishes its keys at `/{tenant}/discovery/keys`. Tokens are RS256 JWTs signed here.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};

use aws_lc_rs::encoding::AsDer;
use aws_lc_rs::rsa::{KeyPair, KeySize};
use aws_lc_rs::signature::{KeyPair as _, RSA_PKCS1_SHA256};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use serde::Serialize;
use sha2::{Digest, Sha256};
use ztd_core::event::EventKind;
use ztd_core::{TenantId, Timestamp};
use ztd_store::{Lock, StoredSigningKey};

use crate::{App, AppError, AppResult};

/// How long a retired key stays published: longer than any token it signed lives.
pub const RETIRED_KEY_PUBLISHED_MILLIS: i64 = 24 * 3_600_000;
/// How long a node serves its cached copy of a tenant's keys before reading them again (a rotation on
/// another node reaches this one within this bound; a token signed there with an unknown `kid` makes this
/// node read at once).
const KEY_CACHE_MILLIS: i64 = 60_000;

/// Makes RSA key pairs. Injected so the production keys come from AWS-LC's generator (its own CSPRNG)
/// while the rest of the app's randomness stays under test control.
pub trait KeyFactory: Send + Sync {
    /// A fresh RSA-2048 key pair as PKCS#8 DER.
    fn generate_rsa_2048(&self) -> AppResult<Vec<u8>>;
}

/// AWS-LC's RSA key generation.
#[derive(Debug, Default)]
pub struct AwsLcKeys;

impl KeyFactory for AwsLcKeys {
    fn generate_rsa_2048(&self) -> AppResult<Vec<u8>> {
        let pair = KeyPair::generate(KeySize::Rsa2048)
            .map_err(|_| internal("RSA key generation failed"))?;
        let der = pair
            .as_der()
            .map_err(|_| internal("RSA key encoding failed"))?;
        Ok(der.as_ref().to_vec())
    }
}

fn internal(message: &str) -> AppError {
    AppError::Store(ztd_store::StoreError::Corrupt(message.to_string()))
}

/// A public key as a JSON Web Key.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Jwk {
    pub kty: &'static str,
    #[serde(rename = "use")]
    pub usage: &'static str,
    pub kid: String,
    /// Entra publishes the same value as `x5t`.
    pub x5t: String,
    /// Modulus and exponent, base64url.
    pub n: String,
    pub e: String,
}

/// One usable key.
pub struct SigningKey {
    pub kid: String,
    pair: KeyPair,
    pub jwk: Jwk,
}

impl SigningKey {
    fn from_stored(stored: &StoredSigningKey) -> AppResult<Self> {
        let der = hex::decode(stored.private_der_hex.trim())
            .map_err(|_| internal("a signing key is not valid hex"))?;
        let pair = KeyPair::from_pkcs8(&der)
            .map_err(|_| internal("a signing key is not a PKCS#8 RSA key"))?;
        let public = pair.public_key();
        let jwk = Jwk {
            kty: "RSA",
            usage: "sig",
            kid: stored.kid.clone(),
            x5t: stored.kid.clone(),
            n: URL_SAFE_NO_PAD.encode(public.modulus().big_endian_without_leading_zero()),
            e: URL_SAFE_NO_PAD.encode(public.exponent().big_endian_without_leading_zero()),
        };
        Ok(Self {
            kid: stored.kid.clone(),
            pair,
            jwk,
        })
    }

    /// `header.claims.signature` (RS256).
    pub fn sign(&self, claims: &impl Serialize) -> AppResult<String> {
        let header =
            serde_json::json!({ "typ": "JWT", "alg": "RS256", "kid": self.kid, "x5t": self.kid });
        let mut token = format!(
            "{}.{}",
            URL_SAFE_NO_PAD.encode(header.to_string()),
            URL_SAFE_NO_PAD.encode(
                serde_json::to_vec(claims).map_err(|_| internal("claims do not serialise"))?
            )
        );
        let mut signature = vec![0u8; self.pair.public_modulus_len()];
        let rng = aws_lc_rs::rand::SystemRandom::new();
        self.pair
            .sign(&RSA_PKCS1_SHA256, &rng, token.as_bytes(), &mut signature)
            .map_err(|_| internal("RSA signing failed"))?;
        token.push('.');
        token.push_str(&URL_SAFE_NO_PAD.encode(signature));
        Ok(token)
    }
}

/// A tenant's keys: the one that signs, and every one that verifies (published).
pub struct TenantKeys {
    pub active: SigningKey,
    pub published: Vec<Jwk>,
}

struct CachedKeys {
    loaded_at: Timestamp,
    keys: Arc<TenantKeys>,
}

/// The per-node cache of tenants' keys.
#[derive(Default)]
pub(crate) struct KeyCache {
    tenants: RwLock<HashMap<TenantId, CachedKeys>>,
}

/// A key id: the SHA-256 of the public key, base64url, shortened as Entra's are (27 characters).
fn key_id(der: &[u8]) -> AppResult<String> {
    let pair = KeyPair::from_pkcs8(der).map_err(|_| internal("a new key does not parse"))?;
    let public = pair
        .public_key()
        .as_der()
        .map_err(|_| internal("a public key does not encode"))?;
    let digest = Sha256::digest(public.as_ref());
    Ok(URL_SAFE_NO_PAD.encode(&digest[..20]))
}

impl App {
    /// The tenant's keys, from this node's cache while fresh; created on first use.
    pub async fn signing_keys(&self, tenant: TenantId) -> AppResult<Arc<TenantKeys>> {
        let now = self.now();
        if let Ok(cache) = self.keys.tenants.read() {
            if let Some(hit) = cache.get(&tenant) {
                if now.0.saturating_sub(hit.loaded_at.0) < KEY_CACHE_MILLIS {
                    return Ok(hit.keys.clone());
                }
            }
        }
        self.reload_signing_keys(tenant).await
    }

    /// The tenant's keys read from the database now (a token names a key this node has not seen).
    pub async fn reload_signing_keys(&self, tenant: TenantId) -> AppResult<Arc<TenantKeys>> {
        let now = self.now();
        let stored = {
            let mut tx = self.store.begin_read().await?;
            tx.list_signing_keys(tenant).await?
        };
        let stored = if stored.iter().any(|k| k.retired_at.is_none()) {
            stored
        } else {
            self.create_signing_key(tenant, false).await?
        };
        let keys = Arc::new(tenant_keys(&stored, now)?);
        if let Ok(mut cache) = self.keys.tenants.write() {
            cache.insert(
                tenant,
                CachedKeys {
                    loaded_at: now,
                    keys: keys.clone(),
                },
            );
        }
        Ok(keys)
    }

    /// Replaces the tenant's active key: tokens it signed keep verifying until they expire (the retired key
    /// stays published for [`RETIRED_KEY_PUBLISHED_MILLIS`]); new tokens are signed with the new key.
    pub async fn rotate_signing_key(&self, tenant: TenantId) -> AppResult<String> {
        let stored = self.create_signing_key(tenant, true).await?;
        let keys = tenant_keys(&stored, self.now())?;
        let kid = keys.active.kid.clone();
        if let Ok(mut cache) = self.keys.tenants.write() {
            cache.remove(&tenant);
        }
        Ok(kid)
    }

    /// Creates a key (retiring the active one when `rotate`), in one transaction under the tenant's key
    /// lock so that nodes starting together create one key, not several. Returns the tenant's keys after.
    async fn create_signing_key(
        &self,
        tenant: TenantId,
        rotate: bool,
    ) -> AppResult<Vec<StoredSigningKey>> {
        let factory = self.key_factory.clone();
        let der = tokio::task::spawn_blocking(move || factory.generate_rsa_2048())
            .await
            .map_err(|_| internal("key generation was cancelled"))??;
        let now = self.now();
        let mut tx = self.store.begin().await?;
        tx.lock(Lock::SigningKeys(tenant)).await?;
        if tx.get_tenant(tenant).await?.is_none() {
            return Err(AppError::not_found(
                ztd_core::error::ObjectKind::Tenant,
                tenant,
            ));
        }
        let existing = tx.list_signing_keys(tenant).await?;
        if !rotate && existing.iter().any(|k| k.retired_at.is_none()) {
            // Another node created it meanwhile.
            return Ok(existing);
        }
        tx.retire_signing_keys(tenant, now).await?;
        tx.delete_retired_signing_keys(
            tenant,
            Timestamp(now.0.saturating_sub(RETIRED_KEY_PUBLISHED_MILLIS)),
        )
        .await?;
        let kid = key_id(&der)?;
        tx.insert_signing_key(&StoredSigningKey {
            tenant_id: tenant,
            kid: kid.clone(),
            private_der_hex: hex::encode(&der),
            created_at: now,
            retired_at: None,
        })
        .await?;
        tx.append_events(&[self.event(
            tenant,
            EventKind::SigningKeyRotated,
            &kid,
            serde_json::json!({ "kid": kid, "rotation": rotate }),
        )])
        .await?;
        let keys = tx.list_signing_keys(tenant).await?;
        tx.commit().await?;
        Ok(keys)
    }
}

fn tenant_keys(stored: &[StoredSigningKey], now: Timestamp) -> AppResult<TenantKeys> {
    let active = stored
        .iter()
        .find(|k| k.retired_at.is_none())
        .ok_or_else(|| internal("a tenant has no active signing key"))?;
    let active = SigningKey::from_stored(active)?;
    let mut published = vec![active.jwk.clone()];
    for key in stored {
        let recent = key
            .retired_at
            .is_some_and(|at| now.0.saturating_sub(at.0) < RETIRED_KEY_PUBLISHED_MILLIS);
        if recent {
            published.push(SigningKey::from_stored(key)?.jwk);
        }
    }
    Ok(TenantKeys { active, published })
}
