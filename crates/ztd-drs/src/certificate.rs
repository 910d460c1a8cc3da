//! ztd's per-tenant device CA and the device certificates it issues at join ([MS-DVRJ] §3.1.5.1.1.3, §4.1).
//! Windows reads the device id from the subject's first RDN and the tenant from extension `.284.5`; the
//! server later finds the device by the certificate's `altSecurityIds` value.

use rcgen::{
    BasicConstraints, CertificateParams, CustomExtension, DistinguishedName, DnType, DnValue, IsCa,
    KeyIdMethod, KeyPair, PublicKeyData, SerialNumber, SignatureAlgorithm, PKCS_RSA_SHA256,
};
use sha1::Sha1;
use sha2::{Digest, Sha256};
use time::{OffsetDateTime, UtcOffset};
use uuid::Uuid;
use x509_parser::der_parser::asn1_rs::Tag;
use x509_parser::extensions::ParsedExtension;
use x509_parser::oid_registry::{OID_X509_COMMON_NAME, OID_X509_EXT_SUBJECT_KEY_IDENTIFIER};
use x509_parser::prelude::{FromDer, X509Certificate};
use x509_parser::x509::X509Name;

use crate::blob::RsaPublicKey;
use crate::csr::{CertificateRequest, SHA256_WITH_RSA_OID};
use crate::encoding::{b64std, hex_upper, tlv, TAG_OCTET_STRING};
use crate::DrsError;

/// Device and CA certificates are 1–2 KiB.
pub const MAX_CERTIFICATE_BYTES: usize = 16 * 1024;
/// The CA's common name, as Entra names its device CA.
pub const DEVICE_CA_COMMON_NAME: &str = "MS-Organization-Access";
/// Entra's prefix of a certificate-based `alternativeSecurityIds` key.
pub const ALT_SECURITY_ID_PREFIX: &str = "X509:<SHA1-TP-PUBKEY>";

/// Microsoft's arc for the DRS certificate extensions: 1.2.840.113556.1.5.284.
const MS_DRS_ARC: [u64; 7] = [1, 2, 840, 113_556, 1, 5, 284];
const EXT_DEVICE_ID: u64 = 2;
const EXT_USER_ID: u64 = 3;
const EXT_TENANT_ID: u64 = 5;
const EXT_JOIN_TYPE: u64 = 7;
const EXT_REGION: u64 = 8;

const OID_KEY_USAGE: [u64; 4] = [2, 5, 29, 15];
const OID_EXT_KEY_USAGE: [u64; 4] = [2, 5, 29, 37];
const OID_BASIC_CONSTRAINTS: [u64; 4] = [2, 5, 29, 19];
const OID_SUBJECT_KEY_ID: [u64; 4] = [2, 5, 29, 14];
/// `BIT STRING` digitalSignature (bit 0) + keyEncipherment (bit 2), 5 unused bits.
const KU_DEVICE: [u8; 4] = [0x03, 0x02, 0x05, 0xa0];
/// `BIT STRING` keyCertSign (bit 5) + cRLSign (bit 6), 1 unused bit.
const KU_CA: [u8; 4] = [0x03, 0x02, 0x01, 0x06];
/// `SEQUENCE { id-kp-clientAuth }`.
const EKU_CLIENT_AUTH: [u8; 12] = [
    0x30, 0x0a, 0x06, 0x08, 0x2b, 0x06, 0x01, 0x05, 0x05, 0x07, 0x03, 0x02,
];
/// `SEQUENCE {}`: cA is DEFAULT FALSE, so DER leaves it out (rcgen writes it explicitly).
const BASIC_CONSTRAINTS_END_ENTITY: [u8; 2] = [0x30, 0x00];

/// How the device joined: decides the certificate's `.284.7` value and the device object's `trustType`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum JoinKind {
    Joined,
    Registered,
    Hybrid,
}

impl JoinKind {
    /// The join request's `JoinType`: 0 and 8 join, 4 registers, 6 is hybrid join; other values are refused.
    pub fn from_join_type(n: i64) -> Option<Self> {
        match n {
            0 | 8 => Some(Self::Joined),
            4 => Some(Self::Registered),
            6 => Some(Self::Hybrid),
            _ => None,
        }
    }

    /// The device object's `trustType`.
    pub fn trust_type(self) -> &'static str {
        match self {
            Self::Joined => "AzureAd",
            Self::Registered => "Workplace",
            Self::Hybrid => "ServerAd",
        }
    }

    /// The ASCII value of extension `.284.7`: "1" for a joined device, "0" for a registered one.
    pub fn extension_value(self) -> &'static str {
        match self {
            Self::Joined | Self::Hybrid => "1",
            Self::Registered => "0",
        }
    }
}

/// What ztd puts in a device certificate besides the key.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DeviceCertificateFields {
    pub device_id: Uuid,
    pub tenant_id: Uuid,
    pub user_object_id: Option<Uuid>,
    pub join: JoinKind,
    /// Tenant region for `.284.8` (`NA`, `EU`, …).
    pub region: String,
    /// Written as a positive INTEGER: a 0x00 sign byte precedes it when its top bit is set. Not all zero.
    pub serial: [u8; 16],
    pub not_before: OffsetDateTime,
    pub not_after: OffsetDateTime,
}

