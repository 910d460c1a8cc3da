//! The error catalogue: every error ztd answers, with its HTTP status and wire code ([`Code`]), and the
//! per-row import results. Import errors carry the Device Directory Service codes and names that Graph clients
//! read from `deviceErrorCode`/`deviceErrorName`; domain errors carry a stable code and the field at fault.

use serde::Serialize;

/// How an answer is shaped on the wire.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Shape {
    /// Graph's `{"error":{"code","message","innerError"}}` (every API but the token endpoint).
    Graph,
    /// Entra's token-endpoint error: `{"error","error_description":"AADSTS…","error_codes":[…]}`.
    OAuth,
    /// The device registration service's `{"ErrorType","Message","TraceId","Time"}` ([MS-DVRJ] §2.2.3.1).
    Drs,
    /// The MDM enrollment services' SOAP 1.2 fault with its [MS-MDE2] subcode and
    /// `DeviceEnrollmentServiceError` detail.
    SoapFault,
    /// The management service's answer to a SyncML message it will not serve: the SyncHdr `Status` code in a
    /// SyncML reply when the message could be read, plain text otherwise.
    SyncMl,
}

/// Declares the catalogue: one line per answer, with its HTTP status, wire shape, wire code and (token
/// endpoint) AADSTS number. Everything an error needs on the wire is read from here.
macro_rules! catalogue {
    ($( $(#[doc = $doc:literal])+ $name:ident = $status:literal $shape:ident $wire:literal $($aadsts:literal)?; )+) => {
        /// Every error ztd answers. The status, code and shape of an error come only from this table.
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
        pub enum Code {
            $( $(#[doc = $doc])+ $name, )+
        }

        impl Code {
            /// Every entry, in table order.
            pub const ALL: &'static [Code] = &[$(Code::$name),+];

            /// The HTTP status.
            pub const fn status(self) -> u16 {
                match self { $(Code::$name => $status,)+ }
            }

            /// The wire code: Graph's `error.code`, or OAuth's `error`.
            pub const fn wire(self) -> &'static str {
                match self { $(Code::$name => $wire,)+ }
            }

            pub const fn shape(self) -> Shape {
                match self { $(Code::$name => Shape::$shape,)+ }
            }

            /// The `AADSTS` number of a token-endpoint error.
            pub const fn aadsts(self) -> Option<u32> {
                match self { $(Code::$name => catalogue!(@aadsts $($aadsts)?),)+ }
            }

            /// When ztd answers it (the entry's doc line).
            pub fn meaning(self) -> &'static str {
                match self { $(Code::$name => concat!($($doc),+).trim(),)+ }
            }

            /// The entry's name, as the catalogue page lists it.
            pub const fn name(self) -> &'static str {
                match self { $(Code::$name => stringify!($name),)+ }
            }
        }
    };
    (@aadsts $n:literal) => { Some($n) };
    (@aadsts) => { None };
}

catalogue! {
    /// A malformed request: a query option, a parameter or a body that cannot be used as sent.
    BadRequest = 400 Graph "BadRequest";
    /// One field of a body is invalid (an entry of a `BadRequest`'s `details`).
    InvalidValue = 400 Graph "InvalidValue";
    /// The body is not JSON (`Content-Type`).
    UnsupportedMediaType = 415 Graph "BadRequest";
    /// The body is JSON of the wrong shape.
    UnprocessableBody = 422 Graph "BadRequest";
    /// The body is larger than the route takes.
    BodyTooLarge = 413 Graph "RequestEntityTooLarge";
    /// No route has this path (or it exists only under `/beta`).
    SegmentNotFound = 404 Graph "BadRequest";
    /// The route exists but not with this method.
    MethodNotAllowed = 405 Graph "BadRequest";
    /// An advanced query on directory objects (`/$count`, `$search`) without `ConsistencyLevel: eventual`.
    UnsupportedQuery = 400 Graph "Request_UnsupportedQuery";
    /// An Intune object that does not exist in the caller's tenant.
    ResourceNotFound = 404 Graph "ResourceNotFound";
    /// A directory object (device, group, organization) that does not exist in the caller's tenant.
    DirectoryObjectNotFound = 404 Graph "Request_ResourceNotFound";
    /// No bearer token, or one that is invalid, expired or not yet valid.
    InvalidAuthenticationToken = 401 Graph "InvalidAuthenticationToken";
    /// The token's roles do not allow the call.
    AuthorizationRequestDenied = 403 Graph "Authorization_RequestDenied";
    /// The request conflicts with the current state (a duplicate, a running sync, a concurrent change).
    Conflict = 409 Graph "Conflict";
    /// A request of a JSON batch that was not run because a request it depends on (`dependsOn`) failed.
    FailedDependency = 424 Graph "FailedDependency";
    /// Over a rate limit; `Retry-After` says when to come back.
    TooManyRequests = 429 Graph "TooManyRequests";
    /// Stored data is damaged or a contract inside ztd is broken; the log has the details under the request id.
    InternalServerError = 500 Graph "InternalServerError";
    /// The database is unreachable or overloaded; retrying later can succeed.
    ServiceUnavailable = 503 Graph "ServiceUnavailable";
    /// The token request's grant type is not one ztd serves.
    UnsupportedGrantType = 400 OAuth "unsupported_grant_type" 70003;
    /// The token request lacks a required parameter.
    MissingParameter = 400 OAuth "invalid_request" 900144;
    /// The token request body is not a form ztd can read.
    MalformedTokenRequest = 400 OAuth "invalid_request" 90014;
    /// The token request body is over the token endpoint's size limit.
    TokenRequestTooLarge = 413 OAuth "invalid_request" 90014;
    /// A scope names a resource ztd issues no tokens for.
    UnknownResource = 400 OAuth "invalid_resource" 500011;
    /// The scope is malformed for the grant (client credentials need `<resource>/.default`).
    InvalidScope = 400 OAuth "invalid_scope" 1002012;
    /// The client secret is wrong, or the client is unknown.
    InvalidClientSecret = 401 OAuth "invalid_client" 7000215;
    /// The client secret matches one that has expired.
    ExpiredClientSecret = 401 OAuth "invalid_client" 7000222;
    /// A confidential client sent neither a secret nor an assertion.
    ClientCredentialRequired = 401 OAuth "invalid_client" 7000218;
    /// The client assertion names no certificate of the client, or its signature does not verify with it,
    /// or the certificate has expired.
    InvalidClientAssertionKey = 401 OAuth "invalid_client" 700027;
    /// The client assertion's `sub` differs from its `iss`.
    AssertionSubjectMismatch = 401 OAuth "invalid_client" 50048;
    /// The client assertion is malformed, expired, for another audience, or used before.
    InvalidClientAssertion = 401 OAuth "invalid_client" 50013;
    /// Client credentials at `/common` or `/organizations`: the app's tenant must be named.
    TenantRequired = 400 OAuth "invalid_request" 9001023;
    /// Device code flow: the user has not finished signing in yet; poll again after `interval`.
    AuthorizationPending = 400 OAuth "authorization_pending" 70016;
    /// Device code flow: the user declined on the sign-in page.
    AuthorizationDeclined = 400 OAuth "authorization_declined" 70000;
    /// Device code flow: the code's 15 minutes are over.
    DeviceCodeExpired = 400 OAuth "expired_token" 70019;
    /// Device code flow: no such device code (or it was for another client).
    UnknownDeviceCode = 400 OAuth "bad_verification_code" 70018;
    /// Too many device code requests or code entries from one address; `Retry-After` says when to return.
    SignInThrottled = 429 OAuth "temporarily_unavailable" 90055;
    /// A device code or authorization code redeemed a second time.
    GrantAlreadyRedeemed = 400 OAuth "invalid_grant" 54005;
    /// An authorization code that is unknown, malformed or issued to another client or redirect URI.
    InvalidAuthorizationCode = 400 OAuth "invalid_grant" 9002313;
    /// An authorization code past its ten minutes.
    ExpiredAuthorizationCode = 400 OAuth "invalid_grant" 70008;
    /// The PKCE code verifier does not answer the challenge of the authorization request.
    PkceMismatch = 400 OAuth "invalid_grant" 501481;
    /// The redirect URI is not registered for the application.
    RedirectUriMismatch = 400 OAuth "invalid_request" 50011;
    /// The client exists, but not in the tenant the request names; or no such client is known at all.
    UnknownClientInTenant = 400 OAuth "unauthorized_client" 700016;
    /// The tenant in the path is neither a tenant id, a verified domain, `common` nor `organizations`.
    UnknownTenant = 400 OAuth "invalid_tenant" 90002;
    /// A password sign-in for a user name no user has (in the tenant the request names).
    UnknownUser = 400 OAuth "invalid_grant" 50034;
    /// A password sign-in with the wrong password.
    WrongPassword = 400 OAuth "invalid_grant" 50126;
    /// A sign-in of a disabled account (`accountEnabled: false`).
    AccountDisabled = 400 OAuth "invalid_grant" 50057;
    /// Smart lockout: too many wrong passwords from this kind of source; try again later.
    AccountLocked = 400 OAuth "invalid_grant" 50053;
    /// The password is right but must be changed first (`forceChangePasswordNextSignIn`).
    PasswordChangeRequired = 400 OAuth "invalid_grant" 50055;
    /// A refresh token that is unknown, malformed, revoked or issued to another client.
    InvalidRefreshToken = 400 OAuth "invalid_grant" 70000;
    /// A refresh token past its lifetime.
    ExpiredRefreshToken = 400 OAuth "invalid_grant" 700082;
    /// A refresh token used twice: its whole family is revoked (someone else holds a copy).
    RevokedRefreshToken = 400 OAuth "invalid_grant" 50173;
    /// A device-signed or session-key-signed request does not verify: its signature, its `request_nonce`
    /// (unknown, expired, or used before) or its shape.
    InvalidDeviceAssertion = 400 OAuth "invalid_grant" 50013;
    /// The certificate of a device-signed request is not a current certificate of ztd's device CA.
    DeviceAuthenticationFailed = 400 OAuth "invalid_grant" 50155;
    /// The device object of the certificate or PRT is disabled.
    DeviceDisabled = 400 OAuth "invalid_grant" 135011;
    /// The device object of the certificate or PRT no longer exists.
    DeviceObjectNotFound = 400 OAuth "invalid_grant" 700003;
    /// A device registration request that cannot be used as sent: its body, certificate request, transport
    /// key or join type.
    DrsInvalidRequest = 400 Drs "InvalidParameter";
    /// A device registration body larger than the service takes.
    DrsRequestTooLarge = 413 Drs "InvalidParameter";
    /// No usable DRS bearer token, or no valid device certificate on a certificate-authenticated call.
    DrsAuthenticationFailed = 401 Drs "AuthenticationError";
    /// The caller may not do this to this device (another device's id, a disabled device).
    DrsAuthorizationFailed = 403 Drs "AuthorizationError";
    /// The device of the client certificate no longer exists (as [MS-DVRJ] answers a delete: 401).
    DrsDeviceNotFound = 401 Drs "DeviceNotFound";
    /// The join names an Autopilot registration (its join ticket) that was deleted: the device is no longer
    /// an Autopilot device.
    DrsAutopilotDeviceNotFound = 400 Drs "AutopilotDeviceNotFound";
    /// The join ticket is forged, expired or of another tenant.
    DrsInvalidJoinTicket = 400 Drs "InvalidJoinTicket";
    /// No tenant with this id or domain (discovery).
    DrsUnknownTenant = 404 Drs "TenantNotFound";
    /// MDM enrollment: the SOAP message cannot be read (not SOAP 1.2, a missing or malformed element, a wrong
    /// action); the text says which part.
    MdmMessageFormat = 500 SoapFault "s:MessageFormat";
    /// MDM enrollment: the credential is missing, unknown or wrong (password, token).
    MdmAuthentication = 500 SoapFault "s:Authentication";
    /// MDM enrollment: the caller may not enroll this device (another user's device, a disabled object, an
    /// application's token, no tenant for the domain).
    MdmAuthorization = 500 SoapFault "s:Authorization";
    /// MDM enrollment: the certificate request cannot be used (not PKCS#10, not RSA 2048 to 4096, not
    /// SHA256withRSA, a bad signature).
    MdmCertificateRequest = 500 SoapFault "s:CertificateRequest";
    /// MDM enrollment: the security header cannot be read.
    MdmInvalidSecurity = 500 SoapFault "a:InvalidSecurity";
    /// MDM enrollment: ztd could not complete the enrollment (its database); retrying can succeed.
    MdmInternalServiceFault = 500 SoapFault "a:InternalServiceFault";
    /// Management session: the message is not SyncML 1.2 as Windows writes it; the text says why.
    SyncMlBadMessage = 400 SyncMl "400";
    /// Management session: no client certificate, or one that names no managed device (unknown, revoked
    /// after a retire, wipe or re-enrollment, expired, or its device deleted).
    SyncMlUnauthorized = 401 SyncMl "401";
    /// Management session: ztd could not serve the message (its database); the device retries at its next
    /// poll.
    SyncMlUnavailable = 503 SyncMl "503";
}

/// The catalogue as a Markdown table (`docs/errors.md` holds it; a test keeps the page current).
pub fn catalogue_markdown() -> String {
    let mut out =
        String::from("| entry | HTTP | shape | code | when |\n| --- | --- | --- | --- | --- |\n");
    for code in Code::ALL {
        let wire = match code.aadsts() {
            Some(n) => format!("`{}` (AADSTS{n})", code.wire()),
            None => format!("`{}`", code.wire()),
        };
        let shape = match code.shape() {
            Shape::Graph => "Graph",
            Shape::OAuth => "OAuth",
            Shape::Drs => "DRS",
            Shape::SoapFault => "SOAP fault",
            Shape::SyncMl => "SyncML",
        };
        out.push_str(&format!(
            "| {} | {} | {shape} | {wire} | {} |\n",
            code.name(),
            code.status(),
            code.meaning()
        ));
    }
    out.push_str("\n| DDS kind | deviceErrorCode |\n| --- | --- |\n");
    for kind in ImportErrorKind::ALL {
        out.push_str(&format!("| `{}` | {} |\n", kind.name(), kind.code()));
    }
    out
}

/// Why one registration (one CSV row, one Graph import) was refused. Codes and names are the DDS wire values.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
pub enum ImportErrorKind {
    InvalidZtdRequestBody,
    InvalidZtdHardwareHash,
    MissingZtdSerialNumberAndProductKey,
    ZtdDeviceAlreadyAssigned,
    ZtdDeviceIsNotRegistered,
    ZtdDeviceAssignedToOtherTenant,
    ZtdDeviceNotFound,
    ZtdDeviceDuplicated,
    StorageError,
}

impl ImportErrorKind {
    /// The numeric `deviceErrorCode`. Names without a published number use codes ztd assigns above 900,
    /// outside the DDS range (801–814), so clients that match on `806|808` keep working.
    pub fn code(self) -> i32 {
        match self {
            Self::InvalidZtdRequestBody => 801,
            Self::InvalidZtdHardwareHash => 802,
            Self::MissingZtdSerialNumberAndProductKey => 803,
            Self::ZtdDeviceAlreadyAssigned => 806,
            Self::ZtdDeviceIsNotRegistered => 807,
            Self::ZtdDeviceAssignedToOtherTenant => 808,
            Self::ZtdDeviceNotFound => 812,
            Self::ZtdDeviceDuplicated => 901,
            Self::StorageError => 902,
        }
    }

    /// Every kind, for lookups.
    pub const ALL: [ImportErrorKind; 9] = [
        Self::InvalidZtdRequestBody,
        Self::InvalidZtdHardwareHash,
        Self::MissingZtdSerialNumberAndProductKey,
        Self::ZtdDeviceAlreadyAssigned,
        Self::ZtdDeviceIsNotRegistered,
        Self::ZtdDeviceAssignedToOtherTenant,
        Self::ZtdDeviceNotFound,
        Self::ZtdDeviceDuplicated,
        Self::StorageError,
    ];

    /// The kind with this `deviceErrorCode`.
    pub fn from_code(code: i32) -> Option<Self> {
        Self::ALL.into_iter().find(|kind| kind.code() == code)
    }

    /// The `deviceErrorName` wire value.
    pub fn name(self) -> &'static str {
        match self {
            Self::InvalidZtdRequestBody => "InvalidZtdRequestBody",
            Self::InvalidZtdHardwareHash => "InvalidZtdHardwareHash",
            Self::MissingZtdSerialNumberAndProductKey => "MissingZtdSerialNumberAndProductKey",
            Self::ZtdDeviceAlreadyAssigned => "ZtdDeviceAlreadyAssigned",
            Self::ZtdDeviceIsNotRegistered => "ZtdDeviceIsNotRegistered",
            Self::ZtdDeviceAssignedToOtherTenant => "ZtdDeviceAssignedToOtherTenant",
            Self::ZtdDeviceNotFound => "ZtdDeviceNotFound",
            Self::ZtdDeviceDuplicated => "ZtdDeviceDuplicated",
            Self::StorageError => "StorageError",
        }
    }
}

