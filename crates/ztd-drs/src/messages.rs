//! The DRS JSON bodies ([MS-DVRJ] §2.2, §3.1.5.1; Entra's extras from roadlib, libhimmelblau and the
//! himmelblau "[MS-DRS]" draft), with the field names clients send and expect.

use serde::de::{self, Visitor};
use serde::{Deserialize, Deserializer, Serialize};
use serde_json::{json, Map, Value};
use uuid::Uuid;

use crate::csr::MAX_CSR_BYTES;
use crate::encoding::decode_b64std;
use crate::error::excerpt;
use crate::DrsError;

/// The resource clients get a token for before they call DRS; Entra's, whatever host serves it.
pub const DRS_RESOURCE_ID: &str = "urn:ms-drs:enterpriseregistration.windows.net";

/// `POST /EnrollmentServer/device/?api-version=2.0`: the join.
#[derive(Clone, Debug, PartialEq, Deserialize, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct JoinRequest {
    pub certificate_request: CertificateRequestField,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub transport_key: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target_domain: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub device_type: Option<String>,
    #[serde(default, rename = "OSVersion", skip_serializing_if = "Option::is_none")]
    pub os_version: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub device_display_name: Option<String>,
    /// A number from Windows and roadlib; some clients send it as a string.
    #[serde(deserialize_with = "number_or_numeric_string")]
    pub join_type: i64,
    /// libhimmelblau sends `Attributes`, roadlib `attributes`.
    #[serde(default, alias = "attributes", skip_serializing_if = "Option::is_none")]
    pub attributes: Option<Map<String, Value>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub aik_certificate: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub attestation_data: Option<String>,
}

/// `{"Type":"pkcs10","Data":"<base64 DER>"}`.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize, Serialize)]
pub struct CertificateRequestField {
    #[serde(rename = "Type")]
    pub kind: String,
    #[serde(rename = "Data")]
    pub data: String,
}

impl JoinRequest {
    /// An attribute's string value; names compare case-insensitively (`ReuseDevice`, `reusedevice`).
    pub fn attribute(&self, name: &str) -> Option<&str> {
        self.attributes
            .as_ref()?
            .iter()
            .find(|(key, _)| key.eq_ignore_ascii_case(name))?
            .1
            .as_str()
    }

    /// The PKCS#10 DER: `Type` must be pkcs10 (any case), `Data` standard base64 (line breaks tolerated).
    pub fn certificate_request_der(&self) -> Result<Vec<u8>, DrsError> {
        if !self.certificate_request.kind.eq_ignore_ascii_case("pkcs10") {
            return Err(DrsError::CsrType(excerpt(&self.certificate_request.kind)));
        }
        let data = &self.certificate_request.data;
        if data.len() > MAX_CSR_BYTES * 2 {
            return Err(DrsError::TooLarge {
                what: "CertificateRequest.Data",
                max: MAX_CSR_BYTES * 2,
            });
        }
        let compact: String = data.chars().filter(|c| !c.is_ascii_whitespace()).collect();
        let der = decode_b64std(&compact).ok_or(DrsError::CsrBase64)?;
        if der.len() > MAX_CSR_BYTES {
            return Err(DrsError::TooLarge {
                what: "the certificate request",
                max: MAX_CSR_BYTES,
            });
        }
        Ok(der)
    }
}

fn number_or_numeric_string<'de, D: Deserializer<'de>>(d: D) -> Result<i64, D::Error> {
    struct JoinType;

    impl Visitor<'_> for JoinType {
        type Value = i64;

        fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str("JoinType as an integer or a string of one")
        }

        fn visit_i64<E: de::Error>(self, v: i64) -> Result<i64, E> {
            Ok(v)
        }

        fn visit_u64<E: de::Error>(self, v: u64) -> Result<i64, E> {
            i64::try_from(v).map_err(|_| E::custom("JoinType is out of range"))
        }

        fn visit_str<E: de::Error>(self, v: &str) -> Result<i64, E> {
            v.trim()
                .parse()
                .map_err(|_| E::custom("JoinType is a string but not an integer"))
        }
    }

    d.deserialize_any(JoinType)
}

