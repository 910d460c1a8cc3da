//! A Windows device as the device registration service sees it: the start of ztd's device simulator.
//!
//! [`DeviceClient`] does what Windows does during and after an Entra join, over real HTTPS against a ztd
//! server (or anything speaking the same protocols): it signs a user in for the DRS resource, generates the
//! device and transport keys, builds the PKCS#10 request and the transport key blob, joins (optionally tied
//! to its Autopilot registration by the join ticket of its boot answer), keeps its certificate, obtains a
//! Primary Refresh Token, uses it for access tokens, renews it, asks for the userless device token, and
//! leaves (a certificate-authenticated `DELETE` over mutual TLS). Messages and crypto are `ztd-drs`'s.

use std::path::Path;

pub mod mdm;

use aws_lc_rs::encoding::AsDer;
use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};
use ztd_drs::messages::{CertificateRequestField, JoinRequest, JoinResponse};
use ztd_drs::RsaPublicKey;

/// Windows' broker client, as roadlib and dsreg name it for PRT requests.
pub const PRT_CLIENT: &str = "38aa3b87-a06d-4817-b275-7a316988d93b";
/// The Azure CLI's client id (a first-party public client) for the user's DRS sign-in.
pub const SIGN_IN_CLIENT: &str = "04b07795-8ddb-461a-bbee-02f9e1bf7b46";
/// The DRS resource.
pub const DRS_RESOURCE: &str = "urn:ms-drs:enterpriseregistration.windows.net";

/// What went wrong, with the server's answer when there was one.
#[derive(Debug, thiserror::Error)]
pub enum DeviceError {
    #[error("HTTP: {0}")]
    Http(#[from] reqwest::Error),
    #[error("the server refused ({status}): {body}")]
    Refused { status: u16, body: String },
    #[error("{0}")]
    Protocol(String),
    #[error("{0}")]
    Drs(#[from] ztd_drs::DrsError),
    #[error("file: {0}")]
    Io(#[from] std::io::Error),
}

pub type Result<T> = std::result::Result<T, DeviceError>;

fn protocol(text: impl Into<String>) -> DeviceError {
    DeviceError::Protocol(text.into())
}

/// A joined device's identity: its certificate and the two private keys (PKCS#8), as a device keeps them.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DeviceIdentity {
    pub device_id: uuid::Uuid,
    pub tenant_id: String,
    /// base64 DER.
    pub certificate: String,
    /// base64 PKCS#8 of the device key (the certificate's).
    pub device_key: String,
    /// base64 PKCS#8 of the transport key (session keys are encrypted to it).
    pub transport_key: String,
}

impl DeviceIdentity {
    pub fn certificate_der(&self) -> Result<Vec<u8>> {
        STANDARD
            .decode(&self.certificate)
            .map_err(|e| protocol(format!("the stored certificate: {e}")))
    }

    fn key(&self, which: &str) -> Result<Vec<u8>> {
        let text = if which == "device" {
            &self.device_key
        } else {
            &self.transport_key
        };
        STANDARD
            .decode(text)
            .map_err(|e| protocol(format!("the stored {which} key: {e}")))
    }

    /// The certificate and device key as PEM (what mutual TLS presents).
    pub fn identity_pem(&self) -> Result<Vec<u8>> {
        let cert = pem::encode(&pem::Pem::new("CERTIFICATE", self.certificate_der()?));
        let key = pem::encode(&pem::Pem::new("PRIVATE KEY", self.key("device")?));
        Ok(format!("{cert}{key}").into_bytes())
    }

    /// Saves the identity as JSON, created readable by its owner only on Unix (it holds private keys).
    pub fn save(&self, path: &Path) -> Result<()> {
        use std::io::Write;
        let text = serde_json::to_vec_pretty(self).map_err(|e| protocol(e.to_string()))?;
        let mut options = std::fs::OpenOptions::new();
        options.write(true).create(true).truncate(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::OpenOptionsExt;
            options.mode(0o600);
        }
        let mut file = options.open(path)?;
        file.write_all(&text)?;
        Ok(())
    }

    pub fn load(path: &Path) -> Result<Self> {
        let bytes = std::fs::read(path)?;
        serde_json::from_slice(&bytes)
            .map_err(|e| protocol(format!("{} is not a device identity: {e}", path.display())))
    }
}

/// A PRT and its session key.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PrimaryRefreshToken {
    pub token: String,
    /// base64.
    pub session_key: String,
}

impl PrimaryRefreshToken {
    fn key(&self) -> Result<Vec<u8>> {
        STANDARD
            .decode(&self.session_key)
            .map_err(|e| protocol(format!("the session key: {e}")))
    }
}

/// Which key derivation a session-key-signed request uses ([MS-OAPXBC] §3.1.5.2.1.3).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kdf {
    V1,
    V2,
}