/// An import refusal with a message that says what is wrong and what to do.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, thiserror::Error)]
#[error("{} {}: {message}", kind.code(), kind.name())]
pub struct ImportError {
    pub kind: ImportErrorKind,
    pub message: String,
}

impl ImportError {
    pub fn new(kind: ImportErrorKind, message: impl Into<String>) -> Self {
        Self {
            kind,
            message: message.into(),
        }
    }
}

/// What kind of object a request named: the subject of a not-found answer.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub enum ObjectKind {
    Tenant,
    DirectoryDevice,
    Group,
    GroupMember,
    AutopilotDevice,
    ImportedHash,
    CorporateIdentifier,
    DeploymentProfile,
    ProfileAssignment,
    EnrollmentConfiguration,
    User,
    Client,
    ClientCredential,
    Domain,
    AuditEvent,
    ManagedDevice,
    DeviceConfiguration,
    DeviceCompliancePolicy,
    PolicyAssignment,
    RoleScopeTag,
    AssignmentFilter,
}

impl ObjectKind {
    /// The name clients know the object by (Graph's entity name, or a plain word).
    pub fn name(self) -> &'static str {
        match self {
            Self::Tenant => "tenant",
            Self::DirectoryDevice => "device",
            Self::Group => "group",
            Self::GroupMember => "group member",
            Self::AutopilotDevice => "windowsAutopilotDeviceIdentity",
            Self::ImportedHash => "importedWindowsAutopilotDeviceIdentity",
            Self::CorporateIdentifier => "importedDeviceIdentity",
            Self::DeploymentProfile => "windowsAutopilotDeploymentProfile",
            Self::ProfileAssignment => "windowsAutopilotDeploymentProfileAssignment",
            Self::EnrollmentConfiguration => "deviceEnrollmentConfiguration",
            Self::User => "user",
            Self::Client => "application",
            Self::ClientCredential => "application credential",
            Self::Domain => "domain",
            Self::AuditEvent => "auditEvent",
            Self::ManagedDevice => "managedDevice",
            Self::DeviceConfiguration => "deviceConfiguration",
            Self::DeviceCompliancePolicy => "deviceCompliancePolicy",
            Self::PolicyAssignment => "assignment",
            Self::RoleScopeTag => "roleScopeTag",
            Self::AssignmentFilter => "deviceAndAppManagementAssignmentFilter",
        }
    }

    /// Whether it is a directory object (Entra's, not Intune's): those answer in Entra's error shape.
    pub fn is_directory_object(self) -> bool {
        matches!(self, Self::DirectoryDevice | Self::Group | Self::User)
    }
}

