//! OMA-DM SyncML 1.2 messages as Windows speaks them ([MS-MDM]; OMA DM 1.2 representation protocol; Microsoft's
//! "OMA DM protocol support"): the header, the commands a server sends (Get, Add, Replace, Delete, Exec,
//! Atomic, Sequence), what a device answers (Status, Results, Alert), and the small helpers both ends use to
//! answer a message.
//!
//! [`parse`] reads a message through the bounded [`xml`] reader ([`xml::Limits::SYNCML`]) and checks Windows'
//! rules: SyncML 1.2 / DM 1.2, a complete header, a positive decimal `CmdID` on every command, numeric
//! status and alert codes, only known commands, at most [`MAX_NESTING`] levels of Atomic/Sequence, at most
//! [`MAX_COMMANDS`] commands and [`MAX_ITEMS`] items. [`to_xml`] writes a message with [`xml::XmlWriter`].
//! Both walk containers with an explicit stack, never by recursion.
//!
//! Text fields (URIs, session id, `Cmd`, `Meta` values) are read with the XML white space around them
//! removed; an item's `Data` is kept exactly as sent.

mod read;
mod write;

#[cfg(test)]
mod tests;

pub use read::parse;
pub use write::to_xml;

use crate::xml;

/// The namespace of SyncML 1.2 elements.
pub const NS_SYNCML: &str = "SYNCML:SYNCML1.2";
/// The namespace of meta-information elements (`Format`, `Type`, `MaxMsgSize`, …).
pub const NS_METINF: &str = "syncml:metinf";
/// The HTTP content type of an XML SyncML DM message.
pub const CONTENT_TYPE: &str = "application/vnd.syncml.dm+xml";

/// Atomic and Sequence containers open at once in one message.
pub const MAX_NESTING: usize = 4;
/// Commands in one message, containers and the commands inside them included.
pub const MAX_COMMANDS: usize = 1_000;
/// Items in one message.
pub const MAX_ITEMS: usize = 10_000;

/// SyncML status codes Windows uses (OMA SyncML RepPro §10; "OMA DM protocol support").
pub mod status {
    pub const OK: u16 = 200;
    /// Accepted for processing: an asynchronous operation.
    pub const ACCEPTED: u16 = 202;
    /// A chunk of a large object was accepted and buffered; send the next.
    pub const CHUNKED_ITEM_ACCEPTED: u16 = 213;
    pub const AUTH_ACCEPTED: u16 = 212;
    /// Done; no more commands will be processed in this session.
    pub const CANCELLED: u16 = 214;
    /// Not executed: the user cancelled the command.
    pub const NOT_EXECUTED: u16 = 215;
    pub const ATOMIC_ROLLBACK_OK: u16 = 216;
    pub const BAD_REQUEST: u16 = 400;
    pub const UNAUTHORIZED: u16 = 401;
    pub const FORBIDDEN: u16 = 403;
    pub const NOT_FOUND: u16 = 404;
    pub const COMMAND_NOT_ALLOWED: u16 = 405;
    pub const OPTIONAL_FEATURE_NOT_SUPPORTED: u16 = 406;
    pub const AUTHENTICATION_REQUIRED: u16 = 407;
    pub const UNSUPPORTED_MEDIA_TYPE: u16 = 415;
    pub const ALREADY_EXISTS: u16 = 418;
    pub const PERMISSION_DENIED: u16 = 425;
    pub const COMMAND_FAILED: u16 = 500;
    pub const ATOMIC_FAILED: u16 = 507;
    pub const ATOMIC_ROLLBACK_FAILED: u16 = 516;

    /// Whether `code` reports success (2xx).
    pub fn is_success(code: u16) -> bool {
        (200..300).contains(&code)
    }
}

/// Alert codes ([MS-MDM] §2.2.7.2) and the `Meta/Type` of Windows' client events.
pub mod alert {
    pub const SERVER_INITIATED: u32 = 1200;
    pub const CLIENT_INITIATED: u32 = 1201;
    /// Send the next message of a package (large objects, multi-message packages).
    pub const NEXT_MESSAGE: u32 = 1222;
    pub const SESSION_ABORT: u32 = 1223;
    /// A device event: `Meta/Type` says which.
    pub const CLIENT_EVENT: u32 = 1224;
    /// The end of a large object never came.
    pub const NO_END_OF_DATA: u32 = 1225;
    /// Generic alert: asynchronous CSP results, user unenrollment.
    pub const GENERIC: u32 = 1226;