/// A device's two RSA-2048 keys (PKCS#8): the device key (its certificate's) and the transport key.
#[derive(Clone)]
pub struct DeviceKeys {
    device: Vec<u8>,
    transport: Vec<u8>,
}

impl DeviceKeys {
    pub fn generate() -> Result<Self> {
        Ok(Self {
            device: new_rsa_key()?,
            transport: new_rsa_key()?,
        })
    }
}

/// An RSA-2048 key pair as PKCS#8 (AWS-LC's generator).
fn new_rsa_key() -> Result<Vec<u8>> {
    let pair = aws_lc_rs::rsa::KeyPair::generate(aws_lc_rs::rsa::KeySize::Rsa2048)
        .map_err(|_| protocol("RSA key generation failed"))?;
    let der = pair
        .as_der()
        .map_err(|_| protocol("RSA key encoding failed"))?;
    Ok(der.as_ref().to_vec())
}

fn public_key(pkcs8: &[u8]) -> Result<RsaPublicKey> {
    use aws_lc_rs::signature::KeyPair as _;
    let pair = aws_lc_rs::rsa::KeyPair::from_pkcs8(pkcs8)
        .map_err(|_| protocol("the key is not an RSA PKCS#8 key"))?;
    Ok(RsaPublicKey::from_pkcs1_der(pair.public_key().as_ref())?)
}

/// A PKCS#10 request signed by `pkcs8` with Windows' placeholder subject.
fn certificate_request(pkcs8: &[u8]) -> Result<Vec<u8>> {
    let key = rcgen::KeyPair::from_pkcs8_der_and_sign_algo(
        &rustls_pki_types::PrivatePkcs8KeyDer::from(pkcs8.to_vec()),
        &rcgen::PKCS_RSA_SHA256,
    )
    .map_err(|e| protocol(format!("the device key: {e}")))?;
    let mut params = rcgen::CertificateParams::default();
    let mut name = rcgen::DistinguishedName::new();
    name.push(
        rcgen::DnType::CommonName,
        "7E980AD9-B86D-4306-9425-9AC066FB014A",
    );
    params.distinguished_name = name;
    let csr = params
        .serialize_request(&key)
        .map_err(|e| protocol(format!("building the certificate request: {e}")))?;
    Ok(csr.der().to_vec())
}

/// The unix time now (a device reads its clock; the server decides what is fresh).
#[allow(
    clippy::disallowed_methods,
    reason = "a device client reads the real clock"
)]
fn unix_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

fn random<const N: usize>() -> [u8; N] {
    let mut out = [0u8; N];
    aws_lc_rs::rand::fill(&mut out).unwrap_or_default();
    out
}

/// A Windows-style default device name, `DESKTOP-` and eight random letters and digits.
pub fn default_device_name() -> String {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
    let suffix: String = random::<8>()
        .iter()
        .map(|b| char::from(ALPHABET[usize::from(*b) % ALPHABET.len()]))
        .collect();
    format!("DESKTOP-{suffix}")
}

/// A device talking to one server. `base` is the server's URL (every service ztd plays is on it).
#[derive(Clone)]
pub struct DeviceClient {
    base: String,
    tenant: String,
    roots: Vec<reqwest::Certificate>,
    http: reqwest::Client,
}

impl DeviceClient {
    /// A client of `base` for `tenant` (id or domain), trusting the built-in roots plus `ca_pem`.
    pub fn new(base: &str, tenant: &str, ca_pem: Option<&[u8]>) -> Result<Self> {
        let roots = match ca_pem {
            Some(pem) => reqwest::Certificate::from_pem_bundle(pem)?,
            None => Vec::new(),
        };
        let http = Self::builder(&roots).build()?;
        Ok(Self {
            base: base.trim_end_matches('/').to_string(),
            tenant: tenant.to_string(),
            roots,
            http,
        })
    }