/// The join's answer (HTTP 200): the certificate and, for Windows, who becomes local administrator.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct JoinResponse {
    pub certificate: IssuedCertificate,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user: Option<JoinUser>,
    /// An array in every example although [MS-DVRJ]'s schema says object; clients ignore it.
    #[serde(default)]
    pub membership_changes: Vec<MembershipChange>,
}

#[derive(Clone, Debug, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct IssuedCertificate {
    /// Upper-case hex SHA-1 of the DER.
    pub thumbprint: String,
    /// Standard base64 of the DER.
    pub raw_body: String,
}

#[derive(Clone, Debug, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct JoinUser {
    pub upn: String,
}

#[derive(Clone, Debug, PartialEq, Eq, Deserialize, Serialize)]
pub struct MembershipChange {
    #[serde(rename = "LocalSID")]
    pub local_sid: String,
    #[serde(rename = "AddSIDs", default)]
    pub add_sids: Vec<String>,
}

/// A DRS error body (HTTP 400, [MS-DVRJ] §2.2.3.1).
#[derive(Clone, Debug, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct DrsErrorBody {
    pub error_type: String,
    pub message: String,
    pub trace_id: String,
    pub time: String,
}

/// `POST /EnrollmentServer/key/?api-version=1.0`: a Windows Hello key, base64 BCRYPT blob.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize, Serialize)]
pub struct KeyRegistration {
    pub kngc: String,
}

/// Where ztd's services are, for the Discover answer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DiscoveryEndpoints {
    /// The DRS base URL, e.g. `https://enterpriseregistration.windows.net`.
    pub drs_base: String,
    /// The login base URL, e.g. `https://login.microsoftonline.com`.
    pub login_base: String,
    pub tenant_id: Uuid,
    /// The tenant's display name.
    pub tenant_name: String,
    /// The tenant's domain (`TenantName` in the answer).
    pub domain: String,
}