/// What the server reads back from a device certificate presented to it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DeviceCertificate {
    pub device_id: Uuid,
    pub tenant_id: Option<Uuid>,
    pub user_object_id: Option<Uuid>,
    /// Upper-case hex SHA-1 of the DER: the join response's `Thumbprint`.
    pub sha1_thumbprint: String,
    pub sha256: [u8; 32],
    pub public_key: RsaPublicKey,
    /// Validity, Unix seconds.
    pub not_before: i64,
    pub not_after: i64,
}

/// The subject key as rcgen wants it: PKCS#1 DER, written into the SubjectPublicKeyInfo as rsaEncryption.
struct SubjectKey(Vec<u8>);

impl PublicKeyData for SubjectKey {
    fn der_bytes(&self) -> &[u8] {
        &self.0
    }

    fn algorithm(&self) -> &SignatureAlgorithm {
        &PKCS_RSA_SHA256
    }
}

/// Creates the tenant's self-signed device CA: `CN=MS-Organization-Access, OU=<tenant id>, O=<tenant name>`,
/// CA with path length 0, keyCertSign and cRLSign, signed SHA256withRSA with the caller's RSA PKCS#8 key.
pub fn create_device_ca(
    tenant_id: Uuid,
    tenant_name: &str,
    key_pkcs8: &[u8],
    serial: [u8; 16],
    not_before: OffsetDateTime,
    not_after: OffsetDateTime,
) -> Result<Vec<u8>, DrsError> {
    create_tenant_ca(
        DEVICE_CA_COMMON_NAME,
        tenant_id,
        tenant_name,
        key_pkcs8,
        serial,
        not_before,
        not_after,
    )
}

/// Creates a self-signed tenant CA named `CN=<common_name>, OU=<tenant id>, O=<tenant name>` (the device
/// CA, the MDM CA), otherwise as [`create_device_ca`].
pub fn create_tenant_ca(
    common_name: &str,
    tenant_id: Uuid,
    tenant_name: &str,
    key_pkcs8: &[u8],
    serial: [u8; 16],
    not_before: OffsetDateTime,
    not_after: OffsetDateTime,
) -> Result<Vec<u8>, DrsError> {
    if tenant_name.trim().is_empty()
        || tenant_name.chars().count() > 256
        || tenant_name.chars().any(char::is_control)
    {
        return Err(DrsError::InvalidFields(
            "the tenant name must be 1 to 256 characters without control characters",
        ));
    }
    let key = signing_key(key_pkcs8)?;
    let public = RsaPublicKey::from_pkcs1_der(key.public_key_raw())?;
    let mut params = CertificateParams::default();
    let mut name = DistinguishedName::new();
    name.push(DnType::CommonName, common_name);
    name.push(
        DnType::OrganizationalUnitName,
        tenant_id.hyphenated().to_string(),
    );
    name.push(DnType::OrganizationName, tenant_name);
    params.distinguished_name = name;
    params.serial_number = Some(serial_number(serial)?);
    (params.not_before, params.not_after) = validity(not_before, not_after)?;
    params.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
    params.key_identifier_method = KeyIdMethod::PreSpecified(key_identifier(&public));
    params.custom_extensions = vec![critical(&OID_KEY_USAGE, KU_CA.to_vec())];
    let cert = params
        .self_signed(&key)
        .map_err(|e| DrsError::CertificateBuild(e.to_string()))?;
    Ok(cert.der().to_vec())
}

/// A tenant's device CA ready to issue: its certificate checked against its key once, and rcgen's issuer
/// built once (rcgen names the issuer after a signed `Certificate`, which costs an RSA signature), so each
/// device certificate costs one signature.
pub struct DeviceCaIssuer {
    ca_key: KeyPair,
    issuer: rcgen::Certificate,
    ca_subject: Vec<u8>,
    ca_key_id: Option<Vec<u8>>,
}

impl DeviceCaIssuer {
    /// Checks that `ca_key_pkcs8` is the key of `ca_cert_der`, a CA certificate, and prepares to issue.
    pub fn new(ca_cert_der: &[u8], ca_key_pkcs8: &[u8]) -> Result<Self, DrsError> {
        let ca_key = signing_key(ca_key_pkcs8)?;
        let ca = parse_ca(ca_cert_der)?;
        let ca_public = RsaPublicKey::from_spki(ca.public_key()).map_err(|_| {
            DrsError::CaCertificate("its key is not an RSA key of 2048 to 4096 bits")
        })?;
        if RsaPublicKey::from_pkcs1_der(ca_key.public_key_raw()).ok() != Some(ca_public) {
            return Err(DrsError::CaKeyMismatch);
        }
        let ca_key_id = match ca.get_extension_unique(&OID_X509_EXT_SUBJECT_KEY_IDENTIFIER) {
            Ok(Some(ext)) => match ext.parsed_extension() {
                ParsedExtension::SubjectKeyIdentifier(id) => Some(id.0.to_vec()),
                _ => {
                    return Err(DrsError::CaCertificate(
                        "its subject key identifier is malformed",
                    ))
                }
            },
            Ok(None) => None,
            Err(_) => {
                return Err(DrsError::CaCertificate(
                    "it has two subject key identifiers",
                ))
            }
        };

        // rcgen names the issuer after a Certificate's parameters: rebuild the CA's from its subject.
        let mut issuer_params = CertificateParams::default();
        issuer_params.distinguished_name = rcgen_name(ca.subject())?;
        issuer_params.key_identifier_method =
            KeyIdMethod::PreSpecified(ca_key_id.clone().unwrap_or_default());
        let issuer = issuer_params
            .self_signed(&ca_key)
            .map_err(|e| DrsError::CertificateBuild(e.to_string()))?;
        Ok(Self {
            ca_key,
            issuer,
            ca_subject: ca.subject().as_raw().to_vec(),
            ca_key_id,
        })
    }

