//! `ztd group`: create and list device groups (through the Graph API).

use std::process::ExitCode;

use clap::Subcommand;
use serde_json::{json, Value};

use super::client::{segment, Client, ConnectArgs};

/// Manage static and dynamic device groups.
#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(subcommand)]
    command: GroupCommand,
    #[command(flatten)]
    server: ConnectArgs,
}

#[derive(Debug, Subcommand)]
enum GroupCommand {
    /// Create a group; with --rule it is a dynamic device group.
    Create {
        #[arg(long)]
        name: String,
        /// Dynamic membership rule, e.g. '(device.devicePhysicalIds -any (_ -eq "[OrderId]:Kiosk"))'.
        #[arg(long)]
        rule: Option<String>,
        #[arg(long)]
        json: bool,
    },
    /// List groups.
    List {
        #[arg(long)]
        json: bool,
    },
    /// List a group's members.
    Members {
        /// Group id.
        group: String,
        #[arg(long)]
        json: bool,
    },
}

pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    super::client::runtime()?.block_on(async move {
        let client = Client::connect_with(&args.server).await?;
        match args.command {
            GroupCommand::Create { name, rule, json } => {
                let mail_nickname: String = name.chars().filter(|c| c.is_ascii_alphanumeric()).collect();
                let mut body = json!({
                    "displayName": name,
                    "mailEnabled": false,
                    "mailNickname": if mail_nickname.is_empty() { "group".to_string() } else { mail_nickname },
                    "securityEnabled": true,
                    "groupTypes": [],
                });
                if let Some(rule) = rule {
                    body["groupTypes"] = json!(["DynamicMembership"]);
                    body["membershipRule"] = json!(rule);
                    body["membershipRuleProcessingState"] = json!("On");
                }
                let created: Value = client.post("/v1.0/groups", &body).await?;
                if json {
                    println!("{}", serde_json::to_string_pretty(&created)?);
                } else {
                    println!("{}", created["id"].as_str().unwrap_or_default());
                }
            }
            GroupCommand::List { json } => {
                let body: Value = client.get("/v1.0/groups").await?;
                let groups = body["value"].as_array().cloned().unwrap_or_default();
                if json {
                    println!("{}", serde_json::to_string_pretty(&groups)?);
                } else {
                    let mut table = comfy_table::Table::new();
                    table.load_preset(comfy_table::presets::UTF8_BORDERS_ONLY);
                    table.set_header(["ID", "NAME", "MEMBERSHIP RULE"]);
                    for g in &groups {
                        table.add_row([
                            g["id"].as_str().unwrap_or_default().to_string(),
                            g["displayName"].as_str().unwrap_or_default().to_string(),
                            g["membershipRule"].as_str().unwrap_or("(static)").to_string(),
                        ]);
                    }
                    println!("{table}");
                }
            }
            GroupCommand::Members { group, json } => {
                let body: Value = client.get(&format!("/v1.0/groups/{}/members", segment(&group))).await?;
                let members = body["value"].as_array().cloned().unwrap_or_default();
                if json {
                    println!("{}", serde_json::to_string_pretty(&members)?);
                } else {
                    for m in &members {
                        println!("{}\t{}", m["id"].as_str().unwrap_or_default(), m["displayName"].as_str().unwrap_or_default());
                    }
                    eprintln!("{} members", members.len());
                }
            }
        }
        Ok(ExitCode::SUCCESS)
    })
}
