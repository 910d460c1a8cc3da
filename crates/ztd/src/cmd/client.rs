//! The admin API client the CLI uses: finds the server and credentials, obtains a token, sends requests.
//!
//! * **Where the server is:** `--server`, else `ZTD_SERVER`, else the `server` of the credentials file, else
//!   [`DEFAULT_SERVER`].
//! * **TLS:** the built-in web PKI roots, plus the certificates of `--ca-cert`/`ZTD_CA_CERT` and of
//!   `SSL_CERT_FILE` (PEM bundles), for a server whose CA is private. A certificate that is still not trusted
//!   is reported as such, with what to do.
//! * **Retries:** a 503 or 429 answer to an idempotent request (GETs, the token request, import batches, which
//!   the server applies idempotently per row) is retried up to [`RETRY_ATTEMPTS`] times in all, after the
//!   `Retry-After` the server asks for (at most [`MAX_RETRY_AFTER`]) or else an exponential backoff from
//!   [`FIRST_BACKOFF`] doubling up to [`MAX_BACKOFF`]. Requests that create something are sent once.

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{bail, Context};
use reqwest::StatusCode;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

/// The server the CLI talks to when nothing says otherwise.
pub const DEFAULT_SERVER: &str = "http://127.0.0.1:8950";
/// Attempts in all for a retried request (the first one included).
pub const RETRY_ATTEMPTS: u32 = 5;
/// Wait before the second attempt; doubles after each.
pub const FIRST_BACKOFF: Duration = Duration::from_millis(200);
/// Longest backoff between two attempts.
pub const MAX_BACKOFF: Duration = Duration::from_secs(5);
/// Longest `Retry-After` honoured (a longer one is cut to this).
pub const MAX_RETRY_AFTER: Duration = Duration::from_secs(30);

/// Where the server is and how to sign in, as the CLI's flags give it. Flags override environment variables,
/// which override the credentials file that `ztd serve` writes on first start.
#[derive(Debug, Clone, clap::Args)]
pub struct ConnectArgs {
    /// Base URL of the ztd server [default: the `server` in the credentials file, else http://127.0.0.1:8950].
    #[arg(long, env = "ZTD_SERVER", global = true)]
    pub server: Option<String>,
    /// Credentials file written by `ztd serve` on first start.
    #[arg(
        long,
        env = "ZTD_CREDENTIALS",
        default_value = "ztd-data/credentials.json",
        global = true
    )]
    pub credentials: PathBuf,
    /// Tenant id (overrides the credentials file).
    #[arg(long, env = "ZTD_TENANT_ID", global = true)]
    pub tenant_id: Option<String>,
    /// Application (client) id (overrides the credentials file).
    #[arg(long, env = "ZTD_CLIENT_ID", global = true)]
    pub client_id: Option<String>,
    /// Client secret (overrides the credentials file).
    #[arg(long, env = "ZTD_CLIENT_SECRET", global = true, hide_env_values = true)]
    pub client_secret: Option<String>,
    /// PEM file of CA certificates to trust for an https server, besides the built-in roots (SSL_CERT_FILE is
    /// honoured too).
    #[arg(long, env = "ZTD_CA_CERT", global = true, value_name = "PEM")]
    pub ca_cert: Option<PathBuf>,
}

/// An explicit server and credentials (for callers inside the binary, such as `ztd bench`).
#[derive(Debug, Clone)]
pub struct ServerArgs {
    pub server: String,
    pub credentials: PathBuf,
    pub tenant_id: Option<String>,
    pub client_id: Option<String>,
    pub client_secret: Option<String>,
}

impl From<&ServerArgs> for ConnectArgs {
    fn from(args: &ServerArgs) -> Self {
        ConnectArgs {
            server: Some(args.server.clone()),
            credentials: args.credentials.clone(),
            tenant_id: args.tenant_id.clone(),
            client_id: args.client_id.clone(),
            client_secret: args.client_secret.clone(),
            ca_cert: None,
        }
    }
}

/// The credentials file (`credentials.json`).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CredentialsFile {
    pub tenant_id: String,
    pub client_id: String,
    pub client_secret: String,
    #[serde(default)]
    pub server: Option<String>,
}

impl ConnectArgs {
    /// The credentials file, if there is one.
    fn credentials_file(&self) -> anyhow::Result<Option<CredentialsFile>> {
        match std::fs::read(&self.credentials) {
            Ok(bytes) => Ok(Some(serde_json::from_slice(&bytes).with_context(|| {
                format!(
                    "{} is not a ztd credentials file",
                    self.credentials.display()
                )
            })?)),
            Err(_) => Ok(None),
        }
    }

