//! Writing a SyncML message with the escaping writer.

use super::{Command, Item, Meta, SyncHeader, SyncMessage, NS_METINF, NS_SYNCML};
use crate::xml::XmlWriter;

/// Writes `message` as `<SyncML xmlns="SYNCML:SYNCML1.2"><SyncHdr>…</SyncHdr><SyncBody>…[<Final/>]</SyncBody>
/// </SyncML>`, no XML declaration. Children follow the OMA DM 1.2 DTD order; each Meta child carries
/// `xmlns="syncml:metinf"`, as Microsoft's samples write it. Containers are written with an explicit stack.
///
/// Text is escaped by quick-xml, quotes included, so the written form of a message [`parse`](super::parse)
/// read near [`Limits::SYNCML`](crate::xml::Limits::SYNCML) (a large Data full of `"`, or of `<` from CDATA)
/// can be larger than `parse` accepts; below the limits, `parse(to_xml(m)) == m`.
pub fn to_xml(message: &SyncMessage) -> String {
    let mut w = XmlWriter::new();
    w.open("SyncML", &[("xmlns", NS_SYNCML)]);
    header(&mut w, &message.header);
    w.open("SyncBody", &[]);
    enum Step<'a> {
        Command(&'a Command),
        Close(&'static str),
    }
    let mut pending: Vec<Step<'_>> = message.commands.iter().rev().map(Step::Command).collect();
    while let Some(step) = pending.pop() {
        match step {
            Step::Close(name) => w.close(name),
            Step::Command(command) => match command {
                Command::Atomic(container) | Command::Sequence(container) => {
                    w.open(command.name(), &[]);
                    number(&mut w, "CmdID", container.cmd_id);
                    pending.push(Step::Close(command.name()));
                    pending.extend(container.commands.iter().rev().map(Step::Command));
                }
                _ => leaf(&mut w, command),
            },
        }
    }
    if message.final_ {
        w.empty("Final", &[]);
    }
    w.close("SyncBody");
    w.close("SyncML");
    w.finish()
}

fn number(w: &mut XmlWriter, name: &str, value: impl ToString) {
    w.text_element(name, &[], &value.to_string());
}

fn loc_uri(w: &mut XmlWriter, name: &str, uri: &str) {
    w.open(name, &[]);
    w.text_element("LocURI", &[], uri);
    w.close(name);
}

fn header(w: &mut XmlWriter, header: &SyncHeader) {
    w.open("SyncHdr", &[]);
    w.text_element("VerDTD", &[], "1.2");
    w.text_element("VerProto", &[], "DM/1.2");
    w.text_element("SessionID", &[], &header.session_id);
    number(w, "MsgID", header.msg_id);
    loc_uri(w, "Target", &header.target);
    loc_uri(w, "Source", &header.source);
    if let Some(m) = &header.meta {
        meta(w, m);
    }
    w.close("SyncHdr");
}

fn meta(w: &mut XmlWriter, meta: &Meta) {
    let ns = [("xmlns", NS_METINF)];
    w.open("Meta", &[]);
    for (name, value) in [
        ("Format", &meta.format),
        ("Type", &meta.type_),
        ("Mark", &meta.mark),
    ] {
        if let Some(value) = value {
            w.text_element(name, &ns, value);
        }
    }
    for (name, value) in [
        ("Size", meta.size),
        ("MaxMsgSize", meta.max_msg_size),
        ("MaxObjSize", meta.max_obj_size),
    ] {
        if let Some(value) = value {
            w.text_element(name, &ns, &value.to_string());
        }
    }
    w.close("Meta");
}

fn item(w: &mut XmlWriter, item: &Item) {
    w.open("Item", &[]);
    if let Some(target) = &item.target {
        loc_uri(w, "Target", target);
    }
    if let Some(source) = &item.source {
        loc_uri(w, "Source", source);
    }
    if let Some(m) = &item.meta {
        meta(w, m);
    }
    if let Some(data) = &item.data {
        w.text_element("Data", &[], data);
    }
    if item.more_data {
        w.empty("MoreData", &[]);
    }
    w.close("Item");
}

fn items(w: &mut XmlWriter, items: &[Item]) {
    for i in items {
        item(w, i);
    }
}

/// A command that holds no commands (containers are handled by [`to_xml`]'s stack).
fn leaf(w: &mut XmlWriter, command: &Command) {
    let name = command.name();
    w.open(name, &[]);
    number(w, "CmdID", command.cmd_id());
    match command {
        Command::Alert(a) => {
            number(w, "Data", a.data);
            items(w, &a.items);
        }
        Command::Status(s) => {
            number(w, "MsgRef", s.msg_ref);
            number(w, "CmdRef", s.cmd_ref);
            w.text_element("Cmd", &[], &s.cmd);
            if let Some(target) = &s.target_ref {
                w.text_element("TargetRef", &[], target);
            }
            if let Some(source) = &s.source_ref {
                w.text_element("SourceRef", &[], source);
            }
            number(w, "Data", s.data);
            items(w, &s.items);
        }
        Command::Results(r) => {
            number(w, "MsgRef", r.msg_ref);
            number(w, "CmdRef", r.cmd_ref);
            items(w, &r.items);
        }
        Command::Get(o)
        | Command::Add(o)
        | Command::Replace(o)
        | Command::Delete(o)
        | Command::Exec(o) => {
            if let Some(m) = &o.meta {
                meta(w, m);
            }
            items(w, &o.items);
        }
        Command::Atomic(_) | Command::Sequence(_) => {}
    }
    w.close(name);
}
