//! `ztd device`: explain, list, and simulate a first boot.

use std::process::ExitCode;

use anyhow::Context;
use clap::Subcommand;
use serde_json::Value;

use super::client::{next_page_path, segment, send_retrying, Client, ConnectArgs};

/// Inspect Autopilot devices.
#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(subcommand)]
    command: DeviceCommand,
    #[command(flatten)]
    server: ConnectArgs,
}

#[derive(Debug, Subcommand)]
enum DeviceCommand {
    /// Why a device is in each group, which profile it gets and why, which ESP applies.
    Explain {
        /// Serial number or ZTDID.
        device: String,
        /// Print the explanation as JSON.
        #[arg(long)]
        json: bool,
    },
    /// List registered devices.
    List {
        /// Only serials containing this text.
        #[arg(long)]
        serial: Option<String>,
        #[arg(long)]
        json: bool,
    },
    /// Act as a device at first boot: present a hardware hash, print the provisioning plan it receives.
    Boot {
        /// The hardware hash (base64) or a file holding it.
        hash: String,
        #[arg(long)]
        json: bool,
    },
}

pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    super::client::runtime()?.block_on(async move {
        match args.command {
            DeviceCommand::Explain { device, json } => {
                let client = Client::connect_with(&args.server).await?;
                let explanation: Value = client
                    .get(&format!("/ztd/v1/devices/{}/explain", segment(&device)))
                    .await?;
                if json {
                    println!("{}", serde_json::to_string_pretty(&explanation)?);
                } else {
                    print_explanation(&explanation);
                }
                Ok(ExitCode::SUCCESS)
            }
            DeviceCommand::List { serial, json } => {
                let client = Client::connect_with(&args.server).await?;
                let mut path =
                    "/beta/deviceManagement/windowsAutopilotDeviceIdentities?$top=999".to_string();
                if let Some(serial) = serial {
                    path.push_str(&format!(
                        "&$filter=contains(serialNumber,'{}')",
                        segment(&serial.replace('\'', "''"))
                    ));
                }
                let mut devices = Vec::new();
                let mut next = Some(path);
                while let Some(page) = next.take() {
                    let body: Value = client.get(&page).await?;
                    devices.extend(body["value"].as_array().cloned().unwrap_or_default());
                    next = next_page_path(&body);
                }
                if json {
                    println!("{}", serde_json::to_string_pretty(&devices)?);
                } else {
                    let mut table = comfy_table::Table::new();
                    table.load_preset(comfy_table::presets::UTF8_BORDERS_ONLY);
                    table.set_header([
                        "SERIAL",
                        "ZTDID",
                        "GROUP TAG",
                        "PROFILE STATUS",
                        "LAST CONTACT",
                    ]);
                    for d in &devices {
                        table.add_row([
                            text(&d["serialNumber"]),
                            text(&d["id"]),
                            text(&d["groupTag"]),
                            text(&d["deploymentProfileAssignmentStatus"]),
                            contact_time(&d["lastContactedDateTime"]),
                        ]);
                    }
                    println!("{table}");
                    eprintln!("{} devices", devices.len());
                }
                Ok(ExitCode::SUCCESS)
            }
            DeviceCommand::Boot { hash, json } => {
                let hash = match std::fs::read_to_string(&hash) {
                    Ok(contents) => contents.trim().to_string(),
                    Err(_) => hash.trim().to_string(),
                };
                let base = args.server.base_url()?;
                let http = args.server.http_client()?;
                let url = format!("{base}/device/v1/boot");
                let body = serde_json::json!({ "hardwareHash": hash });
                let response = send_retrying(&base, || http.post(&url).json(&body)).await?;
                let status = response.status();
                let body: Value = response
                    .json()
                    .await
                    .context("the device API answered with something that is not JSON")?;
                if json {
                    println!("{}", serde_json::to_string_pretty(&body)?);
                } else if status.is_success() {
                    println!(
                        "registered: ZTDID {} in tenant {} ({})",
                        text(&body["ztdid"]),
                        text(&body["tenantId"]),
                        text(&body["tenantDomain"])
                    );
                    println!(
                        "  profile:      {}",
                        opt(
                            &body["profileName"],
                            "none (no profile targets this device)"
                        )
                    );
                    println!(
                        "  mode:         {} / {}",
                        opt(&body["deploymentMode"], "-"),
                        opt(&body["joinType"], "-")
                    );
                    println!("  device name:  {}", describe_name(&body["deviceName"]));
                    println!("  OOBE config:  {}", text(&body["oobeConfig"]));
                    println!(
                        "  ESP:          {}",
                        opt(&body["esp"]["displayName"], "none")
                    );
                } else if status.as_u16() == 404 {
                    println!("not registered: {}", text(&body["reason"]));
                } else {
                    anyhow::bail!(
                        "the device API refused the hash ({status}): {}",
                        text(&body["error"]["message"])
                    );
                }
                Ok(if status.is_success() {
                    ExitCode::SUCCESS
                } else {
                    ExitCode::from(4)
                })
            }
        }
    })
}

