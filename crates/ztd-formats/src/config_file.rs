//! `AutopilotConfigurationFile.json` — the offline profile file placed at
//! `%WINDIR%\Provisioning\Autopilot\AutopilotConfigurationFile.json` (research notes §2.3).
//!
//! [`AutopilotConfigurationFile::to_file_bytes`] writes what
//! `ConvertTo-AutopilotConfigurationJSON | Out-File -Encoding ASCII` writes on Windows
//! PowerShell 5.1:
//!
//! * `{` CRLF, one `    "Key":  value` line per key (4-space indent, **two** spaces after the
//!   colon), lines separated by `,` CRLF, then CRLF `}` CRLF (Out-File's trailing newline).
//! * Strings are escaped the way `ConvertTo-Json` in 5.1 (JavaScriptSerializer) escapes them:
//!   `\"`, `\\`, `\b \f \n \r \t`, other control characters and `< > & '` as `\u00xx`
//!   (lower-case hex). *Inferred from .NET's JavaScriptStringEncode; not in the samples.*
//! * ASCII only: every non-ASCII UTF-16 code unit becomes `?`, as PowerShell's ASCII
//!   encoder does (a character outside the BMP therefore becomes `??`).
//!
//! **Key order.** PowerShell emits a hashtable, so the order is the .NET `Hashtable`
//! enumeration order, which depends on the set of keys present. The samples disagree: the
//! Microsoft docs example (9 keys, older module without the update keys) has one order, the
//! synthetic 12- and 14-key samples another. No single order reproduces both, so the order is
//! data: [`AutopilotConfigurationFile::key_order`]. `None` uses [`ConfigKey::MODULE_ORDER`]
//! (a total order over all 15 keys consistent with both synthetic samples);
//! [`ConfigKey::DOCS_EXAMPLE_ORDER`] reproduces the docs example. Keys missing from a custom
//! order are appended in module order; keys in the order but absent from the file are
//! skipped. [`AutopilotConfigurationFile::parse`] records the order it read, so
//! parse → `to_file_bytes` reproduces the file. Emulating .NET's hashtable order exactly is
//! left open.
//!
//! Optional keys: `CloudAssignedDeviceName`, `CloudAssignedLanguage`, `CloudAssignedRegion`
//! are written only when `Some`; `HybridJoinSkipDCConnectivityCheck` only when `true` (as
//! `1`); the two update keys only when `Some` (the docs example predates them).

use serde_json::Value;

/// The value of `Version` the docs require for Windows 10 1809 and later.
pub const CONFIG_FILE_VERSION: u32 = 2049;
/// `CloudAssignedAutopilotUpdateTimeout` hard-coded by the module (milliseconds).
pub const DEFAULT_UPDATE_TIMEOUT_MS: u32 = 1_800_000;
/// `CloudAssignedDomainJoinMethod` for Microsoft Entra join.
pub const DOMAIN_JOIN_ENTRA: u32 = 0;
/// `CloudAssignedDomainJoinMethod` for Microsoft Entra hybrid join.
pub const DOMAIN_JOIN_HYBRID: u32 = 1;

/// One top-level key of the file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ConfigKey {
    /// `Comment_File`
    CommentFile,
    /// `Version`
    Version,
    /// `ZtdCorrelationId`
    ZtdCorrelationId,
    /// `CloudAssignedDomainJoinMethod`
    DomainJoinMethod,
    /// `CloudAssignedDeviceName`
    DeviceName,
    /// `CloudAssignedLanguage`
    Language,
    /// `CloudAssignedRegion`
    Region,
    /// `CloudAssignedOobeConfig`
    OobeConfig,
    /// `CloudAssignedForcedEnrollment`
    ForcedEnrollment,
    /// `CloudAssignedTenantId`
    TenantId,
    /// `CloudAssignedTenantDomain`
    TenantDomain,
    /// `CloudAssignedAadServerData`
    AadServerData,
    /// `HybridJoinSkipDCConnectivityCheck`
    HybridSkipDcCheck,
    /// `CloudAssignedAutopilotUpdateDisabled`
    UpdateDisabled,
    /// `CloudAssignedAutopilotUpdateTimeout`
    UpdateTimeout,
}