/// The Discover answer (`GET /{tenant}/Discover?api-version=1.9`): clients post the join and key to the
/// endpoints named here, so pointing them at ztd's host steers the whole registration.
pub fn discovery_document(e: &DiscoveryEndpoints) -> Value {
    let drs = e.drs_base.trim_end_matches('/');
    let login = e.login_base.trim_end_matches('/');
    let tid = e.tenant_id.hyphenated().to_string();
    json!({
        "DiscoveryService": {
            "DiscoveryEndpoint": format!("{drs}/{tid}/Discover"),
            "ServiceVersion": "1.9",
        },
        "DeviceJoinService": {
            "JoinEndpoint": format!("{drs}/EnrollmentServer/device/"),
            "JoinResourceId": DRS_RESOURCE_ID,
            "ServiceVersion": "2.0",
        },
        "DeviceRegistrationService": {
            "RegistrationEndpoint": format!("{drs}/EnrollmentServer/DeviceEnrollmentWebService.svc"),
            "RegistrationResourceId": DRS_RESOURCE_ID,
            "ServiceVersion": "1.0",
        },
        "AuthenticationService": {
            "OAuth2": {
                "AuthCodeEndpoint": format!("{login}/{tid}/oauth2/authorize"),
                "TokenEndpoint": format!("{login}/{tid}/oauth2/token"),
            },
        },
        "IdentityProviderService": {
            "Federated": false,
            "PassiveAuthEndpoint": format!("{login}/{tid}/wsfed"),
        },
        "DeviceManagementService": {
            "DeviceManagementEndpoint": format!("{drs}/EnrollmentServer/DeviceManagement/"),
            "ServiceVersion": "1.0",
        },
        "KeyProvisioningService": {
            "KeyProvisionEndpoint": format!("{drs}/EnrollmentServer/key/"),
            "KeyProvisionResourceId": DRS_RESOURCE_ID,
            "ServiceVersion": "1.0",
        },
        "NonceService": {
            "Endpoint": format!("{drs}/EnrollmentServer/nonce/{tid}/"),
            "ServiceVersion": "1.0",
        },
        "TenantInfo": {
            "DisplayName": e.tenant_name,
            "TenantId": tid,
            "TenantName": e.domain,
        },
        "WebAuthNService": {
            "ServiceVersion": "1.0",
            "WebAuthNEndpoint": format!("{drs}/webauthn/{tid}/"),
        },
        "PrecreateService": {
            "PrecreateEndpoint": format!("{drs}/EnrollmentServer/device/precreate/"),
            "PrecreateResourceId": DRS_RESOURCE_ID,
            "ServiceVersion": "1.0",
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::blob::tests::test_key;
    use crate::csr::tests::csr_for;
    use crate::encoding::b64std;
    use proptest::prelude::*;

    /// The body roadtx sent in our probe (device-protocols.md §2.6), with a real CSR.
    fn roadtx_body(csr: &str) -> String {
        format!(
            r#"{{"CertificateRequest":{{"Type":"pkcs10","Data":"{csr}"}},"TransportKey":"UlNBMQ==",
            "TargetDomain":"iminyour.cloud","DeviceType":"Windows","OSVersion":"10.0.19041.928",
            "DeviceDisplayName":"DESKTOP-ABCDEFGH","JoinType":0,
            "attributes":{{"ReuseDevice":"true","ReturnClientSid":"true"}}}}"#
        )
    }

    #[test]
    fn roadtx_join_request() {
        let csr = csr_for(test_key());
        let request: JoinRequest = serde_json::from_str(&roadtx_body(&b64std(&csr))).unwrap();
        assert_eq!(request.join_type, 0);
        assert_eq!(request.os_version.as_deref(), Some("10.0.19041.928"));
        assert_eq!(
            request.device_display_name.as_deref(),
            Some("DESKTOP-ABCDEFGH")
        );
        assert_eq!(request.attribute("reusedevice"), Some("true"));
        assert_eq!(request.attribute("MSA-DDID"), None);
        assert_eq!(request.certificate_request_der().unwrap(), csr);
        assert!(
            crate::parse_certificate_request(&request.certificate_request_der().unwrap()).is_ok()
        );
        // Written back with libhimmelblau's spelling, and read again.
        let text = serde_json::to_string(&request).unwrap();
        assert!(text.contains("\"Attributes\"") && text.contains("\"OSVersion\""));
        assert!(!text.contains("AikCertificate"));
        assert_eq!(serde_json::from_str::<JoinRequest>(&text).unwrap(), request);
    }

    #[test]
    fn join_type_as_string_and_attributes_capitalised() {
        let body = r#"{"CertificateRequest":{"Type":"PKCS10","Data":"MA==","KeyType":"RSA"},
            "JoinType":"4","Attributes":{"SharedDevice":"false"},"AikCertificate":"","Extra":1}"#;
        let request: JoinRequest = serde_json::from_str(body).unwrap();
        assert_eq!(request.join_type, 4);
        assert_eq!(request.attribute("shareddevice"), Some("false"));
        assert_eq!(request.certificate_request_der().unwrap(), [0x30]);
        for bad in [r#""x""#, "1.5", "true", "18446744073709551615", "null"] {
            let body = format!(
                r#"{{"CertificateRequest":{{"Type":"pkcs10","Data":""}},"JoinType":{bad}}}"#
            );
            assert!(serde_json::from_str::<JoinRequest>(&body).is_err(), "{bad}");
        }
        let missing = r#"{"CertificateRequest":{"Type":"pkcs10","Data":""}}"#;
        assert!(serde_json::from_str::<JoinRequest>(missing).is_err());
    }

    #[test]
    fn certificate_request_refusals() {
        let mut request: JoinRequest = serde_json::from_str(
            r#"{"CertificateRequest":{"Type":"x509","Data":"MA=="},"JoinType":0}"#,
        )
        .unwrap();
        assert_eq!(
            request.certificate_request_der(),
            Err(DrsError::CsrType("x509".into()))
        );
        request.certificate_request.kind = "pkcs10".into();
        request.certificate_request.data = "-_-_".into();
        assert_eq!(request.certificate_request_der(), Err(DrsError::CsrBase64));
        request.certificate_request.data = "MIIB\r\nMA==".into();
        assert_eq!(
            request.certificate_request_der().unwrap(),
            [0x30, 0x82, 0x01, 0x30]
        );
        request.certificate_request.data = "MIIB MA".into();
        assert_eq!(
            request.certificate_request_der().unwrap(),
            [0x30, 0x82, 0x01, 0x30]
        );
        request.certificate_request.data = "A".repeat(MAX_CSR_BYTES * 2 + 1);
        assert!(matches!(
            request.certificate_request_der(),
            Err(DrsError::TooLarge { .. })
        ));
        request.certificate_request.data = "A".repeat(MAX_CSR_BYTES * 2);
        assert!(matches!(
            request.certificate_request_der(),
            Err(DrsError::TooLarge { .. })
        ));
    }

    #[test]
    fn response_bodies() {
        let response = JoinResponse {
            certificate: IssuedCertificate {
                thumbprint: "AB".into(),
                raw_body: "MA==".into(),
            },
            user: Some(JoinUser { upn: "a@b".into() }),
            membership_changes: vec![MembershipChange {
                local_sid: "S-1-5-32-544".into(),
                add_sids: vec![],
            }],
        };
        assert_eq!(
            serde_json::to_value(&response).unwrap(),
            json!({"Certificate": {"Thumbprint": "AB", "RawBody": "MA=="}, "User": {"Upn": "a@b"},
                "MembershipChanges": [{"LocalSID": "S-1-5-32-544", "AddSIDs": []}]})
        );
        let error = DrsErrorBody {
            error_type: "DirectoryError".into(),
            message: "m".into(),
            trace_id: "t".into(),
            time: "2025-01-01 00:00:00Z".into(),
        };
        assert_eq!(
            serde_json::to_value(&error).unwrap(),
            json!({"ErrorType": "DirectoryError", "Message": "m", "TraceId": "t", "Time": "2025-01-01 00:00:00Z"})
        );
        let key: KeyRegistration = serde_json::from_str(r#"{"kngc":"UlNBMQ=="}"#).unwrap();
        assert_eq!(key.kngc, "UlNBMQ==");
    }

    #[test]
    fn discovery() {
        let doc = discovery_document(&DiscoveryEndpoints {
            drs_base: "https://ztd.example/".into(),
            login_base: "https://ztd.example".into(),
            tenant_id: uuid::uuid!("6287f28f-4f7f-4322-9651-a8697d8fe1bc"),
            tenant_name: "Contoso".into(),
            domain: "contoso.example".into(),
        });
        let tid = "6287f28f-4f7f-4322-9651-a8697d8fe1bc";
        assert_eq!(
            doc["DeviceJoinService"]["JoinEndpoint"],
            "https://ztd.example/EnrollmentServer/device/"
        );
        assert_eq!(doc["DeviceJoinService"]["JoinResourceId"], DRS_RESOURCE_ID);
        assert_eq!(doc["DeviceJoinService"]["ServiceVersion"], "2.0");
        assert_eq!(
            doc["AuthenticationService"]["OAuth2"]["TokenEndpoint"],
            format!("https://ztd.example/{tid}/oauth2/token")
        );
        assert_eq!(doc["IdentityProviderService"]["Federated"], false);
        assert_eq!(
            doc["KeyProvisioningService"]["KeyProvisionEndpoint"],
            "https://ztd.example/EnrollmentServer/key/"
        );
        assert_eq!(
            doc["NonceService"]["Endpoint"],
            format!("https://ztd.example/EnrollmentServer/nonce/{tid}/")
        );
        assert_eq!(doc["TenantInfo"]["TenantName"], "contoso.example");
        assert_eq!(doc["TenantInfo"]["DisplayName"], "Contoso");
        assert_eq!(doc["DiscoveryService"]["ServiceVersion"], "1.9");
        assert_eq!(
            doc["PrecreateService"]["PrecreateResourceId"],
            DRS_RESOURCE_ID
        );
        assert_eq!(doc.as_object().unwrap().len(), 11);
    }

    proptest! {
        #[test]
        fn join_request_parser_never_panics(text in ".{0,400}") {
            if let Ok(request) = serde_json::from_str::<JoinRequest>(&text) {
                let _ = request.certificate_request_der();
                let _ = request.attribute("ReuseDevice");
            }
        }
    }
}
