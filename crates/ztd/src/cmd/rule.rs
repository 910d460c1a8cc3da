//! `ztd rule`: check, evaluate and explain Entra dynamic device membership rules.

use std::collections::HashMap;
use std::io::{BufRead, BufWriter, Write};
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clap::Subcommand;
use ztd_rules::{Device, Rule, RuleError};

/// Check, evaluate and explain dynamic device membership rules (Entra syntax).
#[derive(Debug, clap::Args)]
#[command(
    after_help = "Example:\n  ztd rule check '(device.devicePhysicalIds -any (_ -eq \"[OrderId]:Kiosk\"))'"
)]
pub struct Args {
    #[command(subcommand)]
    command: RuleCommand,
}

#[derive(Debug, Subcommand)]
enum RuleCommand {
    /// Validate a rule. Exit 0 and print the normalised rule, or exit 2 and print the error
    /// with its line, column and 0-based character position (on stderr).
    Check {
        /// The rule text, e.g. 'device.deviceOSType -eq "Windows"'.
        rule: String,
        /// Print a JSON object instead: {"valid":true,"rule":...,"warnings":[...]} or
        /// {"valid":false,"error":{message,position,line,column,kind}}.
        #[arg(long)]
        json: bool,
    },
    /// Evaluate rules against devices.
    ///
    /// With --jsonl, reads JSON lines {"rule": "...", "device": {...}} from stdin and writes one
    /// line per input, in order: {"match": true}, {"match": false}, or {"error": "..."}.
    /// Device keys are rule property names (deviceOSType, devicePhysicalIds, systemLabels,
    /// memberOf, ...); a missing scalar is null, a missing list is empty; memberOf lists group
    /// object ids. Blank lines are skipped.
    Eval {
        /// Read JSON lines from stdin (the only mode).
        #[arg(long)]
        jsonl: bool,
    },
    /// Show how a rule evaluates for one device: every sub-expression, the device values it
    /// read, and its result.
    Explain {
        /// The rule text.
        rule: String,
        /// A JSON file with the device object (same keys as for `eval --jsonl`); `-` for stdin.
        #[arg(long)]
        device: PathBuf,
        /// Print the trace as JSON.
        #[arg(long)]
        json: bool,
    },
}

/// Exit code for an invalid rule (distinct from 1 = operational failure).
const INVALID: u8 = 2;

pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    match args.command {
        RuleCommand::Check { rule, json } => check(&rule, json),
        RuleCommand::Eval { jsonl } => {
            if !jsonl {
                anyhow::bail!("`ztd rule eval` needs --jsonl (JSON lines on stdin)");
            }
            eval_jsonl(std::io::stdin().lock(), std::io::stdout().lock())
        }
        RuleCommand::Explain { rule, device, json } => explain(&rule, &device, json),
    }
}

fn print_error(text: &str, e: &RuleError) {
    eprintln!(
        "error: {} at line {}, column {} (position {})",
        e.message, e.line, e.column, e.position
    );
    eprintln!("{}", e.snippet(text));
}

fn check(text: &str, json: bool) -> anyhow::Result<ExitCode> {
    match ztd_rules::parse(text) {
        Ok(rule) => {
            if json {
                let out = serde_json::json!({"valid": true, "rule": rule.to_string(), "warnings": rule.warnings()});
                println!("{out}");
            } else {
                println!("{rule}");
                for w in rule.warnings() {
                    eprintln!("warning: {} (position {})", w.message, w.position);
                }
            }
            Ok(ExitCode::SUCCESS)
        }
        Err(e) => {
            if json {
                println!("{}", serde_json::json!({"valid": false, "error": e}));
            } else {
                print_error(text, &e);
            }
            Ok(ExitCode::from(INVALID))
        }
    }
}

#[derive(serde::Deserialize)]
struct EvalLine {
    rule: String,
    #[serde(default)]
    device: serde_json::Value,
}

fn eval_line(
    line: &str,
    cache: &mut HashMap<String, Result<Rule, RuleError>>,
) -> serde_json::Value {
    let input: EvalLine = match serde_json::from_str(line) {
        Ok(v) => v,
        Err(e) => return serde_json::json!({"error": format!("invalid input line: {e}")}),
    };
    if cache.len() > 10_000 {
        cache.clear();
    }
    let rule = cache
        .entry(input.rule)
        .or_insert_with_key(|text| ztd_rules::parse(text));
    let rule = match rule {
        Ok(r) => r,
        Err(e) => return serde_json::json!({"error": e.to_string()}),
    };
    let device = if input.device.is_null() {
        Ok(Device::new())
    } else {
        Device::from_json(&input.device)
    };
    match device {
        Ok(d) => serde_json::json!({"match": rule.evaluate(&d)}),
        Err(e) => serde_json::json!({"error": format!("invalid device: {e}")}),
    }
}

fn eval_jsonl(input: impl BufRead, output: impl Write) -> anyhow::Result<ExitCode> {
    let mut out = BufWriter::new(output);
    let mut cache = HashMap::new();
    for line in input.lines() {
        let line = line.context("reading stdin")?;
        if line.trim().is_empty() {
            continue;
        }
        let result = eval_line(&line, &mut cache);
        serde_json::to_writer(&mut out, &result)?;
        out.write_all(b"\n")?;
    }
    out.flush()?;
    Ok(ExitCode::SUCCESS)
}

fn explain(text: &str, path: &std::path::Path, json: bool) -> anyhow::Result<ExitCode> {
    let rule = match ztd_rules::parse(text) {
        Ok(r) => r,
        Err(e) => {
            print_error(text, &e);
            return Ok(ExitCode::from(INVALID));
        }
    };
    let raw = if path.as_os_str() == "-" {
        std::io::read_to_string(std::io::stdin()).context("reading device from stdin")?
    } else {
        std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?
    };
    let value: serde_json::Value =
        serde_json::from_str(&raw).with_context(|| format!("{} is not JSON", path.display()))?;
    let device = Device::from_json(&value)
        .map_err(|e| anyhow::anyhow!("invalid device in {}: {e}", path.display()))?;
    let trace = rule.explain(&device);
    if json {
        println!("{}", serde_json::to_string_pretty(&trace)?);
    } else {
        println!("rule:   {rule}");
        println!(
            "result: {}",
            if trace.result {
                "member"
            } else {
                "not a member"
            }
        );
        println!();
        print!("{trace}");
    }
    Ok(ExitCode::SUCCESS)
}
