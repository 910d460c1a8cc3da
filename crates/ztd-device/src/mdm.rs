//! A Windows MDM client: enrollment ([MS-MDE2] discovery, [MS-XCEP] policies, [MS-WSTEP] enrollment) and
//! OMA-DM sessions, answering the server from a tree of CSP nodes as Windows does, including failing a
//! command the way a real CSP fails it (a read-only node, an unknown node, a node that exists, a value of
//! the wrong format, an Atomic rolled back).

use std::collections::BTreeMap;
use std::path::Path;

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use serde::{Deserialize, Serialize};
use ztd_mdm::enrollment::{
    self, AuthPolicy, ContextItem, Credential, DiscoverRequest, DiscoverResponse,
    GetPoliciesRequest, SecurityTokenRequest,
};
use ztd_mdm::syncml::{self, alert, status, Command, Item, Meta, SyncHeader, SyncMessage};

use crate::{protocol, random, DeviceClient, DeviceError, Result};

/// The most messages one session may take before the client gives up on it (a server that never ends a
/// session cannot keep a device busy forever).
pub const MAX_MESSAGES_PER_SESSION: u32 = 50;

/// What a device is, as it reports itself through DevInfo, DevDetail and DeviceStatus.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Hardware {
    pub device_name: String,
    pub manufacturer: String,
    pub model: String,
    pub serial_number: String,
    pub os_version: String,
    pub firmware_version: String,
    /// `2.0`, or `None` without a TPM.
    pub tpm_version: Option<String>,
    pub secure_boot: bool,
    pub encrypted: bool,
    pub password_required: bool,
    pub total_ram_mb: u32,
    /// The 4K hardware hash (base64), which Windows 10 1703 and later report in DevDetail.
    pub hardware_hash: Option<String>,
}

impl Hardware {
    /// A typical lab machine with the given name and serial.
    pub fn lab(device_name: &str, serial: &str) -> Self {
        Self {
            device_name: device_name.to_string(),
            manufacturer: "Contoso".into(),
            model: "Lab PC".into(),
            serial_number: serial.to_string(),
            os_version: "10.0.22631.4460".into(),
            firmware_version: "1.0.0".into(),
            tpm_version: Some("2.0".into()),
            secure_boot: true,
            encrypted: true,
            password_required: true,
            total_ram_mb: 16_384,
            hardware_hash: None,
        }
    }
}

/// One node's value.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
struct NodeValue {
    format: String,
    data: String,
}

/// What a session or a command did to the device beyond its nodes.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DeviceEffects {
    /// The management provider told it to unenroll (retire).
    pub unenrolled: bool,
    /// It was told to wipe itself.
    pub wiped: bool,
    pub reboots: u32,
}

/// The device's CSP nodes: values by LocURI, which subtrees the server may write, which only it reads.
/// Serialisable, so a simulated device can keep its state between runs.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CspTree {
    values: BTreeMap<String, NodeValue>,
    writable: Vec<String>,
    read_only: Vec<String>,
    provider_id: String,
    pub effects: DeviceEffects,
    /// Values longer than this go back in chunks (OMA-DM large objects, `MoreData`); `None`: never.
    pub max_object_size: Option<usize>,
    /// The rest of a large value being sent: (its Get's message and command, source, format, what is left).
    pending: Option<(u32, u32, String, String, String)>,
    /// Generic alerts (1226) to report at the next session, as a CSP reports an asynchronous result.
    #[serde(skip)]
    alerts: Vec<Item>,
}

/// A LocURI as the tree keys it: device scope without its `./Device` prefix, no trailing slash.
pub fn normalise(uri: &str) -> String {
    let uri = uri.trim().trim_end_matches('/');
    let uri = match uri.strip_prefix("./Device/") {
        Some(rest) => format!("./{rest}"),
        None if uri.starts_with("./") || uri == "." => uri.to_string(),
        None => format!("./{uri}"),
    };
    uri
}

fn under(uri: &str, prefix: &str) -> bool {
    uri == prefix.trim_end_matches('/') || uri.starts_with(prefix)
}

impl CspTree {
    /// The nodes of a Windows 11 device with `hardware`, enrolled with DMClient provider `provider_id`.
    pub fn windows(hardware: &Hardware, device_id: &str, provider_id: &str) -> Self {
        let mut tree = Self {
            values: BTreeMap::new(),
            writable: [
                "./Vendor/MSFT/Policy/Config/",
                "./User/Vendor/MSFT/Policy/Config/",
                "./Vendor/MSFT/DMClient/",
                "./User/Vendor/MSFT/DMClient/",
                "./Vendor/MSFT/EnrollmentStatusTracking/",
                "./Vendor/MSFT/ClientCertificateInstall/",
                "./Vendor/MSFT/EnterpriseDesktopAppManagement/",
                "./User/Vendor/MSFT/EnterpriseDesktopAppManagement/",
            ]
            .iter()
            .map(|s| s.to_string())
            .collect(),
            read_only: [
                "./DevInfo/",
                "./DevDetail/",
                "./Vendor/MSFT/DeviceStatus/",
                "./Vendor/MSFT/Policy/Result/",
                "./User/Vendor/MSFT/Policy/Result/",
                "./Vendor/MSFT/BitLocker/Status/",
            ]
            .iter()
            .map(|s| s.to_string())
            .collect(),
            provider_id: provider_id.to_string(),
            effects: DeviceEffects::default(),
            max_object_size: None,
            pending: None,
            alerts: Vec::new(),
        };
        let flag = |on: bool| if on { "1" } else { "0" };
        let mut set = |uri: &str, format: &str, data: &str| {
            tree.values.insert(
                normalise(uri),
                NodeValue {
                    format: format.into(),
                    data: data.into(),
                },
            );
        };
        set("./DevInfo/DevId", "chr", device_id);
        set("./DevInfo/Man", "chr", &hardware.manufacturer);
        set("./DevInfo/Mod", "chr", &hardware.model);
        set("./DevInfo/DmV", "chr", "1.3");
        set("./DevInfo/Lang", "chr", "en-US");
        set("./DevDetail/SwV", "chr", &hardware.os_version);
        set("./DevDetail/FwV", "chr", &hardware.firmware_version);
        set(
            "./DevDetail/Ext/Microsoft/OSPlatform",
            "chr",
            "Windows 11 Enterprise",
        );
        set(
            "./DevDetail/Ext/Microsoft/DeviceName",
            "chr",
            &hardware.device_name,
        );
        set(
            "./DevDetail/Ext/Microsoft/SMBIOSSerialNumber",
            "chr",
            &hardware.serial_number,
        );
        set(
            "./DevDetail/Ext/Microsoft/TotalRAM",
            "int",
            &hardware.total_ram_mb.to_string(),
        );
        if let Some(hash) = &hardware.hardware_hash {
            set("./DevDetail/Ext/DeviceHardwareData", "chr", hash);
        }
        if let Some(tpm) = &hardware.tpm_version {
            set(
                "./Vendor/MSFT/DeviceStatus/TPM/SpecificationVersion",
                "chr",
                tpm,
            );
        }
        set(
            "./Vendor/MSFT/DeviceStatus/SecureBootState",
            "int",
            if hardware.secure_boot { "1" } else { "2" },
        );
        set(
            "./Vendor/MSFT/DeviceStatus/Compliance/EncryptionCompliance",
            "int",
            flag(hardware.encrypted),
        );
        set(
            "./Vendor/MSFT/BitLocker/Status/DeviceEncryptionStatus",
            "int",
            if hardware.encrypted { "0" } else { "1" },
        );
        // DeviceLock's DevicePasswordEnabled: 0 means a password is required.
        set(
            "./Vendor/MSFT/Policy/Result/DeviceLock/DevicePasswordEnabled",
            "int",
            if hardware.password_required { "0" } else { "1" },
        );
        tree
    }