    /// The server's base URL (no trailing slash): flag, else environment, else credentials file, else default.
    pub fn base_url(&self) -> anyhow::Result<String> {
        let file = self.credentials_file()?;
        Ok(resolve_server(self.server.as_deref(), file.as_ref()))
    }

    /// An HTTP client trusting the built-in roots plus `--ca-cert` and `SSL_CERT_FILE`.
    pub fn http_client(&self) -> anyhow::Result<reqwest::Client> {
        let ssl_cert_file = std::env::var_os("SSL_CERT_FILE")
            .filter(|v| !v.is_empty())
            .map(PathBuf::from);
        http_client(self.ca_cert.as_deref(), ssl_cert_file.as_deref())
    }
}

/// Flag or environment (clap merges those), else the credentials file, else [`DEFAULT_SERVER`].
pub fn resolve_server(flag_or_env: Option<&str>, file: Option<&CredentialsFile>) -> String {
    flag_or_env
        .filter(|s| !s.trim().is_empty())
        .or_else(|| file.and_then(|f| f.server.as_deref()))
        .filter(|s| !s.trim().is_empty())
        .unwrap_or(DEFAULT_SERVER)
        .trim()
        .trim_end_matches('/')
        .to_string()
}

fn http_client(
    ca_cert: Option<&Path>,
    ssl_cert_file: Option<&Path>,
) -> anyhow::Result<reqwest::Client> {
    let mut builder = reqwest::Client::builder();
    for (path, origin) in [(ca_cert, "--ca-cert"), (ssl_cert_file, "SSL_CERT_FILE")] {
        let Some(path) = path else { continue };
        let pem = std::fs::read(path)
            .with_context(|| format!("cannot read {} ({origin})", path.display()))?;
        let certificates = reqwest::Certificate::from_pem_bundle(&pem).with_context(|| {
            format!(
                "{} ({origin}) is not a PEM certificate bundle",
                path.display()
            )
        })?;
        if certificates.is_empty() {
            bail!(
                "{} ({origin}) holds no PEM certificate (-----BEGIN CERTIFICATE-----)",
                path.display()
            );
        }
        for certificate in certificates {
            builder = builder.add_root_certificate(certificate);
        }
    }
    Ok(builder.build()?)
}

/// Says what went wrong sending a request to `base`: an untrusted TLS certificate, or no server at all.
pub fn send_error(base: &str, err: reqwest::Error) -> anyhow::Error {
    if let Some(detail) = untrusted_certificate(&err) {
        return anyhow::anyhow!(
            "the server's TLS certificate is not trusted; pass --ca-cert <file> or set SSL_CERT_FILE ({base}: {detail})"
        );
    }
    if err.is_connect() {
        return anyhow::Error::new(err).context(format!(
            "cannot reach the ztd server at {base}; is `ztd serve` running?"
        ));
    }
    anyhow::Error::new(err).context(format!("the request to the ztd server at {base} failed"))
}

