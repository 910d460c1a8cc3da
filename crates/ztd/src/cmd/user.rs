//! `ztd user`: the tenant's directory users (through the Graph API, as the tenant's administrator).

use std::io::Read;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clap::Subcommand;
use serde::Serialize;
use serde_json::{json, Value};

use super::client::{next_page_path, segment, Client, ConnectArgs};

/// Manage the users who sign in (to devices, and with a role to ztd's admin API).
#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(subcommand)]
    command: UserCommand,
    #[command(flatten)]
    server: ConnectArgs,
}

#[derive(Debug, Subcommand)]
enum UserCommand {
    /// Create a user. The password is read from --password, or from standard input with --password-stdin.
    Create {
        /// User principal name, e.g. ada@contoso.example (the domain must be the tenant's).
        #[arg(long)]
        upn: String,
        /// Display name (default: the part of the UPN before @).
        #[arg(long)]
        name: Option<String>,
        /// The password (visible to other local users in the process list: prefer --password-stdin).
        #[arg(long, conflicts_with = "password_stdin")]
        password: Option<String>,
        /// Read the password from standard input.
        #[arg(long)]
        password_stdin: bool,
        /// user, readOnly, autopilotOperator or administrator.
        #[arg(long, default_value = "user")]
        role: String,
        /// Require a new password at the first sign-in.
        #[arg(long)]
        force_change: bool,
        /// Print as JSON (for scripts).
        #[arg(long)]
        json: bool,
    },
    /// List users.
    List {
        /// Print as JSON (for scripts).
        #[arg(long)]
        json: bool,
    },
    /// Delete a user (by UPN or object id).
    Delete {
        /// UPN or object id.
        user: String,
    },
    /// Create the users of a CSV file with the header
    /// `userPrincipalName,displayName,password[,role][,givenName][,surname][,forceChangePassword]`: each row is
    /// created on its own; a refused row is reported with its number and does not stop the others.
    Import {
        /// The CSV file.
        file: PathBuf,
        /// Print as JSON (for scripts).
        #[arg(long)]
        json: bool,
    },
}

/// The Graph body of a new user.
fn new_user(upn: &str, name: &str, password: &str, role: &str, force_change: bool) -> Value {
    let nickname: String = upn
        .split('@')
        .next()
        .unwrap_or_default()
        .chars()
        .filter(|c| c.is_ascii_alphanumeric())
        .collect();
    json!({
        "accountEnabled": true,
        "displayName": name,
        "mailNickname": if nickname.is_empty() { "user".to_string() } else { nickname },
        "userPrincipalName": upn,
        "passwordProfile": { "password": password, "forceChangePasswordNextSignIn": force_change },
        "ztdRole": role,
    })
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct RowReport {
    row: u64,
    user_principal_name: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    error: Option<String>,
}

pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    super::client::runtime()?.block_on(async move {
        let client = Client::connect_with(&args.server).await?;
        match args.command {
            UserCommand::Create {
                upn,
                name,
                password,
                password_stdin,
                role,
                force_change,
                json,
            } => {
                let password = match (password, password_stdin) {
                    (Some(p), _) => p,
                    (None, true) => {
                        let mut text = String::new();
                        std::io::stdin().read_to_string(&mut text)?;
                        text.trim_end_matches(['\r', '\n']).to_string()
                    }
                    (None, false) => {
                        anyhow::bail!("give the password with --password or --password-stdin")
                    }
                };
                let name =
                    name.unwrap_or_else(|| upn.split('@').next().unwrap_or_default().to_string());
                let created: Value = client
                    .post(
                        "/v1.0/users",
                        &new_user(&upn, &name, &password, &role, force_change),
                    )
                    .await?;
                if json {
                    println!("{}", serde_json::to_string_pretty(&created)?);
                } else {
                    println!("{}", created["id"].as_str().unwrap_or_default());
                }
                Ok(ExitCode::SUCCESS)
            }
            UserCommand::List { json } => {
                let mut users = Vec::new();
                let mut next = Some("/v1.0/users?$top=999".to_string());
                while let Some(page) = next.take() {
                    let body: Value = client.get(&page).await?;
                    users.extend(body["value"].as_array().cloned().unwrap_or_default());
                    next = next_page_path(&body);
                }
                if json {
                    println!("{}", serde_json::to_string_pretty(&users)?);
                } else {
                    let mut table = comfy_table::Table::new();
                    table.load_preset(comfy_table::presets::UTF8_BORDERS_ONLY);
                    table.set_header(["USER PRINCIPAL NAME", "NAME", "ROLE", "ENABLED", "ID"]);
                    for u in &users {
                        let text = |k: &str| u[k].as_str().unwrap_or_default().to_string();
                        table.add_row([
                            text("userPrincipalName"),
                            text("displayName"),
                            text("ztdRole"),
                            u["accountEnabled"].to_string(),
                            text("id"),
                        ]);
                    }
                    println!("{table}");
                    eprintln!("{} users", users.len());
                }
                Ok(ExitCode::SUCCESS)
            }
            UserCommand::Delete { user } => {
                client
                    .delete(&format!("/v1.0/users/{}", segment(&user)))
                    .await?;
                Ok(ExitCode::SUCCESS)
            }
            UserCommand::Import { file, json } => import(&client, &file, json).await,
        }
    })
}

