//! `ztd device join` and `ztd device leave`: a simulated Windows device joins the directory as a user, keeps
//! its certificate and keys, and proves itself with a Primary Refresh Token (the `ztd-device` client).

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context;
use serde_json::{json, Value};
use ztd_api::device::{BootAnswer, BootRequest};
use ztd_device::{DeviceClient, DeviceIdentity, Kdf};

use super::client::{send_retrying, ConnectArgs};

/// What `join` is asked to do.
pub struct JoinOptions {
    pub user: String,
    pub password: String,
    pub name: Option<String>,
    pub register: bool,
    pub hash: Option<String>,
    pub out: Option<PathBuf>,
    pub json: bool,
}

/// The CA bundle to trust besides the built-in roots: `--ca-cert`, else `SSL_CERT_FILE`.
pub(super) fn ca_bundle(server: &ConnectArgs) -> anyhow::Result<Option<Vec<u8>>> {
    let path = server.ca_cert.clone().or_else(|| {
        std::env::var_os("SSL_CERT_FILE")
            .filter(|v| !v.is_empty())
            .map(PathBuf::from)
    });
    match path {
        Some(path) => {
            Ok(Some(std::fs::read(&path).with_context(|| {
                format!("cannot read {}", path.display())
            })?))
        }
        None => Ok(None),
    }
}

/// The tenant a user signs in to: `--tenant-id`, else the domain of the user's name.
pub(super) fn tenant_of(server: &ConnectArgs, user: &str) -> anyhow::Result<String> {
    if let Some(tenant) = server.tenant_id.clone().filter(|t| !t.trim().is_empty()) {
        return Ok(tenant);
    }
    user.rsplit_once('@')
        .map(|(_, domain)| domain.to_string())
        .filter(|d| !d.is_empty())
        .context("--user must be a user principal name (name@domain), or give --tenant-id")
}

/// The join ticket of the device's boot answer, when it presents a registered hash.
async fn boot_ticket(base: &str, http: &reqwest::Client, hash: &str) -> anyhow::Result<String> {
    let hash = match std::fs::read_to_string(hash) {
        Ok(contents) => contents.trim().to_string(),
        Err(_) => hash.trim().to_string(),
    };
    let url = format!("{base}/device/v1/boot");
    let body = BootRequest {
        hardware_hash: hash,
    };
    let response = send_retrying(base, || http.post(&url).json(&body)).await?;
    let text = response.text().await.unwrap_or_default();
    match serde_json::from_str::<BootAnswer>(&text) {
        Ok(BootAnswer::Registered(plan)) if !plan.join_ticket.is_empty() => Ok(plan.join_ticket),
        Ok(BootAnswer::Registered(_)) => anyhow::bail!("the boot answer carries no join ticket"),
        Ok(BootAnswer::NotRegistered { reason }) => {
            anyhow::bail!("the hash is not an Autopilot device's: {reason}")
        }
        Err(_) => anyhow::bail!(
            "the device API did not answer the boot: {}",
            ztd_formats::excerpt_chars(&text, 300)
        ),
    }
}

pub async fn join(server: &ConnectArgs, options: JoinOptions) -> anyhow::Result<ExitCode> {
    let base = server.base_url()?;
    let tenant = tenant_of(server, &options.user)?;
    let ca = ca_bundle(server)?;
    let client = DeviceClient::new(&base, &tenant, ca.as_deref())?;
    let name = options
        .name
        .clone()
        .unwrap_or_else(ztd_device::default_device_name);
    let ticket = match &options.hash {
        Some(hash) => Some(boot_ticket(&base, &server.http_client()?, hash).await?),
        None => None,
    };
    let drs_token = client
        .user_token(&options.user, &options.password, ztd_device::DRS_RESOURCE)
        .await
        .context("signing the user in for the device registration service")?;
    let join_type = if options.register { 4 } else { 0 };
    let identity = client
        .join(&drs_token, &name, join_type, ticket.as_deref())
        .await
        .context("joining")?;
    let out = options
        .out
        .clone()
        .unwrap_or_else(|| PathBuf::from(format!("{}.device.json", name.to_lowercase())));
    identity.save(&out)?;
    let prt = client
        .request_prt(&identity, &options.user, &options.password)
        .await
        .context("requesting a Primary Refresh Token")?;
    let tokens = client
        .prt_tokens(
            &identity,
            &prt,
            "1b730954-1685-4b74-9bfd-dac224a7b894",
            "https://graph.microsoft.com",
            Kdf::V2,
        )
        .await
        .context("using the PRT for a Graph token")?;
    let graph_token_has_device = tokens["access_token"].as_str().is_some_and(|t| {
        claims_of(t)["deviceid"].as_str() == Some(identity.device_id.to_string().as_str())
    });
    let summary = json!({
        "deviceId": identity.device_id,
        "tenantId": identity.tenant_id,
        "displayName": name,
        "joinType": if options.register { "registered" } else { "joined" },
        "autopilot": ticket.is_some(),
        "identityFile": out.display().to_string(),
        "prt": true,
        "graphTokenCarriesDeviceId": graph_token_has_device,
    });
    if options.json {
        println!("{}", serde_json::to_string_pretty(&summary)?);
    } else {
        println!(
            "{} {name} as {} (device id {})",
            if options.register {
                "registered"
            } else {
                "joined"
            },
            options.user,
            identity.device_id
        );
        if ticket.is_some() {
            println!("  tied to its Autopilot registration (join ticket from the boot answer)");
        }
        println!("  certificate and keys saved to {}", out.display());
        println!("  Primary Refresh Token: issued; Graph token through it carries the device id: {graph_token_has_device}");
    }
    Ok(ExitCode::SUCCESS)
}

pub async fn leave(
    server: &ConnectArgs,
    identity_file: &Path,
    json: bool,
) -> anyhow::Result<ExitCode> {
    let base = server.base_url()?;
    let identity = DeviceIdentity::load(identity_file)?;
    let ca = ca_bundle(server)?;
    let client = DeviceClient::new(&base, &identity.tenant_id, ca.as_deref())?;
    client.leave(&identity).await.context("leaving")?;
    if json {
        println!(
            "{}",
            json!({ "deviceId": identity.device_id, "left": true })
        );
    } else {
        println!("device {} left the directory", identity.device_id);
    }
    Ok(ExitCode::SUCCESS)
}

/// The claims of a JWT, unverified (the CLI only reports what it received).
fn claims_of(token: &str) -> Value {
    use base64::Engine;
    token
        .split('.')
        .nth(1)
        .and_then(|p| {
            base64::engine::general_purpose::URL_SAFE_NO_PAD
                .decode(p)
                .ok()
        })
        .and_then(|bytes| serde_json::from_slice(&bytes).ok())
        .unwrap_or(Value::Null)
}