    fn builder(roots: &[reqwest::Certificate]) -> reqwest::ClientBuilder {
        let mut builder = reqwest::Client::builder()
            .use_rustls_tls()
            .user_agent("Dsreg/10.0 (Windows 10.0.22631.4460) ztd-device")
            .timeout(std::time::Duration::from_secs(30));
        for root in roots {
            builder = builder.add_root_certificate(root.clone());
        }
        builder
    }

    async fn json(response: reqwest::Response) -> Result<Value> {
        let status = response.status();
        let body = response.text().await?;
        if !status.is_success() {
            return Err(DeviceError::Refused {
                status: status.as_u16(),
                body,
            });
        }
        serde_json::from_str(&body).map_err(|e| protocol(format!("the answer is not JSON: {e}")))
    }

    /// A user's access token for the DRS resource (the v1 password grant, as Windows' setup signs in).
    pub async fn user_token(&self, user: &str, password: &str, resource: &str) -> Result<String> {
        let response = self
            .http
            .post(format!("{}/{}/oauth2/token", self.base, self.tenant))
            .form(&[
                ("grant_type", "password"),
                ("client_id", SIGN_IN_CLIENT),
                ("resource", resource),
                ("username", user),
                ("password", password),
            ])
            .send()
            .await?;
        let answer = Self::json(response).await?;
        answer["access_token"]
            .as_str()
            .map(str::to_string)
            .ok_or_else(|| protocol("the token answer has no access_token"))
    }

    /// `GET /health` (the baseline a benchmark compares the device calls with).
    pub async fn health(&self) -> Result<()> {
        let response = self
            .http
            .get(format!("{}/health", self.base))
            .send()
            .await?;
        if response.status().is_success() {
            Ok(())
        } else {
            Err(DeviceError::Refused {
                status: response.status().as_u16(),
                body: response.text().await?,
            })
        }
    }

    /// The DRS discovery document.
    pub async fn discover(&self) -> Result<Value> {
        let response = self
            .http
            .get(format!(
                "{}/{}/Discover?api-version=1.9",
                self.base, self.tenant
            ))
            .send()
            .await?;
        Self::json(response).await
    }

    /// Joins (`join_type` 0) or registers (4) this device with a user's DRS token: new device and transport
    /// keys, the CSR and transport key blob, and the certificate the service issues. `ticket` is the join
    /// ticket of the device's boot answer, which ties the join to its Autopilot registration.
    pub async fn join(
        &self,
        drs_token: &str,
        display_name: &str,
        join_type: i64,
        ticket: Option<&str>,
    ) -> Result<DeviceIdentity> {
        let keys = DeviceKeys::generate()?;
        self.join_with_keys(drs_token, display_name, join_type, ticket, &keys)
            .await
    }

    /// [`DeviceClient::join`] with keys made beforehand (a simulator joining many devices reuses keys so
    /// that key generation does not dominate what it measures).
    pub async fn join_with_keys(
        &self,
        drs_token: &str,
        display_name: &str,
        join_type: i64,
        ticket: Option<&str>,
        keys: &DeviceKeys,
    ) -> Result<DeviceIdentity> {
        let device_key = keys.device.clone();
        let transport_key = keys.transport.clone();
        let csr = certificate_request(&device_key)?;
        let mut attributes = Map::new();
        attributes.insert("ReuseDevice".into(), "true".into());
        attributes.insert("ReturnClientSid".into(), "true".into());
        if let Some(ticket) = ticket {
            attributes.insert("ztdJoinTicket".into(), ticket.into());
        }
        let request = JoinRequest {
            certificate_request: CertificateRequestField {
                kind: "pkcs10".into(),
                data: STANDARD.encode(&csr),
            },
            transport_key: Some(STANDARD.encode(public_key(&transport_key)?.to_bcrypt_blob())),
            target_domain: Some(self.tenant.clone()),
            device_type: Some("Windows".into()),
            os_version: Some("10.0.22631.4460".into()),
            device_display_name: Some(display_name.into()),
            join_type,
            attributes: Some(attributes),
            aik_certificate: None,
            attestation_data: None,
        };
        let response = self
            .http
            .post(format!(
                "{}/EnrollmentServer/device/?api-version=2.0",
                self.base
            ))
            .bearer_auth(drs_token)
            .json(&request)
            .send()
            .await?;
        let answer: JoinResponse = serde_json::from_value(Self::json(response).await?)
            .map_err(|e| protocol(format!("the join answer: {e}")))?;
        let der = STANDARD
            .decode(&answer.certificate.raw_body)
            .map_err(|e| protocol(format!("the issued certificate: {e}")))?;
        let parsed = ztd_drs::certificate::parse_device_certificate(&der)?;
        Ok(DeviceIdentity {
            device_id: parsed.device_id,
            tenant_id: parsed
                .tenant_id
                .map(|t| t.to_string())
                .unwrap_or_else(|| self.tenant.clone()),
            certificate: STANDARD.encode(&der),
            device_key: STANDARD.encode(&device_key),
            transport_key: STANDARD.encode(&transport_key),
        })
    }

