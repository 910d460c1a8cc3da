//! The provisioning document (`wap-provisioningdoc version="1.1"`, [MS-MDE2] §2.2.9.1) the enrollment
//! service returns inside its RequestSecurityTokenResponse: the certificates to install (CertificateStore
//! CSP), the OMA DM account (w7 APPLICATION CSP) and the polling schedule (DMClient CSP), shaped like the
//! sample of the Windows documentation's "Federated authentication device enrollment".
//!
//! Layout (one `CertificateStore` characteristic per store, in this order):
//!
//! ```text
//! CertificateStore/Root/System/<SHA-1>          parm EncodedCertificate
//! CertificateStore/CA/System/<SHA-1>            parm EncodedCertificate            (issuing CA, when given)
//! CertificateStore/My/(System|User)/<SHA-1>     parm EncodedCertificate; …/PrivateKeyContainer
//! CertificateStore/My/WSTEP/Renew               ROBOSupport, RenewPeriod, RetryInterval   (when given)
//! APPLICATION (w7)                              PROVIDER-ID, NAME, ADDR, …, APPAUTH CLIENT, APPAUTH APPSRV
//! DMClient/Provider/<PROVIDER-ID>               UPN, EntDeviceName, Poll{…}
//! ```
//!
//! The order matters to more than Windows: pytune reads the client certificate as the third `parm` four
//! characteristics deep, which is the My certificate only when an issuing CA certificate is present.

use sha1::{Digest, Sha1};

use super::soap::{self, Base64Failure, Out};
use super::EnrollmentError;
use crate::xml::{self, Element, Limits};

/// Where the client certificate is installed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum CertificateScope {
    /// `My/System`: the device's store, for EnrollmentType `Device` (Entra join, Autopilot).
    System,
    /// `My/User`: the user's store, for EnrollmentType `Full`.
    User,
}

impl CertificateScope {
    pub fn as_str(self) -> &'static str {
        match self {
            CertificateScope::System => "System",
            CertificateScope::User => "User",
        }
    }
}

/// The DMClient `Poll` schedule (minutes between retries, [MS-MDE2] sample and DMClient CSP).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PollSchedule {
    pub first_retries: u32,
    pub first_interval_minutes: u32,
    pub second_retries: u32,
    pub second_interval_minutes: u32,
    pub remaining_retries: u32,
    pub remaining_interval_minutes: u32,
    pub poll_on_login: bool,
}

/// `CertificateStore/My/WSTEP/Renew`: how the client renews its certificate.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RenewalSettings {
    /// `ROBOSupport`: renew in the background ("renew on behalf of").
    pub robo_support: bool,
    /// `RenewPeriod`: days before expiry to start renewing.
    pub renew_period_days: u32,
    /// `RetryInterval`: days between renewal attempts.
    pub retry_interval_days: u32,
}

/// What a provisioning document configures.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ProvisioningDocument {
    /// The root CA certificate, DER (`CertificateStore/Root/System`).
    pub root_certificate: Vec<u8>,
    /// An intermediate/issuing CA certificate, DER (`CertificateStore/CA/System`).
    pub issuing_certificate: Option<Vec<u8>>,
    /// The client certificate issued for the request, DER.
    pub client_certificate: Vec<u8>,
    /// Its store: `My/System` for EnrollmentType Device, `My/User` for Full.
    pub client_scope: CertificateScope,
    /// The w7 `PROVIDER-ID` and DMClient provider node.
    pub provider_id: String,
    /// The w7 `NAME`.
    pub server_name: String,
    /// The w7 `ADDR`: the OMA DM server's URL.
    pub management_url: String,
    /// The client certificate's subject, as SSLCLIENTCERTSEARCHCRITERIA's `Subject=` (URL-encoded there).
    pub client_certificate_subject: String,
    /// DMClient `UPN`.
    pub upn: Option<String>,
    /// DMClient `EntDeviceName`.
    pub device_name: Option<String>,
    pub poll: PollSchedule,
    /// `CertificateStore/My/WSTEP/Renew`; omitted when `None` (a server without renewal must not send it).
    pub renewal: Option<RenewalSettings>,
    /// APPAUTH `CLIENT` `AAUTHSECRET`.
    pub client_secret: String,
    /// APPAUTH `CLIENT` `AAUTHDATA`: the digest nonce (base64 on the wire). Chosen by the caller, as this
    /// module has no randomness.
    pub client_nonce: Vec<u8>,
    /// APPAUTH `APPSRV` `AAUTHNAME` (Fleet puts the device id).
    pub server_auth_name: String,
    /// APPAUTH `APPSRV` `AAUTHSECRET`.
    pub server_secret: String,
}

