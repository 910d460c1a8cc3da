//! Reading a SyncML message from the element tree.

use std::str::FromStr;

use super::{
    Alert, Command, Container, Item, Meta, Operation, Results, Status, SyncHeader, SyncMessage,
    SyncMlError, MAX_COMMANDS, MAX_ITEMS, MAX_NESTING, NS_METINF, NS_SYNCML,
};
use crate::xml::{self, Element};

type Result<T> = std::result::Result<T, SyncMlError>;

/// Reads and checks a SyncML DM 1.2 message (see the [module documentation](super)).
///
/// Elements are matched by local name in the SyncML namespace, the metinf namespace or none (Meta's children
/// are accepted in the default namespace too); elements of other namespaces are not SyncML's and are skipped,
/// or refused as an unknown command where a command is expected. Elements SyncML defines that this model
/// does not keep (Cred, NoResp, Correlator, RespURI, a Results' Cmd/Meta/TargetRef/SourceRef, …) are
/// ignored. `Final` is optional.
pub fn parse(bytes: &[u8]) -> Result<SyncMessage> {
    let root = xml::parse(bytes, &xml::Limits::SYNCML)?;
    if !root.is("SyncML") || !ours(&root) {
        return Err(SyncMlError::NotSyncMl);
    }
    let header = header(find(&root, "SyncHdr").ok_or(SyncMlError::MissingHeader)?)?;
    let body = find(&root, "SyncBody").ok_or(SyncMlError::MissingElement("SyncBody"))?;
    let (commands, final_) = body_commands(body)?;
    Ok(SyncMessage {
        header,
        commands,
        final_,
    })
}

/// Whether the element is in a namespace SyncML uses (or none).
fn ours(element: &Element) -> bool {
    match &element.namespace {
        None => true,
        Some(ns) => ns.eq_ignore_ascii_case(NS_SYNCML) || ns.eq_ignore_ascii_case(NS_METINF),
    }
}

fn find<'a>(element: &'a Element, name: &str) -> Option<&'a Element> {
    element.children.iter().find(|c| c.name == name && ours(c))
}

fn trim(text: &str) -> &str {
    text.trim_matches([' ', '\t', '\r', '\n'])
}

/// The text of the child `name`, XML white space trimmed.
fn text<'a>(element: &'a Element, name: &str) -> Option<&'a str> {
    find(element, name).map(|c| trim(&c.text))
}

/// A decimal number: ASCII digits only (no sign, no space inside), in range.
fn decimal<T: FromStr>(text: &str) -> Option<T> {
    if text.is_empty() || !text.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    text.parse().ok()
}

fn required_number<T: FromStr>(element: &Element, name: &'static str) -> Result<T> {
    let text = text(element, name).ok_or(SyncMlError::MissingElement(name))?;
    decimal(text).ok_or(SyncMlError::BadNumber(name))
}

fn optional_number<T: FromStr>(element: &Element, name: &'static str) -> Result<Option<T>> {
    text(element, name)
        .map(|t| decimal(t).ok_or(SyncMlError::BadNumber(name)))
        .transpose()
}

/// `<name><LocURI>…</LocURI></name>`.
fn loc_uri(element: &Element, name: &str) -> Option<String> {
    find(element, name)
        .and_then(|e| text(e, "LocURI"))
        .map(str::to_string)
}

fn header(hdr: &Element) -> Result<SyncHeader> {
    let ver_dtd = text(hdr, "VerDTD").ok_or(SyncMlError::MissingElement("VerDTD"))?;
    let ver_proto = text(hdr, "VerProto").ok_or(SyncMlError::MissingElement("VerProto"))?;
    if ver_dtd != "1.2" || ver_proto != "DM/1.2" {
        return Err(SyncMlError::BadVersion);
    }
    let session_id = text(hdr, "SessionID")
        .filter(|s| !s.is_empty())
        .ok_or(SyncMlError::MissingElement("SessionID"))?;
    let msg_id = required_number(hdr, "MsgID")?;
    let target = loc_uri(hdr, "Target")
        .filter(|s| !s.is_empty())
        .ok_or(SyncMlError::MissingElement("Target/LocURI"))?;
    let source = loc_uri(hdr, "Source")
        .filter(|s| !s.is_empty())
        .ok_or(SyncMlError::MissingElement("Source/LocURI"))?;
    let meta = find(hdr, "Meta").map(meta).transpose()?;
    Ok(SyncHeader {
        session_id: session_id.to_string(),
        msg_id,
        target,
        source,
        meta,
    })
}

