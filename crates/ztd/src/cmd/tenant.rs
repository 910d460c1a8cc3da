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
    /// A tenant's verified domains (user names end in one of them).
    Domain {
        #[command(subcommand)]
        command: DomainCommand,
    },
}

#[derive(Debug, Subcommand)]
enum DomainCommand {
    /// Verify another domain for the tenant (a domain belongs to one tenant).
    Add {
        /// Tenant id or domain.
        #[arg(long)]
        tenant: String,
        /// The domain, e.g. lab.contoso.example.
        domain: String,
    },
    /// Remove a domain (not the default one, nor one that users' names are in).
    Remove {
        /// Tenant id or domain.
        #[arg(long)]
        tenant: String,
        domain: String,
    },
    /// List the tenant's domains.
    List {
        /// Tenant id or domain.
        #[arg(long)]
        tenant: String,
        /// Print as JSON (for scripts).
        #[arg(long)]
        json: bool,
    },
}

#[derive(Debug, Subcommand)]
enum SecretCommand {
    /// Add a secret; it is shown once.
    Add {
        /// Tenant id or domain.
        #[arg(long)]
        tenant: String,
        /// The app's client id.
        client_id: String,
        /// A name for the secret.
        #[arg(long, default_value = "secret")]
        name: String,
        /// Days until it expires (1–730).
        #[arg(long, default_value_t = ztd_app::clients::DEFAULT_SECRET_LIFETIME_DAYS)]
        days: u32,
        /// Print as JSON (for scripts).
        #[arg(long)]
        json: bool,
    },
    /// Remove a secret: it stops working at once, tokens issued with it within a minute.
    Delete {
        /// Tenant id or domain.
        #[arg(long)]
        tenant: String,
        /// The app's client id.
        client_id: String,
        /// The secret's key id (`ztd app show`).
        key_id: uuid::Uuid,
    },
}

