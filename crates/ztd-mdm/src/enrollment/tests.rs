//! The documentation's own samples (tests/fixtures, each attributed in its first comment), round trips of
//! every builder through its parser, every refusal, and the provisioning document's layout.

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use proptest::prelude::*;
use time::macros::datetime;

use super::*;
use crate::xml::{self, Element, Limits};

const DISCOVER_REQUEST: &str = include_str!("../../tests/fixtures/discover_request.xml");
const GET_POLICIES_ONPREMISE: &str =
    include_str!("../../tests/fixtures/get_policies_request_onpremise.xml");
const GET_POLICIES_FEDERATED: &str =
    include_str!("../../tests/fixtures/get_policies_request_federated.xml");
const RST_ONPREMISE: &str = include_str!("../../tests/fixtures/rst_onpremise.xml");
const RST_FEDERATED_AS_PUBLISHED: &str =
    include_str!("../../tests/fixtures/rst_federated_as_published.xml");
const RST_PYTUNE: &str = include_str!("../../tests/fixtures/rst_pytune.xml");
const DISCOVER_RESPONSE: &str =
    include_str!("../../tests/fixtures/discover_response_federated.xml");
const GET_POLICIES_RESPONSE: &str = include_str!("../../tests/fixtures/get_policies_response.xml");
const RSTR_AS_PUBLISHED: &str = include_str!("../../tests/fixtures/rstr_as_published.xml");
const FAULT_INTUNE: &str = include_str!("../../tests/fixtures/fault_intune.xml");
const PROVISIONING_ONPREMISE: &str =
    include_str!("../../tests/fixtures/provisioning_onpremise.xml");
const CSR: &[u8] = include_bytes!("../../tests/fixtures/csr.der");

const TO: &str = "https://enroll.example.test/EnrollmentServer/Enrollment.svc";

fn rst(request: &EnrollmentRequest) -> &SecurityTokenRequest {
    match &request.message {
        EnrollmentMessage::RequestSecurityToken(rst) => rst,
        other => panic!("not an RST: {other:?}"),
    }
}

fn entra_credential() -> Credential {
    Credential::BinaryToken {
        value_type: TOKEN_TYPE_JWT.into(),
        encoding_type: Some(ENCODING_BASE64.into()),
        value: STANDARD.encode("eyJhbGciOiJSUzI1NiJ9.eyJ0aWQiOiJ0In0.c2ln"),
    }
}

fn sample_rst() -> SecurityTokenRequest {
    SecurityTokenRequest {
        token_type: DEVICE_ENROLLMENT_TOKEN.into(),
        request_type: REQUEST_TYPE_ISSUE.into(),
        value_type: VALUE_TYPE_PKCS10.into(),
        certificate_request: CSR.to_vec(),
        context: vec![
            ContextItem {
                name: "DeviceID".into(),
                value: "7E980AD9B86D430694259AC066FB014A".into(),
            },
            ContextItem {
                name: "EnrollmentType".into(),
                value: "Device".into(),
            },
        ],
    }
}

fn sample_document() -> ProvisioningDocument {
    ProvisioningDocument {
        root_certificate: b"root certificate DER".to_vec(),
        issuing_certificate: Some(b"issuing CA certificate DER".to_vec()),
        client_certificate: b"client certificate DER".to_vec(),
        client_scope: CertificateScope::System,
        provider_id: "ztd".into(),
        server_name: "ztd MDM".into(),
        management_url: "https://mdm.example.test/ManagementServer/MDM.svc".into(),
        client_certificate_subject: "CN=7E980AD9-B86D-4306-9425-9AC066FB014A".into(),
        upn: Some("user@example.test".into()),
        device_name: Some("DESKTOP-ABCDEFGH".into()),
        poll: PollSchedule {
            first_retries: 8,
            first_interval_minutes: 15,
            second_retries: 5,
            second_interval_minutes: 3,
            remaining_retries: 0,
            remaining_interval_minutes: 1560,
            poll_on_login: true,
        },
        renewal: Some(RenewalSettings {
            robo_support: true,
            renew_period_days: 60,
            retry_interval_days: 4,
        }),
        client_secret: "client secret".into(),
        client_nonce: vec![1, 2, 3, 4, 5, 6, 7, 8],
        server_auth_name: "7E980AD9B86D430694259AC066FB014A".into(),
        server_secret: "server secret".into(),
    }
}

// ---------------------------------------------------------------------------------------------------------
// The documentation's samples.

#[test]
fn the_docs_discover_request_parses() {
    let request = parse_request(DISCOVER_REQUEST.as_bytes()).unwrap();
    assert_eq!(request.header.action, ACTION_DISCOVER);
    assert_eq!(
        request.header.message_id.as_deref(),
        Some("urn:uuid: 748132ec-a575-4329-b01b-6171a9cf8478")
    );
    assert_eq!(
        request.header.to.as_deref(),
        Some("https://ENROLLTEST.CONTOSO.COM/EnrollmentServer/Discovery.svc")
    );
    assert_eq!(request.header.credential, None);
    assert_eq!(
        request.message,
        EnrollmentMessage::Discover(DiscoverRequest {
            email_address: "user@contoso.com".into(),
            request_version: "3.0".into(),
            device_type: Some("WindowsPhone".into()),
            application_version: Some("10.0.0.0".into()),
            os_edition: Some("3".into()),
            auth_policies: vec![AuthPolicy::OnPremise, AuthPolicy::Federated],
        })
    );
}

