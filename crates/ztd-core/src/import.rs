//! The import queue (Graph `importedWindowsAutopilotDeviceIdentity`): a hash waiting to be registered, and
//! the outcome once it has been.

use serde::{Deserialize, Serialize};

use crate::{ImportId, TenantId, Timestamp, Ztdid};

/// Graph `importedWindowsAutopilotDeviceIdentityImportStatus`. Stored as `pending` while queued; the Graph
/// layer reads it back as `unknown`, which is what clients poll on.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum ImportStatus {
    Unknown,
    Pending,
    Partial,
    Complete,
    Error,
}

impl ImportStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Unknown => "unknown",
            Self::Pending => "pending",
            Self::Partial => "partial",
            Self::Complete => "complete",
            Self::Error => "error",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        [
            Self::Unknown,
            Self::Pending,
            Self::Partial,
            Self::Complete,
            Self::Error,
        ]
        .into_iter()
        .find(|status| status.as_str().eq_ignore_ascii_case(text))
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ImportRecord {
    pub tenant_id: TenantId,
    pub id: ImportId,
    /// Client-supplied batch correlation id (`importId`), empty when none.
    pub batch_id: String,
    pub serial_number: String,
    pub product_key: String,
    pub hardware_hash: String,
    pub group_tag: String,
    pub assigned_user_principal_name: String,
    pub status: ImportStatus,
    pub ztdid: Option<Ztdid>,
    pub error_code: i32,
    pub error_name: String,
    pub error_message: String,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
    /// The import request the record came with (records of one request share it). A device repeated
    /// inside one request is a duplicate (901); one posted again in a later request is registered already.
    pub request_id: String,
}
