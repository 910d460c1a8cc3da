//! What a device sends the enrollment services: Discover ([MS-MDE2] §3.1.4.1.3.1), GetPolicies ([MS-XCEP]
//! §3.1.4.1.1) and RequestSecurityToken ([MS-MDE2] §3.4.4.1.1.1). The server reads them with
//! [`parse_request`]; a device (or a test client) writes them with [`discover_request`],
//! [`get_policies_request`] and [`security_token_request`], shaped like the documentation's samples.

use std::fmt;

use super::soap::{self, Base64Failure, Out};
use super::{
    EnrollmentError, ACTION_DISCOVER, ACTION_GET_POLICIES, ACTION_RST, ENCODING_BASE64,
    MAX_CERTIFICATE_REQUEST, MAX_CONTEXT_ITEMS, MAX_CONTEXT_NAME, MAX_CONTEXT_VALUE, MAX_EMAIL,
    NS_AC, NS_ENROLLMENT, NS_ENROLLMENT_SLASH, NS_XCEP, NS_XSD, NS_XSI, REQUEST_TYPE_RENEW,
    VALUE_TYPE_PKCS7,
};
use crate::xml::Element;

/// How the discovery service tells a device to authenticate ([MS-MDE2] §3.1.4.1.3.2).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum AuthPolicy {
    /// A user name and password in a UsernameToken.
    OnPremise,
    /// A token from the AuthenticationServiceUrl (WAB) or Entra, in a BinarySecurityToken.
    Federated,
    /// A certificate, with a signed timestamp.
    Certificate,
}

impl AuthPolicy {
    pub fn as_str(self) -> &'static str {
        match self {
            AuthPolicy::OnPremise => "OnPremise",
            AuthPolicy::Federated => "Federated",
            AuthPolicy::Certificate => "Certificate",
        }
    }

    /// The policy named `name`, without regard to case (surrounding whitespace ignored).
    pub fn parse(name: &str) -> Option<AuthPolicy> {
        let name = name.trim();
        [
            AuthPolicy::OnPremise,
            AuthPolicy::Federated,
            AuthPolicy::Certificate,
        ]
        .into_iter()
        .find(|policy| policy.as_str().eq_ignore_ascii_case(name))
    }
}

/// The credential in a request's `wsse:Security` header.
#[derive(Clone, PartialEq, Eq)]
pub enum Credential {
    /// On-premise: `wsse:UsernameToken` (texts trimmed).
    UsernameToken { username: String, password: String },
    /// Federated, Entra or certificate: `wsse:BinarySecurityToken`, its ValueType (e.g.
    /// [`TOKEN_TYPE_JWT`](super::TOKEN_TYPE_JWT), [`TOKEN_TYPE_USER_TOKEN`](super::TOKEN_TYPE_USER_TOKEN)),
    /// EncodingType and text (trimmed, not decoded).
    BinaryToken {
        value_type: String,
        encoding_type: Option<String>,
        value: String,
    },
}

impl fmt::Debug for Credential {
    // Secrets stay out of logs: the password and the token are shown by length only.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Credential::UsernameToken { username, password } => f
                .debug_struct("UsernameToken")
                .field("username", username)
                .field("password", &format_args!("<{} bytes>", password.len()))
                .finish(),
            Credential::BinaryToken {
                value_type,
                encoding_type,
                value,
            } => f
                .debug_struct("BinaryToken")
                .field("value_type", value_type)
                .field("encoding_type", encoding_type)
                .field("value", &format_args!("<{} bytes>", value.len()))
                .finish(),
        }
    }
}

/// A request's SOAP header.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SoapHeader {
    /// `a:Action`, trimmed.
    pub action: String,
    /// `a:MessageID`, trimmed (the response's RelatesTo).
    pub message_id: Option<String>,
    /// `a:To`, trimmed.
    pub to: Option<String>,
    /// The `wsse:Security` credential, if any (a Discover request has none).
    pub credential: Option<Credential>,
}

/// `Discover/request` ([MS-MDE2] §3.1.4.1.3.1).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DiscoverRequest {
    /// `EmailAddress`: an address, or `domain\user`.
    pub email_address: String,
    /// `RequestVersion`, e.g. `4.0`.
    pub request_version: String,
    /// `DeviceType`, e.g. `CIMClient_Windows`.
    pub device_type: Option<String>,
    /// `ApplicationVersion`, a dotted quad.
    pub application_version: Option<String>,
    /// `OSEdition`: the product enumeration of [MS-MDE2] §2.2.9.6, as text.
    pub os_edition: Option<String>,
    /// `AuthPolicies/AuthPolicy`, in order; names this module does not know are skipped.
    pub auth_policies: Vec<AuthPolicy>,
}