#[test]
fn the_docs_get_policies_requests_parse() {
    let onpremise = parse_request(GET_POLICIES_ONPREMISE.as_bytes()).unwrap();
    assert_eq!(onpremise.header.action, ACTION_GET_POLICIES);
    assert_eq!(
        onpremise.header.credential,
        Some(Credential::UsernameToken {
            username: "user@contoso.com".into(),
            password: "mypassword".into(),
        })
    );
    assert_eq!(
        onpremise.message,
        EnrollmentMessage::GetPolicies(GetPoliciesRequest::default())
    );

    let federated = parse_request(GET_POLICIES_FEDERATED.as_bytes()).unwrap();
    assert_eq!(
        federated.header.credential,
        Some(Credential::BinaryToken {
            value_type: TOKEN_TYPE_USER_TOKEN.into(),
            encoding_type: Some(ENCODING_BASE64.into()),
            value: "B64EncodedSampleBinarySecurityToken".into(),
        })
    );
}

#[test]
fn the_docs_onpremise_rst_parses() {
    let request = parse_request(RST_ONPREMISE.as_bytes()).unwrap();
    assert_eq!(request.header.action, ACTION_RST);
    assert_eq!(
        request.header.credential,
        Some(Credential::UsernameToken {
            username: "user@contoso.com".into(),
            password: "mypassword".into(),
        })
    );
    let rst = rst(&request);
    assert_eq!(rst.token_type, DEVICE_ENROLLMENT_TOKEN);
    assert_eq!(rst.request_type, REQUEST_TYPE_ISSUE);
    assert_eq!(rst.value_type, VALUE_TYPE_PKCS10);
    assert_eq!(rst.certificate_request, CSR, "wrapped base64 decodes");
    assert!(!rst.is_renewal());
    assert_eq!(rst.context.len(), 12);
    assert_eq!(rst.context("OSEdition"), Some("4"), "the value is trimmed");
    assert_eq!(rst.context("EnrollmentType"), Some("Full"));
    assert_eq!(
        rst.context("DeviceID"),
        Some("7BA748C8-703E-4DF2-A74A-92984117346A")
    );
    let macs: Vec<_> = rst
        .context
        .iter()
        .filter(|item| item.name == "MAC")
        .map(|item| item.value.as_str())
        .collect();
    assert_eq!(macs, ["FF:FF:FF:FF:FF:FF", "CC:CC:CC:CC:CC:CC"]);
    assert_eq!(rst.context("MAC"), Some("FF:FF:FF:FF:FF:FF"));
    assert_eq!(rst.context("mac"), None, "names are exact");
}

#[test]
fn the_docs_federated_rst_is_malformed_as_published_and_parses_once_mended() {
    assert!(matches!(
        parse_request(RST_FEDERATED_AS_PUBLISHED.as_bytes()),
        Err(EnrollmentError::Xml(_))
    ));
    let unclosed = "<ac:Value>CC:CC:CC:CC:CC:CC</ac:Value>\n";
    assert!(RST_FEDERATED_AS_PUBLISHED.contains(unclosed));
    let mended = RST_FEDERATED_AS_PUBLISHED.replacen(
        unclosed,
        "<ac:Value>CC:CC:CC:CC:CC:CC</ac:Value></ac:ContextItem>\n",
        1,
    );
    // Its certificate request is a placeholder, not base64.
    assert_eq!(
        parse_request(mended.as_bytes()),
        Err(EnrollmentError::BadBase64("the certificate request"))
    );
    let mended = mended.replace(
        "DER format PKCS#10 certificate request in Base64 encoding Insterted Here",
        &STANDARD.encode(CSR),
    );
    let request = parse_request(mended.as_bytes()).unwrap();
    assert_eq!(
        request.header.credential,
        Some(Credential::BinaryToken {
            value_type: TOKEN_TYPE_USER_TOKEN.into(),
            encoding_type: Some(ENCODING_BASE64.into()),
            value: "B64EncodedSampleBinarySecurityToken".into(),
        }),
        "wsse:ValueType is read like ValueType"
    );
    assert_eq!(rst(&request).certificate_request, CSR);
    assert_eq!(rst(&request).context.len(), 12);
}

#[test]
fn a_pytune_shaped_rst_parses() {
    let request = parse_request(RST_PYTUNE.as_bytes()).unwrap();
    let Some(Credential::BinaryToken {
        value_type,
        encoding_type,
        value,
    }) = &request.header.credential
    else {
        panic!("no binary token: {:?}", request.header.credential);
    };
    assert_eq!(value_type, TOKEN_TYPE_JWT);
    assert_eq!(encoding_type.as_deref(), Some(ENCODING_BASE64));
    let jwt = String::from_utf8(STANDARD.decode(value).unwrap()).unwrap();
    assert!(jwt.starts_with("eyJ") && jwt.split('.').count() == 3);
    let rst = rst(&request);
    assert_eq!(rst.certificate_request, CSR);
    assert_eq!(
        rst.context("DeviceID"),
        Some("7E980AD9B86D430694259AC066FB014A")
    );
    assert_eq!(
        rst.context("HWDevID"),
        Some("7E980AD9B86D430694259AC066FB014A6287F28F4F7F43229651A8697D8FE1BC")
    );
    assert_eq!(rst.context("EnrollmentType"), Some("Device"));
    assert_eq!(rst.context("NotInOobe"), Some("false"));
    assert_eq!(
        rst.context("OfflineAutoPilotEnrollmentCorrelator"),
        Some("a3c1e2d4-5b6f-4789-90ab-cdef01234567")
    );
    assert_eq!(rst.context("DomainName"), Some("corp.contoso.com"));
    assert_eq!(rst.context("EnrollmentData"), Some("null"));
    assert_eq!(rst.context.len(), 17);
}