#[derive(Debug, Subcommand)]
enum CertCommand {
    /// Register a certificate (PEM or DER; only the public certificate is read).
    Add {
        /// Tenant id or domain.
        #[arg(long)]
        tenant: String,
        /// The app's client id.
        client_id: String,
        /// The certificate file.
        file: std::path::PathBuf,
        /// A name for the credential (default: the certificate's subject).
        #[arg(long)]
        name: Option<String>,
        /// Print as JSON (for scripts).
        #[arg(long)]
        json: bool,
    },
    /// Remove a certificate: assertions it signs are refused at once, its tokens stop within a minute.
    Delete {
        /// Tenant id or domain.
        #[arg(long)]
        tenant: String,
        /// The app's client id.
        client_id: String,
        /// The certificate's key id (`ztd app show`).
        key_id: uuid::Uuid,
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
        /// A redirect URI for the authorization code flow (repeatable): https://…, or http://localhost for a
        /// native app (any port matches).
        #[arg(long = "redirect-uri")]
        redirect_uris: Vec<String>,
        /// Days until the first secret expires (1–730).
        #[arg(long, default_value_t = ztd_app::clients::DEFAULT_SECRET_LIFETIME_DAYS)]
        secret_days: u32,
        /// Also register this certificate (PEM or DER, RSA key) for signed client assertions.
        #[arg(long)]
        certificate: Option<std::path::PathBuf>,
        /// Print as JSON (for scripts).
        #[arg(long)]
        json: bool,
    },
    /// Show an app with its secrets (hints only) and certificates.
    Show {
        /// Tenant id or domain.
        #[arg(long)]
        tenant: String,
        /// The app's client id.
        client_id: String,
        /// Print as JSON (for scripts).
        #[arg(long)]
        json: bool,
    },
    /// Add or remove client secrets (rotate: add the new one, move clients to it, remove the old one).
    Secret {
        #[command(subcommand)]
        command: SecretCommand,
    },
    /// Add or remove certificate credentials (for signed client assertions).
    Cert {
        #[command(subcommand)]
        command: CertCommand,
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

pub(crate) async fn find_tenant(app: &ztd_app::App, name: &str) -> anyhow::Result<TenantId> {
    if let Some(id) = app.tenant_for_domain(name).await? {
        return Ok(id);
    }
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
    super::client::runtime()?.block_on(super::ca::as_operator(async move {
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
            TenantCommand::Domain { command } => match command {
                DomainCommand::Add { tenant, domain } => {
                    let tenant = find_tenant(&app, &tenant).await?;
                    let added = app.add_domain(tenant, &domain).await?;
                    eprintln!("verified {} for tenant {tenant}; users may now have names in it", added.name);
                }
                DomainCommand::Remove { tenant, domain } => {
                    let tenant = find_tenant(&app, &tenant).await?;
                    app.remove_domain(tenant, &domain).await?;
                    eprintln!("removed {domain}");
                }
                DomainCommand::List { tenant, json } => {
                    let tenant = find_tenant(&app, &tenant).await?;
                    let domains = app.domains(tenant).await?;
                    if json {
                        println!("{}", serde_json::to_string_pretty(&domains)?);
                    } else {
                        let mut table = comfy_table::Table::new();
                        table.load_preset(comfy_table::presets::UTF8_BORDERS_ONLY);
                        table.set_header(["DOMAIN", "DEFAULT", "ADDED"]);
                        for d in &domains {
                            table.add_row([
                                d.name.clone(),
                                if d.is_default { "yes" } else { "" }.to_string(),
                                d.created_at.to_rfc3339_seconds(),
                            ]);
                        }
                        println!("{table}");
                    }
                }
            },
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
    }))
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct CreatedApp {
    tenant_id: String,
    client_id: String,
    client_secret: String,
    secret_key_id: uuid::Uuid,
    secret_end_date_time: Option<String>,
    roles: Vec<String>,
    certificate: Option<serde_json::Value>,
}

fn certificate_json(c: &ztd_core::tenant::ClientCertificate) -> serde_json::Value {
    serde_json::json!({
        "keyId": c.key_id,
        "type": "AsymmetricX509Cert",
        "usage": "Verify",
        "customKeyIdentifier": c.thumbprint,
        "displayName": c.display_name,
        "startDateTime": c.start_at.to_rfc3339_seconds(),
        "endDateTime": c.end_at.to_rfc3339_seconds(),
    })
}

fn secret_json(s: &ztd_core::tenant::ClientSecret) -> serde_json::Value {
    serde_json::json!({
        "keyId": s.key_id,
        "hint": s.hint,
        "displayName": s.display_name,
        "startDateTime": s.start_at.to_rfc3339_seconds(),
        "endDateTime": s.end_at.map(|t| t.to_rfc3339_seconds()),
    })
}

fn read_certificate(file: &std::path::Path) -> anyhow::Result<Vec<u8>> {
    let bytes = std::fs::read(file)
        .map_err(|e| anyhow::anyhow!("cannot read the certificate {}: {e}", file.display()))?;
    Ok(bytes)
}

pub fn run_app(args: AppArgs) -> anyhow::Result<ExitCode> {
    super::client::runtime()?.block_on(super::ca::as_operator(async move {
        let app = args.database.open().await?;
        match args.command {
            AppCommand::Create {
                tenant,
                name,
                roles,
                redirect_uris,
                secret_days,
                certificate,
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
                // Read the certificate first: a bad file registers nothing.
                let certificate = certificate.as_deref().map(read_certificate).transpose()?;
                if let Some(bytes) = &certificate {
                    ztd_oauth::CertificateCredential::parse(bytes)
                        .map_err(|e| anyhow::anyhow!("the certificate: {e}"))?;
                }
                let spec = ztd_app::ClientSpec {
                    display_name: name,
                    scopes: roles,
                    redirect_uris,
                    secret_lifetime_days: Some(secret_days),
                };
                let client = app.create_client(tenant, &spec).await?;
                let certificate = match certificate {
                    Some(bytes) => Some(
                        app.add_client_certificate(tenant, &client.client_id, &bytes, None)
                            .await?,
                    ),
                    None => None,
                };
                let created = CreatedApp {
                    tenant_id: client.tenant_id.to_string(),
                    client_id: client.client_id,
                    client_secret: client.client_secret,
                    secret_key_id: client.secret_key_id,
                    secret_end_date_time: client.secret_expires.map(|t| t.to_rfc3339_seconds()),
                    roles: client.scopes,
                    certificate: certificate.as_ref().map(certificate_json),
                };
                if json {
                    println!("{}", serde_json::to_string_pretty(&created)?);
                } else {
                    println!("tenant id:     {}", created.tenant_id);
                    println!("client id:     {}", created.client_id);
                    println!("client secret: {}", created.client_secret);
                    if let Some(end) = &created.secret_end_date_time {
                        println!("expires:       {end}");
                    }
                    if let Some(c) = &certificate {
                        println!("certificate:   {} ({})", c.thumbprint, c.display_name);
                    }
                    eprintln!("the secret is shown once and stored only as a hash: keep it now");
                }
            }
            AppCommand::Show {
                tenant,
                client_id,
                json,
            } => {
                let tenant = find_tenant(&app, &tenant).await?;
                let (client, credentials) = app.client(tenant, &client_id).await?;
                let shown = serde_json::json!({
                    "appId": client.client_id,
                    "displayName": client.display_name,
                    "roles": client.scopes,
                    "redirectUris": client.redirect_uris,
                    "createdDateTime": client.created_at.to_rfc3339_seconds(),
                    "passwordCredentials": credentials.secrets.iter().map(secret_json).collect::<Vec<_>>(),
                    "keyCredentials": credentials.certificates.iter().map(certificate_json).collect::<Vec<_>>(),
                });
                if json {
                    println!("{}", serde_json::to_string_pretty(&shown)?);
                } else {
                    println!("{} ({})", client.display_name, client.client_id);
                    println!("roles: {}", client.scopes.join(" "));
                    if !client.redirect_uris.is_empty() {
                        println!("redirect URIs: {}", client.redirect_uris.join(" "));
                    }
                    let mut table = comfy_table::Table::new();
                    table.load_preset(comfy_table::presets::UTF8_BORDERS_ONLY);
                    table.set_header(["KIND", "KEY ID", "NAME", "HINT / THUMBPRINT", "EXPIRES"]);
                    for s in &credentials.secrets {
                        table.add_row([
                            "secret".to_string(),
                            s.key_id.to_string(),
                            s.display_name.clone(),
                            format!("{}…", s.hint),
                            s.end_at.map_or_else(|| "never".into(), |t| t.to_rfc3339_seconds()),
                        ]);
                    }
                    for c in &credentials.certificates {
                        table.add_row([
                            "certificate".to_string(),
                            c.key_id.to_string(),
                            c.display_name.clone(),
                            c.thumbprint.clone(),
                            c.end_at.to_rfc3339_seconds(),
                        ]);
                    }
                    println!("{table}");
                }
            }
            AppCommand::Secret { command } => match command {
                SecretCommand::Add {
                    tenant,
                    client_id,
                    name,
                    days,
                    json,
                } => {
                    let tenant = find_tenant(&app, &tenant).await?;
                    let secret = app.add_client_secret(tenant, &client_id, &name, days).await?;
                    if json {
                        println!(
                            "{}",
                            serde_json::to_string_pretty(&serde_json::json!({
                                "clientId": secret.client_id,
                                "keyId": secret.key_id,
                                "secretText": secret.secret_text,
                                "hint": secret.hint,
                                "displayName": secret.display_name,
                                "startDateTime": secret.start.to_rfc3339_seconds(),
                                "endDateTime": secret.end.map(|t| t.to_rfc3339_seconds()),
                            }))?
                        );
                    } else {
                        println!("key id:        {}", secret.key_id);
                        println!("client secret: {}", secret.secret_text);
                        if let Some(end) = secret.end {
                            println!("expires:       {}", end.to_rfc3339_seconds());
                        }
                        eprintln!("the secret is shown once and stored only as a hash: keep it now");
                    }
                }
                SecretCommand::Delete {
                    tenant,
                    client_id,
                    key_id,
                } => {
                    let tenant = find_tenant(&app, &tenant).await?;
                    app.remove_client_secret(tenant, &client_id, key_id).await?;
                    eprintln!("removed secret {key_id}; tokens issued with it stop working within a minute");
                }
            },
            AppCommand::Cert { command } => match command {
                CertCommand::Add {
                    tenant,
                    client_id,
                    file,
                    name,
                    json,
                } => {
                    let tenant = find_tenant(&app, &tenant).await?;
                    let bytes = read_certificate(&file)?;
                    let added = app
                        .add_client_certificate(tenant, &client_id, &bytes, name.as_deref())
                        .await?;
                    if json {
                        println!("{}", serde_json::to_string_pretty(&certificate_json(&added))?);
                    } else {
                        println!("key id:     {}", added.key_id);
                        println!("thumbprint: {}", added.thumbprint);
                        println!("expires:    {}", added.end_at.to_rfc3339_seconds());
                    }
                }
                CertCommand::Delete {
                    tenant,
                    client_id,
                    key_id,
                } => {
                    let tenant = find_tenant(&app, &tenant).await?;
                    app.remove_client_certificate(tenant, &client_id, key_id).await?;
                    eprintln!("removed certificate {key_id}; tokens issued with it stop working within a minute");
                }
            },
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
    }))
}
