//! What the enrollment services answer: DiscoverResponse ([MS-MDE2] §3.1.4.1.3.2), GetPoliciesResponse
//! ([MS-XCEP] §3.1.4.1.1.2), RequestSecurityTokenResponseCollection ([MS-MDE2] §3.4.4.1.1.2) and the SOAP
//! faults of [MS-MDE2] §2.2.10. The servers write them; a device (or a test client) reads them, and every
//! reader returns `Ok(Err(fault))` when the service answered with a fault.

use time::format_description::FormatItem;
use time::macros::format_description;
use time::{OffsetDateTime, UtcOffset};

use super::soap::{self, Base64Failure, Out};
use super::{
    AuthPolicy, EnrollmentError, Fault, FaultCode, ACTION_DISCOVER_RESPONSE, ACTION_FAULT,
    ACTION_GET_POLICIES_RESPONSE, ACTION_RSTR, DEVICE_ENROLLMENT_TOKEN, ENCODING_BASE64,
    NS_ENROLLMENT, NS_PKI_ENROLLMENT, NS_WSSE, NS_WST, NS_WSU, NS_XCEP, NS_XSD, NS_XSI,
    PROVISION_DOC,
};
use crate::xml::Element;

/// `DiscoverResponse/DiscoverResult` ([MS-MDE2] §3.1.4.1.3.2).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DiscoverResponse {
    pub auth_policy: AuthPolicy,
    /// `EnrollmentVersion`, e.g. `4.0` (empty when a server omits it: it is optional).
    pub enrollment_version: String,
    /// `EnrollmentPolicyServiceUrl`, the [MS-XCEP] service (empty when a server omits it: it is optional).
    pub policy_service_url: String,
    /// `EnrollmentServiceUrl`, the [MS-WSTEP] service.
    pub enrollment_service_url: String,
    /// `AuthenticationServiceUrl`, the WAB start page; required with [`AuthPolicy::Federated`] from an MDM-only
    /// discovery.
    pub authentication_service_url: Option<String>,
}

/// The one certificate policy an enrollment policy service offers ([MS-XCEP] GetPoliciesResponse).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CertificatePolicy {
    /// `response/policyID`.
    pub policy_id: String,
    /// `response/policyFriendlyName`, also written as the policy's `attributes/commonName` (read back from
    /// there when policyFriendlyName is nil, as in the documentation's sample).
    pub friendly_name: String,
    /// `certificateValidity/validityPeriodSeconds`.
    pub validity_seconds: u64,
    /// `certificateValidity/renewalPeriodSeconds`.
    pub renewal_seconds: u64,
    /// `privateKeyAttributes/minimalKeyLength`.
    pub minimal_key_length: u32,
    /// `response/nextUpdateHours` (0 when nil).
    pub next_update_hours: u32,
}

/// Reads a response envelope (SOAP 1.2, or 1.1 as in the documentation's RSTR sample): a fault in the body
/// is `Ok(Err(fault))`, anything else goes to `read`.
fn parse_response<T>(
    bytes: &[u8],
    read: impl FnOnce(&Element) -> Result<T, EnrollmentError>,
) -> Result<Result<T, Fault>, EnrollmentError> {
    let envelope = soap::parse_envelope(bytes, true)?;
    let body = soap::body(&envelope)?;
    if let Some(fault) = body.child("Fault") {
        return Ok(Err(read_fault(fault)));
    }
    read(body).map(Ok)
}

fn child<'a>(parent: &'a Element, name: &'static str) -> Result<&'a Element, EnrollmentError> {
    parent
        .child(name)
        .ok_or(EnrollmentError::MissingElement(name))
}

fn number<T: std::str::FromStr>(
    parent: &Element,
    name: &'static str,
) -> Result<T, EnrollmentError> {
    soap::required_text(parent, name)?
        .parse()
        .map_err(|_| EnrollmentError::InvalidElement(name))
}

/// The discovery service's answer.
pub fn discover_response(relates_to: Option<&str>, response: &DiscoverResponse) -> String {
    let mut w = Out::new();
    w.open_envelope(&[]);
    w.response_header(ACTION_DISCOVER_RESPONSE, relates_to);
    w.open("s:Body", &[("xmlns:xsi", NS_XSI), ("xmlns:xsd", NS_XSD)]);
    w.open("DiscoverResponse", &[("xmlns", NS_ENROLLMENT)]);
    w.open("DiscoverResult", &[]);
    w.text_element("AuthPolicy", &[], response.auth_policy.as_str());
    w.text_element("EnrollmentVersion", &[], &response.enrollment_version);
    w.text_element(
        "EnrollmentPolicyServiceUrl",
        &[],
        &response.policy_service_url,
    );
    w.text_element(
        "EnrollmentServiceUrl",
        &[],
        &response.enrollment_service_url,
    );
    if let Some(url) = &response.authentication_service_url {
        w.text_element("AuthenticationServiceUrl", &[], url);
    }
    w.close("DiscoverResult");
    w.close("DiscoverResponse");
    w.close("s:Body");
    w.close("s:Envelope");
    w.finish()
}