    /// A fresh server nonce (`grant_type=srv_challenge`).
    pub async fn nonce(&self) -> Result<String> {
        let response = self
            .http
            .post(format!("{}/common/oauth2/token", self.base))
            .form(&[("grant_type", "srv_challenge")])
            .send()
            .await?;
        Self::json(response).await?["Nonce"]
            .as_str()
            .map(str::to_string)
            .ok_or_else(|| protocol("the challenge answer has no Nonce"))
    }

    /// Posts a request signed by the device key (header `x5c`) to the v1 token endpoint.
    async fn device_signed(
        &self,
        identity: &DeviceIdentity,
        claims: &Value,
        extra: &[(&str, &str)],
    ) -> Result<Value> {
        let mut header = Map::new();
        header.insert("x5c".into(), identity.certificate.clone().into());
        header.insert("kdf_ver".into(), 2.into());
        let request = ztd_drs::jose::sign_rs256(&header, claims, &identity.key("device")?)?;
        let mut form = vec![
            ("windows_api_version", "2.2"),
            ("grant_type", "urn:ietf:params:oauth:grant-type:jwt-bearer"),
            ("request", request.as_str()),
        ];
        form.extend_from_slice(extra);
        let response = self
            .http
            .post(format!("{}/{}/oauth2/token", self.base, identity.tenant_id))
            .form(&form)
            .send()
            .await?;
        Self::json(response).await
    }

    /// A PRT for `user`, requested with the device's certificate and the user's password; the session key
    /// is decrypted with the transport key.
    pub async fn request_prt(
        &self,
        identity: &DeviceIdentity,
        user: &str,
        password: &str,
    ) -> Result<PrimaryRefreshToken> {
        let claims = json!({
            "client_id": PRT_CLIENT,
            "request_nonce": self.nonce().await?,
            "scope": "openid aza ugs",
            "group_sids": [],
            "win_ver": "10.0.22631.4460",
            "grant_type": "password",
            "username": user,
            "password": password,
        });
        let answer = self
            .device_signed(identity, &claims, &[("client_info", "1")])
            .await?;
        let token = answer["refresh_token"]
            .as_str()
            .ok_or_else(|| protocol("the PRT answer has no refresh_token"))?;
        let jwe = answer["session_key_jwe"]
            .as_str()
            .ok_or_else(|| protocol("the PRT answer has no session_key_jwe"))?;
        let key = ztd_drs::jose::open_session_key_jwe(jwe, &identity.key("transport")?)?;
        Ok(PrimaryRefreshToken {
            token: token.to_string(),
            session_key: STANDARD.encode(key),
        })
    }

    /// The userless device token for `resource` (MDM enrollment in self-deploying mode).
    pub async fn device_token(&self, identity: &DeviceIdentity, resource: &str) -> Result<String> {
        let claims = json!({
            "resource": resource,
            "client_id": "29d9ed98-a469-4536-ade2-f981bc1d605e",
            "request_nonce": self.nonce().await?,
            "win_ver": "10.0.22631.4460",
            "grant_type": "device_token",
            "redirect_uri": "ms-aadj-redir://auth/mdm",
            "iss": "aad:brokerplugin",
        });
        let answer = self.device_signed(identity, &claims, &[]).await?;
        answer["access_token"]
            .as_str()
            .map(str::to_string)
            .ok_or_else(|| protocol("the device token answer has no access_token"))
    }