impl ConfigKey {
    /// Every key in the order Windows PowerShell 5.1 emits the current module's hashtable
    /// (derived from the synthetic samples).
    pub const MODULE_ORDER: [ConfigKey; 15] = [
        ConfigKey::TenantId,
        ConfigKey::DeviceName,
        ConfigKey::UpdateTimeout,
        ConfigKey::ForcedEnrollment,
        ConfigKey::Version,
        ConfigKey::UpdateDisabled,
        ConfigKey::ZtdCorrelationId,
        ConfigKey::DomainJoinMethod,
        ConfigKey::HybridSkipDcCheck,
        ConfigKey::OobeConfig,
        ConfigKey::Region,
        ConfigKey::TenantDomain,
        ConfigKey::AadServerData,
        ConfigKey::CommentFile,
        ConfigKey::Language,
    ];

    /// The order of Microsoft's documented example (`existing-devices.md`).
    pub const DOCS_EXAMPLE_ORDER: [ConfigKey; 9] = [
        ConfigKey::TenantId,
        ConfigKey::ForcedEnrollment,
        ConfigKey::Version,
        ConfigKey::CommentFile,
        ConfigKey::AadServerData,
        ConfigKey::TenantDomain,
        ConfigKey::DomainJoinMethod,
        ConfigKey::OobeConfig,
        ConfigKey::ZtdCorrelationId,
    ];

    /// The JSON key name.
    pub fn name(self) -> &'static str {
        match self {
            ConfigKey::CommentFile => "Comment_File",
            ConfigKey::Version => "Version",
            ConfigKey::ZtdCorrelationId => "ZtdCorrelationId",
            ConfigKey::DomainJoinMethod => "CloudAssignedDomainJoinMethod",
            ConfigKey::DeviceName => "CloudAssignedDeviceName",
            ConfigKey::Language => "CloudAssignedLanguage",
            ConfigKey::Region => "CloudAssignedRegion",
            ConfigKey::OobeConfig => "CloudAssignedOobeConfig",
            ConfigKey::ForcedEnrollment => "CloudAssignedForcedEnrollment",
            ConfigKey::TenantId => "CloudAssignedTenantId",
            ConfigKey::TenantDomain => "CloudAssignedTenantDomain",
            ConfigKey::AadServerData => "CloudAssignedAadServerData",
            ConfigKey::HybridSkipDcCheck => "HybridJoinSkipDCConnectivityCheck",
            ConfigKey::UpdateDisabled => "CloudAssignedAutopilotUpdateDisabled",
            ConfigKey::UpdateTimeout => "CloudAssignedAutopilotUpdateTimeout",
        }
    }

    /// Looks a key name up, case-insensitively (PowerShell hashtables are case-insensitive).
    pub fn from_name(name: &str) -> Option<ConfigKey> {
        ConfigKey::MODULE_ORDER
            .iter()
            .copied()
            .find(|k| k.name().eq_ignore_ascii_case(name))
    }
}

/// Error from [`AutopilotConfigurationFile::parse`].
#[derive(Debug, thiserror::Error)]
pub enum ConfigFileError {
    /// The bytes are not JSON.
    #[error("AutopilotConfigurationFile.json is not valid JSON ({0}); regenerate the file")]
    Json(#[from] serde_json::Error),
    /// The top level is not an object.
    #[error("AutopilotConfigurationFile.json must contain one JSON object; regenerate the file")]
    NotAnObject,
    /// A required key is absent.
    #[error(
        "AutopilotConfigurationFile.json has no \"{0}\" key; regenerate the file from the profile"
    )]
    MissingKey(&'static str),
    /// A key has a value of the wrong type.
    #[error("AutopilotConfigurationFile.json key \"{key}\" must be {expected}, found {found}; fix the value or regenerate the file")]
    BadValue {
        /// The key.
        key: &'static str,
        /// What was expected.
        expected: &'static str,
        /// What was found (JSON text, shortened).
        found: String,
    },
}

