//! What every enrollment message shares: the envelope, the WS-Addressing header, the WS-Security credential,
//! base64 and the writer that keeps text XML-clean.

use std::borrow::Cow;

use base64::alphabet;
use base64::engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};
use base64::Engine;

use super::{
    Credential, EnrollmentError, NS_ADDRESSING, NS_SOAP11, NS_SOAP12, NS_WSSE, NS_WSU,
    PASSWORD_TEXT, USERNAME_TOKEN_ID,
};
use crate::xml::{self, Element, Limits, XmlWriter};

/// Standard base64 that accepts a missing or present padding (Windows pads; some tools do not).
const BASE64: GeneralPurpose = GeneralPurpose::new(
    &alphabet::STANDARD,
    GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent),
);

/// Why base64 text was not decoded.
pub(super) enum Base64Failure {
    Bad,
    TooLarge,
}

/// Decodes base64 text, ignoring ASCII whitespace anywhere (Windows wraps long values), refusing anything
/// that would decode to more than `max` bytes before decoding it.
pub(super) fn decode_base64(text: &str, max: usize) -> Result<Vec<u8>, Base64Failure> {
    let compact: String = text.chars().filter(|c| !c.is_ascii_whitespace()).collect();
    if compact.len() / 4 * 3 > max + 3 {
        return Err(Base64Failure::TooLarge);
    }
    let bytes = BASE64
        .decode(compact.as_bytes())
        .map_err(|_| Base64Failure::Bad)?;
    if bytes.len() > max {
        return Err(Base64Failure::TooLarge);
    }
    Ok(bytes)
}

/// Standard padded base64.
pub(super) fn encode_base64(bytes: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

/// At most 64 characters of `text`, escaped, for an error message.
pub(super) fn excerpt(text: &str) -> String {
    // Printable ASCII only (anything else shown as `?`), so the excerpt is never longer than 66 characters.
    let mut short: String = text
        .chars()
        .take(64)
        .map(|c| {
            if c.is_ascii_graphic() || c == ' ' {
                c
            } else {
                '?'
            }
        })
        .collect();
    if text.chars().count() > 64 {
        short.push('…');
    }
    format!("\"{short}\"")
}

/// Reads a SOAP envelope. Requests must be SOAP 1.2; a response may also be SOAP 1.1 (`allow_soap11`).
pub(super) fn parse_envelope(bytes: &[u8], allow_soap11: bool) -> Result<Element, EnrollmentError> {
    let root = xml::parse(bytes, &Limits::SOAP)?;
    if root.is_in(NS_SOAP12, "Envelope") || (allow_soap11 && root.is_in(NS_SOAP11, "Envelope")) {
        Ok(root)
    } else {
        Err(EnrollmentError::NotSoapEnvelope)
    }
}

/// The envelope's Body.
pub(super) fn body(envelope: &Element) -> Result<&Element, EnrollmentError> {
    envelope
        .child("Body")
        .ok_or(EnrollmentError::MissingElement("Body"))
}

/// Whether an element is `xsi:nil="true"`.
pub(super) fn is_nil(element: &Element) -> bool {
    matches!(element.attribute("nil").map(str::trim), Some("true" | "1"))
}

/// The trimmed text of the child `name`, unless it is absent, nil or empty.
pub(super) fn optional_text<'a>(parent: &'a Element, name: &str) -> Option<&'a str> {
    let child = parent.child(name)?;
    if is_nil(child) {
        return None;
    }
    Some(child.text.trim()).filter(|text| !text.is_empty())
}

/// The trimmed text of the child `name`, which must be present and not empty.
pub(super) fn required_text<'a>(
    parent: &'a Element,
    name: &'static str,
) -> Result<&'a str, EnrollmentError> {
    optional_text(parent, name).ok_or(EnrollmentError::MissingElement(name))
}

/// Reads the credential of a `wsse:Security` header: the first UsernameToken or BinarySecurityToken (a
/// Timestamp or Signature beside it is ignored). `None` when the header carries neither.
pub(super) fn parse_credential(security: &Element) -> Result<Option<Credential>, EnrollmentError> {
    for token in &security.children {
        if token.is("UsernameToken") {
            let username = token
                .child("Username")
                .ok_or(EnrollmentError::InvalidSecurity(
                    "UsernameToken has no Username",
                ))?
                .text
                .trim();
            let password = token
                .child("Password")
                .ok_or(EnrollmentError::InvalidSecurity(
                    "UsernameToken has no Password",
                ))?
                .text
                .trim();
            if username.len() > super::MAX_TOKEN || password.len() > super::MAX_TOKEN {
                return Err(EnrollmentError::TokenTooLarge(super::MAX_TOKEN));
            }
            return Ok(Some(Credential::UsernameToken {
                username: username.to_string(),
                password: password.to_string(),
            }));
        }
        if token.is("BinarySecurityToken") {
            let value_type =
                token
                    .attribute("ValueType")
                    .ok_or(EnrollmentError::InvalidSecurity(
                        "BinarySecurityToken has no ValueType",
                    ))?;
            let value = token.text.trim();
            if value.len() > super::MAX_TOKEN {
                return Err(EnrollmentError::TokenTooLarge(super::MAX_TOKEN));
            }
            if value.is_empty() {
                return Err(EnrollmentError::InvalidSecurity(
                    "BinarySecurityToken is empty",
                ));
            }
            return Ok(Some(Credential::BinaryToken {
                value_type: value_type.to_string(),
                encoding_type: token.attribute("EncodingType").map(str::to_string),
                value: value.to_string(),
            }));
        }
    }
    Ok(None)
}

