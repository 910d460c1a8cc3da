//! `ztd ca`: the deployment's lab root certificate authority (docs/lab-ingress.md). Operator commands: they
//! open the database directly, as `ztd serve` does, so whoever holds the data directory or the database URL
//! is the operator.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clap::Subcommand;
use ztd_app::App;
use ztd_store::Store;

/// The lab root certificate authority.
#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(subcommand)]
    command: CaCommand,
}

#[derive(Debug, Subcommand)]
enum CaCommand {
    /// Write the lab root certificate (PEM), to trust on a lab machine or give a tool as its CA bundle.
    /// Creates the root if the deployment has none yet.
    Export {
        /// Where to write it; `-` or nothing for standard output.
        #[arg(long, short)]
        out: Option<PathBuf>,
        #[command(flatten)]
        database: DatabaseArgs,
    },
}

/// Which database an operator command opens.
#[derive(Debug, clap::Args)]
pub struct DatabaseArgs {
    /// The data directory of `ztd serve` (its SQLite database).
    #[arg(long, env = "ZTD_DATA_DIR", default_value = "ztd-data", global = true)]
    pub data_dir: PathBuf,
    /// The database URL (`postgres://...`), instead of SQLite in --data-dir.
    #[arg(long, env = "ZTD_DATABASE_URL", global = true)]
    pub database_url: Option<String>,
}

impl DatabaseArgs {
    /// Opens the database of a deployment that exists (never creates one).
    pub async fn open(&self) -> anyhow::Result<App> {
        let url = match &self.database_url {
            Some(url) => url.clone(),
            None => {
                let db = self.data_dir.join("ztd.db");
                anyhow::ensure!(
                    db.exists(),
                    "no database at {} (pass the --data-dir of `ztd serve`, or --database-url)",
                    db.display()
                );
                format!("sqlite://{}", std::fs::canonicalize(&db)?.display())
            }
        };
        let store = Store::open(&url)
            .await
            .context("cannot open the database (check --database-url)")?;
        Ok(App::with_defaults(store))
    }
}

/// The operator as the audit log names them: the account that ran the command.
pub fn operator() -> ztd_core::event::Actor {
    let account = ["USER", "LOGNAME", "USERNAME"]
        .iter()
        .find_map(|name| std::env::var(name).ok().filter(|v| !v.is_empty()))
        .unwrap_or_else(|| "operator".to_string());
    ztd_core::event::Actor::operator(&account)
}

/// Runs an operator command's work with the audit log naming the operator.
pub async fn as_operator<F: std::future::Future>(work: F) -> F::Output {
    ztd_app::audit::acting_as(operator(), work).await
}

pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    super::client::runtime()?.block_on(async move {
        match args.command {
            CaCommand::Export { out, database } => {
                let app = database.open().await?;
                let ca = app.lab_ca().await?;
                match out.filter(|p| p.as_os_str() != "-") {
                    Some(path) => {
                        std::fs::write(&path, &ca.cert_pem)
                            .with_context(|| format!("cannot write {}", path.display()))?;
                        eprintln!("wrote the lab root certificate to {}", path.display());
                    }
                    None => print!("{}", ca.cert_pem),
                }
                Ok(ExitCode::SUCCESS)
            }
        }
    })
}