/// The offline Autopilot profile file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AutopilotConfigurationFile {
    /// `Comment_File`: `"Profile <displayName>"`.
    pub comment_file: String,
    /// `Version`: 2049.
    pub version: u32,
    /// `ZtdCorrelationId`: the profile id.
    pub ztd_correlation_id: String,
    /// `CloudAssignedDomainJoinMethod`: 0 Entra join, 1 hybrid.
    pub domain_join_method: u32,
    /// `CloudAssignedDeviceName`: device name template, written only when `Some`.
    pub device_name: Option<String>,
    /// `CloudAssignedLanguage`, written only when `Some`.
    pub language: Option<String>,
    /// `CloudAssignedRegion`, written only when `Some` (community-module variant).
    pub region: Option<String>,
    /// `CloudAssignedOobeConfig` (see [`crate::oobe`]).
    pub oobe_config: u32,
    /// `CloudAssignedForcedEnrollment`: written as `1`/`0`.
    pub forced_enrollment: bool,
    /// `CloudAssignedTenantId`: GUID without braces.
    pub tenant_id: String,
    /// `CloudAssignedTenantDomain`.
    pub tenant_domain: String,
    /// `CloudAssignedAadServerData`: a string holding compact JSON; build it with
    /// [`aad_server_data`].
    pub aad_server_data: String,
    /// `HybridJoinSkipDCConnectivityCheck`: written (as `1`) only when `true`.
    pub hybrid_skip_dc_check: bool,
    /// `CloudAssignedAutopilotUpdateDisabled` (module: `Some(1)`).
    pub update_disabled: Option<u32>,
    /// `CloudAssignedAutopilotUpdateTimeout` (module: `Some(1800000)`).
    pub update_timeout: Option<u32>,
    /// Output key order; `None` = [`ConfigKey::MODULE_ORDER`]. See the module docs.
    pub key_order: Option<Vec<ConfigKey>>,
}

/// Builds `CloudAssignedAadServerData`:
/// `{"ZeroTouchConfig":{"CloudAssignedTenantUpn":"","ForcedEnrollment":<0|1>,"CloudAssignedTenantDomain":"<domain>"}}`
/// (inner key order as in the docs example).
pub fn aad_server_data(tenant_domain: &str, forced_enrollment: bool) -> String {
    let mut s =
        String::from("{\"ZeroTouchConfig\":{\"CloudAssignedTenantUpn\":\"\",\"ForcedEnrollment\":");
    s.push(if forced_enrollment { '1' } else { '0' });
    s.push_str(",\"CloudAssignedTenantDomain\":");
    push_json_string(&mut s, tenant_domain);
    s.push_str("}}");
    s
}

impl AutopilotConfigurationFile {
    /// A file with the module's defaults: version 2049, Entra join, OOBE config 264, no
    /// forced enrollment, update disabled 1 / timeout 1800000, module key order.
    pub fn new(
        profile_display_name: &str,
        profile_id: &str,
        tenant_id: &str,
        tenant_domain: &str,
    ) -> Self {
        AutopilotConfigurationFile {
            comment_file: format!("Profile {profile_display_name}"),
            version: CONFIG_FILE_VERSION,
            ztd_correlation_id: profile_id.to_owned(),
            domain_join_method: DOMAIN_JOIN_ENTRA,
            device_name: None,
            language: None,
            region: None,
            oobe_config: 264,
            forced_enrollment: false,
            tenant_id: tenant_id.to_owned(),
            tenant_domain: tenant_domain.to_owned(),
            aad_server_data: aad_server_data(tenant_domain, false),
            hybrid_skip_dc_check: false,
            update_disabled: Some(1),
            update_timeout: Some(DEFAULT_UPDATE_TIMEOUT_MS),
            key_order: None,
        }
    }

    /// Recomputes [`Self::aad_server_data`] from the tenant domain and forced enrollment.
    pub fn refresh_aad_server_data(&mut self) {
        self.aad_server_data = aad_server_data(&self.tenant_domain, self.forced_enrollment);
    }