    /// Issues a device certificate for `request` with `fields` (see [`issue_device_certificate`]).
    pub fn issue(
        &self,
        request: &CertificateRequest,
        fields: &DeviceCertificateFields,
    ) -> Result<Vec<u8>, DrsError> {
        if fields.region.is_empty()
            || fields.region.len() > 16
            || !fields.region.bytes().all(|b| b.is_ascii_alphanumeric())
        {
            return Err(DrsError::InvalidFields(
                "the region must be 1 to 16 ASCII letters or digits",
            ));
        }
        let mut params = CertificateParams::default();
        let mut subject = DistinguishedName::new();
        subject.push(
            DnType::CommonName,
            fields.device_id.hyphenated().to_string(),
        );
        params.distinguished_name = subject;
        params.serial_number = Some(serial_number(fields.serial)?);
        (params.not_before, params.not_after) = validity(fields.not_before, fields.not_after)?;
        params.use_authority_key_identifier_extension = self.ca_key_id.is_some();
        let mut extensions = vec![
            critical(&OID_KEY_USAGE, KU_DEVICE.to_vec()),
            critical(&OID_EXT_KEY_USAGE, EKU_CLIENT_AUTH.to_vec()),
            critical(
                &OID_BASIC_CONSTRAINTS,
                BASIC_CONSTRAINTS_END_ENTITY.to_vec(),
            ),
            CustomExtension::from_oid_content(
                &OID_SUBJECT_KEY_ID,
                tlv(TAG_OCTET_STRING, &key_identifier(&request.public_key)),
            ),
            drs_extension(EXT_DEVICE_ID, &fields.device_id.to_bytes_le()),
        ];
        if let Some(user) = fields.user_object_id {
            extensions.push(drs_extension(EXT_USER_ID, &user.to_bytes_le()));
        }
        extensions.push(drs_extension(
            EXT_TENANT_ID,
            &fields.tenant_id.to_bytes_le(),
        ));
        extensions.push(drs_extension(
            EXT_JOIN_TYPE,
            fields.join.extension_value().as_bytes(),
        ));
        extensions.push(drs_extension(EXT_REGION, fields.region.as_bytes()));
        params.custom_extensions = extensions;

        let subject_key = SubjectKey(request.public_key.to_pkcs1_der());
        let cert = params
            .signed_by(&subject_key, &self.issuer, &self.ca_key)
            .map_err(|e| DrsError::CertificateBuild(e.to_string()))?;
        let der = cert.der().to_vec();
        let (_, issued) = X509Certificate::from_der(&der).map_err(|_| {
            DrsError::CertificateBuild("rcgen wrote an unreadable certificate".into())
        })?;
        if issued.issuer().as_raw() != self.ca_subject.as_slice() {
            return Err(DrsError::CaCertificate(
                "its subject name cannot be reproduced byte for byte as the issuer name",
            ));
        }
        Ok(der)
    }

    /// Issues a plain TLS client certificate for `public_key`: subject `CN=<common_name>`, clientAuth,
    /// digitalSignature and keyEncipherment, not a CA (the MDM service's management certificates).
    pub fn issue_client_certificate(
        &self,
        public_key: &RsaPublicKey,
        common_name: &str,
        serial: [u8; 16],
        not_before: OffsetDateTime,
        not_after: OffsetDateTime,
    ) -> Result<Vec<u8>, DrsError> {
        if common_name.is_empty()
            || common_name.chars().count() > 64
            || common_name.chars().any(char::is_control)
        {
            return Err(DrsError::InvalidFields(
                "the common name must be 1 to 64 characters without control characters",
            ));
        }
        let mut params = CertificateParams::default();
        let mut subject = DistinguishedName::new();
        subject.push(DnType::CommonName, common_name);
        params.distinguished_name = subject;
        params.serial_number = Some(serial_number(serial)?);
        (params.not_before, params.not_after) = validity(not_before, not_after)?;
        params.use_authority_key_identifier_extension = self.ca_key_id.is_some();
        params.custom_extensions = vec![
            critical(&OID_KEY_USAGE, KU_DEVICE.to_vec()),
            critical(&OID_EXT_KEY_USAGE, EKU_CLIENT_AUTH.to_vec()),
            critical(
                &OID_BASIC_CONSTRAINTS,
                BASIC_CONSTRAINTS_END_ENTITY.to_vec(),
            ),
            CustomExtension::from_oid_content(
                &OID_SUBJECT_KEY_ID,
                tlv(TAG_OCTET_STRING, &key_identifier(public_key)),
            ),
        ];
        let subject_key = SubjectKey(public_key.to_pkcs1_der());
        let cert = params
            .signed_by(&subject_key, &self.issuer, &self.ca_key)
            .map_err(|e| DrsError::CertificateBuild(e.to_string()))?;
        Ok(cert.der().to_vec())
    }
}

