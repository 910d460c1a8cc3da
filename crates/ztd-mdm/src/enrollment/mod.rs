//! Windows MDM enrollment on the wire: [MS-MDE2] discovery, [MS-XCEP] GetPolicies, [MS-WSTEP]
//! RequestSecurityToken, the provisioning document the enrollment answers with, and the SOAP faults.
//!
//! Everything here is a pure function of its arguments: no I/O, no clock, no randomness (times, nonces and
//! secrets are passed in). Every message is read with the bounded reader of [`crate::xml`] and written with its
//! escaping [`XmlWriter`](crate::xml::XmlWriter); nothing is found by string search or built by pasting
//! strings.
//!
//! - [`requests`]: what a device sends ([`parse_request`] on the server; [`discover_request`],
//!   [`get_policies_request`] and [`security_token_request`] on a device).
//! - [`responses`]: what the services answer, and the faults ([`fault_response`], [`parse_fault`]).
//! - [`provisioning`]: the `wap-provisioningdoc` carried in the RequestSecurityTokenResponse.
//!
//! Sources: [MS-MDE2] (§2.2.10 faults, §3.1.4.1.3 discovery, §3.4.4.1.1.1 RequestSecurityToken) and the
//! Windows documentation pages "On-premises authentication device enrollment" and "Federated authentication
//! device enrollment", whose sample messages are this module's test fixtures (`tests/fixtures/`).

pub mod provisioning;
pub mod requests;
pub mod responses;
mod soap;
#[cfg(test)]
mod tests;

pub use provisioning::{
    parse_provisioning_document, provisioning_document, thumbprint, CertificateScope, PollSchedule,
    ProvisioningDocument, RenewalSettings,
};
pub use requests::{
    discover_request, get_policies_request, parse_request, security_token_request, AuthPolicy,
    ContextItem, Credential, DiscoverRequest, EnrollmentMessage, EnrollmentRequest,
    GetPoliciesRequest, SecurityTokenRequest, SoapHeader,
};
pub use responses::{
    discover_response, fault_response, get_policies_response, parse_discover_response, parse_fault,
    parse_get_policies_response, parse_security_token_response, security_token_response,
    CertificatePolicy, DiscoverResponse,
};

use crate::xml::XmlError;

// ---------------------------------------------------------------------------------------------------------
// Namespaces.

/// SOAP 1.2 envelope: every enrollment message ([MS-MDE2] §2.1).
pub const NS_SOAP12: &str = "http://www.w3.org/2003/05/soap-envelope";
/// SOAP 1.1 envelope: never sent, and refused in requests; accepted in responses only because the Windows
/// documentation's sample RequestSecurityTokenResponse uses it.
pub const NS_SOAP11: &str = "http://schemas.xmlsoap.org/soap/envelope/";
/// WS-Addressing 1.0.
pub const NS_ADDRESSING: &str = "http://www.w3.org/2005/08/addressing";
/// WS-Security secext (`wsse`).
pub const NS_WSSE: &str =
    "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-secext-1.0.xsd";
/// WS-Security utility (`u`/`wsu`).
pub const NS_WSU: &str =
    "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-utility-1.0.xsd";
/// The discovery service's namespace ([MS-MDE2] §3.1.4.1.3). Windows sends it with a trailing `/`
/// ([`NS_ENROLLMENT_SLASH`]); both are accepted.
pub const NS_ENROLLMENT: &str =
    "http://schemas.microsoft.com/windows/management/2012/01/enrollment";
/// [`NS_ENROLLMENT`] as Windows writes it in a Discover request (the documentation's sample).
pub const NS_ENROLLMENT_SLASH: &str =
    "http://schemas.microsoft.com/windows/management/2012/01/enrollment/";
/// [MS-XCEP] enrollment policy.
pub const NS_XCEP: &str = "http://schemas.microsoft.com/windows/pki/2009/01/enrollmentpolicy";
/// WS-Trust 1.3 (`wst`).
pub const NS_WST: &str = "http://docs.oasis-open.org/ws-sx/ws-trust/200512";
/// WS-Federation authorization (`ac`): the RequestSecurityToken's AdditionalContext.
pub const NS_AC: &str = "http://schemas.xmlsoap.org/ws/2006/12/authorization";
/// [MS-WSTEP] enrollment: DispositionMessage, RequestID and DeviceEnrollmentServiceError.
pub const NS_PKI_ENROLLMENT: &str = "http://schemas.microsoft.com/windows/pki/2009/01/enrollment";
/// XML Schema instance (`xsi:nil`).
pub const NS_XSI: &str = "http://www.w3.org/2001/XMLSchema-instance";
/// XML Schema.
pub const NS_XSD: &str = "http://www.w3.org/2001/XMLSchema";

