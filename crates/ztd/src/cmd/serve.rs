//! `ztd serve`: runs the server on the embedded SQLite database (default) or on PostgreSQL.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::Context;
use ztd_app::{App, BootstrapOutcome};
use ztd_server::{AppState, TlsFiles, Tokens};
use ztd_store::Store;

use super::client::CredentialsFile;

/// Run the ztd server: admin API (Graph-compatible), device API and token endpoint.
#[derive(Debug, clap::Args)]
#[command(
    after_help = "Examples:\n  ztd serve                      # SQLite in ./ztd-data, http://127.0.0.1:8950\n  ztd serve --demo               # with sample devices, groups and profiles\n  ztd serve --database-url postgres://postgres@127.0.0.1/ztd --listen 0.0.0.0:8950"
)]
pub struct Args {
    /// Directory for the embedded database and the first-start credentials.
    #[arg(long, env = "ZTD_DATA_DIR", default_value = "ztd-data")]
    data_dir: PathBuf,
    /// Database URL; `postgres://...` to share one database between several nodes. Default: SQLite in --data-dir.
    #[arg(long, env = "ZTD_DATABASE_URL")]
    database_url: Option<String>,
    /// PostgreSQL connections this node opens at most (the server's max_connections must cover every
    /// node's pool plus your own sessions; see docs/multi-node.md). Ignored for SQLite.
    #[arg(long, env = "ZTD_DB_POOL_SIZE", default_value_t = 10, value_parser = clap::value_parser!(u32).range(1..=1000))]
    db_pool_size: u32,
    /// Address to listen on.
    #[arg(long, env = "ZTD_LISTEN", default_value = "127.0.0.1:8950")]
    listen: SocketAddr,
    /// On first start, seed sample devices, dynamic groups and profiles.
    #[arg(long)]
    demo: bool,
    /// Name of the tenant created on first start.
    #[arg(long, default_value = "Contoso Lab")]
    tenant_name: String,
    /// Default domain of the tenant created on first start.
    #[arg(long, default_value = "contoso.example")]
    tenant_domain: String,
    /// PEM certificate chain: serve HTTPS (rustls). Needs --tls-key.
    #[arg(long, requires = "tls_key")]
    tls_cert: Option<PathBuf>,
    /// PEM private key for --tls-cert.
    #[arg(long, requires = "tls_cert")]
    tls_key: Option<PathBuf>,
    /// Serve HTTPS with a certificate from the deployment's lab root (created on first use; `ztd ca export`
    /// writes it) for this address, localhost and the Microsoft host names clients hard-code
    /// (docs/lab-ingress.md). The root is also written to <data-dir>/lab-ca.pem.
    #[arg(long, conflicts_with = "tls_cert")]
    lab_tls: bool,
    /// More names (DNS or IP) for the --lab-tls certificate, e.g. the lab machine's host name.
    #[arg(long = "lab-name", requires = "lab_tls")]
    lab_names: Vec<String>,
    /// Run the lab's CONNECT proxy on this loopback address: a tool whose HTTPS proxy is set to it reaches
    /// ztd for every host it names (needs --lab-tls or --tls-cert).
    #[arg(long, value_name = "ADDR")]
    lab_proxy: Option<SocketAddr>,
    /// Log as JSON lines instead of text.
    #[arg(long)]
    log_json: bool,
    /// Device API: boot requests per second from one source address (burst: five seconds' worth); 0 turns
    /// the limit off (a lab behind one NAT address, benchmarks).
    #[arg(long, env = "ZTD_DEVICE_RATE_PER_SOURCE", default_value_t = 20)]
    device_rate_per_source: u32,
    /// Device API: plans per minute for one registered device; 0 turns the limit off.
    #[arg(long, env = "ZTD_DEVICE_RATE_PER_DEVICE", default_value_t = 12)]
    device_rate_per_device: u32,
    /// Graph: requests per 20 seconds for one tenant, all apps together (Intune's limit); beyond it 429
    /// with Retry-After. 0 turns the limit off (benchmarks).
    #[arg(long, env = "ZTD_GRAPH_RATE_PER_TENANT", default_value_t = 2000)]
    graph_rate_per_tenant: u32,
    /// Graph: requests per 20 seconds for one app in one tenant (Intune's limit); 0 turns the limit off.
    #[arg(long, env = "ZTD_GRAPH_RATE_PER_APP", default_value_t = 1000)]
    graph_rate_per_app: u32,
}

fn init_logging(json: bool) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info,sqlx=warn,tower_http=info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    if json {
        builder.json().init();
    } else {
        builder.init();
    }
}

/// Writes `credentials.json` (owner-only on Unix), as first start does; `ztd bench seed` writes the same file.
pub(crate) fn write_credentials(
    path: &std::path::Path,
    credentials: &CredentialsFile,
) -> anyhow::Result<()> {
    write_private(path, &serde_json::to_vec_pretty(credentials)?)
}