#[test]
fn the_docs_responses_parse() {
    let discover = parse_discover_response(DISCOVER_RESPONSE.as_bytes())
        .unwrap()
        .unwrap();
    let service = "https://enrolltest.contoso.com/ENROLLMENTSERVER/DEVICEENROLLMENTWEBSERVICE.SVC";
    assert_eq!(
        discover,
        DiscoverResponse {
            auth_policy: AuthPolicy::Federated,
            enrollment_version: "3.0".into(),
            policy_service_url: service.into(),
            enrollment_service_url: service.into(),
            authentication_service_url: Some(
                "https://portal.manage.contoso.com/LoginRedirect.aspx".into()
            ),
        }
    );

    let policy = parse_get_policies_response(GET_POLICIES_RESPONSE.as_bytes())
        .unwrap()
        .unwrap();
    assert_eq!(
        policy,
        CertificatePolicy {
            policy_id: String::new(),
            friendly_name: "CEPUnitTest".into(),
            validity_seconds: 1_209_600,
            renewal_seconds: 172_800,
            minimal_key_length: 2048,
            next_update_hours: 0,
        }
    );

    // The sample RSTR is SOAP 1.1 and its token a placeholder.
    assert_eq!(
        parse_security_token_response(RSTR_AS_PUBLISHED.as_bytes()),
        Err(EnrollmentError::BadBase64("the provisioning document"))
    );
    let document = provisioning_document(&sample_document());
    let filled = RSTR_AS_PUBLISHED.replace(
        "B64EncodedSampleBinarySecurityToken",
        &STANDARD.encode(&document),
    );
    assert_eq!(
        parse_security_token_response(filled.as_bytes()),
        Ok(Ok(document))
    );
}

#[test]
fn an_intune_fault_parses() {
    let expected = Fault {
        code: FaultCode::Authorization,
        reason: "Device Identifier not preregistered".into(),
        error_type: Some(ERROR_TYPE_DEVICE_NOT_SUPPORTED.into()),
        trace_id: Some("c12da796-484e-4a6f-acf2-db07987023e6".into()),
    };
    assert_eq!(parse_fault(FAULT_INTUNE.as_bytes()), Ok(expected.clone()));
    // Every response reader hands a fault back as Ok(Err(fault)).
    assert_eq!(
        parse_security_token_response(FAULT_INTUNE.as_bytes()),
        Ok(Err(expected.clone()))
    );
    assert_eq!(
        parse_discover_response(FAULT_INTUNE.as_bytes()),
        Ok(Err(expected.clone()))
    );
    assert_eq!(
        parse_get_policies_response(FAULT_INTUNE.as_bytes()),
        Ok(Err(expected))
    );
}

#[test]
fn faults_read_leniently() {
    // MS-MDE2 2.2.10's own sample writes the subcode in lower case.
    let lower = r#"<s:Envelope xmlns:s="http://www.w3.org/2003/05/soap-envelope"><s:Body><s:Fault>
        <s:Code><s:Value>s:receiver</s:Value><s:Subcode><s:Value>s:authorization</s:Value></s:Subcode></s:Code>
        <s:Reason><s:Text xml:lang="en-us">This User is not authorized to enroll</s:Text></s:Reason>
        </s:Fault></s:Body></s:Envelope>"#;
    let fault = parse_fault(lower.as_bytes()).unwrap();
    assert_eq!(fault.code, FaultCode::Authorization);
    assert_eq!(fault.reason, "This User is not authorized to enroll");
    assert_eq!((fault.error_type, fault.trace_id), (None, None));
    // A SOAP 1.1 fault, and one without a known subcode.
    let soap11 = r#"<s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/"><s:Body><s:Fault>
        <faultcode>s:Client</faultcode><faultstring>bad</faultstring></s:Fault></s:Body></s:Envelope>"#;
    let fault = parse_fault(soap11.as_bytes()).unwrap();
    assert_eq!(
        (fault.code, fault.reason.as_str()),
        (FaultCode::EnrollmentServer, "bad")
    );
    assert_eq!(
        parse_fault(DISCOVER_RESPONSE.as_bytes()),
        Err(EnrollmentError::MissingElement("Fault"))
    );
}

// ---------------------------------------------------------------------------------------------------------
// Round trips.

#[test]
fn requests_round_trip() {
    let discover = DiscoverRequest {
        email_address: "user@example.test".into(),
        request_version: "4.0".into(),
        device_type: Some("CIMClient_Windows".into()),
        application_version: Some("10.0.19045.2006".into()),
        os_edition: Some("72".into()),
        auth_policies: vec![AuthPolicy::Federated, AuthPolicy::OnPremise],
    };
    let xml = discover_request("urn:uuid:1", TO, &discover);
    assert_eq!(
        parse_request(xml.as_bytes()),
        Ok(EnrollmentRequest {
            header: SoapHeader {
                action: ACTION_DISCOVER.into(),
                message_id: Some("urn:uuid:1".into()),
                to: Some(TO.into()),
                credential: None,
            },
            message: EnrollmentMessage::Discover(discover),
        })
    );
    let minimal = DiscoverRequest {
        email_address: "a@b".into(),
        request_version: "4.0".into(),
        device_type: None,
        application_version: None,
        os_edition: None,
        auth_policies: vec![],
    };
    let xml = discover_request("urn:uuid:2", TO, &minimal);
    assert_eq!(
        parse_request(xml.as_bytes()).unwrap().message,
        EnrollmentMessage::Discover(minimal)
    );

    let password = Credential::UsernameToken {
        username: "user@example.test".into(),
        password: "p<&>\"'w".into(),
    };
    for get_policies in [
        GetPoliciesRequest::default(),
        GetPoliciesRequest {
            last_update: Some("2024-01-01T00:00:00Z".into()),
            preferred_language: Some("en-US".into()),
        },
    ] {
        let xml = get_policies_request("urn:uuid:3", TO, &password, &get_policies);
        let parsed = parse_request(xml.as_bytes()).unwrap();
        assert_eq!(parsed.header.action, ACTION_GET_POLICIES);
        assert_eq!(parsed.header.credential.as_ref(), Some(&password));
        assert_eq!(parsed.message, EnrollmentMessage::GetPolicies(get_policies));
    }

    let mut renewal = sample_rst();
    renewal.request_type = REQUEST_TYPE_RENEW.into();
    renewal.value_type = VALUE_TYPE_PKCS7.into();
    for request in [sample_rst(), renewal] {
        let xml = security_token_request("urn:uuid:4", TO, &entra_credential(), &request);
        let parsed = parse_request(xml.as_bytes()).unwrap();
        assert_eq!(parsed.header.credential, Some(entra_credential()));
        assert_eq!(rst(&parsed), &request);
        assert_eq!(
            rst(&parsed).is_renewal(),
            request.request_type == REQUEST_TYPE_RENEW
        );
    }
}