/// `GetPolicies/client` ([MS-XCEP] §3.1.4.1.3.6); `requestFilter` is always nil from Windows and ignored.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct GetPoliciesRequest {
    /// `lastUpdate` (an xsd:dateTime), `None` when nil.
    pub last_update: Option<String>,
    /// `preferredLanguage`, `None` when nil.
    pub preferred_language: Option<String>,
}

/// One `ac:ContextItem`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ContextItem {
    /// The `Name` attribute, as sent.
    pub name: String,
    /// The `ac:Value` text, trimmed (the documentation's sample sends `<ac:Value> 4</ac:Value>`).
    pub value: String,
}

/// `wst:RequestSecurityToken` ([MS-MDE2] §3.4.4.1.1.1).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SecurityTokenRequest {
    /// `wst:TokenType`, normally [`DEVICE_ENROLLMENT_TOKEN`](super::DEVICE_ENROLLMENT_TOKEN).
    pub token_type: String,
    /// `wst:RequestType`: [`REQUEST_TYPE_ISSUE`](super::REQUEST_TYPE_ISSUE) or
    /// [`REQUEST_TYPE_RENEW`](super::REQUEST_TYPE_RENEW).
    pub request_type: String,
    /// The body BinarySecurityToken's ValueType: [`VALUE_TYPE_PKCS10`](super::VALUE_TYPE_PKCS10), or
    /// [`VALUE_TYPE_PKCS7`](super::VALUE_TYPE_PKCS7) to renew.
    pub value_type: String,
    /// The certificate request, base64-decoded (DER PKCS#10, or PKCS#7 for a renewal); not parsed here.
    pub certificate_request: Vec<u8>,
    /// `ac:AdditionalContext/ac:ContextItem`, in order, duplicates kept (e.g. several `MAC`).
    pub context: Vec<ContextItem>,
}

impl SecurityTokenRequest {
    /// The value of the first context item named exactly `name`.
    pub fn context(&self, name: &str) -> Option<&str> {
        self.context
            .iter()
            .find(|item| item.name == name)
            .map(|item| item.value.as_str())
    }

    /// Whether this renews a certificate (Renew request type, or a PKCS#7 request).
    pub fn is_renewal(&self) -> bool {
        self.request_type == REQUEST_TYPE_RENEW || self.value_type == VALUE_TYPE_PKCS7
    }
}

/// The body of a request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum EnrollmentMessage {
    Discover(DiscoverRequest),
    GetPolicies(GetPoliciesRequest),
    RequestSecurityToken(SecurityTokenRequest),
}

/// A request: its header and its body.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EnrollmentRequest {
    pub header: SoapHeader,
    pub message: EnrollmentMessage,
}

/// The three requests: their action and body element.
#[derive(Clone, Copy)]
enum Kind {
    Discover,
    GetPolicies,
    RequestSecurityToken,
}

impl Kind {
    const ALL: [Kind; 3] = [
        Kind::Discover,
        Kind::GetPolicies,
        Kind::RequestSecurityToken,
    ];

    fn action(self) -> &'static str {
        match self {
            Kind::Discover => ACTION_DISCOVER,
            Kind::GetPolicies => ACTION_GET_POLICIES,
            Kind::RequestSecurityToken => ACTION_RST,
        }
    }

    fn element(self) -> &'static str {
        match self {
            Kind::Discover => "Discover",
            Kind::GetPolicies => "GetPolicies",
            Kind::RequestSecurityToken => "RequestSecurityToken",
        }
    }
}

fn is_enrollment_namespace(namespace: Option<&str>) -> bool {
    matches!(namespace, Some(NS_ENROLLMENT | NS_ENROLLMENT_SLASH))
}

/// Reads a request to the discovery, policy or enrollment service (server side).
///
/// The envelope must be SOAP 1.2 and the action one of [`ACTION_DISCOVER`], [`ACTION_GET_POLICIES`] and
/// [`ACTION_RST`] (compared without regard to case, surrounding whitespace ignored); the body must hold the
/// action's element. Elements are matched by local name; only the Envelope's namespace and the Discover
/// element's (the enrollment namespace, with or without its trailing `/`) are checked. A missing credential
/// is not an error here: whether a request needs one is the service's decision.
pub fn parse_request(body: &[u8]) -> Result<EnrollmentRequest, EnrollmentError> {
    let envelope = soap::parse_envelope(body, false)?;
    let header = envelope
        .child("Header")
        .ok_or(EnrollmentError::MissingHeader("Header"))?;
    let header = parse_header(header)?;
    let kind = Kind::ALL
        .into_iter()
        .find(|kind| kind.action().eq_ignore_ascii_case(&header.action))
        .ok_or_else(|| EnrollmentError::UnknownAction(soap::excerpt(&header.action)))?;
    let body = soap::body(&envelope)?;
    let Some(element) = body.child(kind.element()) else {
        let other = body
            .children
            .iter()
            .any(|child| Kind::ALL.iter().any(|k| child.is(k.element())));
        return Err(if other {
            EnrollmentError::ActionMismatch
        } else {
            EnrollmentError::MissingElement(kind.element())
        });
    };
    let message = match kind {
        Kind::Discover => EnrollmentMessage::Discover(parse_discover(element)?),
        Kind::GetPolicies => EnrollmentMessage::GetPolicies(parse_get_policies(element)),
        Kind::RequestSecurityToken => {
            EnrollmentMessage::RequestSecurityToken(parse_security_token_request(element)?)
        }
    };
    Ok(EnrollmentRequest { header, message })
}