fn meta(meta: &Element) -> Result<Meta> {
    let string = |name| text(meta, name).map(str::to_string);
    Ok(Meta {
        format: string("Format"),
        type_: string("Type"),
        mark: string("Mark"),
        size: optional_number(meta, "Size")?,
        max_msg_size: optional_number(meta, "MaxMsgSize")?,
        max_obj_size: optional_number(meta, "MaxObjSize")?,
    })
}

/// What one message may still hold.
#[derive(Default)]
struct Budget {
    commands: usize,
    items: usize,
}

impl Budget {
    fn command(&mut self) -> Result<()> {
        self.commands += 1;
        if self.commands > MAX_COMMANDS {
            return Err(SyncMlError::TooManyCommands);
        }
        Ok(())
    }

    fn item(&mut self) -> Result<()> {
        self.items += 1;
        if self.items > MAX_ITEMS {
            return Err(SyncMlError::TooManyItems);
        }
        Ok(())
    }
}

fn item(element: &Element) -> Result<Item> {
    let mut meta = find(element, "Meta").map(meta).transpose()?;
    // [MS-MDM] §3.2.5.1.5 and §3.2.5.1.6 show a metinf Type beside an empty Meta, inside Item: take it as
    // the item's Meta/Type (and a stray Format or Mark likewise) when Meta does not say otherwise.
    for child in &element.children {
        let is_metinf = child
            .namespace
            .as_deref()
            .is_some_and(|ns| ns.eq_ignore_ascii_case(NS_METINF));
        if !is_metinf {
            continue;
        }
        if !matches!(child.name.as_str(), "Format" | "Type" | "Mark") {
            continue;
        }
        let m = meta.get_or_insert_with(Meta::default);
        let slot = match child.name.as_str() {
            "Format" => &mut m.format,
            "Type" => &mut m.type_,
            _ => &mut m.mark,
        };
        if slot.is_none() {
            *slot = Some(trim(&child.text).to_string());
        }
    }
    let data = match find(element, "Data") {
        // CSPs may return XML unescaped in Data ([MS-MDM] DiagnosticLog, Reporting): kept as its text,
        // bounded as any text is. Written back it is escaped text, which a reader must be able to take
        // again (its escaping can make the XML longer than the elements it was read from).
        Some(data) if !data.children.is_empty() => {
            let content = data.content_xml();
            let limit = xml::Limits::SYNCML.max_text;
            if content.len() > limit {
                return Err(xml::XmlError::TextTooLong(limit).into());
            }
            Some(content)
        }
        Some(data) => Some(data.text.clone()),
        None => None,
    };
    Ok(Item {
        target: loc_uri(element, "Target"),
        source: loc_uri(element, "Source"),
        meta,
        data,
        more_data: find(element, "MoreData").is_some(),
    })
}

fn items(element: &Element, budget: &mut Budget) -> Result<Vec<Item>> {
    let mut items = Vec::new();
    for child in element.children.iter().filter(|c| c.is("Item") && ours(c)) {
        budget.item()?;
        items.push(item(child)?);
    }
    Ok(items)
}

fn cmd_id(element: &Element, command: &'static str) -> Result<u32> {
    text(element, "CmdID")
        .and_then(decimal::<u32>)
        .filter(|id| *id > 0)
        .ok_or(SyncMlError::MissingCmdId(command))
}

/// The element name clipped to 32 characters, anything but graphic ASCII and letters shown as `?`.
fn clipped(name: &str) -> String {
    name.chars()
        .take(32)
        .map(|c| {
            if c.is_ascii_graphic() || c.is_alphanumeric() {
                c
            } else {
                '?'
            }
        })
        .collect()
}