#[test]
fn responses_round_trip() {
    let discover = DiscoverResponse {
        auth_policy: AuthPolicy::Federated,
        enrollment_version: "4.0".into(),
        policy_service_url: "https://e.example.test/EnrollmentServer/Policy.svc".into(),
        enrollment_service_url: "https://e.example.test/EnrollmentServer/Enrollment.svc".into(),
        authentication_service_url: Some(
            "https://e.example.test/EnrollmentServer/Auth?a=1&b=2".into(),
        ),
    };
    let xml = discover_response(Some("urn:uuid:1"), &discover);
    let envelope = xml::parse(xml.as_bytes(), &Limits::SOAP).unwrap();
    assert_eq!(
        envelope.descend(&["Header", "RelatesTo"]).unwrap().text,
        "urn:uuid:1"
    );
    assert_eq!(
        envelope.descend(&["Header", "Action"]).unwrap().text,
        ACTION_DISCOVER_RESPONSE
    );
    assert_eq!(parse_discover_response(xml.as_bytes()), Ok(Ok(discover)));
    let onpremise = DiscoverResponse {
        auth_policy: AuthPolicy::OnPremise,
        enrollment_version: "4.0".into(),
        policy_service_url: "https://p".into(),
        enrollment_service_url: "https://e".into(),
        authentication_service_url: None,
    };
    let xml = discover_response(None, &onpremise);
    assert_eq!(parse_discover_response(xml.as_bytes()), Ok(Ok(onpremise)));

    let policy = CertificatePolicy {
        policy_id: "ztd-policy".into(),
        friendly_name: "ztd <MDM> & co".into(),
        validity_seconds: 31_536_000,
        renewal_seconds: 15_552_000,
        minimal_key_length: 2048,
        next_update_hours: 8,
    };
    let xml = get_policies_response(Some("urn:uuid:2"), &policy);
    assert_eq!(parse_get_policies_response(xml.as_bytes()), Ok(Ok(policy)));

    let document = provisioning_document(&sample_document());
    let xml = security_token_response(
        Some("urn:uuid:3"),
        &document,
        datetime!(2012-08-02 0:32:59.42 UTC),
        datetime!(2012-08-02 2:37:59.42 +02:00),
    );
    let envelope = xml::parse(xml.as_bytes(), &Limits::SOAP).unwrap();
    let stamp = envelope
        .descend(&["Header", "Security", "Timestamp"])
        .unwrap();
    assert_eq!(
        stamp.child_text("Created"),
        Some("2012-08-02T00:32:59.420Z")
    );
    assert_eq!(
        stamp.child_text("Expires"),
        Some("2012-08-02T00:37:59.420Z")
    );
    let response = envelope
        .descend(&[
            "Body",
            "RequestSecurityTokenResponseCollection",
            "RequestSecurityTokenResponse",
        ])
        .unwrap();
    assert_eq!(response.child_text("RequestID"), Some("0"));
    let token = response
        .descend(&["RequestedSecurityToken", "BinarySecurityToken"])
        .unwrap();
    assert_eq!(token.attribute("ValueType"), Some(PROVISION_DOC));
    assert_eq!(token.namespace.as_deref(), Some(NS_WSSE));
    assert_eq!(
        parse_security_token_response(xml.as_bytes()),
        Ok(Ok(document))
    );
}

#[test]
fn every_fault_code_round_trips() {
    for (i, code) in FaultCode::ALL.into_iter().enumerate() {
        let fault = Fault {
            code,
            reason: format!("reason <{i}> & \"more\""),
            error_type: (i % 2 == 0).then(|| ERROR_TYPE_INVALID_ENROLLMENT_DATA.to_string()),
            trace_id: (i % 3 == 0).then(|| format!("trace-{i}")),
        };
        let xml = fault_response(Some("urn:uuid:9"), &fault);
        let envelope = xml::parse(xml.as_bytes(), &Limits::SOAP).unwrap();
        assert_eq!(
            envelope.descend(&["Header", "Action"]).unwrap().text,
            ACTION_FAULT
        );
        let fault_element = envelope.descend(&["Body", "Fault"]).unwrap();
        assert!(fault_element.is_in(NS_SOAP12, "Fault"));
        assert_eq!(
            fault_element.descend(&["Code", "Value"]).unwrap().text,
            "s:Receiver"
        );
        assert_eq!(
            fault_element
                .descend(&["Code", "Subcode", "Value"])
                .unwrap()
                .text,
            code.subcode()
        );
        assert_eq!(parse_fault(xml.as_bytes()), Ok(fault.clone()));
        assert_eq!(
            parse_security_token_response(xml.as_bytes()),
            Ok(Err(fault))
        );
        assert_eq!(FaultCode::from_subcode(code.subcode()), Some(code));
        assert_eq!(code.hresult(), 0x8018_0001 + i as u32);
    }
    assert_eq!(
        FaultCode::InvalidSecurity.subcode(),
        "a:InvalidSecurity",
        "MS-MDE2 2.2.10 puts the last two in the a: namespace"
    );
    assert_eq!(FaultCode::from_subcode("s:Receiver"), None);
}