    /// Lets the server write under `prefix` too (a CSP this tree does not list).
    pub fn allow_writes_under(&mut self, prefix: &str) {
        self.writable.push(normalise(prefix) + "/");
    }

    /// A node's value.
    pub fn value(&self, uri: &str) -> Option<&str> {
        self.values.get(&normalise(uri)).map(|v| v.data.as_str())
    }

    /// Sets a node as the device itself would (a user's change, a policy taking effect).
    pub fn set(&mut self, uri: &str, format: &str, data: &str) {
        self.values.insert(
            normalise(uri),
            NodeValue {
                format: format.into(),
                data: data.into(),
            },
        );
    }

    fn check_write(&self, uri: &str) -> std::result::Result<(), u16> {
        if self.read_only.iter().any(|p| under(uri, p)) {
            return Err(status::COMMAND_NOT_ALLOWED);
        }
        if !self.writable.iter().any(|p| uri.starts_with(p.as_str())) {
            return Err(status::NOT_FOUND);
        }
        Ok(())
    }

    fn check_format(item: &Item, meta: Option<&Meta>) -> std::result::Result<String, u16> {
        let format = item
            .meta
            .as_ref()
            .and_then(|m| m.format.clone())
            .or_else(|| meta.and_then(|m| m.format.clone()))
            .unwrap_or_else(|| "chr".into());
        let data = item.data.as_deref().unwrap_or("").trim();
        let ok = match format.as_str() {
            "int" => data.parse::<i64>().is_ok(),
            "bool" => matches!(data, "true" | "false" | "0" | "1"),
            "chr" | "b64" | "xml" | "bin" | "node" | "null" | "date" | "time" | "float" => true,
            _ => false,
        };
        if ok {
            Ok(format)
        } else {
            Err(status::UNSUPPORTED_MEDIA_TYPE)
        }
    }

    fn write(&mut self, uri: &str, format: String, data: String) {
        // A policy set through Config is in force: Windows shows it under Result.
        if let Some(rest) = uri.strip_prefix("./Vendor/MSFT/Policy/Config/") {
            self.values.insert(
                format!("./Vendor/MSFT/Policy/Result/{rest}"),
                NodeValue {
                    format: format.clone(),
                    data: data.clone(),
                },
            );
        }
        self.values
            .insert(uri.to_string(), NodeValue { format, data });
    }

    fn exists(&self, uri: &str) -> bool {
        self.values.contains_key(uri) || self.values.keys().any(|k| under(k, &format!("{uri}/")))
    }

    /// One operation on one item, as a CSP answers it: the status code, and for a `Get` the value.
    fn apply(
        &mut self,
        verb: &str,
        item: &Item,
        meta: Option<&Meta>,
    ) -> (u16, Option<(String, String, String)>) {
        let Some(target) = item.target.as_deref() else {
            return (status::BAD_REQUEST, None);
        };
        let uri = normalise(target);
        match verb {
            "Get" => match self.values.get(&uri) {
                Some(value) => (
                    status::OK,
                    Some((target.to_string(), value.format.clone(), value.data.clone())),
                ),
                None => {
                    // An interior node lists its children.
                    let prefix = format!("{uri}/");
                    let mut children: Vec<&str> = self
                        .values
                        .keys()
                        .filter_map(|k| k.strip_prefix(prefix.as_str()))
                        .map(|rest| rest.split('/').next().unwrap_or(rest))
                        .collect();
                    children.dedup();
                    if children.is_empty() {
                        (status::NOT_FOUND, None)
                    } else {
                        (
                            status::OK,
                            Some((target.to_string(), "node".into(), children.join("/"))),
                        )
                    }
                }
            },
            "Add" | "Replace" => {
                if let Err(code) = self.check_write(&uri) {
                    return (code, None);
                }
                if verb == "Add" && self.values.contains_key(&uri) {
                    return (status::ALREADY_EXISTS, None);
                }
                match Self::check_format(item, meta) {
                    Ok(format) => {
                        self.write(&uri, format, item.data.clone().unwrap_or_default());
                        (status::OK, None)
                    }
                    Err(code) => (code, None),
                }
            }
            "Delete" => {
                if let Err(code) = self.check_write(&uri) {
                    return (code, None);
                }
                if !self.exists(&uri) {
                    return (status::NOT_FOUND, None);
                }
                let prefix = format!("{uri}/");
                self.values
                    .retain(|k, _| k != &uri && !k.starts_with(&prefix));
                if let Some(rest) = uri.strip_prefix("./Vendor/MSFT/Policy/Config/") {
                    self.values
                        .remove(&format!("./Vendor/MSFT/Policy/Result/{rest}"));
                }
                (status::OK, None)
            }
            "Exec" => {
                let unenroll = format!(
                    "./Vendor/MSFT/DMClient/Provider/{}/Unenroll",
                    self.provider_id
                );
                if uri == unenroll {
                    self.effects.unenrolled = true;
                    (status::OK, None)
                } else if uri == "./Vendor/MSFT/RemoteWipe/doWipe" {
                    self.effects.wiped = true;
                    (status::OK, None)
                } else if uri == "./Vendor/MSFT/Reboot/RebootNow" {
                    self.effects.reboots += 1;
                    (status::OK, None)
                } else if self.exists(&uri) {
                    (status::COMMAND_NOT_ALLOWED, None)
                } else {
                    (status::NOT_FOUND, None)
                }
            }
            _ => (status::OPTIONAL_FEATURE_NOT_SUPPORTED, None),
        }
    }

