//! `ztd`: the one binary. Each subcommand lives in its own module under `cmd/`.

use std::process::ExitCode;

use clap::{Parser, Subcommand};

mod cmd;

/// mimalloc instead of the system allocator: a page request allocates and frees thousands of small
/// strings and a few large buffers, and glibc's malloc spent a fifth of the request on it (profile in
/// docs/benchmarks.md). SQLite allocates from it too (`ztd-sqlite-heap`). Built without transparent huge
/// pages (`no_thp`): with SQLite's heap on mimalloc they raised the import's peak memory by about 40 MB.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Self-hostable Windows Autopilot: registration, dynamic groups, profiles and first-boot provisioning.
#[derive(Debug, Parser)]
#[command(name = "ztd", version, about, long_about = None, propagate_version = true)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the server (embedded SQLite by default, PostgreSQL with --database-url).
    Serve(cmd::serve::Args),
    /// Register devices from a hardware-hash CSV.
    Import(cmd::import::Args),
    /// Explain, list and boot Autopilot devices; join, enroll and sync simulated Windows devices.
    Device(cmd::device::Args),
    /// Create, list, assign and export deployment profiles.
    Profile(cmd::profile::Args),
    /// Create and list device groups.
    Group(cmd::group::Args),
    /// Measure ztd on this machine (import throughput and memory).
    Bench(cmd::bench::Args),
    /// Decode, verify and generate 4K hardware hashes.
    Hash(cmd::hash::Args),
    /// Check, evaluate and explain dynamic membership rules.
    Rule(cmd::rule::Args),
    /// Export the lab root certificate (operator: opens the database).
    Ca(cmd::ca::Args),
    /// Create and list tenants (operator: opens the database).
    Tenant(cmd::tenant::Args),
    /// Register applications in a tenant (operator: opens the database).
    App(cmd::tenant::AppArgs),
    /// Create, list, import and delete users (through the Graph API).
    User(cmd::user::Args),
    /// Read a tenant's audit log: who changed what, and what was refused (operator: opens the database).
    Audit(cmd::audit::Args),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Serve(args) => cmd::serve::run(args),
        Command::Import(args) => cmd::import::run(args),
        Command::Device(args) => cmd::device::run(args),
        Command::Profile(args) => cmd::profile::run(args),
        Command::Group(args) => cmd::group::run(args),
        Command::Bench(args) => cmd::bench::run(args),
        Command::Hash(args) => cmd::hash::run(args),
        Command::Rule(args) => cmd::rule::run(args),
        Command::Ca(args) => cmd::ca::run(args),
        Command::Tenant(args) => cmd::tenant::run(args),
        Command::App(args) => cmd::tenant::run_app(args),
        Command::User(args) => cmd::user::run(args),
        Command::Audit(args) => cmd::audit::run(args),
    };
    match result {
        Ok(code) => code,
        Err(err) => {
            eprintln!("error: {err:#}");
            ExitCode::FAILURE
        }
    }
}