/// Reads the discovery service's answer (device side).
pub fn parse_discover_response(
    body: &[u8],
) -> Result<Result<DiscoverResponse, Fault>, EnrollmentError> {
    parse_response(body, |body| {
        let result = child(child(body, "DiscoverResponse")?, "DiscoverResult")?;
        let auth_policy = AuthPolicy::parse(soap::required_text(result, "AuthPolicy")?)
            .ok_or(EnrollmentError::InvalidElement("AuthPolicy"))?;
        let optional = |name| soap::optional_text(result, name).map(str::to_string);
        Ok(DiscoverResponse {
            auth_policy,
            enrollment_version: optional("EnrollmentVersion").unwrap_or_default(),
            policy_service_url: optional("EnrollmentPolicyServiceUrl").unwrap_or_default(),
            enrollment_service_url: soap::required_text(result, "EnrollmentServiceUrl")?
                .to_string(),
            authentication_service_url: optional("AuthenticationServiceUrl"),
        })
    })
}

/// The enrollment policy service's answer: one policy, shaped like the documentation's sample (policy
/// schema 3, enroll but not auto-enroll, revision 101.0), except that its hash algorithm reference names
/// SHA-256 (`2.16.840.1.101.3.4.2.1`, OID group 1) where the sample names `sha1RSASign`.
pub fn get_policies_response(relates_to: Option<&str>, policy: &CertificatePolicy) -> String {
    let mut w = Out::new();
    w.open_envelope(&[("xmlns:u", NS_WSU)]);
    w.response_header(ACTION_GET_POLICIES_RESPONSE, relates_to);
    w.open("s:Body", &[("xmlns:xsi", NS_XSI), ("xmlns:xsd", NS_XSD)]);
    w.open("GetPoliciesResponse", &[("xmlns", NS_XCEP)]);
    w.open("response", &[]);
    w.text_element("policyID", &[], &policy.policy_id);
    w.text_element("policyFriendlyName", &[], &policy.friendly_name);
    w.text_element(
        "nextUpdateHours",
        &[],
        &policy.next_update_hours.to_string(),
    );
    let nil = [("xsi:nil", "true")];
    w.empty("policiesNotChanged", &nil);
    w.open("policies", &[]);
    w.open("policy", &[]);
    w.text_element("policyOIDReference", &[], "0");
    w.empty("cAs", &nil);
    w.open("attributes", &[]);
    w.text_element("commonName", &[], &policy.friendly_name);
    w.text_element("policySchema", &[], "3");
    w.open("certificateValidity", &[]);
    w.text_element(
        "validityPeriodSeconds",
        &[],
        &policy.validity_seconds.to_string(),
    );
    w.text_element(
        "renewalPeriodSeconds",
        &[],
        &policy.renewal_seconds.to_string(),
    );
    w.close("certificateValidity");
    w.open("permission", &[]);
    w.text_element("enroll", &[], "true");
    w.text_element("autoEnroll", &[], "false");
    w.close("permission");
    w.open("privateKeyAttributes", &[]);
    w.text_element(
        "minimalKeyLength",
        &[],
        &policy.minimal_key_length.to_string(),
    );
    for name in [
        "keySpec",
        "keyUsageProperty",
        "permissions",
        "algorithmOIDReference",
        "cryptoProviders",
    ] {
        w.empty(name, &nil);
    }
    w.close("privateKeyAttributes");
    w.open("revision", &[]);
    w.text_element("majorRevision", &[], "101");
    w.text_element("minorRevision", &[], "0");
    w.close("revision");
    for name in [
        "supersededPolicies",
        "privateKeyFlags",
        "subjectNameFlags",
        "enrollmentFlags",
        "generalFlags",
    ] {
        w.empty(name, &nil);
    }
    w.text_element("hashAlgorithmOIDReference", &[], "0");
    for name in ["rARequirements", "keyArchivalAttributes", "extensions"] {
        w.empty(name, &nil);
    }
    w.close("attributes");
    w.close("policy");
    w.close("policies");
    w.close("response");
    w.empty("cAs", &nil);
    w.open("oIDs", &[]);
    w.open("oID", &[]);
    w.text_element("value", &[], "2.16.840.1.101.3.4.2.1");
    w.text_element("group", &[], "1");
    w.text_element("oIDReferenceID", &[], "0");
    w.text_element("defaultName", &[], "szOID_NIST_sha256");
    w.close("oID");
    w.close("oIDs");
    w.close("GetPoliciesResponse");
    w.close("s:Body");
    w.close("s:Envelope");
    w.finish()
}