/// Issues the --lab-tls certificate and writes it, its key and the root under the data directory.
async fn lab_certificate(
    app: &App,
    data_dir: &std::path::Path,
    addr: SocketAddr,
    extra: &[String],
) -> anyhow::Result<TlsFiles> {
    let ca = app.lab_ca().await?;
    let mut names: Vec<String> = vec![
        "localhost".into(),
        "127.0.0.1".into(),
        addr.ip().to_string(),
    ];
    names.extend(extra.iter().cloned());
    names.extend(
        ztd_app::lab_ca::MICROSOFT_HOSTS
            .iter()
            .map(|h| h.to_string()),
    );
    names.dedup();
    let (chain, key) = ca.issue_server_certificate(&names)?;
    let dir = data_dir.join("lab-tls");
    std::fs::create_dir_all(&dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let certificate = dir.join("server.pem");
    let private_key = dir.join("server-key.pem");
    std::fs::write(&certificate, chain)?;
    write_private(&private_key, key.as_bytes())?;
    let root = data_dir.join("lab-ca.pem");
    std::fs::write(&root, &ca.cert_pem)?;
    eprintln!(
        "lab TLS: certificate from the lab root {} (trust that file)",
        root.display()
    );
    Ok(TlsFiles {
        certificate,
        private_key,
    })
}

/// Writes a file only its owner can read (on Unix).
fn write_private(path: &std::path::Path, bytes: &[u8]) -> anyhow::Result<()> {
    #[cfg(unix)]
    {
        use std::io::Write;
        use std::os::unix::fs::OpenOptionsExt;
        let mut file = std::fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(0o600)
            .open(path)?;
        file.write_all(bytes)?;
    }
    #[cfg(not(unix))]
    std::fs::write(path, bytes)?;
    Ok(())
}

pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    init_logging(args.log_json);
    super::client::runtime()?.block_on(serve(args))?;
    Ok(ExitCode::SUCCESS)
}

async fn serve(args: Args) -> anyhow::Result<()> {
    std::fs::create_dir_all(&args.data_dir).with_context(|| {
        format!(
            "cannot create the data directory {}",
            args.data_dir.display()
        )
    })?;
    let url = match &args.database_url {
        Some(url) => url.clone(),
        None => {
            let path = std::fs::canonicalize(&args.data_dir)?.join("ztd.db");
            format!("sqlite://{}", path.display())
        }
    };
    // Bind first: a port in use must fail before first start creates a tenant and prints its secret.
    let listener = tokio::net::TcpListener::bind(args.listen)
        .await
        .with_context(|| {
            format!(
                "cannot listen on {} (in use? try --listen 127.0.0.1:0)",
                args.listen
            )
        })?;
    let options = ztd_store::StoreOptions {
        max_connections: args.db_pool_size,
        ..Default::default()
    };
    let store = Store::open_with(&url, options)
        .await
        .with_context(|| "cannot open the database (check --database-url)".to_string())?;
    let app = App::with_defaults(store);
    let credentials_path = args.data_dir.join("credentials.json");
    let addr = listener.local_addr()?;
    let saved_at = format!(
        "{} (written by the node that listened on {addr})",
        credentials_path.display()
    );
    match app
        .bootstrap(&args.tenant_name, &args.tenant_domain, &saved_at)
        .await?
    {
        BootstrapOutcome::Created(first) => {
            let base = if args.tls_cert.is_some() || args.lab_tls {
                format!("https://{addr}")
            } else {
                format!("http://{addr}")
            };
            write_credentials(
                &credentials_path,
                &CredentialsFile {
                    tenant_id: first.tenant.id.to_string(),
                    client_id: first.client_id.clone(),
                    client_secret: first.client_secret.clone(),
                    server: Some(base),
                },
            )?;
            eprintln!(
                "First start: created tenant {} ({}, {})",
                first.tenant.display_name, first.tenant.id, first.tenant.domain
            );
            eprintln!("  administrator client id:     {}", first.client_id);
            eprintln!("  administrator client secret: {}", first.client_secret);
            eprintln!(
                "  saved to {} (the CLI reads it from there)",
                credentials_path.display()
            );
            if args.demo {
                app.seed_demo(first.tenant.id).await?;
                eprintln!("  demo: 30 devices, 3 dynamic groups on [OrderId], 3 profiles assigned");
            }
        }
        BootstrapOutcome::AlreadyDone { credentials } => {
            // Another start (maybe another node, now) set the database up; its secret is not stored.
            if !credentials_path.exists() {
                eprintln!(
                    "The database is already set up; its administrator credential was saved to {credentials}"
                );
            }
            if args.demo {
                eprintln!("--demo only seeds on first start; the database already has a tenant");
            }
        }
    }
    let state = AppState {
        app: app.clone(),
        tokens: Arc::new(Tokens::default()),
    };
    let tls = match (args.tls_cert, args.tls_key) {
        (Some(certificate), Some(private_key)) => Some(TlsFiles {
            certificate,
            private_key,
        }),
        _ if args.lab_tls => {
            Some(lab_certificate(&app, &args.data_dir, addr, &args.lab_names).await?)
        }
        _ => None,
    };
    let scheme = if tls.is_some() { "https" } else { "http" };
    eprintln!("ztd listening on {scheme}://{}", listener.local_addr()?);
    if let Some(proxy) = args.lab_proxy {
        if tls.is_none() {
            anyhow::bail!(
                "--lab-proxy tunnels to ztd's TLS listener: add --lab-tls (or --tls-cert)"
            );
        }
        let at = ztd_server::lab_proxy::start(proxy, addr).await?;
        eprintln!(
            "lab proxy on http://{at} (set it as the HTTPS proxy of the tools to point at ztd)"
        );
    }
    let device = ztd_server::DeviceApiConfig {
        per_source_per_second: std::num::NonZeroU32::new(args.device_rate_per_source),
        per_device_per_minute: std::num::NonZeroU32::new(args.device_rate_per_device),
    };
    let graph = ztd_server::GraphConfig {
        throttle: ztd_server::graph::ThrottleConfig {
            per_tenant: std::num::NonZeroU32::new(args.graph_rate_per_tenant),
            per_app: std::num::NonZeroU32::new(args.graph_rate_per_app),
            window: std::time::Duration::from_secs(20),
        },
        ..ztd_server::GraphConfig::default()
    };
    ztd_server::serve_configured(listener, state, tls, graph, device).await?;
    Ok(())
}
