//! `ztd hash`: decode/verify and generate 4K hardware hashes (see the `ztd-hwhash` crate).

use std::io::{IsTerminal, Read, Write};
use std::path::Path;
use std::process::ExitCode;

use anyhow::Context;
use comfy_table::{presets::UTF8_FULL_CONDENSED, ContentArrangement, Table};
use ztd_hwhash::{DeviceDescription, HardwareHash, HashError, OsVersion};

/// Exit code for an invalid hash or invalid generator input (as opposed to I/O failures).
const EXIT_INVALID: u8 = 2;
/// Table cells longer than this are shortened; `--json` always has full values.
const TABLE_VALUE_MAX: usize = 80;

/// Decode, verify and generate 4K hardware hashes.
#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, clap::Subcommand)]
enum Command {
    /// Decode a hardware hash, verify its SHA-256 trailer and show every field.
    ///
    /// Exits with 0 if the hash is valid and 2 if it is not (the message names the problem and
    /// the byte offset).
    Decode(DecodeArgs),
    /// Generate a valid synthetic hardware hash for a test device.
    ///
    /// Fields not given get deterministic values derived from --serial and --seed (UUID, one
    /// MAC, disk serial, a pseudo-random 256-byte TPM EK, collection time in 2025), so the same
    /// command always prints the same hash. The result will not register with Microsoft.
    Generate(Box<GenerateArgs>),
}

#[derive(Debug, clap::Args)]
struct DecodeArgs {
    /// The base64 hash, a file containing it (plain text, or a Get-WindowsAutopilotInfo CSV in
    /// UTF-8 or UTF-16), or `-` / nothing to read standard input.
    #[arg(value_name = "HASH_OR_FILE")]
    input: Option<String>,
    /// Print JSON (`valid`, `checksum`, `identity`, `fields`) instead of a table.
    #[arg(long)]
    json: bool,
}

#[derive(Debug, clap::Args)]
struct GenerateArgs {
    /// SMBIOS system serial number.
    #[arg(long)]
    serial: String,
    /// SMBIOS system manufacturer, e.g. "LENOVO".
    #[arg(long)]
    manufacturer: String,
    /// SMBIOS system product name (model), e.g. "21AH00BSMX".
    #[arg(long)]
    model: String,
    /// SMBIOS UUID, e.g. 4c4c4544-0032-3910-8056-b4c04f4b4d32 (default: derived).
    #[arg(long)]
    uuid: Option<String>,
    /// Network adapter MAC address; repeat for several (default: one derived address).
    #[arg(long = "mac", value_name = "MAC")]
    macs: Vec<String>,
    /// Disk serial number as Windows reports it (default: derived NVMe-style serial).
    #[arg(long)]
    disk_serial: Option<String>,
    /// Disk model (default: "ZTD VIRTUAL NVME 512G").
    #[arg(long)]
    disk_model: Option<String>,
    /// OA3 product key ID, 13 digits (default: none, as on devices without OA3 activation).
    #[arg(long)]
    pkid: Option<String>,
    /// Windows version written to the hash, e.g. 10.0.22631.3085 (default: 10.0.26100.2605).
    #[arg(long)]
    os_version: Option<String>,
    /// Collection time in Unix seconds (default: derived, within 2025).
    #[arg(long, value_name = "UNIX_SECONDS")]
    collected_at: Option<i64>,
    /// Varies the derived values for the same serial (default 0).
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Print JSON `{ "hardwareHash": ..., "description": ... }` instead of the bare hash.
    #[arg(long)]
    json: bool,
}

pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    match args.command {
        Command::Decode(a) => decode(a),
        Command::Generate(a) => generate(a),
    }
}

/// Most bytes read as hash input (a file or stdin): the largest hash is 87,428 base64 characters, and a CSV
/// or report holding one is a few KiB more; a bigger input is refused rather than read into memory.
const MAX_INPUT_BYTES: u64 = 1 << 20;