/// Issues a device certificate for the join's request, signed by the tenant's device CA.
pub fn issue_device_certificate(
    ca_cert_der: &[u8],
    ca_key_pkcs8: &[u8],
    request: &CertificateRequest,
    fields: &DeviceCertificateFields,
) -> Result<Vec<u8>, DrsError> {
    DeviceCaIssuer::new(ca_cert_der, ca_key_pkcs8)?.issue(request, fields)
}

/// Reads what the server needs from a device certificate. Does not check who issued it: see
/// [`verify_issued_by`].
pub fn parse_device_certificate(der: &[u8]) -> Result<DeviceCertificate, DrsError> {
    let cert = parse_certificate(der)?;
    let device_id = subject_device_id(cert.subject())?;
    let public_key = RsaPublicKey::from_spki(cert.public_key())?;
    let mut device_ext = None;
    let mut tenant_id = None;
    let mut user_object_id = None;
    for (arc, name, slot) in [
        (EXT_DEVICE_ID, ".284.2 (device id)", &mut device_ext),
        (EXT_TENANT_ID, ".284.5 (tenant id)", &mut tenant_id),
        (EXT_USER_ID, ".284.3 (user object id)", &mut user_object_id),
    ] {
        let oid: Vec<u64> = MS_DRS_ARC.iter().copied().chain([arc]).collect();
        let mut found = cert.extensions().iter().filter(|ext| {
            ext.oid
                .iter()
                .is_some_and(|arcs| arcs.eq(oid.iter().copied()))
        });
        if let Some(ext) = found.next() {
            if found.next().is_some() {
                return Err(DrsError::CertificateExtension(name));
            }
            *slot = Some(guid_extension(ext.value).ok_or(DrsError::CertificateExtension(name))?);
        }
    }
    if device_ext.is_some_and(|id| id != device_id) {
        return Err(DrsError::CertificateDeviceIdMismatch);
    }
    Ok(DeviceCertificate {
        device_id,
        tenant_id,
        user_object_id,
        sha1_thumbprint: hex_upper(&Sha1::digest(der)),
        sha256: Sha256::digest(der).into(),
        public_key,
        not_before: cert.validity().not_before.timestamp(),
        not_after: cert.validity().not_after.timestamp(),
    })
}

/// Checks that `der` was signed (SHA256withRSA) by the CA in `ca_cert_der` and names it as issuer.
pub fn verify_issued_by(der: &[u8], ca_cert_der: &[u8]) -> Result<(), DrsError> {
    let cert = parse_certificate(der)?;
    let ca = parse_ca(ca_cert_der)?;
    if cert.issuer().as_raw() != ca.subject().as_raw() {
        return Err(DrsError::NotIssuedByCa(
            "its issuer is not the CA's subject",
        ));
    }
    let algorithm = cert.signature_algorithm.algorithm.to_id_string();
    if algorithm != SHA256_WITH_RSA_OID
        || cert.tbs_certificate.signature.algorithm != cert.signature_algorithm.algorithm
    {
        return Err(DrsError::NotIssuedByCa(
            "it is not signed with SHA256withRSA",
        ));
    }
    let ca_key = RsaPublicKey::from_spki(ca.public_key())
        .map_err(|_| DrsError::CaCertificate("its key is not an RSA key of 2048 to 4096 bits"))?;
    if cert.signature_value.unused_bits != 0 {
        return Err(DrsError::NotIssuedByCa(
            "its signature does not verify with the CA's key",
        ));
    }
    ca_key
        .verify_pkcs1_sha256(cert.tbs_certificate.as_ref(), &cert.signature_value.data)
        .map_err(|_| DrsError::NotIssuedByCa("its signature does not verify with the CA's key"))
}

/// The device object's certificate `alternativeSecurityIds` key: the prefix, the upper-hex SHA-1 of the
/// certificate, then standard base64 of SHA-256 of the PKCS#1 public key, with nothing between.
pub fn alternative_security_id(der: &[u8], public_key: &RsaPublicKey) -> String {
    format!(
        "{ALT_SECURITY_ID_PREFIX}{}{}",
        hex_upper(&Sha1::digest(der)),
        b64std(&Sha256::digest(public_key.to_pkcs1_der()))
    )
}

fn parse_certificate(der: &[u8]) -> Result<X509Certificate<'_>, DrsError> {
    if der.len() > MAX_CERTIFICATE_BYTES {
        return Err(DrsError::TooLarge {
            what: "the certificate",
            max: MAX_CERTIFICATE_BYTES,
        });
    }
    let (rest, cert) = X509Certificate::from_der(der)
        .map_err(|_| DrsError::CertificateMalformed("it does not parse as X.509"))?;
    if !rest.is_empty() {
        return Err(DrsError::CertificateMalformed(
            "bytes follow the certificate",
        ));
    }
    Ok(cert)
}

fn parse_ca(der: &[u8]) -> Result<X509Certificate<'_>, DrsError> {
    if der.len() > MAX_CERTIFICATE_BYTES {
        return Err(DrsError::CaCertificate("it is larger than 16 KiB"));
    }
    let (rest, ca) = X509Certificate::from_der(der)
        .map_err(|_| DrsError::CaCertificate("it is not a DER certificate"))?;
    if !rest.is_empty() {
        return Err(DrsError::CaCertificate("bytes follow the certificate"));
    }
    match ca.basic_constraints() {
        Ok(Some(bc)) if bc.value.ca => Ok(ca),
        _ => Err(DrsError::CaCertificate("it is not a CA certificate")),
    }
}

