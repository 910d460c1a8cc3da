//! The bounded XML reader and the writer every MDM message uses.
//!
//! A message is read once, with quick-xml's streaming reader, into a small element tree: namespaces resolved,
//! text and CDATA joined per element, comments and processing instructions dropped. Limits bound the work a
//! stranger can cause: total size, nesting depth, element count, attributes per element and text per
//! element. A document type declaration is refused (so no entity can be defined, let alone expanded); only
//! XML's five predefined entities and character references are resolved. The tree is built with an explicit
//! stack, never by recursion, and dropped iteratively, so a deep document cannot exhaust the stack.

use std::borrow::Cow;
use std::sync::Arc;

use quick_xml::events::{BytesStart, Event};
use quick_xml::name::ResolveResult;
use quick_xml::writer::Writer;
use quick_xml::NsReader;

/// What one document may cost.
#[derive(Clone, Copy, Debug)]
pub struct Limits {
    /// Bytes of the whole document.
    pub max_bytes: usize,
    /// Elements open at once (at most 60,000: quick-xml counts namespace scopes in 16 bits).
    pub max_depth: usize,
    /// Elements in the document.
    pub max_elements: usize,
    /// Attributes (namespace declarations included) on one element.
    pub max_attributes: usize,
    /// Characters of text in one element (after entity resolution).
    pub max_text: usize,
}

impl Limits {
    /// Limits for an enrollment SOAP request: a certificate request and a few dozen context items.
    pub const SOAP: Limits = Limits {
        max_bytes: 256 * 1024,
        max_depth: 24,
        max_elements: 2_000,
        max_attributes: 32,
        max_text: 64 * 1024,
    };

    /// Limits for an OMA-DM SyncML message: a session's package of commands, with large objects in
    /// `Data` (base64 certificates, MSI job descriptions, ODJ blobs).
    pub const SYNCML: Limits = Limits {
        max_bytes: 1024 * 1024,
        max_depth: 24,
        max_elements: 20_000,
        max_attributes: 16,
        max_text: 512 * 1024,
    };
}

/// Why a document was refused. Messages are short and never echo the input.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum XmlError {
    #[error("the document is larger than {0} bytes")]
    TooLarge(usize),
    #[error("the document is not UTF-8")]
    NotUtf8,
    #[error("the document nests elements deeper than {0}")]
    TooDeep(usize),
    #[error("the document has more than {0} elements")]
    TooManyElements(usize),
    #[error("an element has more than {0} attributes")]
    TooManyAttributes(usize),
    #[error("an element has more than {0} characters of text")]
    TextTooLong(usize),
    #[error("the document declares a document type, which is not allowed")]
    DocType,
    #[error("the document refers to an entity other than XML's five predefined ones")]
    UnknownEntity,
    #[error("the document uses a namespace prefix it does not declare")]
    UnknownPrefix,
    #[error("a namespace name is longer than {0} bytes")]
    NamespaceTooLong(usize),
    #[error("the document has no root element")]
    NoRoot,
    #[error("the document has content after its root element")]
    TrailingContent,
    #[error("the document is not well-formed XML at byte {0}")]
    Malformed(u64),
}

/// An attribute: its namespace (if bound), local name and value.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Attribute {
    pub namespace: Option<Arc<str>>,
    pub name: String,
    pub value: String,
}

/// An element of the tree.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Element {
    /// The namespace URI its name is bound to (one shared string per distinct namespace: a long
    /// namespace declared once costs once, not once per element in its scope).
    pub namespace: Option<Arc<str>>,
    /// Its local name (the prefix removed).
    pub name: String,
    pub attributes: Vec<Attribute>,
    pub children: Vec<Element>,
    /// Its own text and CDATA, joined in order (the children's text is theirs).
    pub text: String,
}

impl Drop for Element {
    // A derived drop recurses once per level: take the children out level by level instead.
    fn drop(&mut self) {
        let mut pending = std::mem::take(&mut self.children);
        while let Some(mut element) = pending.pop() {
            pending.append(&mut element.children);
        }
    }
}

impl Element {
    /// Whether the element is `name` (local name, compared exactly).
    pub fn is(&self, name: &str) -> bool {
        self.name == name
    }