    /// A command with its items: the status code (the first failure's, else 200) and the values got.
    fn apply_operation(
        &mut self,
        verb: &str,
        op: &syncml::Operation,
    ) -> (u16, Vec<(String, String, String)>) {
        let mut code = status::OK;
        let mut got = Vec::new();
        let mut any_found = false;
        for item in &op.items {
            let (item_code, value) = self.apply(verb, item, op.meta.as_ref());
            if let Some(value) = value {
                got.push(value);
                any_found = true;
            }
            if !status::is_success(item_code) && status::is_success(code) {
                code = item_code;
            }
        }
        // A Get of several nodes succeeds when it finds any (the rest are simply absent from Results).
        if verb == "Get" && any_found {
            code = status::OK;
        }
        if op.items.is_empty() {
            code = status::BAD_REQUEST;
        }
        (code, got)
    }

    /// Carries out the server's commands of one message: statuses (and results) in the device's reply, from
    /// command id `next_cmd_id`.
    pub fn execute(&mut self, message: &SyncMessage, next_cmd_id: &mut u32) -> Vec<Command> {
        let msg_ref = message.header.msg_id;
        let was_sending = self.pending.is_some();
        let mut out = vec![Command::Status(syncml::header_status(
            &message.header,
            take(next_cmd_id),
            status::OK,
        ))];
        for command in &message.commands {
            self.execute_one(command, msg_ref, next_cmd_id, &mut out);
        }
        // The server took a chunk (213) and asks for the next message (1222): the next chunk goes last.
        let asks_more = message
            .commands
            .iter()
            .any(|c| matches!(c, Command::Alert(a) if a.data == alert::NEXT_MESSAGE));
        // A large value's first chunk (just read) or next one (asked for) is the message's last item.
        if self.pending.is_some() && (!was_sending || asks_more) {
            if let Some(chunk) = self.next_chunk(next_cmd_id) {
                out.push(chunk);
            }
        }
        out
    }

    /// Queues a generic alert (1226) for the next session, as a CSP reports an asynchronous result
    /// (`source` the node, `alert_type` its Meta/Type, `data` the result).
    pub fn report_alert(&mut self, source: &str, alert_type: &str, data: &str) {
        self.alerts.push(Item {
            source: Some(source.to_string()),
            meta: Some(Meta {
                type_: Some(alert_type.to_string()),
                format: Some("int".into()),
                mark: Some("informational".into()),
                ..Meta::default()
            }),
            data: Some(data.to_string()),
            ..Item::default()
        });
    }

    /// Whether a large value is still being sent.
    pub fn sending_large_object(&self) -> bool {
        self.pending.is_some()
    }

    /// The next chunk of the large value being sent, as a Results command.
    fn next_chunk(&mut self, next_cmd_id: &mut u32) -> Option<Command> {
        let (msg_ref, cmd_ref, source, format, rest) = self.pending.take()?;
        let size = self.max_object_size.unwrap_or(usize::MAX).max(1);
        let mut cut = rest.len().min(size);
        while !rest.is_char_boundary(cut) {
            cut -= 1;
        }
        let (chunk, left) = rest.split_at(cut);
        let more = !left.is_empty();
        let item = Item {
            source: Some(source.clone()),
            meta: Some(Meta {
                format: Some(format.clone()),
                ..Meta::default()
            }),
            data: Some(chunk.to_string()),
            more_data: more,
            ..Item::default()
        };
        if more {
            self.pending = Some((msg_ref, cmd_ref, source, format, left.to_string()));
        }
        Some(Command::Results(syncml::Results {
            cmd_id: take(next_cmd_id),
            msg_ref,
            cmd_ref,
            items: vec![item],
        }))
    }