/// The rustls certificate error somewhere in `err`'s chain, if any.
fn untrusted_certificate(err: &(dyn std::error::Error + 'static)) -> Option<String> {
    let mut next = Some(err);
    while let Some(e) = next {
        // io::Error's `source` skips the error it wraps, so look inside it explicitly.
        let wrapped = e
            .downcast_ref::<std::io::Error>()
            .and_then(|io| io.get_ref())
            .map(|inner| inner as &(dyn std::error::Error + 'static));
        for candidate in [Some(e), wrapped].into_iter().flatten() {
            if let Some(tls) = candidate.downcast_ref::<rustls::Error>() {
                if matches!(
                    tls,
                    rustls::Error::InvalidCertificate(_) | rustls::Error::NoCertificatesPresented
                ) {
                    return Some(tls.to_string());
                }
            }
            let text = candidate.to_string();
            if text.contains("invalid peer certificate") {
                return Some(text);
            }
        }
        next = e.source();
    }
    None
}

/// How long to wait before attempt `attempt + 1` (1-based `attempt`), given the server's `Retry-After`.
pub fn retry_delay(attempt: u32, retry_after: Option<&str>) -> Duration {
    if let Some(seconds) = retry_after.and_then(|v| v.trim().parse::<u64>().ok()) {
        return Duration::from_secs(seconds).min(MAX_RETRY_AFTER);
    }
    FIRST_BACKOFF
        .saturating_mul(1u32 << attempt.saturating_sub(1).min(16))
        .min(MAX_BACKOFF)
}

fn is_retryable(status: StatusCode) -> bool {
    status == StatusCode::SERVICE_UNAVAILABLE || status == StatusCode::TOO_MANY_REQUESTS
}

/// Sends the request `build` makes, again after a 503 or 429 (see the module docs). Only for idempotent
/// requests.
pub async fn send_retrying(
    base: &str,
    build: impl Fn() -> reqwest::RequestBuilder,
) -> anyhow::Result<reqwest::Response> {
    let mut attempt = 1;
    loop {
        let response = build().send().await.map_err(|e| send_error(base, e))?;
        if attempt >= RETRY_ATTEMPTS || !is_retryable(response.status()) {
            return Ok(response);
        }
        let retry_after = response
            .headers()
            .get(reqwest::header::RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        tracing::debug!(status = %response.status(), attempt, "retrying");
        tokio::time::sleep(retry_delay(attempt, retry_after.as_deref())).await;
        attempt += 1;
    }
}

pub struct Client {
    http: reqwest::Client,
    base: String,
    token: String,
}

#[derive(Deserialize)]
struct TokenResponse {
    access_token: String,
}

impl Client {
    /// Signs in to an explicitly given server.
    pub async fn connect(args: &ServerArgs) -> anyhow::Result<Client> {
        Self::connect_with(&ConnectArgs::from(args)).await
    }

    /// Resolves the server and credentials from the CLI's flags, environment and credentials file, and signs in.
    pub async fn connect_with(args: &ConnectArgs) -> anyhow::Result<Client> {
        let file = args.credentials_file()?;
        let pick = |flag: &Option<String>,
                    from_file: Option<&str>,
                    what: &str|
         -> anyhow::Result<String> {
            match (flag, from_file) {
                (Some(value), _) => Ok(value.clone()),
                (None, Some(value)) => Ok(value.to_string()),
                (None, None) => bail!(
                    "no {what}: pass --{}, set ZTD_{}, or run the CLI next to the data directory of `ztd serve` ({} not found)",
                    what.replace(' ', "-"),
                    what.replace(' ', "_").to_uppercase(),
                    args.credentials.display()
                ),
            }
        };
        let tenant_id = pick(
            &args.tenant_id,
            file.as_ref().map(|f| f.tenant_id.as_str()),
            "tenant id",
        )?;
        let client_id = pick(
            &args.client_id,
            file.as_ref().map(|f| f.client_id.as_str()),
            "client id",
        )?;
        let client_secret = pick(
            &args.client_secret,
            file.as_ref().map(|f| f.client_secret.as_str()),
            "client secret",
        )?;
        let base = resolve_server(args.server.as_deref(), file.as_ref());
        let http = args.http_client()?;
        let token_url = format!("{base}/{tenant_id}/oauth2/v2.0/token");
        let response = send_retrying(&base, || {
            http.post(&token_url).form(&[
                ("grant_type", "client_credentials"),
                ("client_id", client_id.as_str()),
                ("client_secret", client_secret.as_str()),
                ("scope", "https://graph.microsoft.com/.default"),
            ])
        })
        .await?;
        if !response.status().is_success() {
            let status = response.status();
            let body = response.text().await.unwrap_or_default();
            bail!(
                "sign-in refused ({status}): {}",
                ztd_formats::excerpt_chars(&body, 400)
            );
        }
        let token: TokenResponse = response
            .json()
            .await
            .context("the token endpoint answered with something that is not a token")?;
        Ok(Client {
            http,
            base,
            token: token.access_token,
        })
    }

    /// GET, retried on 503/429.
    pub async fn get<T: DeserializeOwned>(&self, path: &str) -> anyhow::Result<T> {
        let url = format!("{}{path}", self.base);
        let response =
            send_retrying(&self.base, || self.http.get(&url).bearer_auth(&self.token)).await?;
        Self::decode(response).await
    }

    /// GET of raw bytes, retried on 503/429.
    pub async fn get_bytes(&self, path: &str) -> anyhow::Result<Vec<u8>> {
        let url = format!("{}{path}", self.base);
        let response =
            send_retrying(&self.base, || self.http.get(&url).bearer_auth(&self.token)).await?;
        if !response.status().is_success() {
            return Err(Self::error(response).await);
        }
        Ok(response.bytes().await?.to_vec())
    }

    /// POST, sent once (it may create something).
    pub async fn post<B: Serialize + ?Sized, T: DeserializeOwned>(
        &self,
        path: &str,
        body: &B,
    ) -> anyhow::Result<T> {
        let response = self
            .http
            .post(format!("{}{path}", self.base))
            .bearer_auth(&self.token)
            .json(body)
            .send()
            .await
            .map_err(|e| send_error(&self.base, e))?;
        Self::decode(response).await
    }

    /// DELETE, retried on 503/429 (deleting twice is not-found, never a second deletion).
    pub async fn delete(&self, path: &str) -> anyhow::Result<()> {
        let url = format!("{}{path}", self.base);
        let response = send_retrying(&self.base, || {
            self.http.delete(&url).bearer_auth(&self.token)
        })
        .await?;
        if !response.status().is_success() {
            return Err(Self::error(response).await);
        }
        Ok(())
    }

    /// POST of a request the server applies idempotently (an import batch), retried on 503/429.
    pub async fn post_idempotent<B: Serialize + ?Sized, T: DeserializeOwned>(
        &self,
        path: &str,
        body: &B,
    ) -> anyhow::Result<T> {
        let url = format!("{}{path}", self.base);
        // Serialised once; each attempt sends a copy (a batch is at most a few MiB).
        let bytes = serde_json::to_vec(body)?;
        let response = send_retrying(&self.base, || {
            self.http
                .post(&url)
                .bearer_auth(&self.token)
                .header(reqwest::header::CONTENT_TYPE, "application/json")
                .body(bytes.clone())
        })
        .await?;
        Self::decode(response).await
    }

    async fn decode<T: DeserializeOwned>(response: reqwest::Response) -> anyhow::Result<T> {
        if !response.status().is_success() {
            return Err(Self::error(response).await);
        }
        Ok(response.json().await?)
    }

    /// Turns a Graph error body into a one-line error.
    async fn error(response: reqwest::Response) -> anyhow::Error {
        let status = response.status();
        let body = response.text().await.unwrap_or_default();
        let message = serde_json::from_str::<ztd_api::error::GraphErrorBody>(&body)
            .map(|body| body.error.message)
            .unwrap_or(body);
        anyhow::anyhow!(
            "the server refused the request ({status}): {}",
            ztd_formats::excerpt_chars(&message, 400)
        )
    }
}

/// The path (from `/beta/` or `/v1.0/` on) of a Graph page's `@odata.nextLink`, to request on this server.
pub fn next_page_path(page: &serde_json::Value) -> Option<String> {
    let link = page["@odata.nextLink"].as_str()?;
    let start = link.find("/beta/").or_else(|| link.find("/v1.0/"))?;
    Some(link[start..].to_string())
}

/// Percent-encodes one path segment.
pub fn segment(text: &str) -> String {
    text.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            other => format!("%{other:02X}"),
        })
        .collect()
}

/// A current-thread runtime for one CLI command.
pub fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    Ok(tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file(server: Option<&str>) -> CredentialsFile {
        CredentialsFile {
            tenant_id: "t".into(),
            client_id: "c".into(),
            client_secret: "s".into(),
            server: server.map(str::to_owned),
        }
    }

    #[test]
    fn server_comes_from_flag_then_file_then_default() {
        let f = file(Some("https://ztd.example:8443/"));
        assert_eq!(
            resolve_server(Some("http://flag:1"), Some(&f)),
            "http://flag:1"
        );
        assert_eq!(resolve_server(None, Some(&f)), "https://ztd.example:8443");
        assert_eq!(resolve_server(None, Some(&file(None))), DEFAULT_SERVER);
        assert_eq!(resolve_server(None, None), DEFAULT_SERVER);
        assert_eq!(
            resolve_server(Some(""), Some(&f)),
            "https://ztd.example:8443"
        );
    }

    #[test]
    fn backoff_doubles_is_capped_and_honours_retry_after() {
        assert_eq!(retry_delay(1, None), Duration::from_millis(200));
        assert_eq!(retry_delay(2, None), Duration::from_millis(400));
        assert_eq!(retry_delay(4, None), Duration::from_millis(1600));
        assert_eq!(retry_delay(10, None), MAX_BACKOFF);
        assert_eq!(retry_delay(1, Some("2")), Duration::from_secs(2));
        assert_eq!(retry_delay(1, Some("86400")), MAX_RETRY_AFTER);
        // An HTTP-date is not parsed: the backoff applies.
        assert_eq!(
            retry_delay(1, Some("Wed, 21 Oct 2015 07:28:00 GMT")),
            Duration::from_millis(200)
        );
    }
}