/// The certificate's SHA-1 thumbprint in upper-case hex: its characteristic's name.
pub fn thumbprint(der: &[u8]) -> String {
    hex::encode_upper(Sha1::digest(der))
}

/// Percent-encodes everything but RFC 3986's unreserved characters (upper-case hex digits).
fn url_encode(text: &str) -> String {
    let mut out = String::with_capacity(text.len() * 3);
    for byte in text.bytes() {
        if byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'.' | b'_' | b'~') {
            out.push(char::from(byte));
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

/// Decodes `%XX` escapes (either case); `None` for a broken escape or a result that is not UTF-8.
fn url_decode(text: &str) -> Option<String> {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut at = 0;
    while at < bytes.len() {
        if bytes[at] == b'%' {
            let hex = bytes.get(at + 1..at + 3)?;
            let hex = std::str::from_utf8(hex).ok()?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            at += 3;
        } else {
            out.push(bytes[at]);
            at += 1;
        }
    }
    String::from_utf8(out).ok()
}

fn parm(w: &mut Out, name: &str, value: &str) {
    w.empty("parm", &[("name", name), ("value", value)]);
}

fn typed_parm(w: &mut Out, name: &str, value: &str, datatype: &str) {
    w.empty(
        "parm",
        &[("name", name), ("value", value), ("datatype", datatype)],
    );
}

fn open_characteristic(w: &mut Out, kind: &str) {
    w.open("characteristic", &[("type", kind)]);
}

fn close_characteristic(w: &mut Out) {
    w.close("characteristic");
}

/// `<characteristic type="<thumbprint>"><parm name="EncodedCertificate" value="<base64>"/></characteristic>`
fn certificate(w: &mut Out, der: &[u8]) {
    open_characteristic(w, &thumbprint(der));
    parm(w, "EncodedCertificate", &soap::encode_base64(der));
    close_characteristic(w);
}

/// `CertificateStore/<store>/System/<certificate>`.
fn system_store(w: &mut Out, store: &str, der: &[u8]) {
    open_characteristic(w, "CertificateStore");
    open_characteristic(w, store);
    open_characteristic(w, "System");
    certificate(w, der);
    close_characteristic(w);
    close_characteristic(w);
    close_characteristic(w);
}

/// The provisioning document's XML.
pub fn provisioning_document(doc: &ProvisioningDocument) -> String {
    let mut w = Out::new();
    w.open("wap-provisioningdoc", &[("version", "1.1")]);

    system_store(&mut w, "Root", &doc.root_certificate);
    if let Some(issuing) = &doc.issuing_certificate {
        system_store(&mut w, "CA", issuing);
    }
    open_characteristic(&mut w, "CertificateStore");
    open_characteristic(&mut w, "My");
    open_characteristic(&mut w, doc.client_scope.as_str());
    certificate(&mut w, &doc.client_certificate);
    w.empty("characteristic", &[("type", "PrivateKeyContainer")]);
    close_characteristic(&mut w);
    if let Some(renewal) = &doc.renewal {
        open_characteristic(&mut w, "WSTEP");
        open_characteristic(&mut w, "Renew");
        typed_parm(
            &mut w,
            "ROBOSupport",
            if renewal.robo_support {
                "true"
            } else {
                "false"
            },
            "boolean",
        );
        typed_parm(
            &mut w,
            "RenewPeriod",
            &renewal.renew_period_days.to_string(),
            "integer",
        );
        typed_parm(
            &mut w,
            "RetryInterval",
            &renewal.retry_interval_days.to_string(),
            "integer",
        );
        close_characteristic(&mut w);
        close_characteristic(&mut w);
    }
    close_characteristic(&mut w);
    close_characteristic(&mut w);

    let stores = match doc.client_scope {
        CertificateScope::System => "My%5CSystem",
        CertificateScope::User => "My%5CUser",
    };
    let search = format!(
        "Subject={}&Stores={stores}",
        url_encode(&doc.client_certificate_subject)
    );
    open_characteristic(&mut w, "APPLICATION");
    parm(&mut w, "APPID", "w7");
    parm(&mut w, "PROVIDER-ID", &doc.provider_id);
    parm(&mut w, "NAME", &doc.server_name);
    parm(&mut w, "ADDR", &doc.management_url);
    parm(&mut w, "CONNRETRYFREQ", "6");
    parm(&mut w, "INITIALBACKOFFTIME", "30000");
    parm(&mut w, "MAXBACKOFFTIME", "120000");
    w.empty("parm", &[("name", "BACKCOMPATRETRYDISABLED")]);
    parm(&mut w, "DEFAULTENCODING", "application/vnd.syncml.dm+xml");
    parm(&mut w, "SSLCLIENTCERTSEARCHCRITERIA", &search);
    open_characteristic(&mut w, "APPAUTH");
    parm(&mut w, "AAUTHLEVEL", "CLIENT");
    parm(&mut w, "AAUTHTYPE", "DIGEST");
    parm(&mut w, "AAUTHSECRET", &doc.client_secret);
    parm(&mut w, "AAUTHDATA", &soap::encode_base64(&doc.client_nonce));
    close_characteristic(&mut w);
    open_characteristic(&mut w, "APPAUTH");
    parm(&mut w, "AAUTHLEVEL", "APPSRV");
    parm(&mut w, "AAUTHTYPE", "BASIC");
    parm(&mut w, "AAUTHNAME", &doc.server_auth_name);
    parm(&mut w, "AAUTHSECRET", &doc.server_secret);
    close_characteristic(&mut w);
    close_characteristic(&mut w);

    open_characteristic(&mut w, "DMClient");
    open_characteristic(&mut w, "Provider");
    open_characteristic(&mut w, &doc.provider_id);
    if let Some(upn) = &doc.upn {
        typed_parm(&mut w, "UPN", upn, "string");
    }
    if let Some(device_name) = &doc.device_name {
        typed_parm(&mut w, "EntDeviceName", device_name, "string");
    }
    open_characteristic(&mut w, "Poll");
    let poll = &doc.poll;
    for (name, value) in [
        ("NumberOfFirstRetries", poll.first_retries),
        ("IntervalForFirstSetOfRetries", poll.first_interval_minutes),
        ("NumberOfSecondRetries", poll.second_retries),
        (
            "IntervalForSecondSetOfRetries",
            poll.second_interval_minutes,
        ),
        ("NumberOfRemainingScheduledRetries", poll.remaining_retries),
        (
            "IntervalForRemainingScheduledRetries",
            poll.remaining_interval_minutes,
        ),
    ] {
        typed_parm(&mut w, name, &value.to_string(), "integer");
    }
    typed_parm(
        &mut w,
        "PollOnLogin",
        if poll.poll_on_login { "true" } else { "false" },
        "boolean",
    );
    close_characteristic(&mut w);
    close_characteristic(&mut w);
    close_characteristic(&mut w);
    close_characteristic(&mut w);

    w.close("wap-provisioningdoc");
    w.finish()
}

/// The child `characteristic` of type `kind`.
fn characteristic<'a>(parent: &'a Element, kind: &str) -> Option<&'a Element> {
    parent
        .children_named("characteristic")
        .find(|c| c.attribute("type") == Some(kind))
}