/// Graph's "never" (the minimum date `0001-01-01T00:00:00Z`) reads as `never` in the human table; the JSON
/// output keeps Graph's value.
fn contact_time(value: &Value) -> String {
    match value.as_str() {
        Some(at) if at.starts_with("0001-01-01") => "never".to_string(),
        _ => text(value),
    }
}

fn text(value: &Value) -> String {
    match value {
        Value::Null => String::new(),
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

fn opt(value: &Value, fallback: &str) -> String {
    let t = text(value);
    if t.is_empty() {
        fallback.to_string()
    } else {
        t
    }
}

fn describe_name(decision: &Value) -> String {
    match decision["source"].as_str() {
        Some("deviceRecord") => format!("{} (set on the device record)", text(&decision["name"])),
        Some("template") => format!("{} (from the profile's template)", text(&decision["name"])),
        Some("domainJoinPrefix") => "from the Domain Join configuration (hybrid)".into(),
        _ => "chosen by Windows (no template)".into(),
    }
}

fn print_explanation(e: &Value) {
    let d = &e["device"];
    println!(
        "Device {} ({} {}), ZTDID {}",
        text(&d["serialNumber"]),
        text(&d["manufacturer"]),
        text(&d["model"]),
        text(&d["ztdid"])
    );
    println!(
        "  group tag {:?} · enrollment {} · profile status {}",
        text(&d["groupTag"]),
        text(&d["enrollmentState"]),
        text(&d["assignment"]["status"])
    );
    if let Some(object) = e["directoryObject"].as_object() {
        println!(
            "Directory object {} (accountEnabled: {})",
            text(&object["id"]),
            text(&object["accountEnabled"])
        );
        for id in object
            .get("physicalIds")
            .and_then(|v| v.as_array())
            .into_iter()
            .flatten()
        {
            println!("  physicalId {}", text(id));
        }
    }
    println!("Groups:");
    for g in e["groups"].as_array().into_iter().flatten() {
        let member = if g["member"].as_bool() == Some(true) {
            "member"
        } else {
            "not a member"
        };
        let kind = if g["dynamic"].as_bool() == Some(true) {
            "dynamic"
        } else {
            "static"
        };
        println!("  {} [{kind}] — {member}", text(&g["displayName"]));
        if let Some(rule) = g["membershipRule"].as_str() {
            println!("    rule: {rule}");
        }
        if let Some(rendered) = g["traceText"].as_str() {
            for line in rendered.lines() {
                println!("    {line}");
            }
        }
    }
    println!("Profile: {}", text(&e["profile"]["reason"]));
    for p in e["profile"]["considered"].as_array().into_iter().flatten() {
        println!(
            "  {} — {}",
            text(&p["displayName"]),
            text(&p["outcome"]["kind"])
        );
    }
    println!("ESP: {}", text(&e["esp"]["reason"]));
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::contact_time;

    #[test]
    fn a_device_never_contacted_reads_never_in_the_table() {
        assert_eq!(contact_time(&json!("0001-01-01T00:00:00Z")), "never");
        assert_eq!(
            contact_time(&json!("2026-11-30T10:00:00Z")),
            "2026-11-30T10:00:00Z"
        );
    }
}
