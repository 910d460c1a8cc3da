//! The admin API client the CLI uses: finds the server and credentials, obtains a token, sends requests.

use std::path::PathBuf;

use anyhow::{bail, Context};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

/// Where the server is and how to sign in. Flags override environment variables, which override the
/// credentials file that `ztd serve` writes on first start.
#[derive(Debug, Clone, clap::Args)]
pub struct ServerArgs {
    /// Base URL of the ztd server.
    #[arg(
        long,
        env = "ZTD_SERVER",
        default_value = "http://127.0.0.1:8950",
        global = true
    )]
    pub server: String,
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
    pub async fn connect(args: &ServerArgs) -> anyhow::Result<Client> {
        let file: Option<CredentialsFile> = match std::fs::read(&args.credentials) {
            Ok(bytes) => Some(serde_json::from_slice(&bytes).with_context(|| {
                format!(
                    "{} is not a ztd credentials file",
                    args.credentials.display()
                )
            })?),
            Err(_) => None,
        };
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
        let base = args.server.trim_end_matches('/').to_string();
        let http = reqwest::Client::builder().build()?;
        let response = http
            .post(format!("{base}/{tenant_id}/oauth2/v2.0/token"))
            .form(&[
                ("grant_type", "client_credentials"),
                ("client_id", client_id.as_str()),
                ("client_secret", client_secret.as_str()),
                ("scope", "https://graph.microsoft.com/.default"),
            ])
            .send()
            .await
            .with_context(|| {
                format!("cannot reach the ztd server at {base}; is `ztd serve` running?")
            })?;
        if !response.status().is_success() {
            let status = response.status();
            let body = response.text().await.unwrap_or_default();
            bail!("sign-in refused ({status}): {body}");
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

    pub async fn get<T: DeserializeOwned>(&self, path: &str) -> anyhow::Result<T> {
        let response = self
            .http
            .get(format!("{}{path}", self.base))
            .bearer_auth(&self.token)
            .send()
            .await?;
        Self::decode(response).await
    }

    pub async fn get_bytes(&self, path: &str) -> anyhow::Result<Vec<u8>> {
        let response = self
            .http
            .get(format!("{}{path}", self.base))
            .bearer_auth(&self.token)
            .send()
            .await?;
        if !response.status().is_success() {
            return Err(Self::error(response).await);
        }
        Ok(response.bytes().await?.to_vec())
    }

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
        let message = serde_json::from_str::<serde_json::Value>(&body)
            .ok()
            .and_then(|v| {
                v.pointer("/error/message")
                    .and_then(|m| m.as_str())
                    .map(str::to_string)
            })
            .unwrap_or(body);
        anyhow::anyhow!("the server refused the request ({status}): {message}")
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