// ---------------------------------------------------------------------------------------------------------
// Actions.

pub const ACTION_DISCOVER: &str =
    "http://schemas.microsoft.com/windows/management/2012/01/enrollment/IDiscoveryService/Discover";
pub const ACTION_DISCOVER_RESPONSE: &str =
    "http://schemas.microsoft.com/windows/management/2012/01/enrollment/IDiscoveryService/DiscoverResponse";
pub const ACTION_GET_POLICIES: &str =
    "http://schemas.microsoft.com/windows/pki/2009/01/enrollmentpolicy/IPolicy/GetPolicies";
pub const ACTION_GET_POLICIES_RESPONSE: &str =
    "http://schemas.microsoft.com/windows/pki/2009/01/enrollmentpolicy/IPolicy/GetPoliciesResponse";
pub const ACTION_RST: &str =
    "http://schemas.microsoft.com/windows/pki/2009/01/enrollment/RST/wstep";
pub const ACTION_RSTR: &str =
    "http://schemas.microsoft.com/windows/pki/2009/01/enrollment/RSTRC/wstep";
/// WS-Addressing's action for a SOAP fault (clients ignore a fault's action: [MS-WSTEP] §3.1.4.1.1.3).
pub const ACTION_FAULT: &str = "http://www.w3.org/2005/08/addressing/soap/fault";
/// WS-Addressing's anonymous endpoint, the requests' ReplyTo.
pub const ADDRESS_ANONYMOUS: &str = "http://www.w3.org/2005/08/addressing/anonymous";

// ---------------------------------------------------------------------------------------------------------
// Token and value types.

/// An Entra access token in the header's BinarySecurityToken (Entra join; pytune base64-encodes the JWT).
pub const TOKEN_TYPE_JWT: &str = "urn:ietf:params:oauth:token-type:jwt";
/// The federated (WAB) token in the header's BinarySecurityToken ([MS-MDE2] §3.4.4.1.1.1.1).
pub const TOKEN_TYPE_USER_TOKEN: &str =
    "http://schemas.microsoft.com/5.0.0.0/ConfigurationManager/Enrollment/DeviceEnrollmentUserToken";
/// The RequestSecurityToken's TokenType.
pub const DEVICE_ENROLLMENT_TOKEN: &str =
    "http://schemas.microsoft.com/5.0.0.0/ConfigurationManager/Enrollment/DeviceEnrollmentToken";
/// The ValueType of the response's BinarySecurityToken: a base64 provisioning document.
pub const PROVISION_DOC: &str =
    "http://schemas.microsoft.com/5.0.0.0/ConfigurationManager/Enrollment/DeviceEnrollmentProvisionDoc";
/// The ValueType of a new enrollment's certificate request.
pub const VALUE_TYPE_PKCS10: &str =
    "http://schemas.microsoft.com/windows/pki/2009/01/enrollment#PKCS10";
/// The ValueType of a renewal's certificate request.
pub const VALUE_TYPE_PKCS7: &str =
    "http://schemas.microsoft.com/windows/pki/2009/01/enrollment#PKCS7";
/// WS-Trust's Issue request type (a new enrollment).
pub const REQUEST_TYPE_ISSUE: &str = "http://docs.oasis-open.org/ws-sx/ws-trust/200512/Issue";
/// WS-Trust's Renew request type (a certificate renewal).
pub const REQUEST_TYPE_RENEW: &str = "http://docs.oasis-open.org/ws-sx/ws-trust/200512/Renew";
/// The EncodingType of every BinarySecurityToken.
pub const ENCODING_BASE64: &str =
    "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-secext-1.0.xsd#base64binary";
/// The Type of a UsernameToken's Password.
pub const PASSWORD_TEXT: &str =
    "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-username-token-profile-1.0#PasswordText";
/// The `u:Id` [MS-MDE2] §3.4.4.1.1.1.3 fixes for an on-premise UsernameToken.
pub const USERNAME_TOKEN_ID: &str = "uuid-cc1ccc1f-2fba-4bcf-b063-ffc0cac77917-4";

// ---------------------------------------------------------------------------------------------------------
// DeviceEnrollmentServiceError/ErrorType values ([MS-MDE2] §2.2.10, with the 2023 errata's CustomServerError).

