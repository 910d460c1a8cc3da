//! `ztd profile`: create, list, assign and export deployment profiles (through the Graph API).

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Subcommand, ValueEnum};
use serde_json::{json, Value};

use super::client::{segment, Client, ConnectArgs};

/// Manage Autopilot deployment profiles.
#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(subcommand)]
    command: ProfileCommand,
    #[command(flatten)]
    server: ConnectArgs,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum Mode {
    /// User-driven, Entra join.
    UserDriven,
    /// Self-deploying (kiosks, shared devices), Entra join.
    SelfDeploying,
    /// User-driven, Entra hybrid join.
    Hybrid,
}

#[derive(Debug, Subcommand)]
enum ProfileCommand {
    /// Create a deployment profile.
    Create {
        /// Display name.
        #[arg(long)]
        name: String,
        #[arg(long, value_enum, default_value = "user-driven")]
        mode: Mode,
        /// Device name template, e.g. `CTS-%SERIAL%` or `KIOSK-%RAND:5%` (Entra join only).
        #[arg(long)]
        name_template: Option<String>,
        /// Language (region), e.g. `en-US`; default: operating system default.
        #[arg(long)]
        locale: Option<String>,
        /// Skip the keyboard selection page (needs --locale).
        #[arg(long)]
        skip_keyboard: bool,
        /// Users become local administrators (default: standard users).
        #[arg(long)]
        admin_user: bool,
        /// Allow pre-provisioning (technician flow).
        #[arg(long)]
        allow_preprovisioning: bool,
        #[arg(long)]
        json: bool,
    },
    /// List profiles.
    List {
        #[arg(long)]
        json: bool,
    },
    /// Assign a profile to a group, exclude a group, or assign it to all devices.
    Assign {
        /// Profile id.
        profile: String,
        /// Group id to include (or exclude with --exclude).
        #[arg(
            long,
            conflicts_with = "all_devices",
            required_unless_present = "all_devices"
        )]
        group: Option<String>,
        /// Exclude --group instead of including it.
        #[arg(long, requires = "group")]
        exclude: bool,
        /// Assign to All Devices (the default profile).
        #[arg(long)]
        all_devices: bool,
    },
    /// Write AutopilotConfigurationFile.json (Autopilot for existing devices), byte-compatible.
    Export {
        /// Profile id.
        profile: String,
        /// Output file; `-` for standard output.
        #[arg(long, short, default_value = "AutopilotConfigurationFile.json")]
        output: PathBuf,
    },
}

const PROFILES: &str = "/beta/deviceManagement/windowsAutopilotDeploymentProfiles";

pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    super::client::runtime()?.block_on(async move {
        let client = Client::connect_with(&args.server).await?;
        match args.command {
            ProfileCommand::Create { name, mode, name_template, locale, skip_keyboard, admin_user, allow_preprovisioning, json } => {
                let odata_type = match mode {
                    Mode::Hybrid => "#microsoft.graph.activeDirectoryWindowsAutopilotDeploymentProfile",
                    _ => "#microsoft.graph.azureADWindowsAutopilotDeploymentProfile",
                };
                let body = json!({
                    "@odata.type": odata_type,
                    "displayName": name,
                    "description": "",
                    "deviceNameTemplate": name_template.unwrap_or_default(),
                    "locale": locale.unwrap_or_else(|| "os-default".into()),
                    "preprovisioningAllowed": allow_preprovisioning,
                    "deviceType": "windowsPc",
                    "hardwareHashExtractionEnabled": false,
                    "outOfBoxExperienceSetting": {
                        "deviceUsageType": if matches!(mode, Mode::SelfDeploying) { "shared" } else { "singleUser" },
                        "userType": if admin_user { "administrator" } else { "standard" },
                        "privacySettingsHidden": true,
                        "eulaHidden": true,
                        "keyboardSelectionPageSkipped": skip_keyboard,
                        "escapeLinkHidden": true,
                    }
                });
                let created: Value = client.post(PROFILES, &body).await?;
                if json {
                    println!("{}", serde_json::to_string_pretty(&created)?);
                } else {
                    println!("{}", created["id"].as_str().unwrap_or_default());
                }
            }
            ProfileCommand::List { json } => {
                let body: Value = client.get(PROFILES).await?;
                let profiles = body["value"].as_array().cloned().unwrap_or_default();
                if json {
                    println!("{}", serde_json::to_string_pretty(&profiles)?);
                } else {
                    let mut table = comfy_table::Table::new();
                    table.load_preset(comfy_table::presets::UTF8_BORDERS_ONLY);
                    table.set_header(["ID", "NAME", "TYPE", "NAME TEMPLATE", "CREATED"]);
                    for p in &profiles {
                        let kind = p["@odata.type"].as_str().unwrap_or_default().trim_start_matches("#microsoft.graph.").to_string();
                        table.add_row([
                            p["id"].as_str().unwrap_or_default().to_string(),
                            p["displayName"].as_str().unwrap_or_default().to_string(),
                            kind,
                            p["deviceNameTemplate"].as_str().unwrap_or_default().to_string(),
                            p["createdDateTime"].as_str().unwrap_or_default().to_string(),
                        ]);
                    }
                    println!("{table}");
                }
            }
            ProfileCommand::Assign { profile, group, exclude, all_devices } => {
                let (target, group_id) = match (all_devices, group) {
                    (true, _) => (json!({ "@odata.type": "#microsoft.graph.allDevicesAssignmentTarget" }), ztd_core::profile::ALL_DEVICES_GROUP_ID.to_string()),
                    (false, Some(group)) if exclude => (json!({ "@odata.type": "#microsoft.graph.exclusionGroupAssignmentTarget", "groupId": group }), group),
                    (false, Some(group)) => (json!({ "@odata.type": "#microsoft.graph.groupAssignmentTarget", "groupId": group }), group),
                    (false, None) => anyhow::bail!("pass --group <id> or --all-devices"),
                };
                let body = json!({ "id": format!("{profile}_{group_id}_0"), "target": target });
                let created: Value = client.post(&format!("{PROFILES}/{}/assignments", segment(&profile)), &body).await?;
                println!("{}", created["id"].as_str().unwrap_or_default());
            }
            ProfileCommand::Export { profile, output } => {
                let bytes = client.get_bytes(&format!("/ztd/v1/profiles/{}/export", segment(&profile))).await?;
                if output.as_os_str() == "-" {
                    use std::io::Write;
                    std::io::stdout().write_all(&bytes)?;
                } else {
                    std::fs::write(&output, &bytes)?;
                    eprintln!("wrote {} ({} bytes, ASCII, CRLF)", output.display(), bytes.len());
                }
            }
        }
        Ok(ExitCode::SUCCESS)
    })
}