    /// The value of one key as JSON text, or `None` when the key is not written.
    fn value_text(&self, key: ConfigKey) -> Option<String> {
        let string = |s: &str| {
            let mut out = String::new();
            push_json_string(&mut out, s);
            out
        };
        Some(match key {
            ConfigKey::CommentFile => string(&self.comment_file),
            ConfigKey::Version => self.version.to_string(),
            ConfigKey::ZtdCorrelationId => string(&self.ztd_correlation_id),
            ConfigKey::DomainJoinMethod => self.domain_join_method.to_string(),
            ConfigKey::DeviceName => string(self.device_name.as_deref()?),
            ConfigKey::Language => string(self.language.as_deref()?),
            ConfigKey::Region => string(self.region.as_deref()?),
            ConfigKey::OobeConfig => self.oobe_config.to_string(),
            ConfigKey::ForcedEnrollment => u32::from(self.forced_enrollment).to_string(),
            ConfigKey::TenantId => string(&self.tenant_id),
            ConfigKey::TenantDomain => string(&self.tenant_domain),
            ConfigKey::AadServerData => string(&self.aad_server_data),
            ConfigKey::HybridSkipDcCheck => {
                if !self.hybrid_skip_dc_check {
                    return None;
                }
                "1".to_owned()
            }
            ConfigKey::UpdateDisabled => self.update_disabled?.to_string(),
            ConfigKey::UpdateTimeout => self.update_timeout?.to_string(),
        })
    }

    /// The keys in output order (before skipping absent values).
    fn ordered_keys(&self) -> Vec<ConfigKey> {
        let mut keys: Vec<ConfigKey> = Vec::with_capacity(15);
        if let Some(order) = &self.key_order {
            for k in order {
                if !keys.contains(k) {
                    keys.push(*k);
                }
            }
        }
        for k in ConfigKey::MODULE_ORDER {
            if !keys.contains(&k) {
                keys.push(k);
            }
        }
        keys
    }

    /// The file as Windows PowerShell 5.1 writes it: ASCII, CRLF, `ConvertTo-Json` layout.
    pub fn to_file_bytes(&self) -> Vec<u8> {
        let mut text = String::from("{\r\n");
        let mut first = true;
        for key in self.ordered_keys() {
            let Some(value) = self.value_text(key) else {
                continue;
            };
            if !first {
                text.push_str(",\r\n");
            }
            first = false;
            text.push_str("    \"");
            text.push_str(key.name());
            text.push_str("\":  ");
            text.push_str(&value);
        }
        text.push_str("\r\n}\r\n");
        to_ascii_lossy(&text)
    }