/// The device id: the subject's first RDN must be a lone CN holding a UUID (libhimmelblau reads it so).
fn subject_device_id(name: &X509Name<'_>) -> Result<Uuid, DrsError> {
    let rdn = name
        .iter()
        .next()
        .ok_or(DrsError::CertificateDeviceId("the subject is empty"))?;
    let mut attributes = rdn.iter();
    let attribute = attributes
        .next()
        .ok_or(DrsError::CertificateDeviceId("the first RDN is empty"))?;
    if attributes.next().is_some() || attribute.attr_type() != &OID_X509_COMMON_NAME {
        return Err(DrsError::CertificateDeviceId(
            "the first RDN is not a lone CN",
        ));
    }
    let text = attribute
        .as_str()
        .map_err(|_| DrsError::CertificateDeviceId("the CN is not a string"))?;
    Uuid::try_parse(text).map_err(|_| DrsError::CertificateDeviceId("the CN is not a UUID"))
}

/// A GUID extension value: `OCTET STRING` (short `04 10` or long `04 81 10` length) of 16 little-endian bytes.
fn guid_extension(value: &[u8]) -> Option<Uuid> {
    let bytes = match value {
        [0x04, 0x10, rest @ ..] | [0x04, 0x81, 0x10, rest @ ..] => rest,
        _ => return None,
    };
    let bytes: [u8; 16] = bytes.try_into().ok()?;
    Some(Uuid::from_bytes_le(bytes))
}

/// Copies the CA's subject into rcgen's model; refuses what rcgen cannot write back identically.
fn rcgen_name(name: &X509Name<'_>) -> Result<DistinguishedName, DrsError> {
    let unusable = DrsError::CaCertificate(
        "its subject uses multi-valued RDNs, repeated attributes or unusual string types",
    );
    let mut out = DistinguishedName::new();
    for rdn in name.iter() {
        let mut attributes = rdn.iter();
        let (Some(attribute), None) = (attributes.next(), attributes.next()) else {
            return Err(unusable);
        };
        let arcs: Vec<u64> = attribute
            .attr_type()
            .iter()
            .ok_or(unusable.clone())?
            .collect();
        let ty = DnType::from_oid(&arcs);
        if out.get(&ty).is_some() {
            return Err(unusable);
        }
        let value = attribute.attr_value();
        let text = std::str::from_utf8(value.data).map_err(|_| unusable.clone())?;
        let value = match value.header.tag() {
            Tag::Utf8String => DnValue::Utf8String(text.to_owned()),
            Tag::PrintableString => {
                DnValue::PrintableString(text.try_into().map_err(|_| unusable.clone())?)
            }
            Tag::Ia5String => DnValue::Ia5String(text.try_into().map_err(|_| unusable.clone())?),
            _ => return Err(unusable),
        };
        out.push(ty, value);
    }
    Ok(out)
}

fn signing_key(pkcs8: &[u8]) -> Result<KeyPair, DrsError> {
    KeyPair::from_pkcs8_der_and_sign_algo(&pkcs8.into(), &PKCS_RSA_SHA256)
        .map_err(|_| DrsError::PrivateKey("ring could not load it as an RSA PKCS#8 key"))
}

fn serial_number(serial: [u8; 16]) -> Result<SerialNumber, DrsError> {
    if serial.iter().all(|&b| b == 0) {
        return Err(DrsError::InvalidFields(
            "the serial number must not be zero",
        ));
    }
    Ok(SerialNumber::from_slice(&serial))
}

/// Validity in UTC (rcgen writes the fields of the offset it is given), within what X.509 times can say.
fn validity(
    not_before: OffsetDateTime,
    not_after: OffsetDateTime,
) -> Result<(OffsetDateTime, OffsetDateTime), DrsError> {
    let out_of_range =
        DrsError::InvalidFields("the validity must lie between the years 1950 and 9999");
    let utc = |t: OffsetDateTime| {
        t.checked_to_offset(UtcOffset::UTC)
            .filter(|t| (1950..=9999).contains(&t.year()))
            .ok_or(out_of_range.clone())
    };
    let (not_before, not_after) = (utc(not_before)?, utc(not_after)?);
    if not_after <= not_before {
        return Err(DrsError::InvalidFields(
            "not_after must be after not_before",
        ));
    }
    Ok((not_before, not_after))
}

/// RFC 5280 §4.2.1.2 method 1: SHA-1 of the subjectPublicKey bits (the PKCS#1 DER), as Windows computes it.
fn key_identifier(key: &RsaPublicKey) -> Vec<u8> {
    Sha1::digest(key.to_pkcs1_der()).to_vec()
}

fn critical(oid: &[u64], content: Vec<u8>) -> CustomExtension {
    let mut ext = CustomExtension::from_oid_content(oid, content);
    ext.set_criticality(true);
    ext
}