    /// Whether the element is `name` in namespace `namespace`.
    pub fn is_in(&self, namespace: &str, name: &str) -> bool {
        self.name == name && self.namespace.as_deref() == Some(namespace)
    }

    /// The first child named `name` (local name, any namespace).
    pub fn child(&self, name: &str) -> Option<&Element> {
        self.children.iter().find(|c| c.name == name)
    }

    /// Every child named `name` (local name, any namespace).
    pub fn children_named<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a Element> + 'a {
        self.children.iter().filter(move |c| c.name == name)
    }

    /// The element at a path of local names below this one.
    pub fn descend(&self, path: &[&str]) -> Option<&Element> {
        let mut at = self;
        for name in path {
            at = at.child(name)?;
        }
        Some(at)
    }

    /// The text of the child `name`, trimmed.
    pub fn child_text(&self, name: &str) -> Option<&str> {
        self.child(name).map(|c| c.text.trim())
    }

    /// The element's content written back as XML: its text (none when only whitespace sits between child
    /// elements), then its children (local names, attributes,
    /// an `xmlns` where a child's namespace differs from its parent's). The tree keeps text apart from
    /// children, so text between child elements comes first; for XML data carried unescaped in an element
    /// (a single document, as CSPs return) this is the document. Written with an explicit stack.
    pub fn content_xml(&self) -> String {
        // Whitespace between elements is layout, not data.
        let text_of = |e: &Element| -> String {
            if e.children.is_empty() || !e.text.trim().is_empty() {
                e.text.clone()
            } else {
                String::new()
            }
        };
        let mut w = XmlWriter::new();
        w.text(&text_of(self));
        // Depth first: `pending` holds elements still to write (next on top); `open` the elements started
        // and not closed, each with the length `pending` will have once its children are written; `parents`
        // the namespace in scope.
        let mut pending: Vec<&Element> = self.children.iter().rev().collect();
        let mut open: Vec<(&Element, usize)> = Vec::new();
        let mut parents: Vec<Option<&str>> = vec![self.namespace.as_deref()];
        while let Some(element) = pending.pop() {
            let parent_ns = parents.last().copied().flatten();
            let mut attributes: Vec<(&str, &str)> = element
                .attributes
                .iter()
                .map(|a| (a.name.as_str(), a.value.as_str()))
                .collect();
            if element.namespace.as_deref() != parent_ns {
                attributes.push(("xmlns", element.namespace.as_deref().unwrap_or("")));
            }
            if element.children.is_empty() && element.text.is_empty() {
                w.empty(&element.name, &attributes);
            } else {
                w.open(&element.name, &attributes);
                w.text(&text_of(element));
                open.push((element, pending.len()));
                parents.push(element.namespace.as_deref());
                pending.extend(element.children.iter().rev());
            }
            // Close every open element whose children have all been written.
            while let Some(&(done, depth)) = open.last() {
                if pending.len() > depth {
                    break;
                }
                w.close(&done.name);
                open.pop();
                parents.pop();
            }
        }
        w.finish()
    }

    /// The value of the attribute `name` (local name, any namespace).
    pub fn attribute(&self, name: &str) -> Option<&str> {
        self.attributes
            .iter()
            .find(|a| a.name == name)
            .map(|a| a.value.as_str())
    }
}

/// The longest namespace name accepted (the ones MDM messages use are under 100 bytes).
pub const MAX_NAMESPACE: usize = 1024;

/// The distinct namespace names of one document, each allocated once.
#[derive(Default)]
struct Namespaces(Vec<Arc<str>>);

impl Namespaces {
    fn of(&mut self, resolved: ResolveResult<'_>) -> Result<Option<Arc<str>>, XmlError> {
        let name = match resolved {
            ResolveResult::Bound(ns) => ns.into_inner(),
            ResolveResult::Unbound => return Ok(None),
            ResolveResult::Unknown(_) => return Err(XmlError::UnknownPrefix),
        };
        if name.len() > MAX_NAMESPACE {
            return Err(XmlError::NamespaceTooLong(MAX_NAMESPACE));
        }
        if let Some(known) = self.0.iter().find(|known| ***known == *name) {
            return Ok(Some(known.clone()));
        }
        let shared: Arc<str> = Arc::from(name);
        self.0.push(shared.clone());
        Ok(Some(shared))
    }
}

