//! `ztd device enroll`, `ztd device sync` and `ztd device poll`: a simulated Windows device enrolls in
//! device management (MDM) and holds OMA-DM sessions, answering the server's commands from its CSP tree (the
//! `ztd-device` client).
//!
//! The enrollment file holds the management certificate and its key (it is written readable by its owner
//! only), the device's hardware and its CSP tree as the last session left it, so a policy set in one run is
//! still in force in the next.

use std::io::BufRead;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use ztd_device::mdm::{CspTree, EnrollCredential, EnrollOptions, Hardware, MdmEnrollment};
use ztd_device::{DeviceClient, DeviceError, DeviceIdentity, Kdf};

use super::client::ConnectArgs;
use super::device_join::{ca_bundle, tenant_of};

/// The client Windows uses for its MDM enrollment token through the PRT.
pub const MDM_CLIENT: &str = "29d9ed98-a469-4536-ade2-f981bc1d605e";
/// The MDM enrollment resource (audience of the token an Entra-joined device enrolls with).
pub const MDM_RESOURCE: &str = "https://enrollment.manage.microsoft.com/";
/// The exit status when the server refuses a management session (the device was retired, wiped or
/// deleted, or enrolled again elsewhere).
pub const EXIT_REFUSED: u8 = 3;

/// `ztd device enroll`.
#[derive(Debug, clap::Args)]
pub struct EnrollArgs {
    /// The user who enrolls (name@domain). Without --identity: an enrollment in device management only,
    /// found by the domain (discovery), with this user's name and password. With --identity: the token
    /// comes through the joined device's Primary Refresh Token for this user.
    #[arg(long, required_unless_present = "userless")]
    user: Option<String>,
    /// The user's password.
    #[arg(long, env = "ZTD_DEVICE_PASSWORD", hide_env_values = true)]
    password: Option<String>,
    /// Read the password from the first line of standard input instead.
    #[arg(long)]
    password_stdin: bool,
    /// The identity file of a device `ztd device join` joined: enroll it as an Entra-joined device
    /// (EnrollmentType Device, DeviceID its device id).
    #[arg(long, value_name = "FILE")]
    identity: Option<PathBuf>,
    /// With --identity: enroll with the device's own token, no user (self-deploying, kiosks).
    #[arg(long, requires = "identity")]
    userless: bool,
    /// The device's name [default: DESKTOP-<8 random characters>].
    #[arg(long)]
    name: Option<String>,
    /// The serial number the device reports [default: ZTD-<8 random characters>].
    #[arg(long)]
    serial: Option<String>,
    /// The manufacturer the device reports.
    #[arg(long, default_value = "Contoso")]
    manufacturer: String,
    /// The model the device reports.
    #[arg(long, default_value = "Lab PC")]
    model: String,
    /// The 4K hardware hash (base64, or a file holding it) the device reports in DevDetail.
    #[arg(long, value_name = "HASH")]
    hardware_hash: Option<String>,
    /// The OfflineAutoPilotEnrollmentCorrelator context item (an Autopilot device's correlation id).
    #[arg(long)]
    autopilot_correlator: Option<String>,
    /// The DomainName context item (a hybrid Autopilot device's on-premises domain).
    #[arg(long)]
    domain_name: Option<String>,
    /// Where to save the enrollment (management certificate and key, hardware, CSP tree) [default: beside
    /// --identity as <identity>.mdm.json, else <name>.mdm.json in the current directory].
    #[arg(long, value_name = "FILE")]
    enrollment: Option<PathBuf>,
    /// Print the result as JSON.
    #[arg(long)]
    json: bool,
}

/// How the device proved who enrolls it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
enum Flavour {
    /// A user's name and password, found by discovery (MDM only).
    Password,
    /// A user's token through the joined device's PRT (Entra-joined).
    Prt,
    /// The joined device's own token (userless).
    Userless,
}

impl Flavour {
    fn describe(self) -> &'static str {
        match self {
            Flavour::Password => "device management only (user name and password)",
            Flavour::Prt => "Entra-joined (a token through the device's PRT)",
            Flavour::Userless => "Entra-joined, userless (the device's own token)",
        }
    }
}