fn parse_header(header: &Element) -> Result<SoapHeader, EnrollmentError> {
    let action = soap::optional_text(header, "Action")
        .ok_or(EnrollmentError::MissingHeader("Action"))?
        .to_string();
    let credential = match header.child("Security") {
        Some(security) => soap::parse_credential(security)?,
        None => None,
    };
    Ok(SoapHeader {
        action,
        message_id: soap::optional_text(header, "MessageID").map(str::to_string),
        to: soap::optional_text(header, "To").map(str::to_string),
        credential,
    })
}

fn parse_discover(discover: &Element) -> Result<DiscoverRequest, EnrollmentError> {
    if !is_enrollment_namespace(discover.namespace.as_deref()) {
        return Err(EnrollmentError::InvalidElement("Discover"));
    }
    let request = discover
        .child("request")
        .ok_or(EnrollmentError::MissingElement("request"))?;
    let email_address = soap::required_text(request, "EmailAddress")?;
    if email_address.len() > MAX_EMAIL {
        return Err(EnrollmentError::EmailTooLong(MAX_EMAIL));
    }
    let request_version = soap::required_text(request, "RequestVersion")?;
    let optional = |name| soap::optional_text(request, name).map(str::to_string);
    let auth_policies = request
        .child("AuthPolicies")
        .map(|policies| {
            policies
                .children_named("AuthPolicy")
                .filter_map(|policy| AuthPolicy::parse(&policy.text))
                .collect()
        })
        .unwrap_or_default();
    Ok(DiscoverRequest {
        email_address: email_address.to_string(),
        request_version: request_version.to_string(),
        device_type: optional("DeviceType"),
        application_version: optional("ApplicationVersion"),
        os_edition: optional("OSEdition"),
        auth_policies,
    })
}

fn parse_get_policies(get_policies: &Element) -> GetPoliciesRequest {
    let client = get_policies.child("client");
    let field = |name| {
        client
            .and_then(|client| soap::optional_text(client, name))
            .map(str::to_string)
    };
    GetPoliciesRequest {
        last_update: field("lastUpdate"),
        preferred_language: field("preferredLanguage"),
    }
}

fn parse_security_token_request(rst: &Element) -> Result<SecurityTokenRequest, EnrollmentError> {
    let token_type = soap::required_text(rst, "TokenType")?;
    let request_type = soap::required_text(rst, "RequestType")?;
    let token = rst
        .child("BinarySecurityToken")
        .ok_or(EnrollmentError::MissingElement("BinarySecurityToken"))?;
    let value_type = token
        .attribute("ValueType")
        .map(str::trim)
        .filter(|value| !value.is_empty())
        .ok_or(EnrollmentError::InvalidElement(
            "BinarySecurityToken ValueType",
        ))?;
    let certificate_request = match soap::decode_base64(&token.text, MAX_CERTIFICATE_REQUEST) {
        Ok(bytes) if bytes.is_empty() => {
            return Err(EnrollmentError::MissingElement("certificate request"))
        }
        Ok(bytes) => bytes,
        Err(Base64Failure::Bad) => {
            return Err(EnrollmentError::BadBase64("the certificate request"))
        }
        Err(Base64Failure::TooLarge) => {
            return Err(EnrollmentError::CertificateRequestTooLarge(
                MAX_CERTIFICATE_REQUEST,
            ))
        }
    };
    let mut context = Vec::new();
    if let Some(additional) = rst.child("AdditionalContext") {
        for item in additional.children_named("ContextItem") {
            if context.len() >= MAX_CONTEXT_ITEMS {
                return Err(EnrollmentError::TooManyContextItems(MAX_CONTEXT_ITEMS));
            }
            let name = item
                .attribute("Name")
                .ok_or(EnrollmentError::InvalidElement("ContextItem Name"))?;
            if name.len() > MAX_CONTEXT_NAME {
                return Err(EnrollmentError::ContextItemTooLong(
                    "name",
                    MAX_CONTEXT_NAME,
                ));
            }
            let value = item.child_text("Value").unwrap_or("");
            if value.len() > MAX_CONTEXT_VALUE {
                return Err(EnrollmentError::ContextItemTooLong(
                    "value",
                    MAX_CONTEXT_VALUE,
                ));
            }
            context.push(ContextItem {
                name: name.to_string(),
                value: value.to_string(),
            });
        }
    }
    Ok(SecurityTokenRequest {
        token_type: token_type.to_string(),
        request_type: request_type.to_string(),
        value_type: value_type.to_string(),
        certificate_request,
        context,
    })
}