#[test]
fn the_provisioning_document_round_trips() {
    let mut document = sample_document();
    assert_eq!(
        parse_provisioning_document(&provisioning_document(&document)),
        Ok(document.clone())
    );
    document.issuing_certificate = None;
    document.client_scope = CertificateScope::User;
    document.renewal = None;
    document.upn = None;
    document.device_name = None;
    document.client_nonce = vec![];
    let xml = provisioning_document(&document);
    assert_eq!(parse_provisioning_document(&xml), Ok(document));
    assert!(!xml.contains("WSTEP"), "no renewal, no WSTEP");
    assert!(xml.contains("Stores=My%5CUser"));
}

/// The parms four characteristics deep, in document order: what pytune's
/// `findall('characteristic/characteristic/characteristic/characteristic/parm')` sees.
fn parms_at_depth_four(root: &Element) -> Vec<&Element> {
    let mut level: Vec<&Element> = vec![root];
    for _ in 0..4 {
        level = level
            .iter()
            .flat_map(|e| e.children_named("characteristic"))
            .collect();
    }
    level
        .iter()
        .flat_map(|e| e.children_named("parm"))
        .collect()
}

#[test]
fn the_provisioning_document_has_root_ca_my_in_order_and_the_client_certificate_third() {
    let document = sample_document();
    let xml = provisioning_document(&document);
    let root = xml::parse(xml.as_bytes(), &Limits::SOAP).unwrap();
    assert!(root.is("wap-provisioningdoc"));
    assert_eq!(root.attribute("version"), Some("1.1"));
    let stores: Vec<_> = root
        .children_named("characteristic")
        .filter(|c| c.attribute("type") == Some("CertificateStore"))
        .map(|c| c.children[0].attribute("type").unwrap())
        .collect();
    assert_eq!(stores, ["Root", "CA", "My"]);

    let parms = parms_at_depth_four(&root);
    assert_eq!(parms[2].attribute("name"), Some("EncodedCertificate"));
    assert_eq!(
        parms[2].attribute("value"),
        Some(STANDARD.encode(&document.client_certificate).as_str())
    );
    let certificates: Vec<_> = parms
        .iter()
        .filter(|p| p.attribute("name") == Some("EncodedCertificate"))
        .map(|p| STANDARD.decode(p.attribute("value").unwrap()).unwrap())
        .collect();
    assert_eq!(
        certificates,
        [
            document.root_certificate.clone(),
            document.issuing_certificate.clone().unwrap(),
            document.client_certificate.clone()
        ]
    );

    // My/System with its PrivateKeyContainer, the certificate named by its upper-case SHA-1.
    let my = root.children_named("characteristic").nth(2).unwrap();
    let system = my.descend(&["characteristic", "characteristic"]).unwrap();
    assert_eq!(system.attribute("type"), Some("System"));
    let names: Vec<_> = system
        .children
        .iter()
        .map(|c| c.attribute("type").unwrap())
        .collect();
    assert_eq!(
        names,
        [
            thumbprint(&document.client_certificate).as_str(),
            "PrivateKeyContainer"
        ]
    );
    assert_eq!(
        thumbprint(b"abc"),
        "A9993E364706816ABA3E25717850C26C9CD0D89D",
        "FIPS 180 test vector"
    );

    // w7 and DMClient.
    let application = root
        .children_named("characteristic")
        .find(|c| c.attribute("type") == Some("APPLICATION"))
        .unwrap();
    let parm = |name: &str| {
        application
            .children_named("parm")
            .find(|p| p.attribute("name") == Some(name))
            .and_then(|p| p.attribute("value"))
    };
    assert_eq!(parm("APPID"), Some("w7"));
    assert_eq!(parm("PROVIDER-ID"), Some("ztd"));
    assert_eq!(
        parm("DEFAULTENCODING"),
        Some("application/vnd.syncml.dm+xml")
    );
    assert_eq!(
        parm("SSLCLIENTCERTSEARCHCRITERIA"),
        Some("Subject=CN%3D7E980AD9-B86D-4306-9425-9AC066FB014A&Stores=My%5CSystem")
    );
    assert!(application
        .children_named("parm")
        .any(|p| p.attribute("name") == Some("BACKCOMPATRETRYDISABLED")
            && p.attribute("value").is_none()));
    let levels: Vec<_> = application
        .children_named("characteristic")
        .map(|c| c.children[0].attribute("value").unwrap())
        .collect();
    assert_eq!(levels, ["CLIENT", "APPSRV"]);
    let provider = root
        .children_named("characteristic")
        .find(|c| c.attribute("type") == Some("DMClient"))
        .and_then(|c| c.descend(&["characteristic", "characteristic"]))
        .unwrap();
    assert_eq!(provider.attribute("type"), Some("ztd"));
    let poll = provider.child("characteristic").unwrap();
    assert_eq!(poll.attribute("type"), Some("Poll"));
    assert!(poll.children_named("parm").all(|p| matches!(
        (p.attribute("name"), p.attribute("datatype")),
        (Some("PollOnLogin"), Some("boolean")) | (Some(_), Some("integer"))
    )));
    assert_eq!(poll.children.len(), 7);
}

