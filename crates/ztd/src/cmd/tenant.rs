//! `ztd tenant` and `ztd app`: the operator's commands. They open the database directly (`--data-dir` or
//! `--database-url`, as `ztd serve` does): whoever holds the database is the operator, a credential apart from
//! every tenant's.

use std::process::ExitCode;

use clap::Subcommand;
use serde::Serialize;
use ztd_core::TenantId;

use super::ca::DatabaseArgs;

/// Tenants: each its own directory, devices, groups, profiles and keys.
#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(subcommand)]
    command: TenantCommand,
    #[command(flatten)]
    database: DatabaseArgs,
}

#[derive(Debug, Subcommand)]
enum TenantCommand {
    /// Create a tenant (then register an app in it with `ztd app create`).
    Create {
        /// Display name of the tenant.
        #[arg(long)]
        name: String,
        /// Its verified domain, e.g. fabrikam.example (users' UPNs end in it).
        #[arg(long)]
        domain: String,
        /// Print as JSON (for scripts).
        #[arg(long)]
        json: bool,
    },
    /// List tenants.
    List {
        /// Print as JSON (for scripts).
        #[arg(long)]
        json: bool,
    },
}

/// Applications: client credentials that call a tenant's admin API.
#[derive(Debug, clap::Args)]
pub struct AppArgs {
    #[command(subcommand)]
    command: AppCommand,
    #[command(flatten)]
    database: DatabaseArgs,
}

#[derive(Debug, Subcommand)]
enum AppCommand {
    /// Register an app with a client secret (shown once, stored hashed).
    Create {
        /// Tenant id or domain.
        #[arg(long)]
        tenant: String,
        /// Display name of the app.
        #[arg(long)]
        name: String,
        /// An application permission, e.g. DeviceManagementServiceConfig.ReadWrite.All (repeatable;
        /// default: every permission of the tenant's administrator).
        #[arg(long = "role")]
        roles: Vec<String>,
        /// Print as JSON (for scripts).
        #[arg(long)]
        json: bool,
    },
    /// List a tenant's apps.
    List {
        /// Tenant id or domain.
        #[arg(long)]
        tenant: String,
        /// Print as JSON (for scripts).
        #[arg(long)]
        json: bool,
    },
    /// Delete an app: its secret stops working at once, its tokens within a minute.
    Delete {
        /// Tenant id or domain.
        #[arg(long)]
        tenant: String,
        /// The app's client id.
        client_id: String,
    },
}

async fn find_tenant(app: &ztd_app::App, name: &str) -> anyhow::Result<TenantId> {
    let tenants = app.tenants().await?;
    tenants
        .iter()
        .find(|t| {
            t.id.to_string().eq_ignore_ascii_case(name) || t.domain.eq_ignore_ascii_case(name)
        })
        .map(|t| t.id)
        .ok_or_else(|| {
            let known: Vec<String> = tenants.iter().map(|t| t.domain.clone()).collect();
            anyhow::anyhow!("no tenant {name:?}; the tenants are: {}", known.join(", "))
        })
}

pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    super::client::runtime()?.block_on(async move {
        let app = args.database.open().await?;
        match args.command {
            TenantCommand::Create { name, domain, json } => {
                let tenant = app.create_tenant(&name, &domain).await?;
                if json {
                    println!("{}", serde_json::to_string_pretty(&tenant)?);
                } else {
                    println!("{}", tenant.id);
                    eprintln!(
                        "created tenant {} ({}); register an app: ztd app create --tenant {} --name admin",
                        tenant.display_name, tenant.domain, tenant.domain
                    );
                }
            }
            TenantCommand::List { json } => {
                let tenants = app.tenants().await?;
                if json {
                    println!("{}", serde_json::to_string_pretty(&tenants)?);
                } else {
                    let mut table = comfy_table::Table::new();
                    table.load_preset(comfy_table::presets::UTF8_BORDERS_ONLY);
                    table.set_header(["ID", "NAME", "DOMAIN", "CREATED"]);
                    for t in &tenants {
                        table.add_row([
                            t.id.to_string(),
                            t.display_name.clone(),
                            t.domain.clone(),
                            t.created_at.to_rfc3339_seconds(),
                        ]);
                    }
                    println!("{table}");
                }
            }
        }
        Ok(ExitCode::SUCCESS)
    })
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct CreatedApp {
    tenant_id: String,
    client_id: String,
    client_secret: String,
    roles: Vec<String>,
}

pub fn run_app(args: AppArgs) -> anyhow::Result<ExitCode> {
    super::client::runtime()?.block_on(async move {
        let app = args.database.open().await?;
        match args.command {
            AppCommand::Create {
                tenant,
                name,
                roles,
                json,
            } => {
                let tenant = find_tenant(&app, &tenant).await?;
                let roles: Vec<String> = if roles.is_empty() {
                    ztd_app::ADMIN_SCOPES
                        .iter()
                        .map(|s| s.to_string())
                        .collect()
                } else {
                    roles
                };
                let refs: Vec<&str> = roles.iter().map(String::as_str).collect();
                let client = app.create_client(tenant, &name, &refs).await?;
                let created = CreatedApp {
                    tenant_id: client.tenant_id.to_string(),
                    client_id: client.client_id,
                    client_secret: client.client_secret,
                    roles: client.scopes,
                };
                if json {
                    println!("{}", serde_json::to_string_pretty(&created)?);
                } else {
                    println!("tenant id:     {}", created.tenant_id);
                    println!("client id:     {}", created.client_id);
                    println!("client secret: {}", created.client_secret);
                    eprintln!("the secret is shown once and stored only as a hash: keep it now");
                }
            }
            AppCommand::List { tenant, json } => {
                let tenant = find_tenant(&app, &tenant).await?;
                let clients = app.clients(tenant).await?;
                let rows: Vec<serde_json::Value> = clients
                    .iter()
                    .map(|c| {
                        serde_json::json!({
                            "clientId": c.client_id,
                            "displayName": c.display_name,
                            "roles": c.scopes,
                            "createdDateTime": c.created_at.to_rfc3339_seconds(),
                        })
                    })
                    .collect();
                if json {
                    println!("{}", serde_json::to_string_pretty(&rows)?);
                } else {
                    let mut table = comfy_table::Table::new();
                    table.load_preset(comfy_table::presets::UTF8_BORDERS_ONLY);
                    table.set_header(["CLIENT ID", "NAME", "ROLES", "CREATED"]);
                    for c in &clients {
                        table.add_row([
                            c.client_id.clone(),
                            c.display_name.clone(),
                            c.scopes.join(" "),
                            c.created_at.to_rfc3339_seconds(),
                        ]);
                    }
                    println!("{table}");
                }
            }
            AppCommand::Delete { tenant, client_id } => {
                let tenant = find_tenant(&app, &tenant).await?;
                app.delete_client(tenant, &client_id).await?;
                eprintln!("deleted {client_id}; its tokens stop working within a minute");
            }
        }
        Ok(ExitCode::SUCCESS)
    })
}