/// At most this many rows per file: a lab of hundreds, not a directory sync.
const MAX_IMPORT_ROWS: usize = 10_000;

async fn import(client: &Client, file: &std::path::Path, json: bool) -> anyhow::Result<ExitCode> {
    let mut reader = csv::ReaderBuilder::new()
        .trim(csv::Trim::All)
        .from_path(file)
        .with_context(|| format!("cannot read {}", file.display()))?;
    let headers: Vec<String> = reader
        .headers()?
        .iter()
        .map(|h| h.to_ascii_lowercase())
        .collect();
    let column = |name: &str| headers.iter().position(|h| h == &name.to_ascii_lowercase());
    let (Some(upn_at), Some(name_at), Some(password_at)) = (
        column("userPrincipalName"),
        column("displayName"),
        column("password"),
    ) else {
        anyhow::bail!(
            "{}: the header must name userPrincipalName, displayName and password (and may name role, givenName, surname, forceChangePassword)",
            file.display()
        );
    };
    let (role_at, given_at, surname_at, force_at) = (
        column("role"),
        column("givenName"),
        column("surname"),
        column("forceChangePassword"),
    );
    let records: Vec<csv::StringRecord> = reader
        .records()
        .take(MAX_IMPORT_ROWS + 1)
        .collect::<Result<_, _>>()?;
    anyhow::ensure!(
        records.len() <= MAX_IMPORT_ROWS,
        "{}: more than {MAX_IMPORT_ROWS} rows",
        file.display()
    );
    let progress = indicatif::ProgressBar::new(records.len() as u64);
    let mut reports = Vec::with_capacity(records.len());
    for (index, record) in records.iter().enumerate() {
        let field = |at: Option<usize>| {
            at.and_then(|i| record.get(i))
                .unwrap_or_default()
                .to_string()
        };
        let upn = field(Some(upn_at));
        let mut body = new_user(
            &upn,
            &field(Some(name_at)),
            &field(Some(password_at)),
            &Some(field(role_at))
                .filter(|r| !r.is_empty())
                .unwrap_or_else(|| "user".into()),
            field(force_at).eq_ignore_ascii_case("true"),
        );
        for (at, key) in [(given_at, "givenName"), (surname_at, "surname")] {
            let value = field(at);
            if !value.is_empty() {
                body[key] = value.into();
            }
        }
        // Row numbers count the header as row 1, as a spreadsheet shows them.
        let row = index as u64 + 2;
        let report = match client.post::<_, Value>("/v1.0/users", &body).await {
            Ok(created) => RowReport {
                row,
                user_principal_name: upn,
                id: created["id"].as_str().map(str::to_string),
                error: None,
            },
            Err(err) => RowReport {
                row,
                user_principal_name: upn,
                id: None,
                error: Some(err.to_string()),
            },
        };
        reports.push(report);
        progress.inc(1);
    }
    progress.finish_and_clear();
    let failed = reports.iter().filter(|r| r.error.is_some()).count();
    if json {
        println!("{}", serde_json::to_string_pretty(&reports)?);
    } else {
        for r in reports.iter().filter(|r| r.error.is_some()) {
            eprintln!(
                "row {} ({}): {}",
                r.row,
                r.user_principal_name,
                r.error.as_deref().unwrap_or_default()
            );
        }
        eprintln!("{} created, {failed} refused", reports.len() - failed);
    }
    Ok(if failed == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(4)
    })
}