#[test]
fn the_docs_provisioning_document_parses_once_its_placeholders_are_filled() {
    let (root, client) = (b"a root".to_vec(), b"a client".to_vec());
    let filled = PROVISIONING_ONPREMISE
        .replace(
            "031336C933CC7E228B88880D78824FB2909A0A2F",
            &thumbprint(&root),
        )
        .replace("B64 encoded cert insert here", &STANDARD.encode(&root))
        .replace(
            "F9A4F20FC50D990FDD0E3DB9AFCBF401818D5462",
            &thumbprint(&client),
        )
        .replace("B64EncodedCertInsertedHere", &STANDARD.encode(&client))
        .replace("B64encodedBinaryNonceInsertedHere", "bm9uY2U=");
    let document = parse_provisioning_document(&filled).unwrap();
    assert_eq!(
        document,
        ProvisioningDocument {
            root_certificate: root,
            issuing_certificate: None,
            client_certificate: client,
            client_scope: CertificateScope::User,
            provider_id: "TestMDMServer".into(),
            server_name: "Microsoft".into(),
            management_url: "https://DM.contoso.com:443/omadm/Windows.ashx".into(),
            client_certificate_subject: "DC=com,DC=microsoft,CN=Users,CN=Administrator".into(),
            upn: None,
            device_name: Some("Administrator_Windows".into()),
            poll: PollSchedule {
                first_retries: 8,
                first_interval_minutes: 15,
                second_retries: 5,
                second_interval_minutes: 3,
                remaining_retries: 0,
                remaining_interval_minutes: 1560,
                poll_on_login: true,
            },
            renewal: Some(RenewalSettings {
                robo_support: true,
                renew_period_days: 60,
                retry_interval_days: 4,
            }),
            client_secret: "password1".into(),
            client_nonce: b"nonce".to_vec(),
            server_auth_name: "testclient".into(),
            server_secret: "password2".into(),
        }
    );
    // As published, the certificates are placeholders: the root's ("B64 encoded cert insert here", spaces
    // ignored) happens to be base64, of bytes whose SHA-1 is not the sample's; the client's is not base64.
    assert_eq!(
        parse_provisioning_document(PROVISIONING_ONPREMISE),
        Err(EnrollmentError::InvalidElement("certificate thumbprint"))
    );
    let root_filled = PROVISIONING_ONPREMISE
        .replace(
            "031336C933CC7E228B88880D78824FB2909A0A2F",
            &thumbprint(b"a root"),
        )
        .replace("B64 encoded cert insert here", &STANDARD.encode(b"a root"));
    assert_eq!(
        parse_provisioning_document(&root_filled),
        Err(EnrollmentError::BadBase64("a parm value"))
    );
    // A certificate not named by its thumbprint is refused.
    let misnamed = filled.replace(&thumbprint(b"a root"), &thumbprint(b"another"));
    assert_eq!(
        parse_provisioning_document(&misnamed),
        Err(EnrollmentError::InvalidElement("certificate thumbprint"))
    );
}

// ---------------------------------------------------------------------------------------------------------
// Refusals: every EnrollmentError variant.

fn envelope(header: &str, body: &str) -> String {
    format!(
        r#"<s:Envelope xmlns:s="{NS_SOAP12}" xmlns:a="{NS_ADDRESSING}" xmlns:wsse="{NS_WSSE}"><s:Header>{header}</s:Header><s:Body>{body}</s:Body></s:Envelope>"#
    )
}

fn action(action: &str) -> String {
    format!("<a:Action>{action}</a:Action>")
}

fn refused(body: &str) -> EnrollmentError {
    let error = parse_request(body.as_bytes()).unwrap_err();
    assert!(error.to_string().len() <= 300, "{error}");
    error
}

