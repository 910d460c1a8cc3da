//! `/ztd/v1`: the admin calls Graph has no equivalent for.

use serde::{Deserialize, Serialize};
use ztd_core::assignment::ProfileResolution;
use ztd_core::device::AutopilotDevice;
use ztd_core::directory::DirectoryDevice;
use ztd_core::error::ImportError;
use ztd_core::esp::EspResolution;
use ztd_core::event::Event;
use ztd_core::group::MembershipSource;
use ztd_core::{GroupId, Ztdid};

/// One device to register, as read from a CSV row or a Graph import body.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct ImportRow {
    /// 1-based row number in the source, echoed in the outcome.
    pub row: u64,
    pub serial_number: String,
    pub product_key: String,
    pub hardware_hash: String,
    pub group_tag: String,
    pub assigned_user: String,
}

/// `POST /ztd/v1/import`: registers the rows in one transaction and reports every row.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ImportRequest {
    pub rows: Vec<ImportRow>,
}

/// [`ImportRequest`] over borrowed rows, for a client that sends a batch without copying it.
#[derive(Clone, Copy, Debug, Serialize)]
pub struct ImportRequestRef<'a> {
    pub rows: &'a [ImportRow],
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ImportResponse {
    pub outcomes: Vec<RowOutcome>,
}

/// What happened to one row.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RowOutcome {
    pub row: u64,
    pub serial_number: String,
    #[serde(flatten)]
    pub result: RowResult,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", tag = "outcome")]
pub enum RowResult {
    Registered {
        ztdid: Ztdid,
    },
    /// Refused, with the Device Directory Service code and name Graph clients know.
    #[serde(rename_all = "camelCase")]
    Rejected {
        error_code: i32,
        error_name: String,
        message: String,
    },
}

impl RowOutcome {
    pub fn registered(row: &ImportRow, ztdid: Ztdid) -> Self {
        Self {
            row: row.row,
            serial_number: row.serial_number.clone(),
            result: RowResult::Registered { ztdid },
        }
    }

    pub fn rejected(row: &ImportRow, error: ImportError) -> Self {
        Self {
            row: row.row,
            serial_number: row.serial_number.clone(),
            result: RowResult::Rejected {
                error_code: error.kind.code(),
                error_name: error.kind.name().to_string(),
                message: error.message,
            },
        }
    }

    pub fn ztdid(&self) -> Option<Ztdid> {
        match self.result {
            RowResult::Registered { ztdid } => Some(ztdid),
            RowResult::Rejected { .. } => None,
        }
    }
}

/// `GET /ztd/v1/devices/{serial or ZTDID}/explain`: why a device is in each group, which profile it gets
/// and why, which ESP applies.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DeviceExplanation {
    pub device: AutopilotDevice,
    pub directory_object: Option<DirectoryDevice>,
    pub groups: Vec<GroupVerdict>,
    pub profile: ProfileResolution,
    pub esp: EspResolution,
    pub recent_events: Vec<Event>,
}

/// One group and the device's standing in it.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct GroupVerdict {
    pub group_id: GroupId,
    pub display_name: String,
    pub dynamic: bool,
    pub member: bool,
    /// `static` or `rule` when a member.
    pub source: Option<MembershipSource>,
    pub membership_rule: Option<String>,
    /// The rule's evaluation for this device, every sub-expression with its value.
    pub trace: Option<ztd_rules::Trace>,
    /// The same trace rendered for people.
    pub trace_text: Option<String>,
    /// Whether a fresh evaluation agrees with the stored membership (it always should).
    pub consistent: bool,
}