/// The user enrolled too many devices (MENROLL_E_DEVICECAPREACHED, 0x80180013).
pub const ERROR_TYPE_DEVICE_CAP_REACHED: &str = "DeviceCapReached";
/// This platform or version is not supported (MENROLL_E_DEVICENOTSUPPORTED, 0x80180014).
pub const ERROR_TYPE_DEVICE_NOT_SUPPORTED: &str = "DeviceNotSupported";
/// MDM is not supported at all (MENROLL_E_NOTSUPPORTED, 0x80180015).
pub const ERROR_TYPE_NOT_SUPPORTED: &str = "NotSupported";
/// A renewal the server refuses (MENROLL_E_NOTELIGIBLETORENEW, 0x80180016).
pub const ERROR_TYPE_NOT_ELIGIBLE_TO_RENEW: &str = "NotEligibleToRenew";
/// The account is in maintenance (MENROLL_E_INMAINTENANCE, 0x80180017).
pub const ERROR_TYPE_IN_MAINTENANCE: &str = "InMaintenance";
/// The user's license blocks enrollment (MENROLL_E_USERLICENSE, 0x80180018).
pub const ERROR_TYPE_USER_LICENSE: &str = "UserLicense";
/// The server rejected the enrollment data (MENROLL_E_ENROLLMENTDATAINVALID, 0x80180019).
pub const ERROR_TYPE_INVALID_ENROLLMENT_DATA: &str = "InvalidEnrollmentData";
/// A server-defined error whose Message Windows shows to the user (0x80180032; [MS-MDE2] errata 2023/06/12).
pub const ERROR_TYPE_CUSTOM_SERVER_ERROR: &str = "CustomServerError";

// ---------------------------------------------------------------------------------------------------------
// Bounds on what a stranger may send.

/// Longest EmailAddress in a Discover request (RFC 5321's 64 + 1 + 255).
pub const MAX_EMAIL: usize = 320;
/// Largest certificate request, decoded.
pub const MAX_CERTIFICATE_REQUEST: usize = 16 * 1024;
/// Most AdditionalContext items in one request.
pub const MAX_CONTEXT_ITEMS: usize = 64;
/// Longest context item name, in bytes.
pub const MAX_CONTEXT_NAME: usize = 256;
/// Longest context item value, in bytes.
pub const MAX_CONTEXT_VALUE: usize = 4096;
/// Largest credential in the security header (a token's text, a user name or a password), in bytes.
pub const MAX_TOKEN: usize = 16 * 1024;