    fn execute_one(
        &mut self,
        command: &Command,
        msg_ref: u32,
        next_cmd_id: &mut u32,
        out: &mut Vec<Command>,
    ) {
        match command {
            Command::Status(_) | Command::Results(_) => {}
            Command::Alert(_) => out.push(Command::Status(syncml::status_for(
                msg_ref,
                command,
                take(next_cmd_id),
                status::OK,
            ))),
            Command::Get(op)
            | Command::Add(op)
            | Command::Replace(op)
            | Command::Delete(op)
            | Command::Exec(op) => {
                let (code, got) = self.apply_operation(command.name(), op);
                out.push(Command::Status(syncml::status_for(
                    msg_ref,
                    command,
                    take(next_cmd_id),
                    code,
                )));
                // A value over the object size goes in chunks, after everything else (one at a time).
                let limit = self.max_object_size.unwrap_or(usize::MAX);
                let (large, small): (Vec<_>, Vec<_>) = got
                    .into_iter()
                    .partition(|(_, _, data)| data.len() > limit && self.pending.is_none());
                if !small.is_empty() {
                    out.push(Command::Results(syncml::Results {
                        cmd_id: take(next_cmd_id),
                        msg_ref,
                        cmd_ref: op.cmd_id,
                        items: small
                            .into_iter()
                            .map(|(source, format, data)| Item {
                                source: Some(source),
                                meta: Some(Meta {
                                    format: Some(format),
                                    ..Meta::default()
                                }),
                                data: Some(data),
                                ..Item::default()
                            })
                            .collect(),
                    }));
                }
                if let Some((source, format, data)) = large.into_iter().next() {
                    // Its first chunk goes at the end of this message (see `execute`).
                    self.pending = Some((msg_ref, op.cmd_id, source, format, data));
                }
            }
            Command::Atomic(container) => {
                // All or nothing: on a failure, every change is undone; the failed command keeps its code,
                // the others answer 216 (rolled back), the Atomic 507.
                let snapshot = self.values.clone();
                let effects = self.effects.clone();
                let mut codes = Vec::new();
                for inner in &container.commands {
                    let code = match inner {
                        Command::Add(op)
                        | Command::Replace(op)
                        | Command::Delete(op)
                        | Command::Exec(op) => self.apply_operation(inner.name(), op).0,
                        // No Get, nested Atomic or Sequence inside an Atomic.
                        _ => status::COMMAND_FAILED,
                    };
                    codes.push(code);
                }
                let failed = codes.iter().any(|c| !status::is_success(*c));
                if failed {
                    self.values = snapshot;
                    self.effects = effects;
                }
                out.push(Command::Status(syncml::status_for(
                    msg_ref,
                    command,
                    take(next_cmd_id),
                    if failed {
                        status::ATOMIC_FAILED
                    } else {
                        status::OK
                    },
                )));
                for (inner, code) in container.commands.iter().zip(codes) {
                    let code = if failed && status::is_success(code) {
                        status::ATOMIC_ROLLBACK_OK
                    } else {
                        code
                    };
                    out.push(Command::Status(syncml::status_for(
                        msg_ref,
                        inner,
                        take(next_cmd_id),
                        code,
                    )));
                }
            }
            Command::Sequence(container) => {
                out.push(Command::Status(syncml::status_for(
                    msg_ref,
                    command,
                    take(next_cmd_id),
                    status::OK,
                )));
                for inner in &container.commands {
                    self.execute_one(inner, msg_ref, next_cmd_id, out);
                }
            }
        }
    }
}

fn take(next: &mut u32) -> u32 {
    let id = *next;
    *next += 1;
    id
}

/// How the device proves who enrolls it.
#[derive(Clone, Debug)]
pub enum EnrollCredential {
    /// A user name and password (the OnPremise policy; MDM-only enrollment from Settings).
    Password { upn: String, password: String },
    /// A token for the MDM audience: a user's (through the device's PRT for an Entra-joined device) or
    /// the device's own.
    Token(String),
    /// What the Federated policy's sign-in page handed back (`wresult`), sent as Windows sends it: base64 in
    /// a `DeviceEnrollmentUserToken`.
    FederatedToken(String),
}

/// What an enrollment asks for.
#[derive(Clone, Debug)]
pub struct EnrollOptions {
    pub credential: EnrollCredential,
    /// `Device` (an Entra-joined device's own enrollment) or `Full` (a user's).
    pub enrollment_type: String,
    /// The `DeviceID` context item: the Entra device id for a joined device, else a client id.
    pub device_id: String,
    /// The `HWDevID` context item.
    pub hw_dev_id: String,
    pub device_name: String,
    pub not_in_oobe: bool,
    /// The `OfflineAutoPilotEnrollmentCorrelator` item.
    pub autopilot_correlator: Option<String>,
    /// The `DomainName` item (hybrid Autopilot).
    pub domain_name: Option<String>,
    /// The `EnrollmentData` item: the terms-of-use acceptance (`OpaqueBlob`).
    pub enrollment_data: Option<String>,
}

/// A device's management enrollment: its certificate and key, and where its sessions go.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct MdmEnrollment {
    /// The managed device id (the certificate's subject).
    pub managed_device_id: String,
    pub management_url: String,
    pub provider_id: String,
    /// base64 DER.
    pub certificate: String,
    /// base64 PKCS#8.
    pub key: String,
    /// base64 DER of the MDM CA.
    pub ca_certificate: String,
    /// The `DevInfo/DevId` the device reports.
    pub device_id: String,
    /// The next session id.
    #[serde(default)]
    pub next_session: u32,
}

impl MdmEnrollment {
    fn identity_pem(&self) -> Result<Vec<u8>> {
        let cert = STANDARD
            .decode(&self.certificate)
            .map_err(|e| protocol(format!("the stored certificate: {e}")))?;
        let key = STANDARD
            .decode(&self.key)
            .map_err(|e| protocol(format!("the stored key: {e}")))?;
        let cert = pem::encode(&pem::Pem::new("CERTIFICATE", cert));
        let key = pem::encode(&pem::Pem::new("PRIVATE KEY", key));
        Ok(format!("{cert}{key}").into_bytes())
    }

    /// Saves the enrollment as JSON, created readable by its owner only on Unix (it holds a private key).
    pub fn save(&self, path: &Path) -> Result<()> {
        use std::io::Write;
        let text = serde_json::to_vec_pretty(self).map_err(|e| protocol(e.to_string()))?;
        let mut options = std::fs::OpenOptions::new();
        options.write(true).create(true).truncate(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::OpenOptionsExt;
            options.mode(0o600);
        }
        options.open(path)?.write_all(&text)?;
        Ok(())
    }

    pub fn load(path: &Path) -> Result<Self> {
        let bytes = std::fs::read(path)?;
        serde_json::from_slice(&bytes)
            .map_err(|e| protocol(format!("{} is not an MDM enrollment: {e}", path.display())))
    }
}

/// What one management session did.
#[derive(Clone, Debug, Default)]
pub struct SessionReport {
    /// Messages the device sent.
    pub messages: u32,
    /// Commands the server sent (containers count once).
    pub commands: u32,
    /// Every status the device answered: (command, target, code).
    pub statuses: Vec<(String, String, u16)>,
    /// The server refused the session (the management certificate names no managed device).
    pub refused: bool,
}