/// What `ztd device enroll` saves: the client's enrollment, and what the simulated device is and holds.
#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct EnrollmentFile {
    #[serde(flatten)]
    enrollment: MdmEnrollment,
    /// The tenant (id or domain) the device enrolled in.
    #[serde(default)]
    tenant: String,
    #[serde(default)]
    enrollment_type: String,
    #[serde(default)]
    flavour: Option<Flavour>,
    #[serde(default)]
    user: Option<String>,
    #[serde(default)]
    hardware: Option<Hardware>,
    /// The CSP tree as the last session left it.
    #[serde(default)]
    tree: Option<CspTree>,
}

impl EnrollmentFile {
    fn load(path: &Path) -> anyhow::Result<Self> {
        let bytes = std::fs::read(path).with_context(|| {
            format!(
                "cannot read the enrollment file {} (`ztd device enroll` writes it)",
                path.display()
            )
        })?;
        serde_json::from_slice(&bytes)
            .with_context(|| format!("{} is not an MDM enrollment file", path.display()))
    }

    /// Writes the file readable by its owner only (it holds the management certificate's private key).
    fn save(&self, path: &Path) -> anyhow::Result<()> {
        use std::io::Write;
        let text = serde_json::to_vec_pretty(self)?;
        let mut options = std::fs::OpenOptions::new();
        options.write(true).create(true).truncate(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::OpenOptionsExt;
            options.mode(0o600);
        }
        let mut file = options
            .open(path)
            .with_context(|| format!("cannot write {}", path.display()))?;
        #[cfg(unix)]
        {
            // An existing file keeps its mode on open: make it private too.
            use std::os::unix::fs::PermissionsExt;
            file.set_permissions(std::fs::Permissions::from_mode(0o600))?;
        }
        file.write_all(&text)?;
        Ok(())
    }

    /// The tree the device answers from: the saved one, else a fresh Windows tree of its hardware.
    fn take_tree(&mut self) -> CspTree {
        self.tree.take().unwrap_or_else(|| {
            let hardware = self
                .hardware
                .clone()
                .unwrap_or_else(|| Hardware::lab("DESKTOP-ZTD", "UNKNOWN"));
            CspTree::windows(
                &hardware,
                &self.enrollment.device_id,
                &self.enrollment.provider_id,
            )
        })
    }
}

/// A client-made DeviceID for an enrollment in management only (Windows makes one per enrollment; an
/// Entra-joined device sends its directory device id instead).
#[allow(
    clippy::disallowed_methods,
    reason = "a simulated device draws its own ids, as Windows does; the server's ids come from its IdSource"
)]
pub(super) fn new_device_id() -> String {
    uuid::Uuid::new_v4().to_string()
}

/// A random suffix of `n` capital letters and digits (from the device client's name generator).
fn random_suffix(n: usize) -> String {
    let name = ztd_device::default_device_name();
    let suffix = name.trim_start_matches("DESKTOP-");
    suffix.chars().cycle().take(n).collect()
}

/// Where the enrollment goes when --enrollment does not say: beside the identity, else in the current
/// directory after the device's name.
fn default_enrollment_path(identity: Option<&Path>, name: &str) -> PathBuf {
    match identity {
        Some(identity) => {
            let file = identity
                .file_name()
                .map(|f| f.to_string_lossy().into_owned())
                .unwrap_or_default();
            let stem = file
                .strip_suffix(".device.json")
                .or_else(|| file.strip_suffix(".json"))
                .unwrap_or(&file);
            identity.with_file_name(format!("{stem}.mdm.json"))
        }
        None => PathBuf::from(format!("{}.mdm.json", name.to_lowercase())),
    }
}

/// The password: standard input with --password-stdin, else --password or ZTD_DEVICE_PASSWORD.
fn password_of(args: &EnrollArgs) -> anyhow::Result<String> {
    if args.password_stdin {
        let mut line = String::new();
        std::io::stdin()
            .lock()
            .read_line(&mut line)
            .context("reading the password from standard input")?;
        let password = line.trim_end_matches(['\r', '\n']).to_string();
        anyhow::ensure!(
            !password.is_empty(),
            "--password-stdin: standard input holds no password"
        );
        return Ok(password);
    }
    args.password.clone().filter(|p| !p.is_empty()).context(
        "the user's password: pass --password, set ZTD_DEVICE_PASSWORD, or use --password-stdin",
    )
}