/// A non-critical `1.2.840.113556.1.5.284.<arc>` extension holding an OCTET STRING.
fn drs_extension(arc: u64, value: &[u8]) -> CustomExtension {
    let oid: Vec<u64> = MS_DRS_ARC.iter().copied().chain([arc]).collect();
    CustomExtension::from_oid_content(&oid, tlv(TAG_OCTET_STRING, value))
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::blob::tests::{other_key, public_of, test_key};
    use crate::csr::parse_certificate_request;
    use crate::csr::tests::csr_for;
    use proptest::prelude::*;
    use std::sync::OnceLock;
    use time::macros::datetime;
    use x509_parser::extensions::ParsedExtension;

    pub(crate) const TENANT: Uuid = uuid::uuid!("6287f28f-4f7f-4322-9651-a8697d8fe1bc");
    pub(crate) const DEVICE: Uuid = uuid::uuid!("0a1b2c3d-4e5f-6071-8293-a4b5c6d7e8f9");
    pub(crate) const USER: Uuid = uuid::uuid!("11223344-5566-7788-99aa-bbccddeeff00");

    pub(crate) fn ca_der() -> &'static [u8] {
        static CA: OnceLock<Vec<u8>> = OnceLock::new();
        CA.get_or_init(|| {
            create_device_ca(
                TENANT,
                "Contoso",
                other_key(),
                [0x42; 16],
                datetime!(2024-01-01 0:00 UTC),
                datetime!(2044-01-01 0:00 UTC),
            )
            .unwrap()
        })
    }

    pub(crate) fn fields() -> DeviceCertificateFields {
        DeviceCertificateFields {
            device_id: DEVICE,
            tenant_id: TENANT,
            user_object_id: Some(USER),
            join: JoinKind::Joined,
            region: "NA".into(),
            serial: [0x9c; 16],
            not_before: datetime!(2025-01-01 0:00 UTC),
            not_after: datetime!(2035-01-01 0:00 +02:00),
        }
    }

    pub(crate) fn device_der() -> &'static [u8] {
        static CERT: OnceLock<Vec<u8>> = OnceLock::new();
        CERT.get_or_init(|| {
            let request = parse_certificate_request(&csr_for(test_key())).unwrap();
            issue_device_certificate(ca_der(), other_key(), &request, &fields()).unwrap()
        })
    }

    fn ext_value<'a>(cert: &'a X509Certificate<'_>, arc: u64) -> Option<&'a [u8]> {
        let oid: Vec<u64> = MS_DRS_ARC.iter().copied().chain([arc]).collect();
        cert.extensions()
            .iter()
            .find(|e| e.oid.iter().unwrap().eq(oid.iter().copied()))
            .map(|e| {
                assert!(!e.critical, "DRS extensions are not critical");
                e.value
            })
    }

    #[test]
    fn join_kinds() {
        assert_eq!(JoinKind::from_join_type(0), Some(JoinKind::Joined));
        assert_eq!(JoinKind::from_join_type(8), Some(JoinKind::Joined));
        assert_eq!(JoinKind::from_join_type(4), Some(JoinKind::Registered));
        assert_eq!(JoinKind::from_join_type(6), Some(JoinKind::Hybrid));
        assert_eq!(JoinKind::from_join_type(3), None);
        assert_eq!(JoinKind::Hybrid.trust_type(), "ServerAd");
        assert_eq!(JoinKind::Registered.extension_value(), "0");
        assert_eq!(JoinKind::Hybrid.extension_value(), "1");
    }

    #[test]
    fn the_ca_is_a_ca() {
        let (_, ca) = X509Certificate::from_der(ca_der()).unwrap();
        assert_eq!(
            ca.subject().to_string(),
            format!("CN=MS-Organization-Access, OU={TENANT}, O=Contoso")
        );
        assert_eq!(ca.issuer().as_raw(), ca.subject().as_raw());
        let bc = ca.basic_constraints().unwrap().unwrap();
        assert!(bc.critical && bc.value.ca);
        assert_eq!(bc.value.path_len_constraint, Some(0));
        let ku = ca.key_usage().unwrap().unwrap();
        assert!(ku.critical && ku.value.key_cert_sign() && ku.value.crl_sign());
        assert!(!ku.value.digital_signature());
        assert_eq!(
            ca.signature_algorithm.algorithm.to_id_string(),
            SHA256_WITH_RSA_OID
        );
        assert_eq!(ca.raw_serial(), [0x42; 16]);
        verify_issued_by(ca_der(), ca_der()).unwrap();
    }

    #[test]
    fn a_tenant_ca_issues_plain_client_certificates() {
        let ca = create_tenant_ca(
            "ztd MDM Device CA",
            TENANT,
            "Contoso",
            other_key(),
            [0x43; 16],
            datetime!(2024-01-01 0:00 UTC),
            datetime!(2044-01-01 0:00 UTC),
        )
        .unwrap();
        let issuer = DeviceCaIssuer::new(&ca, other_key()).unwrap();
        let request = parse_certificate_request(&csr_for(test_key())).unwrap();
        let der = issuer
            .issue_client_certificate(
                &request.public_key,
                "8c5a1f2e-0000-4000-8000-000000000001",
                [0x11; 16],
                datetime!(2025-01-01 0:00 UTC),
                datetime!(2026-01-01 0:00 UTC),
            )
            .unwrap();
        verify_issued_by(&der, &ca).unwrap();
        let (_, cert) = X509Certificate::from_der(&der).unwrap();
        assert_eq!(
            cert.subject().to_string(),
            "CN=8c5a1f2e-0000-4000-8000-000000000001"
        );
        assert_eq!(
            cert.issuer().to_string(),
            format!("CN=ztd MDM Device CA, OU={TENANT}, O=Contoso")
        );
        let eku = cert.extended_key_usage().unwrap().unwrap();
        assert!(eku.value.client_auth && !eku.value.server_auth);
        assert!(!cert.basic_constraints().unwrap().unwrap().value.ca);
        assert!(issuer
            .issue_client_certificate(
                &request.public_key,
                "",
                [0x11; 16],
                datetime!(2025-01-01 0:00 UTC),
                datetime!(2026-01-01 0:00 UTC),
            )
            .is_err());
    }

    #[test]
    fn the_device_certificate_says_what_windows_reads() {
        let der = device_der();
        let (_, cert) = X509Certificate::from_der(der).unwrap();
        assert_eq!(cert.subject().to_string(), format!("CN={DEVICE}"));
        assert_eq!(cert.subject().iter().count(), 1);
        let (_, ca) = X509Certificate::from_der(ca_der()).unwrap();
        assert_eq!(cert.issuer().as_raw(), ca.subject().as_raw());
        // A positive INTEGER: the top bit of 0x9c needs a sign byte.
        assert_eq!(cert.raw_serial()[0], 0);
        assert_eq!(cert.raw_serial()[1..], [0x9c; 16]);
        assert_eq!(cert.validity().not_after.timestamp(), 2_051_215_200);

        let eku = cert.extended_key_usage().unwrap().unwrap();
        assert!(eku.critical);
        assert!(eku.value.client_auth);
        assert!(!eku.value.server_auth && !eku.value.any && eku.value.other.is_empty());
        let bc = cert.basic_constraints().unwrap().unwrap();
        assert!(bc.critical && !bc.value.ca);
        let ku = cert.key_usage().unwrap().unwrap();
        assert!(ku.critical && ku.value.digital_signature() && ku.value.key_encipherment());
        assert!(!ku.value.key_cert_sign());
        let aki = cert
            .extensions()
            .iter()
            .find_map(|e| match e.parsed_extension() {
                ParsedExtension::AuthorityKeyIdentifier(aki) => aki.key_identifier.clone(),
                _ => None,
            })
            .unwrap();
        let ski = ca
            .extensions()
            .iter()
            .find_map(|e| match e.parsed_extension() {
                ParsedExtension::SubjectKeyIdentifier(id) => Some(id.clone()),
                _ => None,
            })
            .unwrap();
        assert_eq!(aki.0, ski.0);

        let mut expected = vec![0x04, 0x10];
        expected.extend_from_slice(&DEVICE.to_bytes_le());
        assert_eq!(ext_value(&cert, 2).unwrap(), expected);
        // Microsoft byte order: the first three fields little-endian.
        assert_eq!(
            &ext_value(&cert, 2).unwrap()[2..6],
            &[0x3d, 0x2c, 0x1b, 0x0a]
        );
        assert_eq!(&ext_value(&cert, 3).unwrap()[2..], USER.to_bytes_le());
        assert_eq!(&ext_value(&cert, 5).unwrap()[2..], TENANT.to_bytes_le());
        assert_eq!(ext_value(&cert, 7).unwrap(), [0x04, 0x01, 0x31]);
        assert_eq!(ext_value(&cert, 8).unwrap(), [0x04, 0x02, b'N', b'A']);
        assert_eq!(
            RsaPublicKey::from_spki(cert.public_key()).unwrap(),
            public_of(test_key())
        );
    }

    #[test]
    fn issued_by_its_ca_only() {
        verify_issued_by(device_der(), ca_der()).unwrap();
        let stranger = create_device_ca(
            TENANT,
            "Contoso",
            test_key(),
            [1; 16],
            datetime!(2024-01-01 0:00 UTC),
            datetime!(2044-01-01 0:00 UTC),
        )
        .unwrap();
        // Same subject, other key: the name matches, the signature does not.
        assert_eq!(
            verify_issued_by(device_der(), &stranger),
            Err(DrsError::NotIssuedByCa(
                "its signature does not verify with the CA's key"
            ))
        );
        let renamed = create_device_ca(
            TENANT,
            "Fabrikam",
            other_key(),
            [1; 16],
            datetime!(2024-01-01 0:00 UTC),
            datetime!(2044-01-01 0:00 UTC),
        )
        .unwrap();
        assert_eq!(
            verify_issued_by(device_der(), &renamed),
            Err(DrsError::NotIssuedByCa(
                "its issuer is not the CA's subject"
            ))
        );
        // A device certificate is not a CA.
        assert!(matches!(
            verify_issued_by(device_der(), device_der()),
            Err(DrsError::CaCertificate(_))
        ));
        // Flip one byte of the device id extension (inside the signed part).
        let mut tampered = device_der().to_vec();
        let at = tampered
            .windows(16)
            .position(|w| w == DEVICE.to_bytes_le())
            .unwrap();
        tampered[at + 15] ^= 1;
        assert!(verify_issued_by(&tampered, ca_der()).is_err());
        let mut tampered = device_der().to_vec();
        let last = tampered.len() - 1;
        tampered[last] ^= 1;
        assert!(verify_issued_by(&tampered, ca_der()).is_err());
    }

    #[test]
    fn parse_round_trip() {
        let parsed = parse_device_certificate(device_der()).unwrap();
        assert_eq!(parsed.device_id, DEVICE);
        assert_eq!(parsed.tenant_id, Some(TENANT));
        assert_eq!(parsed.user_object_id, Some(USER));
        assert_eq!(parsed.public_key, public_of(test_key()));
        assert_eq!(
            parsed.sha1_thumbprint,
            hex_upper(&Sha1::digest(device_der()))
        );
        assert_eq!(parsed.sha1_thumbprint.len(), 40);
        assert_eq!(parsed.not_before, 1_735_689_600);
        assert_eq!(parsed.not_after, 2_051_215_200);
    }

    #[test]
    fn registered_devices_without_user() {
        let request = parse_certificate_request(&csr_for(test_key())).unwrap();
        let fields = DeviceCertificateFields {
            user_object_id: None,
            join: JoinKind::Registered,
            ..fields()
        };
        let der = issue_device_certificate(ca_der(), other_key(), &request, &fields).unwrap();
        let parsed = parse_device_certificate(&der).unwrap();
        assert_eq!(parsed.user_object_id, None);
        let (_, cert) = X509Certificate::from_der(&der).unwrap();
        assert_eq!(ext_value(&cert, 7).unwrap(), [0x04, 0x01, 0x30]);
        assert!(ext_value(&cert, 3).is_none());
    }

    #[test]
    fn guid_extensions_in_both_length_forms() {
        let id = Uuid::from_u128(0x0102_0304_0506_0708_090a_0b0c_0d0e_0f10);
        let mut short = vec![0x04, 0x10];
        short.extend_from_slice(&id.to_bytes_le());
        let mut long = vec![0x04, 0x81, 0x10];
        long.extend_from_slice(&id.to_bytes_le());
        assert_eq!(guid_extension(&short), Some(id));
        assert_eq!(guid_extension(&long), Some(id));
        assert_eq!(guid_extension(&short[..17]), None);
        assert_eq!(guid_extension(&[0x04, 0x01, 0x31]), None);
    }

    #[test]
    fn refusals() {
        let request = parse_certificate_request(&csr_for(test_key())).unwrap();
        assert_eq!(
            issue_device_certificate(ca_der(), test_key(), &request, &fields()),
            Err(DrsError::CaKeyMismatch)
        );
        let backwards = DeviceCertificateFields {
            not_after: datetime!(2020-01-01 0:00 UTC),
            ..fields()
        };
        assert!(matches!(
            issue_device_certificate(ca_der(), other_key(), &request, &backwards),
            Err(DrsError::InvalidFields(_))
        ));
        let ancient = DeviceCertificateFields {
            not_before: datetime!(1900-01-01 0:00 UTC),
            ..fields()
        };
        assert!(matches!(
            issue_device_certificate(ca_der(), other_key(), &request, &ancient),
            Err(DrsError::InvalidFields(_))
        ));
        let region = DeviceCertificateFields {
            region: "N A".into(),
            ..fields()
        };
        assert!(matches!(
            issue_device_certificate(ca_der(), other_key(), &request, &region),
            Err(DrsError::InvalidFields(_))
        ));
        assert!(matches!(
            issue_device_certificate(ca_der(), b"not a key", &request, &fields()),
            Err(DrsError::PrivateKey(_))
        ));
        assert!(matches!(
            create_device_ca(
                TENANT,
                " ",
                other_key(),
                [1; 16],
                datetime!(2024-01-01 0:00 UTC),
                datetime!(2044-01-01 0:00 UTC)
            ),
            Err(DrsError::InvalidFields(_))
        ));
        assert!(matches!(
            parse_device_certificate(ca_der()),
            Err(DrsError::CertificateDeviceId(_))
        ));
        assert!(matches!(
            parse_device_certificate(&vec![0x30; MAX_CERTIFICATE_BYTES + 1]),
            Err(DrsError::TooLarge { .. })
        ));
    }

    #[test]
    fn alternative_security_id_format() {
        let key = public_of(test_key());
        let id = alternative_security_id(device_der(), &key);
        let rest = id.strip_prefix("X509:<SHA1-TP-PUBKEY>").unwrap();
        let (thumbprint, hash) = rest.split_at(40);
        assert_eq!(
            thumbprint,
            parse_device_certificate(device_der())
                .unwrap()
                .sha1_thumbprint
        );
        assert_eq!(hash.len(), 44);
        assert!(hash.ends_with('='));
        assert_eq!(
            crate::encoding::decode_b64std(hash).unwrap(),
            Sha256::digest(key.to_pkcs1_der()).to_vec()
        );
    }

    proptest! {
        #[test]
        fn certificate_parsers_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..2000)) {
            let _ = parse_device_certificate(&bytes);
            let _ = verify_issued_by(&bytes, ca_der());
            let _ = verify_issued_by(device_der(), &bytes);
        }

        #[test]
        fn mutated_certificates_never_panic(at in 0usize..2000, value in any::<u8>()) {
            let mut der = device_der().to_vec();
            let at = at % der.len();
            der[at] = value;
            let _ = parse_device_certificate(&der);
            let _ = verify_issued_by(&der, ca_der());
        }
    }
}