    /// Reads a file back. Accepts UTF-8 with or without BOM, UTF-16 with BOM, and
    /// Windows-1252; key names case-insensitively; numbers as JSON numbers, numeric strings
    /// or booleans; `null` strings as empty. Unknown keys are ignored. The key order read is
    /// kept in [`Self::key_order`]. Required: `CloudAssignedTenantId`,
    /// `CloudAssignedTenantDomain`, `CloudAssignedOobeConfig`; other keys default as in
    /// [`Self::new`] except the optional ones, which stay absent.
    pub fn parse(bytes: &[u8]) -> Result<Self, ConfigFileError> {
        let text = crate::text::decode_whole(bytes);
        let value: Value = serde_json::from_str(text.trim_start_matches('\u{feff}'))?;
        let Value::Object(map) = value else {
            return Err(ConfigFileError::NotAnObject);
        };
        let mut found: Vec<(ConfigKey, Value)> = Vec::new();
        for (name, v) in map {
            if let Some(k) = ConfigKey::from_name(&name) {
                if !found.iter().any(|(seen, _)| *seen == k) {
                    found.push((k, v));
                }
            }
        }
        let get = |k: ConfigKey| found.iter().find(|(s, _)| *s == k).map(|(_, v)| v);
        let string = |k: ConfigKey| -> Result<Option<String>, ConfigFileError> {
            match get(k) {
                None => Ok(None),
                Some(Value::Null) => Ok(Some(String::new())),
                Some(Value::String(s)) => Ok(Some(s.clone())),
                Some(other) => Err(bad(k, "a string", other)),
            }
        };
        let number = |k: ConfigKey| -> Result<Option<u32>, ConfigFileError> {
            match get(k) {
                None => Ok(None),
                Some(v) => as_u32(v).map(Some).ok_or_else(|| bad(k, "a number", v)),
            }
        };
        let required =
            |k: ConfigKey, v: Option<String>| v.ok_or(ConfigFileError::MissingKey(k.name()));
        let tenant_domain = required(ConfigKey::TenantDomain, string(ConfigKey::TenantDomain)?)?;
        let forced_enrollment = number(ConfigKey::ForcedEnrollment)?.unwrap_or(0) != 0;
        let file = AutopilotConfigurationFile {
            comment_file: string(ConfigKey::CommentFile)?.unwrap_or_default(),
            version: number(ConfigKey::Version)?.unwrap_or(CONFIG_FILE_VERSION),
            ztd_correlation_id: string(ConfigKey::ZtdCorrelationId)?.unwrap_or_default(),
            domain_join_method: number(ConfigKey::DomainJoinMethod)?.unwrap_or(DOMAIN_JOIN_ENTRA),
            device_name: string(ConfigKey::DeviceName)?,
            language: string(ConfigKey::Language)?,
            region: string(ConfigKey::Region)?,
            oobe_config: number(ConfigKey::OobeConfig)?
                .ok_or(ConfigFileError::MissingKey(ConfigKey::OobeConfig.name()))?,
            forced_enrollment,
            tenant_id: required(ConfigKey::TenantId, string(ConfigKey::TenantId)?)?,
            aad_server_data: string(ConfigKey::AadServerData)?
                .unwrap_or_else(|| aad_server_data(&tenant_domain, forced_enrollment)),
            tenant_domain,
            hybrid_skip_dc_check: number(ConfigKey::HybridSkipDcCheck)?.unwrap_or(0) != 0,
            update_disabled: number(ConfigKey::UpdateDisabled)?,
            update_timeout: number(ConfigKey::UpdateTimeout)?,
            key_order: Some(found.iter().map(|(k, _)| *k).collect()),
        };
        Ok(file)
    }
}

fn bad(key: ConfigKey, expected: &'static str, found: &Value) -> ConfigFileError {
    let mut found = found.to_string();
    if found.len() > 60 {
        let mut cut = 60;
        while !found.is_char_boundary(cut) {
            cut -= 1;
        }
        found.truncate(cut);
        found.push('…');
    }
    ConfigFileError::BadValue {
        key: key.name(),
        expected,
        found,
    }
}

fn as_u32(v: &Value) -> Option<u32> {
    match v {
        Value::Number(n) => n.as_u64().and_then(|n| u32::try_from(n).ok()),
        Value::String(s) => s.trim().parse().ok(),
        Value::Bool(b) => Some(u32::from(*b)),
        _ => None,
    }
}

/// Appends `s` as a JSON string literal escaped like .NET's `JavaScriptStringEncode`.
pub(crate) fn push_json_string(out: &mut String, s: &str) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if (c as u32) < 0x20 || matches!(c, '<' | '>' | '&' | '\'') => {
                out.push_str(&format!("\\u{:04x}", c as u32));
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

/// PowerShell's ASCII encoder: each non-ASCII UTF-16 code unit becomes `?`.
fn to_ascii_lossy(s: &str) -> Vec<u8> {
    let mut out = Vec::with_capacity(s.len());
    for c in s.chars() {
        if c.is_ascii() {
            out.push(c as u8);
        } else {
            out.extend(std::iter::repeat_n(b'?', c.len_utf16()));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_like_javascript_serializer() {
        let mut s = String::new();
        push_json_string(&mut s, "a\"b\\c<d>&'\n\u{1}");
        assert_eq!(s, r#""a\"b\\c\u003cd\u003e\u0026\u0027\n\u0001""#);
    }

    #[test]
    fn non_ascii_becomes_question_marks() {
        let mut f = AutopilotConfigurationFile::new("Café 😀", "id", "t", "d");
        f.key_order = Some(vec![ConfigKey::CommentFile]);
        let bytes = f.to_file_bytes();
        let text = String::from_utf8_lossy(&bytes);
        assert!(
            text.contains("\"Comment_File\":  \"Profile Caf? ??\""),
            "{text}"
        );
        assert!(bytes.is_ascii());
    }
}