/// A refusal of the enrollment services, with what to do about it.
fn enrollment_error(err: DeviceError, step: &str, user: Option<&str>) -> anyhow::Error {
    let DeviceError::Refused { status, body } = &err else {
        return anyhow::Error::new(err).context(step.to_string());
    };
    let (subcode, reason) = body
        .split_once(": ")
        .filter(|(code, _)| code.starts_with("s:") || code.starts_with("a:"))
        .unwrap_or(("", body.as_str()));
    let reason = ztd_formats::excerpt_chars(reason, 400);
    let mut message = if subcode.is_empty() {
        format!("{step}: the server refused ({status}): {reason}")
    } else {
        format!("{step}: the server refused with SOAP fault {subcode}: {reason}")
    };
    let domain = user.and_then(|u| u.rsplit_once('@')).map(|(_, d)| d);
    let hint = if reason.contains("No organization has this domain") {
        Some(format!(
            "add the domain to the tenant: `ztd tenant domain add --tenant <tenant> {}`",
            domain.unwrap_or("<domain>")
        ))
    } else if subcode == "s:Authentication" {
        Some("check the user name and password (or the device's token)".to_string())
    } else if reason.contains("joined device") {
        Some(
            "join the device first (`ztd device join`), then enroll it with --identity".to_string(),
        )
    } else {
        None
    };
    if let Some(hint) = hint {
        let trimmed = message.trim_end_matches('.').len();
        message.truncate(trimmed);
        message.push_str(&format!("; {hint}"));
    }
    anyhow::anyhow!(message)
}

fn read_hash(value: &str) -> String {
    match std::fs::read_to_string(value) {
        Ok(contents) => contents.trim().to_string(),
        Err(_) => value.trim().to_string(),
    }
}