/// A command that holds no commands.
fn leaf(element: &Element, budget: &mut Budget) -> Result<Command> {
    let operation = |budget: &mut Budget, name| -> Result<Operation> {
        Ok(Operation {
            cmd_id: cmd_id(element, name)?,
            meta: find(element, "Meta").map(meta).transpose()?,
            items: items(element, budget)?,
        })
    };
    let command = match element.name.as_str() {
        "Alert" => Command::Alert(Alert {
            cmd_id: cmd_id(element, "Alert")?,
            data: required_number(element, "Data")?,
            items: items(element, budget)?,
        }),
        "Status" => Command::Status(Status {
            cmd_id: cmd_id(element, "Status")?,
            msg_ref: required_number(element, "MsgRef")?,
            cmd_ref: required_number(element, "CmdRef")?,
            cmd: text(element, "Cmd")
                .ok_or(SyncMlError::MissingElement("Cmd"))?
                .to_string(),
            target_ref: text(element, "TargetRef").map(str::to_string),
            source_ref: text(element, "SourceRef").map(str::to_string),
            data: required_number(element, "Data")?,
            items: items(element, budget)?,
        }),
        "Results" => Command::Results(Results {
            cmd_id: cmd_id(element, "Results")?,
            msg_ref: required_number(element, "MsgRef")?,
            cmd_ref: required_number(element, "CmdRef")?,
            items: items(element, budget)?,
        }),
        "Get" => Command::Get(operation(budget, "Get")?),
        "Add" => Command::Add(operation(budget, "Add")?),
        "Replace" => Command::Replace(operation(budget, "Replace")?),
        "Delete" => Command::Delete(operation(budget, "Delete")?),
        "Exec" => Command::Exec(operation(budget, "Exec")?),
        other => return Err(SyncMlError::UnknownCommand(clipped(other))),
    };
    Ok(command)
}

#[derive(Clone, Copy)]
enum Kind {
    Body,
    Atomic,
    Sequence,
}

/// A SyncBody or a container being read.
struct Frame<'a> {
    kind: Kind,
    cmd_id: u32,
    children: std::slice::Iter<'a, Element>,
    commands: Vec<Command>,
}

/// The commands of the body and whether it is Final, containers read with an explicit stack.
fn body_commands(body: &Element) -> Result<(Vec<Command>, bool)> {
    let mut budget = Budget::default();
    let mut final_ = false;
    let mut stack = vec![Frame {
        kind: Kind::Body,
        cmd_id: 0,
        children: body.children.iter(),
        commands: Vec::new(),
    }];
    loop {
        let Some(top) = stack.last_mut() else {
            // The body frame is only popped by the return below.
            return Ok((Vec::new(), final_));
        };
        let in_body = matches!(top.kind, Kind::Body);
        let Some(child) = top.children.next() else {
            let Some(done) = stack.pop() else {
                continue;
            };
            let command = match done.kind {
                Kind::Body => return Ok((done.commands, final_)),
                Kind::Atomic => Command::Atomic(Container {
                    cmd_id: done.cmd_id,
                    commands: done.commands,
                }),
                Kind::Sequence => Command::Sequence(Container {
                    cmd_id: done.cmd_id,
                    commands: done.commands,
                }),
            };
            if let Some(parent) = stack.last_mut() {
                parent.commands.push(command);
            }
            continue;
        };
        if !ours(child) {
            return Err(SyncMlError::UnknownCommand(clipped(&child.name)));
        }
        match child.name.as_str() {
            "Final" if in_body => final_ = true,
            "CmdID" | "Meta" | "NoResp" | "Cred" if !in_body => {}
            name @ ("Atomic" | "Sequence") => {
                budget.command()?;
                let (kind, name) = if name == "Atomic" {
                    (Kind::Atomic, "Atomic")
                } else {
                    (Kind::Sequence, "Sequence")
                };
                let cmd_id = cmd_id(child, name)?;
                // The body is the first frame: the new container is at level stack.len().
                if stack.len() > MAX_NESTING {
                    return Err(SyncMlError::NestedTooDeep);
                }
                stack.push(Frame {
                    kind,
                    cmd_id,
                    children: child.children.iter(),
                    commands: Vec::new(),
                });
            }
            _ => {
                budget.command()?;
                let command = leaf(child, &mut budget)?;
                top.commands.push(command);
            }
        }
    }
}