/// Reads at most [`MAX_INPUT_BYTES`] from `input`; more is an error naming `what`.
fn read_bounded(input: impl Read, what: &str) -> anyhow::Result<Vec<u8>> {
    let mut buf = Vec::new();
    input
        .take(MAX_INPUT_BYTES + 1)
        .read_to_end(&mut buf)
        .with_context(|| format!("reading {what}"))?;
    if buf.len() as u64 > MAX_INPUT_BYTES {
        anyhow::bail!(
            "{what} is larger than {} MiB, so it is not a hardware hash (a hash is at most 87,428 characters); pass the hash or a CSV holding it",
            MAX_INPUT_BYTES >> 20
        );
    }
    Ok(buf)
}

/// Reads the hash text from an argument, a file or stdin.
fn read_input(input: Option<&str>) -> anyhow::Result<String> {
    match input {
        None | Some("-") => {
            let stdin = std::io::stdin();
            if stdin.is_terminal() {
                eprintln!("reading the hardware hash from standard input (Ctrl-D to end)…");
            }
            let buf = read_bounded(stdin.lock(), "standard input")?;
            Ok(bytes_to_text(&buf))
        }
        Some(arg) if Path::new(arg).is_file() => {
            let file = std::fs::File::open(arg).with_context(|| format!("reading {arg}"))?;
            let buf = read_bounded(file, arg)?;
            Ok(bytes_to_text(&buf))
        }
        Some(arg) => Ok(arg.to_owned()),
    }
}

/// UTF-16LE (with BOM, as Windows PowerShell writes CSVs) or UTF-8.
fn bytes_to_text(buf: &[u8]) -> String {
    if let Some(rest) = buf.strip_prefix(&[0xff, 0xfe]) {
        let units: Vec<u16> = rest
            .chunks_exact(2)
            .map(|c| u16::from_le_bytes([c[0], c[1]]))
            .collect();
        return String::from_utf16_lossy(&units);
    }
    let s = String::from_utf8_lossy(buf);
    s.trim_start_matches('\u{feff}').to_owned()
}

/// Parses the text as a hash; if that fails and it looks like a CSV or report, retries with
/// its longest token (the hash column), keeping the first error if that fails too.
fn parse_text(text: &str) -> Result<HardwareHash, HashError> {
    let first = match HardwareHash::from_base64(text) {
        Ok(h) => return Ok(h),
        Err(e) => e,
    };
    let longest = text
        .split(|c: char| c == ',' || c == ';' || c == '"' || c.is_whitespace())
        .max_by_key(|t| t.len());
    match longest {
        Some(tok) if tok.len() >= 100 && tok.len() < text.trim().len() => {
            HardwareHash::from_base64(tok).map_err(|_| first)
        }
        _ => Err(first),
    }
}

fn decode(args: DecodeArgs) -> anyhow::Result<ExitCode> {
    let text = read_input(args.input.as_deref())?;
    let hash = match parse_text(&text) {
        Ok(h) => h,
        Err(err) => {
            if args.json {
                let out = serde_json::json!({ "valid": false, "error": err.to_string() });
                emit(&serde_json::to_string_pretty(&out)?)?;
            }
            eprintln!("error: invalid hardware hash: {err}");
            if let Some(arg) = args.input.as_deref().filter(|a| *a != "-" && a.len() < 200) {
                eprintln!("note: no file named {arg:?} exists, so it was read as the hash itself");
            }
            return Ok(ExitCode::from(EXIT_INVALID));
        }
    };
    let checksum: String = hash.checksum().iter().map(|b| format!("{b:02x}")).collect();
    if args.json {
        let out = serde_json::json!({
            "valid": true,
            "checksum": checksum,
            "identity": hash.identity(),
            "fields": hash.fields(),
        });
        emit(&serde_json::to_string_pretty(&out)?)?;
        return Ok(ExitCode::SUCCESS);
    }
    let summary = format!(
        "valid hardware hash: {} bytes, {} records, SHA-256 {checksum}",
        hash.encode().len(),
        hash.records().len()
    );
    let mut table = Table::new();
    table
        .load_preset(UTF8_FULL_CONDENSED)
        .set_content_arrangement(ContentArrangement::Dynamic)
        .set_header(["Type", "Field", "Value"]);
    for f in hash.fields() {
        table.add_row([f.record_type.to_string(), f.name, shorten(&f.value)]);
    }
    emit(&format!("{summary}\n{table}"))?;
    Ok(ExitCode::SUCCESS)
}

