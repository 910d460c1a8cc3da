//! `ztd device`: explain, list, and simulate a first boot.

use std::process::ExitCode;

use anyhow::Context;
use clap::Subcommand;
use serde_json::Value;

use ztd_api::device::{BootAnswer, BootRequest, PlanBody};
use ztd_api::error::GraphErrorBody;
use ztd_api::native::DeviceExplanation;
use ztd_core::assignment::Outcome;
use ztd_core::profile::DeploymentMode;
use ztd_core::provisioning::NameDecision;

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
    /// Act as a Windows device joining the directory: sign the user in for the device registration service,
    /// generate keys, join, save the certificate and keys, get a Primary Refresh Token and a token through it.
    Join {
        /// The user who joins the device (name@domain; the domain names the tenant unless --tenant-id).
        #[arg(long)]
        user: String,
        /// The user's password.
        #[arg(long, env = "ZTD_DEVICE_PASSWORD", hide_env_values = true)]
        password: String,
        /// The device's name [default: DESKTOP-<8 random characters>].
        #[arg(long)]
        name: Option<String>,
        /// Register the device (workplace join, JoinType 4) instead of joining it (0).
        #[arg(long)]
        register: bool,
        /// Boot with this hardware hash (base64 or a file) first and tie the join to its Autopilot
        /// registration, whose disabled device object becomes the joined one.
        #[arg(long)]
        hash: Option<String>,
        /// Where to save the device identity (certificate and private keys) [default: <name>.device.json].
        #[arg(long)]
        out: Option<std::path::PathBuf>,
        /// Print the result as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Act as a Windows device enrolling in device management (MDM), then hold its first management session.
    ///
    /// Three ways, as Windows enrolls: with a user's name and password, found by the domain of the user's
    /// name (`--user`; device management only); a joined device (`--identity FILE` from `ztd device join`)
    /// with a token through its Primary Refresh Token for `--user`; or a joined device with its own token
    /// (`--identity FILE --userless`). Saves the management certificate, its key, the hardware and the CSP
    /// tree to the enrollment file (readable by its owner only). Exits 3 if the first session is refused.
    Enroll(Box<super::device_mdm::EnrollArgs>),
    /// Hold one management session now: the server's queued commands are carried out on the device's CSP
    /// tree and answered. Exits 3 when the server refuses the session (the device was retired, wiped or
    /// deleted).
    ///
    /// The tree is kept in the enrollment file between runs.
    Sync {
        /// The enrollment file `ztd device enroll` saved.
        #[arg(long, value_name = "FILE")]
        enrollment: std::path::PathBuf,
        /// Print the session as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Hold management sessions every --interval seconds, --count of them (Ctrl-C stops sooner), as a
    /// Windows device polls. Stops when a session is refused (exit 3) or the device is told to unenroll or
    /// wipe itself.
    ///
    /// The tree is kept in the enrollment file after every session.
    Poll {
        /// The enrollment file `ztd device enroll` saved.
        #[arg(long, value_name = "FILE")]
        enrollment: std::path::PathBuf,
        /// Seconds between the start of one session and the next (Windows polls every 15 minutes: 900).
        #[arg(long, value_name = "SECS", default_value_t = 900)]
        interval: u64,
        /// How many sessions to hold.
        #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..))]
        count: u32,
        /// Print each session as one line of JSON (JSON Lines).
        #[arg(long)]
        json: bool,
    },
    /// Leave the directory as the device: delete it with its own certificate over mutual TLS.
    Leave {
        /// The identity file `ztd device join` saved.
        identity: std::path::PathBuf,
        /// Print the result as JSON.
        #[arg(long)]
        json: bool,
    },
}

pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    super::client::runtime()?.block_on(async move {
        match args.command {
            DeviceCommand::Explain { device, json } => {
                let client = Client::connect_with(&args.server).await?;
                let explanation: DeviceExplanation = client
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
            DeviceCommand::Join {
                user,
                password,
                name,
                register,
                hash,
                out,
                json,
            } => {
                super::device_join::join(
                    &args.server,
                    super::device_join::JoinOptions {
                        user,
                        password,
                        name,
                        register,
                        hash,
                        out,
                        json,
                    },
                )
                .await
            }
            DeviceCommand::Enroll(enroll) => super::device_mdm::enroll(&args.server, *enroll).await,
            DeviceCommand::Sync { enrollment, json } => {
                super::device_mdm::sync(&args.server, &enrollment, json).await
            }
            DeviceCommand::Poll {
                enrollment,
                interval,
                count,
                json,
            } => {
                super::device_mdm::poll(
                    &args.server,
                    &enrollment,
                    std::time::Duration::from_secs(interval),
                    count,
                    json,
                )
                .await
            }
            DeviceCommand::Leave { identity, json } => {
                super::device_join::leave(&args.server, &identity, json).await
            }
            DeviceCommand::Boot { hash, json } => {
                let hash = match std::fs::read_to_string(&hash) {
                    Ok(contents) => contents.trim().to_string(),
                    Err(_) => hash.trim().to_string(),
                };
                let base = args.server.base_url()?;
                let http = args.server.http_client()?;
                let url = format!("{base}/device/v1/boot");
                let body = BootRequest {
                    hardware_hash: hash,
                };
                let response = send_retrying(&base, || http.post(&url).json(&body)).await?;
                let status = response.status();
                let text = response.text().await.unwrap_or_default();
                if !status.is_success() && status.as_u16() != 404 {
                    let message = serde_json::from_str::<GraphErrorBody>(&text)
                        .map(|body| body.error.message)
                        .unwrap_or(text);
                    anyhow::bail!(
                        "the device API refused the hash ({status}): {}",
                        ztd_formats::excerpt_chars(&message, 400)
                    );
                }
                let answer: BootAnswer = serde_json::from_str(&text)
                    .context("the device API answered with something that is not a boot answer")?;
                if json {
                    println!("{}", serde_json::to_string_pretty(&answer)?);
                } else {
                    match &answer {
                        BootAnswer::Registered(plan) => print_plan(plan),
                        BootAnswer::NotRegistered { reason } => {
                            println!("not registered: {reason}")
                        }
                    }
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

fn describe_name(decision: &NameDecision) -> String {
    match decision {
        NameDecision::DeviceRecord(name) => format!("{name} (set on the device record)"),
        NameDecision::Template(name) => format!("{name} (from the profile's template)"),
        NameDecision::DomainJoinPrefix => "from the Domain Join configuration (hybrid)".into(),
        NameDecision::WindowsDefault => "chosen by Windows (no template)".into(),
    }
}

fn print_plan(plan: &PlanBody) {
    println!(
        "registered: ZTDID {} in tenant {} ({})",
        plan.ztdid, plan.tenant_id, plan.tenant_domain
    );
    println!(
        "  profile:      {}",
        plan.profile_name
            .as_deref()
            .unwrap_or("none (no profile targets this device)")
    );
    let mode = match plan.deployment_mode {
        Some(DeploymentMode::UserDriven) => "userDriven",
        Some(DeploymentMode::SelfDeploying) => "selfDeploying",
        None => "-",
    };
    println!(
        "  mode:         {mode} / {}",
        plan.join_type.as_deref().unwrap_or("-")
    );
    println!("  device name:  {}", describe_name(&plan.device_name));
    println!("  OOBE config:  {}", plan.oobe_config);
    println!(
        "  ESP:          {}",
        plan.esp
            .as_ref()
            .map_or("none", |esp| esp.display_name.as_str())
    );
}

fn outcome_name(outcome: &Outcome) -> &'static str {
    match outcome {
        Outcome::Won => "won",
        Outcome::WonAsDefault => "won (All Devices)",
        Outcome::LostToOlder { .. } => "lost to an older profile",
        Outcome::LostToGroupTargeted { .. } => "lost to a group-targeted profile",
        Outcome::Excluded => "excluded",
        Outcome::NotTargeted => "not targeted",
    }
}

fn print_explanation(e: &DeviceExplanation) {
    let d = &e.device;
    println!(
        "Device {} ({} {}), ZTDID {}",
        d.serial_number, d.manufacturer, d.model, d.ztdid
    );
    println!(
        "  group tag {:?} · enrollment {} · profile status {}",
        d.group_tag,
        d.enrollment_state.as_str(),
        d.assignment.status.as_str()
    );
    if let Some(object) = &e.directory_object {
        println!(
            "Directory object {} (accountEnabled: {})",
            object.id, object.account_enabled
        );
        for id in &object.physical_ids {
            println!("  physicalId {id}");
        }
    }
    println!("Groups:");
    for g in &e.groups {
        let member = if g.member { "member" } else { "not a member" };
        let kind = if g.dynamic { "dynamic" } else { "static" };
        println!("  {} [{kind}] — {member}", g.display_name);
        if let Some(rule) = &g.membership_rule {
            println!("    rule: {rule}");
        }
        if let Some(rendered) = &g.trace_text {
            for line in rendered.lines() {
                println!("    {line}");
            }
        }
    }
    println!("Profile: {}", e.profile.reason);
    for p in &e.profile.considered {
        println!("  {} — {}", p.display_name, outcome_name(&p.outcome));
    }
    println!("ESP: {}", e.esp.reason);
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