fn malformed<R>(reader: &NsReader<R>) -> XmlError {
    XmlError::Malformed(reader.buffer_position())
}

fn push_text(element: &mut Element, text: &str, limits: &Limits) -> Result<(), XmlError> {
    if element.text.len() + text.len() > limits.max_text {
        return Err(XmlError::TextTooLong(limits.max_text));
    }
    element.text.push_str(text);
    Ok(())
}

fn open(
    reader: &NsReader<&[u8]>,
    start: &BytesStart<'_>,
    limits: &Limits,
    namespaces: &mut Namespaces,
) -> Result<Element, XmlError> {
    let (resolved, local) = reader.resolver().resolve_element(start.name());
    let mut element = Element {
        namespace: namespaces.of(resolved)?,
        name: local.into_inner().to_string(),
        attributes: Vec::new(),
        children: Vec::new(),
        text: String::new(),
    };
    for (count, attribute) in start.attributes().enumerate() {
        if count >= limits.max_attributes {
            return Err(XmlError::TooManyAttributes(limits.max_attributes));
        }
        let attribute = attribute.map_err(|_| malformed(reader))?;
        if attribute.key.as_namespace_binding().is_some() {
            continue;
        }
        let (resolved, local) = reader.resolver().resolve_attribute(attribute.key);
        let value = attribute
            .normalized_value(quick_xml::XmlVersion::Implicit1_0)
            .map_err(|_| XmlError::UnknownEntity)?;
        if value.len() > limits.max_text {
            return Err(XmlError::TextTooLong(limits.max_text));
        }
        element.attributes.push(Attribute {
            namespace: namespaces.of(resolved)?,
            name: local.into_inner().to_string(),
            value: value.into_owned(),
        });
    }
    Ok(element)
}

/// Reads `bytes` into an element tree within `limits`.
pub fn parse(bytes: &[u8], limits: &Limits) -> Result<Element, XmlError> {
    if bytes.len() > limits.max_bytes {
        return Err(XmlError::TooLarge(limits.max_bytes));
    }
    let text = std::str::from_utf8(bytes).map_err(|_| XmlError::NotUtf8)?;
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let mut reader = NsReader::from_str(text);
    reader.config_mut().enable_all_checks(true);
    reader.config_mut().expand_empty_elements = true;
    reader
        .resolver_mut()
        .set_max_namespace_bindings(limits.max_attributes * limits.max_depth);

    let mut stack: Vec<Element> = Vec::new();
    let mut root: Option<Element> = None;
    let mut elements = 0usize;
    let mut namespaces = Namespaces::default();
    loop {
        let event = reader.read_event().map_err(|_| malformed(&reader))?;
        match event {
            Event::Start(start) => {
                if root.is_some() {
                    return Err(XmlError::TrailingContent);
                }
                elements += 1;
                if elements > limits.max_elements {
                    return Err(XmlError::TooManyElements(limits.max_elements));
                }
                if stack.len() >= limits.max_depth {
                    return Err(XmlError::TooDeep(limits.max_depth));
                }
                let element = open(&reader, &start, limits, &mut namespaces)?;
                stack.push(element);
            }
            Event::End(_) => {
                let element = stack.pop().ok_or_else(|| malformed(&reader))?;
                match stack.last_mut() {
                    Some(parent) => parent.children.push(element),
                    None => root = Some(element),
                }
            }
            Event::Empty(_) => return Err(malformed(&reader)),
            Event::Text(text) => {
                let content: Cow<'_, str> = text.xml10_content();
                match stack.last_mut() {
                    Some(element) => push_text(element, &content, limits)?,
                    None if content.trim().is_empty() => {}
                    None if root.is_some() => return Err(XmlError::TrailingContent),
                    None => return Err(malformed(&reader)),
                }
            }
            Event::CData(data) => {
                let content = data.xml10_content();
                match stack.last_mut() {
                    Some(element) => push_text(element, &content, limits)?,
                    None => return Err(malformed(&reader)),
                }
            }
            Event::GeneralRef(reference) => {
                let resolved = match reference.resolve_char_ref() {
                    Ok(Some(c)) => c,
                    Ok(None) => match &*reference {
                        "lt" => '<',
                        "gt" => '>',
                        "amp" => '&',
                        "apos" => '\'',
                        "quot" => '"',
                        _ => return Err(XmlError::UnknownEntity),
                    },
                    Err(_) => return Err(XmlError::UnknownEntity),
                };
                let mut utf8 = [0u8; 4];
                match stack.last_mut() {
                    Some(element) => push_text(element, resolved.encode_utf8(&mut utf8), limits)?,
                    None => return Err(malformed(&reader)),
                }
            }
            Event::DocType(_) => return Err(XmlError::DocType),
            Event::Decl(_) | Event::PI(_) | Event::Comment(_) => {}
            Event::Eof => break,
        }
    }
    if !stack.is_empty() {
        return Err(malformed(&reader));
    }
    root.ok_or(XmlError::NoRoot)
}