/// A Discover request as Windows sends it (the documentation's sample: the enrollment namespace with its
/// trailing `/`, optional elements omitted when `None`).
pub fn discover_request(message_id: &str, to: &str, request: &DiscoverRequest) -> String {
    let mut w = Out::new();
    w.open_envelope(&[]);
    w.request_header(ACTION_DISCOVER, message_id, to, None);
    w.open("s:Body", &[]);
    w.open("Discover", &[("xmlns", NS_ENROLLMENT_SLASH)]);
    w.open("request", &[("xmlns:i", NS_XSI)]);
    w.text_element("EmailAddress", &[], &request.email_address);
    if let Some(os_edition) = &request.os_edition {
        w.text_element("OSEdition", &[], os_edition);
    }
    w.text_element("RequestVersion", &[], &request.request_version);
    if let Some(device_type) = &request.device_type {
        w.text_element("DeviceType", &[], device_type);
    }
    if let Some(application_version) = &request.application_version {
        w.text_element("ApplicationVersion", &[], application_version);
    }
    w.open("AuthPolicies", &[]);
    for policy in &request.auth_policies {
        w.text_element("AuthPolicy", &[], policy.as_str());
    }
    w.close("AuthPolicies");
    w.close("request");
    w.close("Discover");
    w.close("s:Body");
    w.close("s:Envelope");
    w.finish()
}

/// Writes `name` with `value`, or `xsi:nil="true"` when there is none.
fn nillable(w: &mut Out, name: &str, value: Option<&str>) {
    match value {
        Some(value) => w.text_element(name, &[], value),
        None => w.empty(name, &[("xsi:nil", "true")]),
    }
}

/// A GetPolicies request, shaped like the documentation's samples.
pub fn get_policies_request(
    message_id: &str,
    to: &str,
    credential: &Credential,
    request: &GetPoliciesRequest,
) -> String {
    let mut w = Out::new();
    w.open_envelope(&soap::SECURITY_PREFIXES);
    w.request_header(ACTION_GET_POLICIES, message_id, to, Some(credential));
    w.open("s:Body", &[("xmlns:xsi", NS_XSI), ("xmlns:xsd", NS_XSD)]);
    w.open("GetPolicies", &[("xmlns", NS_XCEP)]);
    w.open("client", &[]);
    nillable(&mut w, "lastUpdate", request.last_update.as_deref());
    nillable(
        &mut w,
        "preferredLanguage",
        request.preferred_language.as_deref(),
    );
    w.close("client");
    w.empty("requestFilter", &[("xsi:nil", "true")]);
    w.close("GetPolicies");
    w.close("s:Body");
    w.close("s:Envelope");
    w.finish()
}

/// A RequestSecurityToken, shaped like the documentation's samples (the certificate request on one line).
pub fn security_token_request(
    message_id: &str,
    to: &str,
    credential: &Credential,
    request: &SecurityTokenRequest,
) -> String {
    let mut w = Out::new();
    w.open_envelope(&soap::SECURITY_PREFIXES);
    w.request_header(ACTION_RST, message_id, to, Some(credential));
    w.open("s:Body", &[]);
    w.open("wst:RequestSecurityToken", &[]);
    w.text_element("wst:TokenType", &[], &request.token_type);
    w.text_element("wst:RequestType", &[], &request.request_type);
    w.text_element(
        "wsse:BinarySecurityToken",
        &[
            ("ValueType", &request.value_type),
            ("EncodingType", ENCODING_BASE64),
        ],
        &soap::encode_base64(&request.certificate_request),
    );
    w.open("ac:AdditionalContext", &[("xmlns", NS_AC)]);
    for item in &request.context {
        w.open("ac:ContextItem", &[("Name", &item.name)]);
        w.text_element("ac:Value", &[], &item.value);
        w.close("ac:ContextItem");
    }
    w.close("ac:AdditionalContext");
    w.close("wst:RequestSecurityToken");
    w.close("s:Body");
    w.close("s:Envelope");
    w.finish()
}