/// The value of the child `parm` named `name`.
fn parm_value<'a>(parent: &'a Element, name: &str) -> Option<&'a str> {
    parent
        .children_named("parm")
        .find(|p| p.attribute("name") == Some(name))
        .and_then(|p| p.attribute("value"))
}

fn required_parm<'a>(parent: &'a Element, name: &'static str) -> Result<&'a str, EnrollmentError> {
    parm_value(parent, name).ok_or(EnrollmentError::MissingElement(name))
}

fn number_parm(parent: &Element, name: &'static str) -> Result<u32, EnrollmentError> {
    required_parm(parent, name)?
        .trim()
        .parse()
        .map_err(|_| EnrollmentError::InvalidElement(name))
}

fn boolean_parm(parent: &Element, name: &'static str) -> Result<bool, EnrollmentError> {
    let value = required_parm(parent, name)?.trim();
    if value.eq_ignore_ascii_case("true") || value == "1" {
        Ok(true)
    } else if value.eq_ignore_ascii_case("false") || value == "0" {
        Ok(false)
    } else {
        Err(EnrollmentError::InvalidElement(name))
    }
}

fn base64_parm(value: &str) -> Result<Vec<u8>, EnrollmentError> {
    // The reader's text bound already bounds a value.
    soap::decode_base64(value, 64 * 1024).map_err(|failure| match failure {
        Base64Failure::Bad | Base64Failure::TooLarge => EnrollmentError::BadBase64("a parm value"),
    })
}