/// Replaces the characters XML 1.0 cannot carry (controls other than tab, line feed and carriage return;
/// U+FFFE and U+FFFF) with U+FFFD, so that whatever a caller passes, the output is well-formed.
fn clean(text: &str) -> Cow<'_, str> {
    let invalid = |c: char| {
        (c < ' ' && !matches!(c, '\t' | '\n' | '\r')) || matches!(c, '\u{FFFE}' | '\u{FFFF}')
    };
    if text.chars().any(invalid) {
        Cow::Owned(
            text.chars()
                .map(|c| if invalid(c) { '\u{FFFD}' } else { c })
                .collect(),
        )
    } else {
        Cow::Borrowed(text)
    }
}

/// [`XmlWriter`] with every text and attribute value made XML-clean first.
pub(super) struct Out(XmlWriter);

impl Out {
    pub(super) fn new() -> Self {
        Out(XmlWriter::new())
    }

    fn cleaned<'a>(attributes: &[(&'a str, &'a str)]) -> Vec<(&'a str, Cow<'a, str>)> {
        attributes
            .iter()
            .map(|(name, value)| (*name, clean(value)))
            .collect()
    }

    pub(super) fn open(&mut self, name: &str, attributes: &[(&str, &str)]) {
        let cleaned = Self::cleaned(attributes);
        let borrowed: Vec<(&str, &str)> = cleaned.iter().map(|(n, v)| (*n, v.as_ref())).collect();
        self.0.open(name, &borrowed);
    }

    pub(super) fn close(&mut self, name: &str) {
        self.0.close(name);
    }

    pub(super) fn empty(&mut self, name: &str, attributes: &[(&str, &str)]) {
        let cleaned = Self::cleaned(attributes);
        let borrowed: Vec<(&str, &str)> = cleaned.iter().map(|(n, v)| (*n, v.as_ref())).collect();
        self.0.empty(name, &borrowed);
    }

    pub(super) fn text_element(&mut self, name: &str, attributes: &[(&str, &str)], text: &str) {
        self.open(name, attributes);
        self.0.text(&clean(text));
        self.close(name);
    }

    pub(super) fn finish(self) -> String {
        self.0.finish()
    }

    /// Opens `s:Envelope` declaring `s`, `a` and the `extra` prefixes.
    pub(super) fn open_envelope(&mut self, extra: &[(&str, &str)]) {
        let mut attributes = vec![("xmlns:s", NS_SOAP12), ("xmlns:a", NS_ADDRESSING)];
        attributes.extend_from_slice(extra);
        self.open("s:Envelope", &attributes);
    }

    /// A request's WS-Addressing header as Windows sends it (Action, MessageID, ReplyTo anonymous, To), with
    /// the credential in `wsse:Security` when there is one. Leaves `s:Header` open for nothing: it is closed.
    pub(super) fn request_header(
        &mut self,
        action: &str,
        message_id: &str,
        to: &str,
        credential: Option<&Credential>,
    ) {
        self.open("s:Header", &[]);
        self.text_element("a:Action", &[("s:mustUnderstand", "1")], action);
        self.text_element("a:MessageID", &[], message_id);
        self.open("a:ReplyTo", &[]);
        self.text_element("a:Address", &[], super::ADDRESS_ANONYMOUS);
        self.close("a:ReplyTo");
        self.text_element("a:To", &[("s:mustUnderstand", "1")], to);
        if let Some(credential) = credential {
            self.security(credential);
        }
        self.close("s:Header");
    }

    /// `wsse:Security` with the credential, as the documentation's samples write it (the envelope declares
    /// `wsse` and `u`).
    fn security(&mut self, credential: &Credential) {
        self.open("wsse:Security", &[("s:mustUnderstand", "1")]);
        match credential {
            Credential::UsernameToken { username, password } => {
                self.open("wsse:UsernameToken", &[("u:Id", USERNAME_TOKEN_ID)]);
                self.text_element("wsse:Username", &[], username);
                self.text_element("wsse:Password", &[("wsse:Type", PASSWORD_TEXT)], password);
                self.close("wsse:UsernameToken");
            }
            Credential::BinaryToken {
                value_type,
                encoding_type,
                value,
            } => {
                let mut attributes = vec![("ValueType", value_type.as_str())];
                if let Some(encoding_type) = encoding_type {
                    attributes.push(("EncodingType", encoding_type.as_str()));
                }
                self.text_element("wsse:BinarySecurityToken", &attributes, value);
            }
        }
        self.close("wsse:Security");
    }

    /// A response's header: the action and, when known, RelatesTo the request's MessageID.
    pub(super) fn response_header(&mut self, action: &str, relates_to: Option<&str>) {
        self.open("s:Header", &[]);
        self.text_element("a:Action", &[("s:mustUnderstand", "1")], action);
        if let Some(relates_to) = relates_to {
            self.text_element("a:RelatesTo", &[], relates_to);
        }
        self.close("s:Header");
    }
}

/// The prefixes a request with a security header declares (the documentation's samples declare all five).
pub(super) const SECURITY_PREFIXES: [(&str, &str); 4] = [
    ("xmlns:u", NS_WSU),
    ("xmlns:wsse", NS_WSSE),
    ("xmlns:wst", super::NS_WST),
    ("xmlns:ac", super::NS_AC),
];