/// Reads the enrollment policy service's answer (device side): its first policy.
pub fn parse_get_policies_response(
    body: &[u8],
) -> Result<Result<CertificatePolicy, Fault>, EnrollmentError> {
    parse_response(body, |body| {
        let response = child(child(body, "GetPoliciesResponse")?, "response")?;
        let attributes = child(child(child(response, "policies")?, "policy")?, "attributes")?;
        let validity = child(attributes, "certificateValidity")?;
        let key = child(attributes, "privateKeyAttributes")?;
        let friendly_name = soap::optional_text(response, "policyFriendlyName")
            .or_else(|| soap::optional_text(attributes, "commonName"))
            .unwrap_or_default();
        let next_update_hours = match soap::optional_text(response, "nextUpdateHours") {
            Some(hours) => hours
                .parse()
                .map_err(|_| EnrollmentError::InvalidElement("nextUpdateHours"))?,
            None => 0,
        };
        Ok(CertificatePolicy {
            policy_id: soap::optional_text(response, "policyID")
                .unwrap_or_default()
                .to_string(),
            friendly_name: friendly_name.to_string(),
            validity_seconds: number(validity, "validityPeriodSeconds")?,
            renewal_seconds: number(validity, "renewalPeriodSeconds")?,
            minimal_key_length: number(key, "minimalKeyLength")?,
            next_update_hours,
        })
    })
}

/// Largest provisioning document read from a response (the reader's text bound makes it at most 48 KiB).
const MAX_PROVISIONING_DOCUMENT: usize = 64 * 1024;