/// The value of a hidden form field of one of ztd's own pages (`name="…" value="…"`, attributes escaped).
fn hidden_value(html: &str, name: &str) -> Option<String> {
    let marker = format!("name=\"{name}\" value=\"");
    let start = html.find(&marker)? + marker.len();
    let end = html[start..].find('"')? + start;
    Some(
        html[start..end]
            .replace("&quot;", "\"")
            .replace("&#39;", "'")
            .replace("&lt;", "<")
            .replace("&gt;", ">")
            .replace("&amp;", "&"),
    )
}

/// `a=b&c=d` with percent-decoding.
fn url_decode_pairs(query: &str) -> std::collections::HashMap<String, String> {
    query
        .split('&')
        .filter_map(|pair| pair.split_once('='))
        .map(|(k, v)| {
            let decode = |s: &str| {
                percent_encoding::percent_decode_str(&s.replace('+', " "))
                    .decode_utf8_lossy()
                    .into_owned()
            };
            (decode(k), decode(v))
        })
        .collect()
}

fn message_id() -> String {
    format!("urn:uuid:{}", uuid::Uuid::from_bytes(random::<16>()))
}

fn soap_refused(status: u16, body: &str) -> DeviceError {
    // A fault's reason is the useful part of a SOAP refusal.
    let reason = enrollment::parse_fault(body.as_bytes())
        .map(|f| format!("{}: {}", f.code.subcode(), f.reason))
        .unwrap_or_else(|_| body.chars().take(300).collect());
    DeviceError::Refused {
        status,
        body: reason,
    }
}

impl DeviceClient {
    async fn soap(&self, url: &str, body: String) -> Result<String> {
        let response = self
            .http
            .post(url)
            .header("Content-Type", "application/soap+xml; charset=utf-8")
            .body(body)
            .send()
            .await?;
        let status = response.status();
        let text = response.text().await?;
        if !status.is_success() {
            return Err(soap_refused(status.as_u16(), &text));
        }
        Ok(text)
    }

    /// MDM discovery for an e-mail address: `GET` then `POST /EnrollmentServer/Discovery.svc`, offering
    /// both policies as Windows' Settings does.
    pub async fn mdm_discover(&self, email: &str) -> Result<DiscoverResponse> {
        self.mdm_discover_with(email, &[AuthPolicy::OnPremise, AuthPolicy::Federated])
            .await
    }

    /// MDM discovery offering only `policies`.
    pub async fn mdm_discover_with(
        &self,
        email: &str,
        policies: &[AuthPolicy],
    ) -> Result<DiscoverResponse> {
        let url = format!("{}/EnrollmentServer/Discovery.svc", self.base);
        let probe = self.http.get(&url).send().await?;
        if !probe.status().is_success() {
            return Err(DeviceError::Refused {
                status: probe.status().as_u16(),
                body: "the discovery probe failed".into(),
            });
        }
        let request = DiscoverRequest {
            email_address: email.to_string(),
            request_version: "5.0".into(),
            device_type: Some("CIMClient_Windows".into()),
            application_version: Some("10.0.22631.4460".into()),
            os_edition: Some("72".into()),
            auth_policies: policies.to_vec(),
        };
        let text = self
            .soap(
                &url,
                enrollment::discover_request(&message_id(), &url, &request),
            )
            .await?;
        match enrollment::parse_discover_response(text.as_bytes()) {
            Ok(Ok(response)) => Ok(response),
            Ok(Err(fault)) => Err(DeviceError::Refused {
                status: 200,
                body: format!("{}: {}", fault.code.subcode(), fault.reason),
            }),
            Err(e) => Err(protocol(format!("the discovery answer: {e}"))),
        }
    }

    /// The Federated policy's sign-in, as Windows' web authentication broker does it: the page at
    /// `authentication_url` with `appru` and `login_hint`, the user's name and password posted, and the
    /// `wresult` the page posts back to the broker.
    pub async fn mdm_federated_sign_in(
        &self,
        authentication_url: &str,
        upn: &str,
        password: &str,
    ) -> Result<String> {
        self.mdm_federated_sign_in_accepting(authentication_url, upn, password, false)
            .await
    }

    /// The Federated sign-in, ticking "I accept" the organization's terms of use on the page when
    /// `accept_terms` (the acceptance then travels with the token).
    pub async fn mdm_federated_sign_in_accepting(
        &self,
        authentication_url: &str,
        upn: &str,
        password: &str,
        accept_terms: bool,
    ) -> Result<String> {
        const APPRU: &str = "ms-app://windows.immersivecontrolpanel";
        let page = self
            .http
            .get(authentication_url)
            .query(&[("appru", APPRU), ("login_hint", upn)])
            .send()
            .await?;
        if !page.status().is_success() {
            return Err(DeviceError::Refused {
                status: page.status().as_u16(),
                body: page.text().await?,
            });
        }
        let answer = self
            .http
            .post(authentication_url)
            .form(&[
                ("appru", APPRU),
                ("username", upn),
                ("password", password),
                ("accept_terms", if accept_terms { "true" } else { "false" }),
            ])
            .send()
            .await?;
        let status = answer.status().as_u16();
        let html = answer.text().await?;
        hidden_value(&html, "wresult").ok_or(DeviceError::Refused {
            status,
            body: html.chars().take(500).collect(),
        })
    }