pub async fn enroll(server: &ConnectArgs, args: EnrollArgs) -> anyhow::Result<ExitCode> {
    let base = server.base_url()?;
    let ca = ca_bundle(server)?;
    let identity = match &args.identity {
        Some(path) => Some(DeviceIdentity::load(path).with_context(|| {
            format!(
                "reading the device identity {} (`ztd device join --out` writes it)",
                path.display()
            )
        })?),
        None => None,
    };
    let flavour = match (&identity, args.userless) {
        (None, _) => Flavour::Password,
        (Some(_), false) => Flavour::Prt,
        (Some(_), true) => Flavour::Userless,
    };
    let user = if flavour == Flavour::Userless {
        None
    } else {
        Some(
            args.user
                .clone()
                .context("--user: who enrolls the device (or --identity FILE --userless)")?,
        )
    };
    let tenant = match &identity {
        Some(identity) => identity.tenant_id.clone(),
        None => tenant_of(server, user.as_deref().unwrap_or_default())?,
    };
    let client = DeviceClient::new(&base, &tenant, ca.as_deref())?;
    let name = args
        .name
        .clone()
        .unwrap_or_else(ztd_device::default_device_name);
    let serial = args
        .serial
        .clone()
        .unwrap_or_else(|| format!("ZTD-{}", random_suffix(8)));
    let enrollment_url = format!("{base}/EnrollmentServer/Enrollment.svc");
    let (credential, policy_url, enrollment_url, enrollment_type, device_id) =
        match (flavour, &identity) {
            (Flavour::Password, _) => {
                let upn = user.clone().unwrap_or_default();
                let password = password_of(&args)?;
                let discovered = client
                    .mdm_discover(&upn)
                    .await
                    .map_err(|e| enrollment_error(e, "discovery", Some(upn.as_str())))?;
                (
                    EnrollCredential::Password { upn, password },
                    Some(discovered.policy_service_url),
                    discovered.enrollment_service_url,
                    "Full",
                    new_device_id(),
                )
            }
            (Flavour::Prt, Some(identity)) => {
                let upn = user.clone().unwrap_or_default();
                let password = password_of(&args)?;
                let prt = client
                    .request_prt(identity, &upn, &password)
                    .await
                    .context("requesting a Primary Refresh Token for the user on this device")?;
                let tokens = client
                    .prt_tokens(identity, &prt, MDM_CLIENT, MDM_RESOURCE, Kdf::V2)
                    .await
                    .context("using the PRT for an MDM enrollment token")?;
                let token = tokens["access_token"]
                    .as_str()
                    .context("the token answer through the PRT has no access_token")?
                    .to_string();
                (
                    EnrollCredential::Token(token),
                    None,
                    enrollment_url,
                    "Device",
                    identity.device_id.to_string(),
                )
            }
            (Flavour::Userless, Some(identity)) => {
                let token = client
                    .device_token(identity, MDM_RESOURCE)
                    .await
                    .context("getting the device's own token for the MDM enrollment service")?;
                (
                    EnrollCredential::Token(token),
                    None,
                    enrollment_url,
                    "Device",
                    identity.device_id.to_string(),
                )
            }
            (_, None) => unreachable!("the flavour follows --identity"),
        };
    let options = EnrollOptions {
        credential,
        enrollment_type: enrollment_type.to_string(),
        device_id: device_id.clone(),
        hw_dev_id: format!("{:0>64}", device_id.replace('-', "")),
        device_name: name.clone(),
        not_in_oobe: enrollment_type == "Full",
        autopilot_correlator: args.autopilot_correlator.clone(),
        domain_name: args.domain_name.clone(),
        enrollment_data: None,
    };
    let enrollment = client
        .mdm_enroll(policy_url.as_deref(), &enrollment_url, &options)
        .await
        .map_err(|e| enrollment_error(e, "enrolling", user.as_deref()))?;
    let mut hardware = Hardware::lab(&name, &serial);
    hardware.manufacturer = args.manufacturer.clone();
    hardware.model = args.model.clone();
    hardware.hardware_hash = args.hardware_hash.as_deref().map(read_hash);
    let tree = CspTree::windows(&hardware, &enrollment.device_id, &enrollment.provider_id);
    let mut file = EnrollmentFile {
        enrollment,
        tenant,
        enrollment_type: enrollment_type.to_string(),
        flavour: Some(flavour),
        user: user.clone(),
        hardware: Some(hardware),
        tree: Some(tree),
    };
    let path = args
        .enrollment
        .clone()
        .unwrap_or_else(|| default_enrollment_path(args.identity.as_deref(), &name));
    // Saved before the first session: the device is enrolled whatever that session brings.
    file.save(&path)?;
    let mut tree = file.take_tree();
    let session = run_session(&client, &mut file, &mut tree).await;
    file.tree = Some(tree);
    file.save(&path)?;
    let session = session?;
    let summary = json!({
        "managedDeviceId": file.enrollment.managed_device_id,
        "managementUrl": file.enrollment.management_url,
        "providerId": file.enrollment.provider_id,
        "enrollmentType": enrollment_type,
        "flavour": flavour,
        "deviceId": file.enrollment.device_id,
        "deviceName": name,
        "serialNumber": serial,
        "user": user,
        "enrollmentFile": path.display().to_string(),
        "firstSession": session.to_json(),
    });
    if args.json {
        println!("{}", serde_json::to_string_pretty(&summary)?);
    } else {
        println!(
            "enrolled {name} in management: {}{}",
            flavour.describe(),
            user.as_deref()
                .map(|u| format!(", as {u}"))
                .unwrap_or_default()
        );
        let mut table = comfy_table::Table::new();
        table.load_preset(comfy_table::presets::UTF8_BORDERS_ONLY);
        for (key, value) in [
            (
                "managed device id",
                file.enrollment.managed_device_id.clone(),
            ),
            ("management URL", file.enrollment.management_url.clone()),
            ("enrollment type", enrollment_type.to_string()),
            ("device id", file.enrollment.device_id.clone()),
            ("serial number", serial.clone()),
            ("enrollment file", path.display().to_string()),
        ] {
            table.add_row([key.to_string(), value]);
        }
        println!("{table}");
        println!("first session:");
        session.print();
    }
    Ok(session.exit_code())
}