/// Writes XML with every text and attribute escaped by quick-xml: messages are built element by element,
/// never by pasting strings.
pub struct XmlWriter {
    writer: Writer<Vec<u8>>,
}

impl Default for XmlWriter {
    fn default() -> Self {
        Self::new()
    }
}

impl XmlWriter {
    pub fn new() -> Self {
        Self {
            writer: Writer::new(Vec::with_capacity(2048)),
        }
    }

    /// Writes `<name attrs…>` and leaves it open.
    pub fn open(&mut self, name: &str, attributes: &[(&str, &str)]) {
        let mut start = BytesStart::new(name);
        for attribute in attributes {
            start.push_attribute(*attribute);
        }
        self.event(Event::Start(start));
    }

    /// Closes `name`.
    pub fn close(&mut self, name: &str) {
        self.event(Event::End(quick_xml::events::BytesEnd::new(name)));
    }

    /// Writes `<name attrs…>text</name>` (an empty text gives `<name attrs…></name>`).
    pub fn text_element(&mut self, name: &str, attributes: &[(&str, &str)], text: &str) {
        self.open(name, attributes);
        self.text(text);
        self.close(name);
    }

    /// Writes `<name attrs…/>`.
    pub fn empty(&mut self, name: &str, attributes: &[(&str, &str)]) {
        let mut start = BytesStart::new(name);
        for attribute in attributes {
            start.push_attribute(*attribute);
        }
        self.event(Event::Empty(start));
    }

    /// Writes escaped text.
    pub fn text(&mut self, text: &str) {
        if !text.is_empty() {
            self.event(Event::Text(quick_xml::events::BytesText::new(text)));
        }
    }

    fn event(&mut self, event: Event<'_>) {
        // Writing into a Vec cannot fail.
        let _ = self.writer.write_event(event);
    }