    /// The terms-of-use page, as Windows shows it before enrollment: opened with the user's enrollment
    /// token, accepted (or declined); returns the `OpaqueBlob` of an acceptance (`None` when declined).
    pub async fn mdm_terms_of_use(
        &self,
        terms_url: &str,
        token: &str,
        accept: bool,
    ) -> Result<Option<String>> {
        const REDIRECT: &str = "ms-appx-web://Microsoft.AAD.BrokerPlugin/ztd-device";
        let http = Self::builder(&self.roots)
            .redirect(reqwest::redirect::Policy::none())
            .build()?;
        let page = http
            .get(terms_url)
            .query(&[
                ("redirect_uri", REDIRECT),
                (
                    "client-request-id",
                    &uuid::Uuid::from_bytes(random::<16>()).to_string(),
                ),
                ("api-version", "1.0"),
            ])
            .bearer_auth(token)
            .send()
            .await?;
        let status = page.status().as_u16();
        let html = page.text().await?;
        let field = |name: &str| {
            hidden_value(&html, name).ok_or_else(|| DeviceError::Refused {
                status,
                body: html.chars().take(500).collect(),
            })
        };
        let form = [
            ("redirect_uri", REDIRECT.to_string()),
            ("tenant", field("tenant")?),
            ("user", field("user")?),
            ("ticket", field("ticket")?),
            ("accept", accept.to_string()),
        ];
        let answer = http.post(terms_url).form(&form).send().await?;
        let location = answer
            .headers()
            .get("location")
            .and_then(|v| v.to_str().ok())
            .map(str::to_string)
            .ok_or_else(|| protocol("the terms page did not answer with a redirect"))?;
        let query = location.split_once('?').map(|(_, q)| q).unwrap_or("");
        let params: std::collections::HashMap<String, String> = url_decode_pairs(query);
        if let Some(error) = params.get("error") {
            return Err(DeviceError::Refused {
                status: 302,
                body: format!(
                    "{error}: {}",
                    params.get("error_description").cloned().unwrap_or_default()
                ),
            });
        }
        match params.get("IsAccepted").map(String::as_str) {
            Some("true") => Ok(params.get("OpaqueBlob").cloned()),
            Some("false") => Ok(None),
            _ => Err(protocol(
                "the terms page's redirect says neither accepted nor declined",
            )),
        }
    }

    /// Enrolls in management: the policy (when a policy URL is given), then the certificate request with a
    /// new RSA-2048 key, and reads the provisioning document back.
    pub async fn mdm_enroll(
        &self,
        policy_url: Option<&str>,
        enrollment_url: &str,
        options: &EnrollOptions,
    ) -> Result<MdmEnrollment> {
        self.mdm_enroll_keyed(policy_url, enrollment_url, options, None)
            .await
    }

    /// [`Self::mdm_enroll`] with the device key of `keys` for the management certificate (a load test
    /// makes keys once: the server's work per enrollment does not depend on them).
    pub async fn mdm_enroll_with_keys(
        &self,
        policy_url: Option<&str>,
        enrollment_url: &str,
        options: &EnrollOptions,
        keys: &crate::DeviceKeys,
    ) -> Result<MdmEnrollment> {
        self.mdm_enroll_keyed(policy_url, enrollment_url, options, Some(&keys.device))
            .await
    }

    async fn mdm_enroll_keyed(
        &self,
        policy_url: Option<&str>,
        enrollment_url: &str,
        options: &EnrollOptions,
        key: Option<&[u8]>,
    ) -> Result<MdmEnrollment> {
        let credential = match &options.credential {
            EnrollCredential::Password { upn, password } => Credential::UsernameToken {
                username: upn.clone(),
                password: password.clone(),
            },
            EnrollCredential::Token(token) => Credential::BinaryToken {
                value_type: enrollment::TOKEN_TYPE_JWT.into(),
                encoding_type: Some(enrollment::ENCODING_BASE64.into()),
                value: STANDARD.encode(token.as_bytes()),
            },
            EnrollCredential::FederatedToken(token) => Credential::BinaryToken {
                value_type: enrollment::TOKEN_TYPE_USER_TOKEN.into(),
                encoding_type: Some(enrollment::ENCODING_BASE64.into()),
                value: STANDARD.encode(token.as_bytes()),
            },
        };
        if let Some(policy_url) = policy_url {
            let request = GetPoliciesRequest {
                last_update: None,
                preferred_language: None,
            };
            let text = self
                .soap(
                    policy_url,
                    enrollment::get_policies_request(
                        &message_id(),
                        policy_url,
                        &credential,
                        &request,
                    ),
                )
                .await?;
            match enrollment::parse_get_policies_response(text.as_bytes()) {
                Ok(Ok(policy)) if policy.minimal_key_length <= 2048 => {}
                Ok(Ok(policy)) => {
                    return Err(protocol(format!(
                        "the policy asks for {}-bit keys; this client makes 2048-bit keys",
                        policy.minimal_key_length
                    )))
                }
                Ok(Err(fault)) => {
                    return Err(DeviceError::Refused {
                        status: 200,
                        body: format!("{}: {}", fault.code.subcode(), fault.reason),
                    })
                }
                Err(e) => return Err(protocol(format!("the policy answer: {e}"))),
            }
        }
        let key = match key {
            Some(key) => key.to_vec(),
            None => crate::new_rsa_key()?,
        };
        let csr = crate::certificate_request(&key)?;
        let mut context = vec![
            ("UXInitiated", "true".to_string()),
            ("HWDevID", options.hw_dev_id.clone()),
            ("Locale", "en-US".into()),
            ("TargetedUserLoggedIn", "true".into()),
            ("OSEdition", "72".into()),
            ("DeviceName", options.device_name.clone()),
            ("MAC", "00-15-5D-00-00-01".into()),
            ("DeviceID", options.device_id.clone()),
            ("EnrollmentType", options.enrollment_type.clone()),
            ("DeviceType", "CIMClient_Windows".into()),
            ("OSVersion", "10.0.22631.4460".into()),
            ("ApplicationVersion", "10.0.22631.4460".into()),
            ("NotInOobe", options.not_in_oobe.to_string()),
        ];
        if let Some(correlator) = &options.autopilot_correlator {
            context.push(("OfflineAutoPilotEnrollmentCorrelator", correlator.clone()));
        }
        if let Some(domain) = &options.domain_name {
            context.push(("DomainName", domain.clone()));
        }
        if let Some(data) = &options.enrollment_data {
            context.push(("EnrollmentData", data.clone()));
        }
        let request = SecurityTokenRequest {
            token_type: enrollment::DEVICE_ENROLLMENT_TOKEN.into(),
            request_type: enrollment::REQUEST_TYPE_ISSUE.into(),
            value_type: enrollment::VALUE_TYPE_PKCS10.into(),
            certificate_request: csr,
            context: context
                .into_iter()
                .map(|(name, value)| ContextItem {
                    name: name.to_string(),
                    value,
                })
                .collect(),
        };
        let text = self
            .soap(
                enrollment_url,
                enrollment::security_token_request(
                    &message_id(),
                    enrollment_url,
                    &credential,
                    &request,
                ),
            )
            .await?;
        let document = match enrollment::parse_security_token_response(text.as_bytes()) {
            Ok(Ok(document)) => document,
            Ok(Err(fault)) => {
                return Err(DeviceError::Refused {
                    status: 200,
                    body: format!("{}: {}", fault.code.subcode(), fault.reason),
                })
            }
            Err(e) => return Err(protocol(format!("the enrollment answer: {e}"))),
        };
        let provisioned = enrollment::parse_provisioning_document(&document)
            .map_err(|e| protocol(format!("the provisioning document: {e}")))?;
        let managed_device_id = provisioned
            .client_certificate_subject
            .strip_prefix("CN=")
            .unwrap_or(&provisioned.client_certificate_subject)
            .to_string();
        Ok(MdmEnrollment {
            managed_device_id,
            management_url: provisioned.management_url,
            provider_id: provisioned.provider_id,
            certificate: STANDARD.encode(&provisioned.client_certificate),
            key: STANDARD.encode(&key),
            ca_certificate: STANDARD.encode(&provisioned.root_certificate),
            device_id: options.device_id.clone(),
            next_session: 1,
        })
    }