/// One session's outcome, as the CLI reports it.
struct SessionOutcome {
    managed_device_id: String,
    session: u32,
    refused: bool,
    messages: u32,
    commands: u32,
    statuses: Vec<(String, String, u16)>,
    unenrolled: bool,
    wiped: bool,
    reboots: u32,
}

impl SessionOutcome {
    fn to_json(&self) -> Value {
        json!({
            "managedDeviceId": self.managed_device_id,
            "session": self.session,
            "refused": self.refused,
            "messages": self.messages,
            "commands": self.commands,
            "statuses": self.statuses.iter().map(|(cmd, target, code)| json!({
                "command": cmd,
                "target": target,
                "code": code,
            })).collect::<Vec<_>>(),
            "unenrolled": self.unenrolled,
            "wiped": self.wiped,
            "reboots": self.reboots,
        })
    }

    fn print(&self) {
        if self.refused {
            println!(
                "session {}: REFUSED — the server no longer accepts this device's management certificate \
                 (the managed device {} was retired, wiped or deleted, or enrolled again); enroll it again with \
                 `ztd device enroll`",
                self.session, self.managed_device_id
            );
            return;
        }
        let plural =
            |n: u32, one: &str, many: &str| format!("{n} {}", if n == 1 { one } else { many });
        println!(
            "session {}: {}, {} from the server",
            self.session,
            plural(self.messages, "message", "messages"),
            plural(self.commands, "command", "commands")
        );
        let mut table = comfy_table::Table::new();
        table.load_preset(comfy_table::presets::UTF8_BORDERS_ONLY);
        table.set_header(["COMMAND", "TARGET", "STATUS"]);
        for (cmd, target, code) in &self.statuses {
            let target = if target.is_empty() {
                "(several nodes)".to_string()
            } else {
                target.clone()
            };
            table.add_row([cmd.clone(), target, status_text(*code)]);
        }
        println!("{table}");
        if self.unenrolled {
            println!("the server told the device to unenroll (retired): its next session will be refused");
        }
        if self.wiped {
            println!("the server told the device to wipe itself: its next session will be refused");
        }
        if self.reboots > 0 {
            println!("the server told the device to reboot ({}×)", self.reboots);
        }
    }

    fn exit_code(&self) -> ExitCode {
        if self.refused {
            ExitCode::from(EXIT_REFUSED)
        } else {
            ExitCode::SUCCESS
        }
    }
}

/// An OMA-DM status code with its meaning.
fn status_text(code: u16) -> String {
    let meaning = match code {
        200 => "OK",
        202 => "accepted",
        212 => "authenticated",
        216 => "rolled back (Atomic)",
        400 => "bad request",
        401 => "unauthorized",
        403 => "forbidden",
        404 => "not found",
        405 => "command not allowed",
        406 => "optional feature not supported",
        415 => "unsupported format",
        418 => "already exists",
        500 => "command failed",
        507 => "Atomic failed",
        _ => "",
    };
    if meaning.is_empty() {
        code.to_string()
    } else {
        format!("{code} {meaning}")
    }
}

/// One management session of the device in `file`, its tree `tree`.
async fn run_session(
    client: &DeviceClient,
    file: &mut EnrollmentFile,
    tree: &mut CspTree,
) -> anyhow::Result<SessionOutcome> {
    let before = tree.effects.clone();
    let session = file.enrollment.next_session.max(1);
    let login = if file.user.is_some() { "user" } else { "none" };
    let report = client
        .mdm_session(&mut file.enrollment, tree, login)
        .await
        .map_err(|e| match e {
            DeviceError::Refused { status, body } => anyhow::anyhow!(
                "the management server answered {status}: {}",
                ztd_formats::excerpt_chars(&body, 300)
            ),
            other => anyhow::Error::new(other).context("the management session"),
        })?;
    Ok(SessionOutcome {
        managed_device_id: file.enrollment.managed_device_id.clone(),
        session,
        refused: report.refused,
        messages: report.messages,
        commands: report.commands,
        statuses: report.statuses,
        unenrolled: tree.effects.unenrolled && !before.unenrolled,
        wiped: tree.effects.wiped && !before.wiped,
        reboots: tree.effects.reboots.saturating_sub(before.reboots),
    })
}