/// A refused command on a domain object: a stable code, the offending field (Graph property name) and why.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, thiserror::Error)]
pub enum DomainError {
    #[error("{field}: {message}")]
    InvalidField { field: String, message: String },
    #[error("{} {id} was not found", kind.name())]
    NotFound { kind: ObjectKind, id: String },
    #[error("{message}")]
    Conflict { message: String },
}

impl DomainError {
    pub fn invalid(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self::InvalidField {
            field: field.into(),
            message: message.into(),
        }
    }

    pub fn not_found(kind: ObjectKind, id: impl ToString) -> Self {
        Self::NotFound {
            kind,
            id: id.to_string(),
        }
    }

    pub fn conflict(message: impl Into<String>) -> Self {
        Self::Conflict {
            message: message.into(),
        }
    }

    /// The catalogue entry it answers with. Directory objects answer as Entra does; Intune objects as
    /// Intune does.
    pub fn code(&self) -> Code {
        match self {
            Self::InvalidField { .. } => Code::InvalidValue,
            Self::NotFound { kind, .. } if kind.is_directory_object() => {
                Code::DirectoryObjectNotFound
            }
            Self::NotFound { .. } => Code::ResourceNotFound,
            Self::Conflict { .. } => Code::Conflict,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn import_errors_render_code_and_wire_name() {
        let err = ImportError::new(
            ImportErrorKind::ZtdDeviceAssignedToOtherTenant,
            "registered elsewhere",
        );
        assert_eq!(
            err.to_string(),
            "808 ZtdDeviceAssignedToOtherTenant: registered elsewhere"
        );
        assert_eq!(ImportErrorKind::ZtdDeviceAlreadyAssigned.code(), 806);
        for kind in ImportErrorKind::ALL {
            assert_eq!(ImportErrorKind::from_code(kind.code()), Some(kind));
        }
    }
}