#[test]
fn every_refusal_is_reachable_and_short() {
    let discover = discover_request(
        "m",
        TO,
        &DiscoverRequest {
            email_address: "a@b".into(),
            request_version: "4.0".into(),
            device_type: None,
            application_version: None,
            os_edition: None,
            auth_policies: vec![AuthPolicy::OnPremise],
        },
    );
    let mut cases: Vec<(String, EnrollmentError)> = vec![
        ("<a>".into(), EnrollmentError::Xml(xml::XmlError::Malformed(3))),
        (
            DISCOVER_REQUEST.replace(NS_SOAP12, "http://schemas.xmlsoap.org/soap/envelope/"),
            EnrollmentError::NotSoapEnvelope,
        ),
        (
            format!(r#"<s:Envelope xmlns:s="{NS_SOAP12}"><s:Body/></s:Envelope>"#),
            EnrollmentError::MissingHeader("Header"),
        ),
        (
            envelope("<a:To>x</a:To>", ""),
            EnrollmentError::MissingHeader("Action"),
        ),
        (
            envelope(&action(ACTION_RST), "<Discover/>"),
            EnrollmentError::ActionMismatch,
        ),
        (
            envelope(&action(ACTION_RST), ""),
            EnrollmentError::MissingElement("RequestSecurityToken"),
        ),
        (
            envelope(&action(ACTION_DISCOVER), "<Discover/>"),
            EnrollmentError::InvalidElement("Discover"),
        ),
        (
            discover.replace("<EmailAddress>a@b</EmailAddress>", ""),
            EnrollmentError::MissingElement("EmailAddress"),
        ),
        (
            envelope(
                &format!(
                    "{}<wsse:Security><wsse:UsernameToken><wsse:Username>u</wsse:Username></wsse:UsernameToken></wsse:Security>",
                    action(ACTION_GET_POLICIES)
                ),
                "<GetPolicies/>",
            ),
            EnrollmentError::InvalidSecurity("UsernameToken has no Password"),
        ),
        (
            envelope(
                &format!(
                    "{}<wsse:Security><wsse:BinarySecurityToken>x</wsse:BinarySecurityToken></wsse:Security>",
                    action(ACTION_GET_POLICIES)
                ),
                "<GetPolicies/>",
            ),
            EnrollmentError::InvalidSecurity("BinarySecurityToken has no ValueType"),
        ),
        (
            RST_ONPREMISE.replace("MIICXzCCAUcCAQAw", "MIICXzCCAUcCAQA!"),
            EnrollmentError::BadBase64("the certificate request"),
        ),
        (
            RST_ONPREMISE.replace(VALUE_TYPE_PKCS10, ""),
            EnrollmentError::InvalidElement("BinarySecurityToken ValueType"),
        ),
        (
            RST_ONPREMISE.replace("<ac:ContextItem Name=\"MAC\">", "<ac:ContextItem>"),
            EnrollmentError::InvalidElement("ContextItem Name"),
        ),
        (
            RST_ONPREMISE.replace(DEVICE_ENROLLMENT_TOKEN, " "),
            EnrollmentError::MissingElement("TokenType"),
        ),
    ];

    let mut request = sample_rst();
    request.certificate_request = vec![0x30; MAX_CERTIFICATE_REQUEST + 1];
    cases.push((
        security_token_request("m", TO, &entra_credential(), &request),
        EnrollmentError::CertificateRequestTooLarge(MAX_CERTIFICATE_REQUEST),
    ));
    request.certificate_request = vec![];
    cases.push((
        security_token_request("m", TO, &entra_credential(), &request),
        EnrollmentError::MissingElement("certificate request"),
    ));
    let mut request = sample_rst();
    request.context = (0..=MAX_CONTEXT_ITEMS)
        .map(|i| ContextItem {
            name: format!("Item{i}"),
            value: "v".into(),
        })
        .collect();
    cases.push((
        security_token_request("m", TO, &entra_credential(), &request),
        EnrollmentError::TooManyContextItems(MAX_CONTEXT_ITEMS),
    ));
    for (name, value, part, max) in [
        (
            "N".repeat(MAX_CONTEXT_NAME + 1),
            "v".to_string(),
            "name",
            MAX_CONTEXT_NAME,
        ),
        (
            "N".to_string(),
            "v".repeat(MAX_CONTEXT_VALUE + 1),
            "value",
            MAX_CONTEXT_VALUE,
        ),
    ] {
        let mut request = sample_rst();
        request.context = vec![ContextItem { name, value }];
        cases.push((
            security_token_request("m", TO, &entra_credential(), &request),
            EnrollmentError::ContextItemTooLong(part, max),
        ));
    }
    for credential in [
        Credential::BinaryToken {
            value_type: TOKEN_TYPE_JWT.into(),
            encoding_type: None,
            value: "A".repeat(MAX_TOKEN + 1),
        },
        Credential::UsernameToken {
            username: "u".into(),
            password: "p".repeat(MAX_TOKEN + 1),
        },
    ] {
        cases.push((
            security_token_request("m", TO, &credential, &sample_rst()),
            EnrollmentError::TokenTooLarge(MAX_TOKEN),
        ));
    }
    cases.push((
        discover_request(
            "m",
            TO,
            &DiscoverRequest {
                email_address: format!("{}@example.test", "a".repeat(MAX_EMAIL)),
                request_version: "4.0".into(),
                device_type: None,
                application_version: None,
                os_edition: None,
                auth_policies: vec![],
            },
        ),
        EnrollmentError::EmailTooLong(MAX_EMAIL),
    ));

    for (body, expected) in cases {
        assert_eq!(refused(&body), expected);
    }

    // An unknown action is quoted, cut short, and shown in printable ASCII only.
    let long = format!("urn:evil:\"{}\u{7}", "x".repeat(500));
    let EnrollmentError::UnknownAction(excerpt) = refused(&envelope(&action(&long), "")) else {
        panic!("not UnknownAction");
    };
    assert!(excerpt.starts_with("\"urn:evil:\"xx") && excerpt.ends_with("…\""));
    assert!(excerpt.chars().count() < 80);
    assert!(!excerpt.contains('\u{7}'));
    let EnrollmentError::UnknownAction(excerpt) =
        refused(&envelope(&action("urn:\u{1}"), "")).clone()
    else {
        panic!("not UnknownAction");
    };
    assert_eq!(excerpt, "\"urn:?\"");
}

#[test]
fn refusals_map_to_fault_codes() {
    assert_eq!(
        EnrollmentError::NotSoapEnvelope.fault_code(),
        FaultCode::MessageFormat
    );
    assert_eq!(
        EnrollmentError::Xml(xml::XmlError::DocType).fault_code(),
        FaultCode::MessageFormat
    );
    assert_eq!(
        EnrollmentError::CertificateRequestTooLarge(1).fault_code(),
        FaultCode::MessageFormat
    );
    assert_eq!(
        EnrollmentError::InvalidSecurity("x").fault_code(),
        FaultCode::InvalidSecurity
    );
    assert_eq!(
        EnrollmentError::TokenTooLarge(1).fault_code(),
        FaultCode::InvalidSecurity
    );
    let fault = Fault::from(&EnrollmentError::EmailTooLong(MAX_EMAIL));
    assert_eq!(fault.code, FaultCode::MessageFormat);
    assert_eq!(fault.reason, "the email address is longer than 320 bytes");
}

#[test]
fn response_readers_refuse_what_they_cannot_read() {
    assert_eq!(
        parse_discover_response(GET_POLICIES_RESPONSE.as_bytes()),
        Err(EnrollmentError::MissingElement("DiscoverResponse"))
    );
    assert_eq!(
        parse_discover_response(
            DISCOVER_RESPONSE
                .replace("<AuthPolicy>Federated", "<AuthPolicy>Kerberos")
                .as_bytes()
        ),
        Err(EnrollmentError::InvalidElement("AuthPolicy"))
    );
    assert_eq!(
        parse_get_policies_response(
            GET_POLICIES_RESPONSE
                .replace("<minimalKeyLength>2048", "<minimalKeyLength>-1")
                .as_bytes()
        ),
        Err(EnrollmentError::InvalidElement("minimalKeyLength"))
    );
    assert_eq!(
        parse_security_token_response(DISCOVER_RESPONSE.as_bytes()),
        Err(EnrollmentError::MissingElement(
            "RequestSecurityTokenResponseCollection"
        ))
    );
    let not_utf8 = RSTR_AS_PUBLISHED.replace("B64EncodedSampleBinarySecurityToken", "/w==");
    assert_eq!(
        parse_security_token_response(not_utf8.as_bytes()),
        Err(EnrollmentError::InvalidElement("provisioning document"))
    );
    assert_eq!(
        parse_fault(b"<Envelope/>"),
        Err(EnrollmentError::NotSoapEnvelope)
    );
    assert_eq!(
        parse_provisioning_document("<x/>"),
        Err(EnrollmentError::MissingElement("wap-provisioningdoc"))
    );
}

#[test]
fn secrets_stay_out_of_debug_output() {
    let shown = format!(
        "{:?} {:?}",
        Credential::UsernameToken {
            username: "u".into(),
            password: "hunter2".into()
        },
        entra_credential()
    );
    assert!(!shown.contains("hunter2"));
    assert!(!shown.contains("ZXlK"));
}

#[test]
fn builders_keep_the_output_well_formed_whatever_the_input() {
    let mut request = sample_rst();
    request.context = vec![ContextItem {
        name: "N\u{0}".into(),
        value: "v\u{1b}\u{ffff}".into(),
    }];
    let xml = security_token_request("m\u{8}", TO, &entra_credential(), &request);
    let parsed = parse_request(xml.as_bytes()).unwrap();
    assert_eq!(rst(&parsed).context[0].name, "N\u{fffd}");
    assert_eq!(rst(&parsed).context[0].value, "v\u{fffd}\u{fffd}");
}

// ---------------------------------------------------------------------------------------------------------
// Properties.

/// Text with XML's special characters, spaces and non-ASCII; no control characters (XML 1.0 cannot carry
/// most, and normalizes the others).
fn text() -> impl Strategy<Value = String> {
    "[a-zA-Z0-9 <>&\"'=,;%+/\\\\:.@#é中\u{1F600}-]{0,24}"
}

/// [`text`] without surrounding whitespace, as element texts are read back trimmed.
fn trimmed() -> impl Strategy<Value = String> {
    text().prop_map(|s| s.trim().to_string())
}

fn nonempty() -> impl Strategy<Value = String> {
    trimmed().prop_filter("not empty", |s| !s.is_empty())
}

fn credential() -> impl Strategy<Value = Credential> {
    prop_oneof![
        (trimmed(), trimmed())
            .prop_map(|(username, password)| Credential::UsernameToken { username, password }),
        (text(), proptest::option::of(text()), nonempty()).prop_map(
            |(value_type, encoding_type, value)| Credential::BinaryToken {
                value_type,
                encoding_type,
                value
            }
        ),
    ]
}

fn document() -> impl Strategy<Value = ProvisioningDocument> {
    let certificates = (
        proptest::collection::vec(any::<u8>(), 0..64),
        proptest::option::of(proptest::collection::vec(any::<u8>(), 0..64)),
        proptest::collection::vec(any::<u8>(), 0..64),
        any::<bool>(),
    );
    let names = (
        text(),
        text(),
        text(),
        text(),
        proptest::option::of(text()),
        proptest::option::of(text()),
    );
    let poll = (any::<[u32; 6]>(), any::<bool>()).prop_map(|(n, poll_on_login)| PollSchedule {
        first_retries: n[0],
        first_interval_minutes: n[1],
        second_retries: n[2],
        second_interval_minutes: n[3],
        remaining_retries: n[4],
        remaining_interval_minutes: n[5],
        poll_on_login,
    });
    let renewal = proptest::option::of((any::<bool>(), any::<u32>(), any::<u32>()).prop_map(
        |(robo_support, renew_period_days, retry_interval_days)| RenewalSettings {
            robo_support,
            renew_period_days,
            retry_interval_days,
        },
    ));
    let secrets = (
        text(),
        proptest::collection::vec(any::<u8>(), 0..32),
        text(),
        text(),
    );
    (certificates, names, poll, renewal, secrets).prop_map(
        |(
            (root, issuing, client, system),
            (provider_id, server_name, management_url, subject, upn, device_name),
            poll,
            renewal,
            (client_secret, client_nonce, server_auth_name, server_secret),
        )| ProvisioningDocument {
            root_certificate: root,
            issuing_certificate: issuing,
            client_certificate: client,
            client_scope: if system {
                CertificateScope::System
            } else {
                CertificateScope::User
            },
            provider_id,
            server_name,
            management_url,
            client_certificate_subject: subject,
            upn,
            device_name,
            poll,
            renewal,
            client_secret,
            client_nonce,
            server_auth_name,
            server_secret,
        },
    )
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]

    #[test]
    fn any_provisioning_document_round_trips(document in document()) {
        let xml = provisioning_document(&document);
        prop_assert_eq!(parse_provisioning_document(&xml), Ok(document.clone()));
        // And through the RSTR.
        let response = security_token_response(None, &xml, datetime!(2025-01-01 0:00 UTC), datetime!(2025-01-01 0:05 UTC));
        prop_assert_eq!(parse_security_token_response(response.as_bytes()), Ok(Ok(xml)));
    }

    #[test]
    fn any_security_token_request_round_trips(
        message_id in nonempty(),
        credential in credential(),
        token_type in nonempty(),
        request_type in nonempty(),
        value_type in nonempty(),
        certificate_request in proptest::collection::vec(any::<u8>(), 1..512),
        context in proptest::collection::vec((text(), trimmed()), 0..12),
    ) {
        let request = SecurityTokenRequest {
            token_type,
            request_type,
            value_type,
            certificate_request,
            context: context.into_iter().map(|(name, value)| ContextItem { name, value }).collect(),
        };
        let xml = security_token_request(&message_id, TO, &credential, &request);
        let parsed = parse_request(xml.as_bytes()).unwrap();
        prop_assert_eq!(parsed.header.message_id, Some(message_id));
        prop_assert_eq!(parsed.header.credential, Some(credential));
        prop_assert_eq!(parsed.message, EnrollmentMessage::RequestSecurityToken(request));
    }

    #[test]
    fn any_fault_round_trips(
        code in 0usize..7,
        reason in trimmed(),
        error_type in proptest::option::of(nonempty()),
        trace_id in proptest::option::of(nonempty()),
    ) {
        let fault = Fault { code: FaultCode::ALL[code], reason, error_type, trace_id };
        prop_assert_eq!(parse_fault(fault_response(None, &fault).as_bytes()), Ok(fault));
    }
}