fn shorten(v: &str) -> String {
    if v.chars().count() <= TABLE_VALUE_MAX {
        return v.to_owned();
    }
    let head: String = v.chars().take(TABLE_VALUE_MAX - 16).collect();
    format!("{head}… ({} chars, see --json)", v.chars().count())
}

fn generate(args: Box<GenerateArgs>) -> anyhow::Result<ExitCode> {
    let os_version = match args.os_version.as_deref().map(str::parse::<OsVersion>) {
        None => OsVersion::default(),
        Some(Ok(v)) => v,
        Some(Err(e)) => return invalid(&e),
    };
    let mut desc = DeviceDescription {
        serial_number: args.serial.clone(),
        manufacturer: args.manufacturer,
        model: args.model,
        smbios_uuid: args.uuid.unwrap_or_default(),
        mac_addresses: args.macs,
        disk_serial: args.disk_serial.unwrap_or_default(),
        disk_model: args.disk_model.unwrap_or_default(),
        product_key_id: args.pkid,
        os_version,
        ..Default::default()
    };
    desc.fill_defaults(format!("{}\n{}", args.serial, args.seed).as_bytes());
    // Applied after filling so an explicit out-of-range value is reported, not replaced.
    if let Some(t) = args.collected_at {
        desc.collected_at_unix = t;
    }
    let desc = match desc.normalized() {
        Ok(d) => d,
        Err(e) => return invalid(&e),
    };
    let hash = HardwareHash::generate(&desc).to_base64();
    if args.json {
        let out = serde_json::json!({ "hardwareHash": hash, "description": desc });
        emit(&serde_json::to_string_pretty(&out)?)?;
    } else {
        emit(&hash)?;
    }
    Ok(ExitCode::SUCCESS)
}

/// Prints a line to stdout; a closed pipe (`| head`) is not an error.
fn emit(text: &str) -> anyhow::Result<()> {
    let mut out = std::io::stdout().lock();
    match writeln!(out, "{text}").and_then(|()| out.flush()) {
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
        other => other.context("writing to standard output"),
    }
}

fn invalid(err: &HashError) -> anyhow::Result<ExitCode> {
    eprintln!("error: {err}");
    Ok(ExitCode::from(EXIT_INVALID))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hash_input_larger_than_1_mib_is_refused_without_reading_it_all() {
        // An endless input: only the cap plus one byte is read.
        let err = read_bounded(std::io::repeat(0), "the file").unwrap_err();
        assert!(err.to_string().contains("larger than 1 MiB"), "{err}");
        assert_eq!(read_bounded(&b"T0E="[..], "x").unwrap(), b"T0E=");
    }

    const SAMPLE: &str = include_str!("../../../ztd-hwhash/tests/data/hwhash-synthetic.b64.txt");

    #[test]
    fn parses_plain_and_csv_text() {
        assert!(parse_text(SAMPLE).is_ok());
        let csv = format!(
            "Device Serial Number,Windows Product ID,Hardware Hash\r\nSYNTH-0001,,{}\r\n",
            SAMPLE.trim()
        );
        assert!(parse_text(&csv).is_ok());
        assert!(parse_text("not a hash").is_err());
    }

    #[test]
    fn reads_utf16le_with_bom() {
        let mut buf = vec![0xff, 0xfe];
        buf.extend(SAMPLE.encode_utf16().flat_map(u16::to_le_bytes));
        assert_eq!(bytes_to_text(&buf), SAMPLE);
        assert_eq!(bytes_to_text("\u{feff}abc".as_bytes()), "abc");
    }

    #[test]
    fn shortens_long_table_values() {
        assert_eq!(shorten("abc"), "abc");
        let long = "a".repeat(512);
        assert!(shorten(&long).ends_with("(512 chars, see --json)"));
    }
}