    /// Data `user`, `others` or `none`.
    pub const LOGIN_STATUS: &str = "com.microsoft/MDM/LoginStatus";
    /// Data: the signed-in user's Entra token.
    pub const AAD_USER_TOKEN: &str = "com.microsoft/MDM/AADUserToken";
    pub const BOOTSTRAP_SYNC: &str = "com.microsoft/MDM/BootstrapSync";
    pub const ODJ_SYNC: &str = "com.microsoft/MDM/OdjSync";
}

/// Meta-information (namespace `syncml:metinf`). Other metinf elements (Anchor, NextNonce, Version, EMI,
/// Mem) are not kept.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Meta {
    /// `chr`, `int`, `bool`, `b64`, `xml`, `node`, …
    pub format: Option<String>,
    /// A MIME type or a reversed domain name (`com.microsoft/MDM/LoginStatus`).
    pub type_: Option<String>,
    /// `informational`, `critical`, … (generic alerts).
    pub mark: Option<String>,
    /// Size of a large object, sent with its first chunk.
    pub size: Option<u64>,
    pub max_msg_size: Option<u64>,
    pub max_obj_size: Option<u64>,
}

/// One item of a command: a node's URI and its value.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Item {
    /// `Target/LocURI`.
    pub target: Option<String>,
    /// `Source/LocURI`.
    pub source: Option<String>,
    pub meta: Option<Meta>,
    /// The text of `Data`, exactly as sent (escaped text or CDATA). XML carried unescaped in Data (as some
    /// CSPs return it) is kept as that XML's text ([`crate::xml::Element::content_xml`]); ztd itself always
    /// writes Data escaped.
    pub data: Option<String>,
    /// `MoreData`: this is a chunk of a large object and more follows.
    pub more_data: bool,
}

/// `SyncHdr`. `VerDTD` 1.2 and `VerProto` DM/1.2 are implied.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SyncHeader {
    /// Decimal unless DMClient `SyncApplicationVersion` says otherwise; kept as text.
    pub session_id: String,
    pub msg_id: u32,
    /// `Target/LocURI`: the server's URL in a device's message, the device id in the server's.
    pub target: String,
    /// `Source/LocURI`.
    pub source: String,
    /// MaxMsgSize / MaxObjSize. Windows ignores it in a server's header ("OMA DM protocol support").
    pub meta: Option<Meta>,
}

/// `Alert`: a session start (1200/1201), a device event (1224), a generic alert (1226), …
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Alert {
    pub cmd_id: u32,
    /// The alert code (see [`alert`]).
    pub data: u32,
    pub items: Vec<Item>,
}

/// `Status`: the outcome of one command of an earlier message, or of its header (`Cmd` `SyncHdr`, `CmdRef`
/// 0).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Status {
    pub cmd_id: u32,
    pub msg_ref: u32,
    /// 0 for the SyncHdr.
    pub cmd_ref: u32,
    /// The element name of the command: `SyncHdr`, `Get`, `Replace`, …
    pub cmd: String,
    pub target_ref: Option<String>,
    pub source_ref: Option<String>,
    /// The status code (see [`status`]).
    pub data: u16,
    pub items: Vec<Item>,
}

/// `Results`: the values a `Get` asked for.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Results {
    pub cmd_id: u32,
    pub msg_ref: u32,
    pub cmd_ref: u32,
    pub items: Vec<Item>,
}

/// Get, Add, Replace, Delete or Exec.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Operation {
    pub cmd_id: u32,
    pub meta: Option<Meta>,
    pub items: Vec<Item>,
}

/// Atomic or Sequence.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Container {
    pub cmd_id: u32,
    pub commands: Vec<Command>,
}

/// A command of a SyncBody.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Command {
    Alert(Alert),
    Status(Status),
    Results(Results),
    Get(Operation),
    Add(Operation),
    Replace(Operation),
    Delete(Operation),
    Exec(Operation),
    Atomic(Container),
    Sequence(Container),
}