/// The certificate in a store's scope characteristic (`…/System`): the first characteristic with an
/// EncodedCertificate, which must be named by its thumbprint.
fn stored_certificate(scope: &Element) -> Result<Option<Vec<u8>>, EnrollmentError> {
    for entry in scope.children_named("characteristic") {
        let Some(encoded) = parm_value(entry, "EncodedCertificate") else {
            continue;
        };
        let der = base64_parm(encoded)?;
        let named = entry.attribute("type").unwrap_or("");
        if !named.trim().eq_ignore_ascii_case(&thumbprint(&der)) {
            return Err(EnrollmentError::InvalidElement("certificate thumbprint"));
        }
        return Ok(Some(der));
    }
    Ok(None)
}

/// Reads a provisioning document back (device side). Certificates must be named by their SHA-1 thumbprint;
/// the w7 APPLICATION's PROVIDER-ID, NAME, ADDR, SSLCLIENTCERTSEARCHCRITERIA and both APPAUTH credentials,
/// and the DMClient provider's Poll schedule, are required.
pub fn parse_provisioning_document(xml: &str) -> Result<ProvisioningDocument, EnrollmentError> {
    let root = xml::parse(xml.as_bytes(), &Limits::SOAP)?;
    if !root.is("wap-provisioningdoc") {
        return Err(EnrollmentError::MissingElement("wap-provisioningdoc"));
    }
    let mut root_certificate = None;
    let mut issuing_certificate = None;
    let mut client = None;
    let mut renewal = None;
    for store in root
        .children_named("characteristic")
        .filter(|c| c.attribute("type") == Some("CertificateStore"))
    {
        if let (None, Some(system)) = (
            &root_certificate,
            characteristic(store, "Root").and_then(|r| characteristic(r, "System")),
        ) {
            root_certificate = stored_certificate(system)?;
        }
        if let (None, Some(system)) = (
            &issuing_certificate,
            characteristic(store, "CA").and_then(|r| characteristic(r, "System")),
        ) {
            issuing_certificate = stored_certificate(system)?;
        }
        if let Some(my) = characteristic(store, "My") {
            for scope in [CertificateScope::System, CertificateScope::User] {
                if let (None, Some(entries)) = (&client, characteristic(my, scope.as_str())) {
                    client = stored_certificate(entries)?.map(|der| (der, scope));
                }
            }
            if let Some(renew) =
                characteristic(my, "WSTEP").and_then(|w| characteristic(w, "Renew"))
            {
                renewal = Some(RenewalSettings {
                    robo_support: boolean_parm(renew, "ROBOSupport")?,
                    renew_period_days: number_parm(renew, "RenewPeriod")?,
                    retry_interval_days: number_parm(renew, "RetryInterval")?,
                });
            }
        }
    }
    let root_certificate =
        root_certificate.ok_or(EnrollmentError::MissingElement("root certificate"))?;
    let (client_certificate, client_scope) =
        client.ok_or(EnrollmentError::MissingElement("client certificate"))?;

    let application = root
        .children_named("characteristic")
        .find(|c| {
            c.attribute("type") == Some("APPLICATION") && parm_value(c, "APPID") == Some("w7")
        })
        .ok_or(EnrollmentError::MissingElement("w7 APPLICATION"))?;
    let provider_id = required_parm(application, "PROVIDER-ID")?;
    let search = required_parm(application, "SSLCLIENTCERTSEARCHCRITERIA")?;
    let client_certificate_subject = search
        .split('&')
        .find_map(|part| part.strip_prefix("Subject="))
        .and_then(url_decode)
        .ok_or(EnrollmentError::InvalidElement(
            "SSLCLIENTCERTSEARCHCRITERIA",
        ))?;
    let appauth = |level| {
        application.children_named("characteristic").find(|c| {
            c.attribute("type") == Some("APPAUTH") && parm_value(c, "AAUTHLEVEL") == Some(level)
        })
    };
    let client_auth = appauth("CLIENT").ok_or(EnrollmentError::MissingElement("APPAUTH CLIENT"))?;
    let server_auth = appauth("APPSRV").ok_or(EnrollmentError::MissingElement("APPAUTH APPSRV"))?;
    let client_nonce = match parm_value(client_auth, "AAUTHDATA") {
        Some(data) => base64_parm(data)?,
        None => Vec::new(),
    };

    let provider = root
        .children_named("characteristic")
        .find(|c| c.attribute("type") == Some("DMClient"))
        .and_then(|dm| characteristic(dm, "Provider"))
        .and_then(|p| characteristic(p, provider_id))
        .ok_or(EnrollmentError::MissingElement("DMClient provider"))?;
    let poll = characteristic(provider, "Poll").ok_or(EnrollmentError::MissingElement("Poll"))?;
    let poll = PollSchedule {
        first_retries: number_parm(poll, "NumberOfFirstRetries")?,
        first_interval_minutes: number_parm(poll, "IntervalForFirstSetOfRetries")?,
        second_retries: number_parm(poll, "NumberOfSecondRetries")?,
        second_interval_minutes: number_parm(poll, "IntervalForSecondSetOfRetries")?,
        remaining_retries: number_parm(poll, "NumberOfRemainingScheduledRetries")?,
        remaining_interval_minutes: number_parm(poll, "IntervalForRemainingScheduledRetries")?,
        poll_on_login: boolean_parm(poll, "PollOnLogin")?,
    };

    Ok(ProvisioningDocument {
        root_certificate,
        issuing_certificate,
        client_certificate,
        client_scope,
        provider_id: provider_id.to_string(),
        server_name: required_parm(application, "NAME")?.to_string(),
        management_url: required_parm(application, "ADDR")?.to_string(),
        client_certificate_subject,
        upn: parm_value(provider, "UPN").map(str::to_string),
        device_name: parm_value(provider, "EntDeviceName").map(str::to_string),
        poll,
        renewal,
        client_secret: required_parm(client_auth, "AAUTHSECRET")?.to_string(),
        client_nonce,
        server_auth_name: required_parm(server_auth, "AAUTHNAME")?.to_string(),
        server_secret: required_parm(server_auth, "AAUTHSECRET")?.to_string(),
    })
}
