//! `ztd`: the one binary. Each subcommand lives in its own module under `cmd/`.

use std::process::ExitCode;

use clap::{Parser, Subcommand};

mod cmd;

/// Self-hostable Windows Autopilot: registration, dynamic groups, profiles and first-boot provisioning.
#[derive(Debug, Parser)]
#[command(name = "ztd", version, about, long_about = None, propagate_version = true)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Decode, verify and generate 4K hardware hashes.
    Hash(cmd::hash::Args),
    /// Check, evaluate and explain dynamic membership rules.
    Rule(cmd::rule::Args),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Hash(args) => cmd::hash::run(args),
        Command::Rule(args) => cmd::rule::run(args),
    };
    match result {
        Ok(code) => code,
        Err(err) => {
            eprintln!("error: {err:#}");
            ExitCode::FAILURE
        }
    }
}