/// `2012-08-02T00:32:59.420Z`, as the documentation's Timestamp.
const TIMESTAMP: &[FormatItem<'_>] =
    format_description!("[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:3]Z");

fn timestamp(at: OffsetDateTime) -> String {
    at.to_offset(UtcOffset::UTC)
        .format(TIMESTAMP)
        .unwrap_or_default()
}

/// The enrollment service's answer: the provisioning document, base64-encoded, in
/// `RequestedSecurityToken/BinarySecurityToken` (ValueType [`PROVISION_DOC`]), RequestID 0, and a
/// `u:Timestamp` of `created`/`expires` in the security header, shaped like the documentation's sample but
/// in a SOAP 1.2 envelope as [MS-MDE2] §2.1 requires.
pub fn security_token_response(
    relates_to: Option<&str>,
    provisioning_document: &str,
    created: OffsetDateTime,
    expires: OffsetDateTime,
) -> String {
    let mut w = Out::new();
    w.open_envelope(&[("xmlns:u", NS_WSU)]);
    w.open("s:Header", &[]);
    w.text_element("a:Action", &[("s:mustUnderstand", "1")], ACTION_RSTR);
    if let Some(relates_to) = relates_to {
        w.text_element("a:RelatesTo", &[], relates_to);
    }
    w.open(
        "o:Security",
        &[("s:mustUnderstand", "1"), ("xmlns:o", NS_WSSE)],
    );
    w.open("u:Timestamp", &[("u:Id", "_0")]);
    w.text_element("u:Created", &[], &timestamp(created));
    w.text_element("u:Expires", &[], &timestamp(expires));
    w.close("u:Timestamp");
    w.close("o:Security");
    w.close("s:Header");
    w.open("s:Body", &[]);
    w.open(
        "RequestSecurityTokenResponseCollection",
        &[("xmlns", NS_WST)],
    );
    w.open("RequestSecurityTokenResponse", &[]);
    w.text_element("TokenType", &[], DEVICE_ENROLLMENT_TOKEN);
    w.empty("DispositionMessage", &[("xmlns", NS_PKI_ENROLLMENT)]);
    w.open("RequestedSecurityToken", &[]);
    w.text_element(
        "BinarySecurityToken",
        &[
            ("ValueType", PROVISION_DOC),
            ("EncodingType", ENCODING_BASE64),
            ("xmlns", NS_WSSE),
        ],
        &soap::encode_base64(provisioning_document.as_bytes()),
    );
    w.close("RequestedSecurityToken");
    w.text_element("RequestID", &[("xmlns", NS_PKI_ENROLLMENT)], "0");
    w.close("RequestSecurityTokenResponse");
    w.close("RequestSecurityTokenResponseCollection");
    w.close("s:Body");
    w.close("s:Envelope");
    w.finish()
}

/// Reads the enrollment service's answer (device side): the provisioning document's XML text.
pub fn parse_security_token_response(
    body: &[u8],
) -> Result<Result<String, Fault>, EnrollmentError> {
    parse_response(body, |body| {
        let collection = child(body, "RequestSecurityTokenResponseCollection")?;
        let response = child(collection, "RequestSecurityTokenResponse")?;
        let token = child(
            child(response, "RequestedSecurityToken")?,
            "BinarySecurityToken",
        )?;
        let bytes =
            soap::decode_base64(&token.text, MAX_PROVISIONING_DOCUMENT).map_err(|failure| {
                match failure {
                    Base64Failure::Bad => EnrollmentError::BadBase64("the provisioning document"),
                    Base64Failure::TooLarge => {
                        EnrollmentError::InvalidElement("provisioning document")
                    }
                }
            })?;
        String::from_utf8(bytes)
            .map_err(|_| EnrollmentError::InvalidElement("provisioning document"))
    })
}

/// A SOAP fault ([MS-MDE2] §2.2.10): Code `s:Receiver` with the subcode, the reason in `s:Reason/s:Text`
/// (`xml:lang="en-US"`), and a `DeviceEnrollmentServiceError` detail (ErrorType, Message, TraceId) when the
/// fault has an error type or a trace id. The action is WS-Addressing's fault action.
pub fn fault_response(relates_to: Option<&str>, fault: &Fault) -> String {
    let mut w = Out::new();
    w.open_envelope(&[]);
    w.response_header(ACTION_FAULT, relates_to);
    w.open("s:Body", &[]);
    w.open("s:Fault", &[]);
    w.open("s:Code", &[]);
    w.text_element("s:Value", &[], fault.code.code());
    w.open("s:Subcode", &[]);
    w.text_element("s:Value", &[], fault.code.subcode());
    w.close("s:Subcode");
    w.close("s:Code");
    w.open("s:Reason", &[]);
    w.text_element("s:Text", &[("xml:lang", "en-US")], &fault.reason);
    w.close("s:Reason");
    if fault.error_type.is_some() || fault.trace_id.is_some() {
        w.open("s:Detail", &[]);
        w.open(
            "DeviceEnrollmentServiceError",
            &[("xmlns", NS_PKI_ENROLLMENT)],
        );
        if let Some(error_type) = &fault.error_type {
            w.text_element("ErrorType", &[], error_type);
        }
        w.text_element("Message", &[], &fault.reason);
        if let Some(trace_id) = &fault.trace_id {
            w.text_element("TraceId", &[], trace_id);
        }
        w.close("DeviceEnrollmentServiceError");
        w.close("s:Detail");
    }
    w.close("s:Fault");
    w.close("s:Body");
    w.close("s:Envelope");
    w.finish()
}

/// Reads a fault envelope (device side). The action is ignored, as [MS-WSTEP] §3.1.4.1.1.3 tells clients.
pub fn parse_fault(body: &[u8]) -> Result<Fault, EnrollmentError> {
    let envelope = soap::parse_envelope(body, true)?;
    let fault = child(soap::body(&envelope)?, "Fault")?;
    Ok(read_fault(fault))
}

/// A fault's fields. The subcode's prefix is not resolved and its case is ignored (MS-MDE2's own sample is
/// lower-case); a fault without a known subcode (another server's, or SOAP 1.1's `faultcode`) reads as
/// [`FaultCode::EnrollmentServer`], the generic server failure.
fn read_fault(fault: &Element) -> Fault {
    let (code, reason) = match fault.child("Code") {
        Some(code) => (
            code.descend(&["Subcode", "Value"])
                .and_then(|value| FaultCode::from_subcode(&value.text))
                .or_else(|| code.child_text("Value").and_then(FaultCode::from_subcode)),
            fault
                .descend(&["Reason", "Text"])
                .map(|text| text.text.trim()),
        ),
        None => (
            fault
                .child_text("faultcode")
                .and_then(FaultCode::from_subcode),
            fault.child_text("faultstring"),
        ),
    };
    let detail = fault
        .child("Detail")
        .or_else(|| fault.child("detail"))
        .and_then(|detail| detail.child("DeviceEnrollmentServiceError"));
    let detail_text = |name| {
        detail
            .and_then(|detail| soap::optional_text(detail, name))
            .map(str::to_string)
    };
    Fault {
        code: code.unwrap_or(FaultCode::EnrollmentServer),
        reason: reason.unwrap_or_default().to_string(),
        error_type: detail_text("ErrorType"),
        trace_id: detail_text("TraceId"),
    }
}