impl Command {
    /// Its `CmdID`.
    pub fn cmd_id(&self) -> u32 {
        match self {
            Command::Alert(a) => a.cmd_id,
            Command::Status(s) => s.cmd_id,
            Command::Results(r) => r.cmd_id,
            Command::Get(o)
            | Command::Add(o)
            | Command::Replace(o)
            | Command::Delete(o)
            | Command::Exec(o) => o.cmd_id,
            Command::Atomic(c) | Command::Sequence(c) => c.cmd_id,
        }
    }

    /// Its element name, as a Status' `Cmd` names it.
    pub fn name(&self) -> &'static str {
        match self {
            Command::Alert(_) => "Alert",
            Command::Status(_) => "Status",
            Command::Results(_) => "Results",
            Command::Get(_) => "Get",
            Command::Add(_) => "Add",
            Command::Replace(_) => "Replace",
            Command::Delete(_) => "Delete",
            Command::Exec(_) => "Exec",
            Command::Atomic(_) => "Atomic",
            Command::Sequence(_) => "Sequence",
        }
    }

    /// Its items (none for a container).
    pub fn items(&self) -> &[Item] {
        match self {
            Command::Alert(a) => &a.items,
            Command::Status(s) => &s.items,
            Command::Results(r) => &r.items,
            Command::Get(o)
            | Command::Add(o)
            | Command::Replace(o)
            | Command::Delete(o)
            | Command::Exec(o) => &o.items,
            Command::Atomic(_) | Command::Sequence(_) => &[],
        }
    }
}

/// A SyncML message.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SyncMessage {
    pub header: SyncHeader,
    pub commands: Vec<Command>,
    /// `Final`: the last message of its package.
    pub final_: bool,
}

/// Why a message was refused. Messages are short and quote at most a clipped element name.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SyncMlError {
    #[error("malformed SyncML: {0}")]
    Xml(#[from] xml::XmlError),
    #[error("the document is not a SyncML message")]
    NotSyncMl,
    #[error("the message has no SyncHdr")]
    MissingHeader,
    #[error("the message lacks {0}")]
    MissingElement(&'static str),
    #[error("{0} is not a decimal number in range")]
    BadNumber(&'static str),
    #[error("the message is not SyncML 1.2 with DM/1.2")]
    BadVersion,
    #[error("unknown command <{0}>")]
    UnknownCommand(String),
    #[error("a {0} command has no CmdID that is a positive decimal number")]
    MissingCmdId(&'static str),
    #[error("Atomic and Sequence nest deeper than {MAX_NESTING} levels")]
    NestedTooDeep,
    #[error("the message has more than {MAX_COMMANDS} commands")]
    TooManyCommands,
    #[error("the message has more than {MAX_ITEMS} items")]
    TooManyItems,
}

/// The header of the answer to `incoming`: Target and Source swapped, the same SessionID and MsgID (the
/// server answers a device's message N with its own message N), no Meta.
pub fn reply_header(incoming: &SyncHeader) -> SyncHeader {
    SyncHeader {
        session_id: incoming.session_id.clone(),
        msg_id: incoming.msg_id,
        target: incoming.source.clone(),
        source: incoming.target.clone(),
        meta: None,
    }
}

/// The Status answering `incoming`'s header (it comes first in the answer's body).
pub fn header_status(incoming: &SyncHeader, cmd_id: u32, code: u16) -> Status {
    Status {
        cmd_id,
        msg_ref: incoming.msg_id,
        cmd_ref: 0,
        cmd: "SyncHdr".to_string(),
        target_ref: Some(incoming.target.clone()),
        source_ref: Some(incoming.source.clone()),
        data: code,
        items: Vec::new(),
    }
}

/// The Status answering `command` of message `msg_ref`. TargetRef and SourceRef name its item's URIs when it
/// has exactly one item.
pub fn status_for(msg_ref: u32, command: &Command, cmd_id: u32, code: u16) -> Status {
    let (target_ref, source_ref) = match command.items() {
        [item] => (item.target.clone(), item.source.clone()),
        _ => (None, None),
    };
    Status {
        cmd_id,
        msg_ref,
        cmd_ref: command.cmd_id(),
        cmd: command.name().to_string(),
        target_ref,
        source_ref,
        data: code,
        items: Vec::new(),
    }
}