fn session_client(server: &ConnectArgs, file: &EnrollmentFile) -> anyhow::Result<DeviceClient> {
    let ca = ca_bundle(server)?;
    // Sessions go to the management URL the enrollment named (as Windows' do), not to --server.
    Ok(DeviceClient::new(
        &file.enrollment.management_url,
        &file.tenant,
        ca.as_deref(),
    )?)
}

/// `ztd device sync`: one session now.
pub async fn sync(server: &ConnectArgs, path: &Path, json: bool) -> anyhow::Result<ExitCode> {
    let mut file = EnrollmentFile::load(path)?;
    let client = session_client(server, &file)?;
    let mut tree = file.take_tree();
    let outcome = run_session(&client, &mut file, &mut tree).await;
    file.tree = Some(tree);
    file.save(path)?;
    let outcome = outcome?;
    if json {
        println!("{}", serde_json::to_string_pretty(&outcome.to_json())?);
    } else {
        outcome.print();
    }
    if outcome.refused {
        eprintln!(
            "error: the management session was refused: managed device {} is no longer enrolled",
            outcome.managed_device_id
        );
    }
    Ok(outcome.exit_code())
}

/// `ztd device poll`: `count` sessions `interval` apart, stopping early at Ctrl-C, a refusal, or when the
/// server tells the device to unenroll or wipe itself.
pub async fn poll(
    server: &ConnectArgs,
    path: &Path,
    interval: Duration,
    count: u32,
    json: bool,
) -> anyhow::Result<ExitCode> {
    let mut file = EnrollmentFile::load(path)?;
    let client = session_client(server, &file)?;
    let mut tree = file.take_tree();
    for n in 0..count {
        if n > 0 {
            tokio::select! {
                _ = tokio::time::sleep(interval) => {}
                _ = tokio::signal::ctrl_c() => {
                    eprintln!("stopped (Ctrl-C) after {n} sessions");
                    break;
                }
            }
        }
        let outcome = tokio::select! {
            outcome = run_session(&client, &mut file, &mut tree) => outcome,
            _ = tokio::signal::ctrl_c() => {
                eprintln!("stopped (Ctrl-C) during session {}; it is held again at the next", n + 1);
                break;
            }
        };
        // The tree is saved after every session: the state survives an interrupted poll.
        file.tree = Some(tree.clone());
        file.save(path)?;
        let outcome = outcome?;
        if json {
            // JSON Lines: one object per session, as it ends.
            println!("{}", outcome.to_json());
        } else {
            outcome.print();
        }
        if outcome.refused {
            eprintln!(
                "error: the management session was refused: managed device {} is no longer enrolled",
                outcome.managed_device_id
            );
            return Ok(outcome.exit_code());
        }
        if outcome.unenrolled || outcome.wiped {
            eprintln!("the device left management: polling stops");
            break;
        }
    }
    file.tree = Some(tree);
    file.save(path)?;
    Ok(ExitCode::SUCCESS)
}

#[cfg(test)]
mod tests {
    use std::path::{Path, PathBuf};

    use super::{default_enrollment_path, status_text};

    #[test]
    fn the_enrollment_goes_beside_the_identity_or_after_the_name() {
        assert_eq!(
            default_enrollment_path(Some(Path::new("/d/kiosk.device.json")), "KIOSK"),
            PathBuf::from("/d/kiosk.mdm.json")
        );
        assert_eq!(
            default_enrollment_path(Some(Path::new("id.json")), "X"),
            PathBuf::from("id.mdm.json")
        );
        assert_eq!(
            default_enrollment_path(None, "DESKTOP-AB12"),
            PathBuf::from("desktop-ab12.mdm.json")
        );
    }

    #[test]
    fn status_codes_read_as_words() {
        assert_eq!(status_text(418), "418 already exists");
        assert_eq!(status_text(299), "299");
    }
}