    /// One management session as Windows holds it: the first package (alerts 1201 and 1224, DevInfo), then
    /// the server's commands carried out on `tree` and answered, until the server answers with statuses
    /// only. `login_status` is the 1224 LoginStatus (`user`, `others`, `none`).
    pub async fn mdm_session(
        &self,
        enrollment: &mut MdmEnrollment,
        tree: &mut CspTree,
        login_status: &str,
    ) -> Result<SessionReport> {
        let tls = reqwest::Identity::from_pem(&enrollment.identity_pem()?)?;
        let http = Self::builder(&self.roots).identity(tls).build()?;
        let session_id = enrollment.next_session.max(1);
        enrollment.next_session = session_id + 1;
        let header = |msg_id: u32| SyncHeader {
            session_id: session_id.to_string(),
            msg_id,
            target: enrollment.management_url.clone(),
            source: enrollment.device_id.clone(),
            meta: Some(Meta {
                max_msg_size: Some(512_000),
                ..Meta::default()
            }),
        };
        let mut next_cmd_id = 1u32;
        let item = |uri: &str, data: &str| Item {
            source: Some(uri.to_string()),
            data: Some(data.to_string()),
            ..Item::default()
        };
        let login = Item {
            meta: Some(Meta {
                type_: Some(alert::LOGIN_STATUS.into()),
                format: Some("chr".into()),
                ..Meta::default()
            }),
            data: Some(login_status.to_string()),
            ..Item::default()
        };
        let devinfo: Vec<Item> = [
            "./DevInfo/DevId",
            "./DevInfo/Man",
            "./DevInfo/Mod",
            "./DevInfo/DmV",
            "./DevInfo/Lang",
        ]
        .iter()
        .map(|uri| item(uri, tree.value(uri).unwrap_or("")))
        .collect();
        let mut commands = vec![
            Command::Alert(syncml::Alert {
                cmd_id: take(&mut next_cmd_id),
                data: alert::CLIENT_INITIATED,
                items: vec![],
            }),
            Command::Alert(syncml::Alert {
                cmd_id: take(&mut next_cmd_id),
                data: alert::CLIENT_EVENT,
                items: vec![login],
            }),
            Command::Replace(syncml::Operation {
                cmd_id: take(&mut next_cmd_id),
                meta: None,
                items: devinfo,
            }),
        ];
        let alerts = std::mem::take(&mut tree.alerts);
        if !alerts.is_empty() {
            commands.push(Command::Alert(syncml::Alert {
                cmd_id: take(&mut next_cmd_id),
                data: alert::GENERIC,
                items: alerts,
            }));
        }
        let mut report = SessionReport::default();
        for msg_id in 1..=MAX_MESSAGES_PER_SESSION {
            let message = SyncMessage {
                header: header(msg_id),
                commands,
                final_: true,
            };
            report.messages += 1;
            let response = http
                .post(&enrollment.management_url)
                .header("Content-Type", syncml::CONTENT_TYPE)
                .header("User-Agent", "MSFT Windows OMA DM Client/2.7")
                .body(syncml::to_xml(&message))
                .send()
                .await?;
            let http_status = response.status();
            let text = response.text().await?;
            if http_status.as_u16() == 401 {
                report.refused = true;
                return Ok(report);
            }
            if !http_status.is_success() {
                return Err(DeviceError::Refused {
                    status: http_status.as_u16(),
                    body: text,
                });
            }
            let reply = syncml::parse(text.as_bytes())
                .map_err(|e| protocol(format!("the server's SyncML: {e}")))?;
            let work: Vec<&Command> = reply
                .commands
                .iter()
                .filter(|c| !matches!(c, Command::Status(_) | Command::Results(_)))
                .collect();
            if work.is_empty() {
                return Ok(report);
            }
            report.commands += u32::try_from(work.len()).unwrap_or(u32::MAX);
            next_cmd_id = 1;
            commands = tree.execute(&reply, &mut next_cmd_id);
            for command in &commands {
                if let Command::Status(s) = command {
                    if s.cmd != "SyncHdr" {
                        report.statuses.push((
                            s.cmd.clone(),
                            s.target_ref.clone().unwrap_or_default(),
                            s.data,
                        ));
                    }
                }
            }
        }
        Err(protocol(format!(
            "the session did not end within {MAX_MESSAGES_PER_SESSION} messages"
        )))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tree() -> CspTree {
        CspTree::windows(&Hardware::lab("PC-1", "SN1"), "dev-1", "ztd")
    }

    fn op(
        cmd_id: u32,
        target: &str,
        format: Option<&str>,
        data: Option<&str>,
    ) -> syncml::Operation {
        syncml::Operation {
            cmd_id,
            meta: None,
            items: vec![Item {
                target: Some(target.into()),
                meta: format.map(|f| Meta {
                    format: Some(f.into()),
                    ..Meta::default()
                }),
                data: data.map(str::to_string),
                ..Item::default()
            }],
        }
    }

    fn message(commands: Vec<Command>) -> SyncMessage {
        SyncMessage {
            header: SyncHeader {
                session_id: "1".into(),
                msg_id: 1,
                target: "dev-1".into(),
                source: "https://ztd/ManagementServer/MDM.svc".into(),
                meta: None,
            },
            commands,
            final_: true,
        }
    }

    fn codes(out: &[Command]) -> Vec<(String, u16)> {
        out.iter()
            .filter_map(|c| match c {
                Command::Status(s) if s.cmd != "SyncHdr" => Some((s.cmd.clone(), s.data)),
                _ => None,
            })
            .collect()
    }

    #[test]
    fn a_csp_answers_as_windows_does() {
        let mut t = tree();
        let policy = "./Device/Vendor/MSFT/Policy/Config/Camera/AllowCamera";
        let out = t.execute(
            &message(vec![
                Command::Get(op(2, "./DevDetail/SwV", None, None)),
                Command::Get(op(3, "./Vendor/MSFT/Nothing/Here", None, None)),
                Command::Replace(op(4, "./DevDetail/SwV", Some("chr"), Some("1"))),
                Command::Add(op(5, policy, Some("int"), Some("0"))),
                Command::Add(op(6, policy, Some("int"), Some("1"))),
                Command::Replace(op(7, policy, Some("int"), Some("x"))),
                Command::Replace(op(8, "./Vendor/MSFT/Unknown/Node", Some("chr"), Some("1"))),
                Command::Delete(op(9, "./Vendor/MSFT/Policy/Config/Camera/Nope", None, None)),
                Command::Exec(op(10, "./Vendor/MSFT/Reboot/RebootNow", None, None)),
                Command::Exec(op(11, "./DevDetail/SwV", None, None)),
            ]),
            &mut 1,
        );
        assert_eq!(
            codes(&out),
            vec![
                ("Get".into(), 200),
                ("Get".into(), 404),
                ("Replace".into(), 405),
                ("Add".into(), 200),
                ("Add".into(), 418),
                ("Replace".into(), 415),
                ("Replace".into(), 404),
                ("Delete".into(), 404),
                ("Exec".into(), 200),
                ("Exec".into(), 405),
            ]
        );
        assert_eq!(
            t.value("./Vendor/MSFT/Policy/Result/Camera/AllowCamera"),
            Some("0")
        );
        assert_eq!(t.effects.reboots, 1);
        let results: Vec<&syncml::Results> = out
            .iter()
            .filter_map(|c| match c {
                Command::Results(r) => Some(r),
                _ => None,
            })
            .collect();
        assert_eq!(results.len(), 1);
        assert_eq!(results[0].cmd_ref, 2);
        assert_eq!(results[0].items[0].data.as_deref(), Some("10.0.22631.4460"));
    }

    #[test]
    fn an_atomic_with_a_failure_is_rolled_back() {
        let mut t = tree();
        let a = "./Vendor/MSFT/Policy/Config/A/B";
        let out = t.execute(
            &message(vec![Command::Atomic(syncml::Container {
                cmd_id: 2,
                commands: vec![
                    Command::Add(op(3, a, Some("int"), Some("1"))),
                    Command::Replace(op(4, "./DevInfo/Man", Some("chr"), Some("x"))),
                ],
            })]),
            &mut 1,
        );
        assert_eq!(
            codes(&out),
            vec![
                ("Atomic".into(), 507),
                ("Add".into(), 216),
                ("Replace".into(), 405)
            ]
        );
        assert_eq!(t.value(a), None);
        let out = t.execute(
            &message(vec![Command::Sequence(syncml::Container {
                cmd_id: 2,
                commands: vec![
                    Command::Add(op(3, a, Some("int"), Some("1"))),
                    Command::Delete(op(4, a, None, None)),
                ],
            })]),
            &mut 1,
        );
        assert_eq!(
            codes(&out),
            vec![
                ("Sequence".into(), 200),
                ("Add".into(), 200),
                ("Delete".into(), 200)
            ]
        );
    }

    #[test]
    fn a_tree_keeps_its_nodes_and_effects_through_json() {
        let mut t = tree();
        let policy = "./Vendor/MSFT/Policy/Config/Camera/AllowCamera";
        t.execute(
            &message(vec![
                Command::Add(op(2, policy, Some("int"), Some("0"))),
                Command::Exec(op(3, "./Vendor/MSFT/Reboot/RebootNow", None, None)),
            ]),
            &mut 1,
        );
        let mut back: CspTree = serde_json::from_str(&serde_json::to_string(&t).unwrap()).unwrap();
        assert_eq!(back.value(policy), Some("0"));
        assert_eq!(back.effects.reboots, 1);
        // Still the same device: adding the node again finds it, the read-only subtree stays read-only.
        let out = back.execute(
            &message(vec![
                Command::Add(op(2, policy, Some("int"), Some("1"))),
                Command::Replace(op(3, "./DevDetail/SwV", Some("chr"), Some("1"))),
            ]),
            &mut 1,
        );
        assert_eq!(
            codes(&out),
            vec![("Add".into(), 418), ("Replace".into(), 405)]
        );
    }

    #[test]
    fn unenroll_and_wipe_are_recorded() {
        let mut t = tree();
        t.execute(
            &message(vec![
                Command::Exec(op(
                    2,
                    "./Vendor/MSFT/DMClient/Provider/ztd/Unenroll",
                    Some("chr"),
                    Some("ztd"),
                )),
                Command::Exec(op(3, "./Device/Vendor/MSFT/RemoteWipe/doWipe", None, None)),
            ]),
            &mut 1,
        );
        assert!(t.effects.unenrolled && t.effects.wiped);
    }
}