/// Why an enrollment message was refused. Messages are short and never echo the input beyond a short,
/// escaped excerpt.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EnrollmentError {
    #[error("the message is not acceptable XML: {0}")]
    Xml(#[from] XmlError),
    #[error("the message is not a SOAP 1.2 envelope")]
    NotSoapEnvelope,
    #[error("the SOAP header has no {0}")]
    MissingHeader(&'static str),
    /// The action, as a short escaped excerpt.
    #[error("unknown action {0}")]
    UnknownAction(String),
    #[error("the SOAP body does not match the action")]
    ActionMismatch,
    #[error("the message has no {0}")]
    MissingElement(&'static str),
    #[error("the message's {0} is not valid")]
    InvalidElement(&'static str),
    #[error("the security header is not valid: {0}")]
    InvalidSecurity(&'static str),
    #[error("{0} is not valid base64")]
    BadBase64(&'static str),
    #[error("the certificate request is larger than {0} bytes")]
    CertificateRequestTooLarge(usize),
    #[error("the request has more than {0} context items")]
    TooManyContextItems(usize),
    /// Which part (`name` or `value`) and its bound.
    #[error("a context item's {0} is longer than {1} bytes")]
    ContextItemTooLong(&'static str, usize),
    #[error("the security token is larger than {0} bytes")]
    TokenTooLarge(usize),
    #[error("the email address is longer than {0} bytes")]
    EmailTooLong(usize),
}

impl EnrollmentError {
    /// The fault the server answers this refusal with: a malformed message is `MessageFormat`, a security
    /// header the server cannot read is `InvalidSecurity`.
    pub fn fault_code(&self) -> FaultCode {
        match self {
            EnrollmentError::InvalidSecurity(_) | EnrollmentError::TokenTooLarge(_) => {
                FaultCode::InvalidSecurity
            }
            EnrollmentError::Xml(_)
            | EnrollmentError::NotSoapEnvelope
            | EnrollmentError::MissingHeader(_)
            | EnrollmentError::UnknownAction(_)
            | EnrollmentError::ActionMismatch
            | EnrollmentError::MissingElement(_)
            | EnrollmentError::InvalidElement(_)
            | EnrollmentError::BadBase64(_)
            | EnrollmentError::CertificateRequestTooLarge(_)
            | EnrollmentError::TooManyContextItems(_)
            | EnrollmentError::ContextItemTooLong(..)
            | EnrollmentError::EmailTooLong(_) => FaultCode::MessageFormat,
        }
    }
}

/// The fault subcodes of [MS-MDE2] §2.2.10.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum FaultCode {
    /// `s:MessageFormat`: the message format is bad (MENROLL_E_DEVICE_MESSAGE_FORMAT_ERROR, 0x80180001).
    MessageFormat,
    /// `s:Authentication`: the user is not recognized (0x80180002).
    Authentication,
    /// `s:Authorization`: the user may not enroll (0x80180003).
    Authorization,
    /// `s:CertificateRequest`: no certificate could be issued (0x80180004).
    CertificateRequest,
    /// `s:EnrollmentServer`: a generic failure of the management server (0x80180005).
    EnrollmentServer,
    /// `a:InternalServiceFault`: the server hit an unexpected issue (0x80180006).
    InternalServiceFault,
    /// `a:InvalidSecurity`: the security header cannot be parsed (0x80180007).
    InvalidSecurity,
}

impl FaultCode {
    pub const ALL: [FaultCode; 7] = [
        FaultCode::MessageFormat,
        FaultCode::Authentication,
        FaultCode::Authorization,
        FaultCode::CertificateRequest,
        FaultCode::EnrollmentServer,
        FaultCode::InternalServiceFault,
        FaultCode::InvalidSecurity,
    ];

    /// The subcode's local name.
    pub fn name(self) -> &'static str {
        match self {
            FaultCode::MessageFormat => "MessageFormat",
            FaultCode::Authentication => "Authentication",
            FaultCode::Authorization => "Authorization",
            FaultCode::CertificateRequest => "CertificateRequest",
            FaultCode::EnrollmentServer => "EnrollmentServer",
            FaultCode::InternalServiceFault => "InternalServiceFault",
            FaultCode::InvalidSecurity => "InvalidSecurity",
        }
    }

    /// The subcode's value as [MS-MDE2] §2.2.10 writes it: `s:` (SOAP 1.2) for the first five, `a:`
    /// (WS-Addressing) for InternalServiceFault and InvalidSecurity.
    pub fn subcode(self) -> &'static str {
        match self {
            FaultCode::MessageFormat => "s:MessageFormat",
            FaultCode::Authentication => "s:Authentication",
            FaultCode::Authorization => "s:Authorization",
            FaultCode::CertificateRequest => "s:CertificateRequest",
            FaultCode::EnrollmentServer => "s:EnrollmentServer",
            FaultCode::InternalServiceFault => "a:InternalServiceFault",
            FaultCode::InvalidSecurity => "a:InvalidSecurity",
        }
    }

    /// The fault's Code value. [MS-MDE2] §2.2.10 shows only `s:Receiver` (and Intune answers an
    /// authorization refusal with it), so every subcode is sent under `s:Receiver`.
    pub fn code(self) -> &'static str {
        "s:Receiver"
    }

    /// The HRESULT Windows reports for the subcode.
    pub fn hresult(self) -> u32 {
        match self {
            FaultCode::MessageFormat => 0x8018_0001,
            FaultCode::Authentication => 0x8018_0002,
            FaultCode::Authorization => 0x8018_0003,
            FaultCode::CertificateRequest => 0x8018_0004,
            FaultCode::EnrollmentServer => 0x8018_0005,
            FaultCode::InternalServiceFault => 0x8018_0006,
            FaultCode::InvalidSecurity => 0x8018_0007,
        }
    }

    /// The subcode named by a QName such as `s:MessageFormat` or `a:invalidsecurity` (the prefix is not
    /// resolved; the local name is compared without regard to case).
    pub fn from_subcode(value: &str) -> Option<FaultCode> {
        let local = value.trim().rsplit(':').next().unwrap_or("");
        FaultCode::ALL
            .into_iter()
            .find(|code| code.name().eq_ignore_ascii_case(local))
    }
}

/// A SOAP fault of the enrollment services.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Fault {
    pub code: FaultCode,
    /// The `s:Reason/s:Text` (and the detail's Message).
    pub reason: String,
    /// The `DeviceEnrollmentServiceError/ErrorType`: one of the `ERROR_TYPE_*` values.
    pub error_type: Option<String>,
    /// The `DeviceEnrollmentServiceError/TraceId`: identifies the server's state for support.
    pub trace_id: Option<String>,
}

impl From<&EnrollmentError> for Fault {
    /// The fault answering a refused request: its subcode and its (short, input-free) message.
    fn from(error: &EnrollmentError) -> Self {
        Fault {
            code: error.fault_code(),
            reason: error.to_string(),
            error_type: None,
            trace_id: None,
        }
    }
}