    /// The document as text.
    pub fn finish(self) -> String {
        // Everything written came from &str, so the bytes are UTF-8.
        String::from_utf8(self.writer.into_inner()).unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SMALL: Limits = Limits {
        max_bytes: 4096,
        max_depth: 8,
        max_elements: 64,
        max_attributes: 4,
        max_text: 64,
    };

    #[test]
    fn reads_namespaces_text_cdata_and_entities() {
        let doc = br#"<?xml version="1.0"?><s:E xmlns:s="urn:s" xmlns="urn:d" a="1&amp;2"><B>x &lt; y &#x41;<![CDATA[<raw>]]></B><!-- c --><B/></s:E>"#;
        let root = parse(doc, &SMALL).unwrap();
        assert!(root.is_in("urn:s", "E"));
        assert_eq!(root.attribute("a"), Some("1&2"));
        let b: Vec<_> = root.children_named("B").collect();
        assert_eq!(b.len(), 2);
        assert_eq!(b[0].namespace.as_deref(), Some("urn:d"));
        assert_eq!(b[0].text, "x < y A<raw>");
        assert_eq!(b[1].text, "");
    }

    #[test]
    fn refuses_a_document_type_and_unknown_entities() {
        let bomb = br#"<!DOCTYPE x [<!ENTITY a "aaaa"><!ENTITY b "&a;&a;">]><x>&b;</x>"#;
        assert_eq!(parse(bomb, &SMALL), Err(XmlError::DocType));
        assert_eq!(parse(b"<x>&b;</x>", &SMALL), Err(XmlError::UnknownEntity));
        assert_eq!(parse(b"<x a='&b;'/>", &SMALL), Err(XmlError::UnknownEntity));
    }

    #[test]
    fn enforces_every_limit() {
        let deep = "<a>".repeat(9) + &"</a>".repeat(9);
        assert_eq!(parse(deep.as_bytes(), &SMALL), Err(XmlError::TooDeep(8)));
        let wide = format!("<a>{}</a>", "<b/>".repeat(64));
        assert_eq!(
            parse(wide.as_bytes(), &SMALL),
            Err(XmlError::TooManyElements(64))
        );
        let long = format!("<a>{}</a>", "x".repeat(65));
        assert_eq!(
            parse(long.as_bytes(), &SMALL),
            Err(XmlError::TextTooLong(64))
        );
        let many = "<a b='1' c='2' d='3' e='4' f='5'/>";
        assert_eq!(
            parse(many.as_bytes(), &SMALL),
            Err(XmlError::TooManyAttributes(4))
        );
        let big = vec![b' '; 4097];
        assert_eq!(parse(&big, &SMALL), Err(XmlError::TooLarge(4096)));
    }

    #[test]
    fn a_namespace_is_stored_once_and_bounded() {
        let long = "u".repeat(MAX_NAMESPACE);
        let doc = format!("<a xmlns='{long}'><b/><b/></a>");
        let root = parse(doc.as_bytes(), &SMALL_NS).unwrap();
        let first = root.children[0].namespace.clone().unwrap();
        let second = root.children[1].namespace.clone().unwrap();
        assert!(Arc::ptr_eq(&first, &second));
        let too_long = format!("<a xmlns='{long}u'/>");
        assert_eq!(
            parse(too_long.as_bytes(), &SMALL_NS),
            Err(XmlError::NamespaceTooLong(MAX_NAMESPACE))
        );
    }

    const SMALL_NS: Limits = Limits {
        max_bytes: 8192,
        max_text: 2048,
        ..SMALL
    };

    #[test]
    fn content_is_written_back_as_xml() {
        let doc = br#"<Data><r xmlns="urn:x" a="1&amp;"><s>t</s><e/></r><q/></Data>"#;
        let root = parse(doc, &SMALL).unwrap();
        let content = root.content_xml();
        assert_eq!(
            content,
            r#"<r a="1&amp;" xmlns="urn:x"><s>t</s><e/></r><q/>"#
        );
        let again = parse(format!("<Data>{content}</Data>").as_bytes(), &SMALL).unwrap();
        assert_eq!(again.children, root.children);
    }

    #[test]
    fn refuses_broken_documents() {
        for doc in [
            &b""[..],
            b"   ",
            b"<a>",
            b"<a></b>",
            b"<a/><b/>",
            b"<a/>text",
            b"text<a/>",
            b"<p:a/>",
            b"\xff\xfe<a/>",
        ] {
            assert!(
                parse(doc, &SMALL).is_err(),
                "{:?}",
                String::from_utf8_lossy(doc)
            );
        }
    }

    #[test]
    fn a_deep_tree_drops_without_recursion() {
        let limits = Limits {
            max_bytes: 10_000_000,
            max_depth: 60_000,
            max_elements: 60_000,
            max_attributes: 1,
            max_text: 1,
        };
        let deep = "<a>".repeat(60_000) + &"</a>".repeat(60_000);
        let root = parse(deep.as_bytes(), &limits).unwrap();
        drop(root);
    }

    #[test]
    fn the_writer_escapes_text_and_attributes() {
        let mut w = XmlWriter::new();
        w.open("a", &[("q", "\"<&>")]);
        w.text_element("b", &[], "<x>&");
        w.empty("c", &[("n", "1")]);
        w.close("a");
        let doc = w.finish();
        let root = parse(doc.as_bytes(), &SMALL).unwrap();
        assert_eq!(root.attribute("q"), Some("\"<&>"));
        assert_eq!(root.child_text("b"), Some("<x>&"));
        assert!(root.child("c").is_some());
    }
}