    /// Posts a request signed with a key derived from the PRT's session key; decrypts the answer.
    async fn session_signed(
        &self,
        identity: &DeviceIdentity,
        prt: &PrimaryRefreshToken,
        mut claims: Value,
        kdf: Kdf,
    ) -> Result<Value> {
        let session_key = prt.key()?;
        claims["request_nonce"] = self.nonce().await?.into();
        claims["refresh_token"] = prt.token.clone().into();
        let ctx = random::<24>();
        let mut header = Map::new();
        header.insert("ctx".into(), STANDARD.encode(ctx).into());
        let key = match kdf {
            Kdf::V1 => ztd_drs::kdf::derive_key_v1(&session_key, &ctx),
            Kdf::V2 => {
                header.insert("kdf_ver".into(), 2.into());
                // The v2 context covers the payload exactly as it is sent.
                let payload = serde_json::to_vec(&claims).map_err(|e| protocol(e.to_string()))?;
                ztd_drs::kdf::derive_key_v2(&session_key, &ctx, &payload)
            }
        };
        let request = ztd_drs::jose::sign_hs256(&header, &claims, &key);
        let response = self
            .http
            .post(format!("{}/{}/oauth2/token", self.base, identity.tenant_id))
            .form(&[
                ("windows_api_version", "2.2"),
                ("grant_type", "urn:ietf:params:oauth:grant-type:jwt-bearer"),
                ("request", request.as_str()),
                ("client_info", "1"),
            ])
            .send()
            .await?;
        let status = response.status();
        let body = response.text().await?;
        if !status.is_success() {
            return Err(DeviceError::Refused {
                status: status.as_u16(),
                body,
            });
        }
        let plain = ztd_drs::jose::decrypt_response(&session_key, &body)?;
        serde_json::from_slice(&plain).map_err(|e| protocol(format!("the decrypted answer: {e}")))
    }

    /// Tokens for `client_id` and `resource` through the PRT (what the Windows broker does for apps).
    pub async fn prt_tokens(
        &self,
        identity: &DeviceIdentity,
        prt: &PrimaryRefreshToken,
        client_id: &str,
        resource: &str,
        kdf: Kdf,
    ) -> Result<Value> {
        let now = unix_now();
        let claims = json!({
            "win_ver": "10.0.22631.4460",
            "scope": "openid",
            "resource": resource,
            "redirect_uri": format!("ms-appx-web://Microsoft.AAD.BrokerPlugin/{client_id}"),
            "iss": "aad:brokerplugin",
            "grant_type": "refresh_token",
            "client_id": client_id,
            "aud": "login.microsoftonline.com",
            "iat": now.to_string(),
            "exp": (now + 3600).to_string(),
        });
        self.session_signed(identity, prt, claims, kdf).await
    }

    /// A renewed PRT (the session key stays).
    pub async fn renew_prt(
        &self,
        identity: &DeviceIdentity,
        prt: &PrimaryRefreshToken,
    ) -> Result<PrimaryRefreshToken> {
        let claims = json!({
            "client_id": PRT_CLIENT,
            "scope": "openid aza ugs",
            "iss": "aad:brokerplugin",
            "grant_type": "refresh_token",
            "previous_refresh_token": prt.token,
            "win_ver": "10.0.22631.4460",
        });
        let answer = self.session_signed(identity, prt, claims, Kdf::V2).await?;
        let token = answer["refresh_token"]
            .as_str()
            .ok_or_else(|| protocol("the renewal has no refresh_token"))?;
        Ok(PrimaryRefreshToken {
            token: token.to_string(),
            session_key: prt.session_key.clone(),
        })
    }

    /// Leaves: `DELETE /EnrollmentServer/device/{id}` with the device certificate over mutual TLS.
    pub async fn leave(&self, identity: &DeviceIdentity) -> Result<()> {
        let tls = reqwest::Identity::from_pem(&identity.identity_pem()?)?;
        let http = Self::builder(&self.roots).identity(tls).build()?;
        let response = http
            .delete(format!(
                "{}/EnrollmentServer/device/{}?api-version=2.0",
                self.base, identity.device_id
            ))
            .send()
            .await?;
        let status = response.status();
        if status.is_success() {
            Ok(())
        } else {
            Err(DeviceError::Refused {
                status: status.as_u16(),
                body: response.text().await?,
            })
        }
    }
}
