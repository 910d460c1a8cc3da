//! Stable-toolchain fuzzing of every enrollment parser: requests ([MS-MDE2] Discover, [MS-XCEP] GetPolicies,
//! [MS-WSTEP] RequestSecurityToken), the responses and faults a device reads, and the provisioning document.
//! Mutates seeds (built with the module's own builders, plus the Microsoft documentation's samples) with a
//! deterministic PRNG for N seconds: deletes, inserts and duplicates bytes and XML tokens (markup,
//! entities, character references, DOCTYPE, CDATA, namespace prefixes, huge repeats).
//! Asserts: no panic; each parser call finishes within 200 ms; every refusal's message is at most 300
//! characters. Prints a one-line summary; exits non-zero on a finding.
//! Usage: `fuzz_enrollment SECONDS [SEED]`.

use std::panic::{self, AssertUnwindSafe};
use std::process::ExitCode;
use std::time::{Duration, Instant};

use rand::rngs::StdRng;
use rand::{RngCore, SeedableRng};
use time::macros::datetime;
use ztd_mdm::enrollment::{
    discover_request, discover_response, fault_response, get_policies_request,
    get_policies_response, parse_discover_response, parse_fault, parse_get_policies_response,
    parse_provisioning_document, parse_request, parse_security_token_response,
    provisioning_document, security_token_request, security_token_response, AuthPolicy,
    CertificatePolicy, CertificateScope, ContextItem, Credential, DiscoverRequest,
    DiscoverResponse, EnrollmentError, Fault, FaultCode, GetPoliciesRequest, PollSchedule,
    ProvisioningDocument, RenewalSettings, SecurityTokenRequest, DEVICE_ENROLLMENT_TOKEN,
    ENCODING_BASE64, ERROR_TYPE_DEVICE_NOT_SUPPORTED, REQUEST_TYPE_ISSUE, TOKEN_TYPE_JWT,
    TOKEN_TYPE_USER_TOKEN, VALUE_TYPE_PKCS10,
};

const BOUND: Duration = Duration::from_millis(200);
const MAX_MESSAGE: usize = 300;

/// The Microsoft documentation's samples (and a pytune-shaped RST), as the unit tests read them.
const SAMPLES: &[&str] = &[
    include_str!("../tests/fixtures/discover_request.xml"),
    include_str!("../tests/fixtures/get_policies_request_onpremise.xml"),
    include_str!("../tests/fixtures/get_policies_request_federated.xml"),
    include_str!("../tests/fixtures/rst_onpremise.xml"),
    include_str!("../tests/fixtures/rst_federated_as_published.xml"),
    include_str!("../tests/fixtures/rst_pytune.xml"),
    include_str!("../tests/fixtures/discover_response_federated.xml"),
    include_str!("../tests/fixtures/get_policies_response.xml"),
    include_str!("../tests/fixtures/rstr_as_published.xml"),
    include_str!("../tests/fixtures/fault_intune.xml"),
    include_str!("../tests/fixtures/provisioning_onpremise.xml"),
];

const TOKENS: &[&str] = &[
    "<",
    "</",
    ">",
    "/>",
    "&",
    "&lt;",
    "&amp;",
    "&#x0;",
    "&#0;",
    "&#xD800;",
    "&#x10FFFF;",
    "&#10;",
    "&bogus;",
    "<!DOCTYPE x [<!ENTITY a \"aaaa\">]>",
    "<![CDATA[",
    "]]>",
    "<!--",
    "-->",
    "<?xml version=\"1.0\"?>",
    "<?pi x?>",
    "\"",
    "'",
    "=",
    " ",
    "\r\n",
    "\t",
    "s:",
    "a:",
    "wsse:",
    "ac:",
    "q:",
    "xmlns:s=\"http://www.w3.org/2003/05/soap-envelope\" ",
    "xmlns:s=\"http://schemas.xmlsoap.org/soap/envelope/\" ",
    "xmlns=\"\" ",
    "xmlns:q=\"urn:q\" ",
    "<s:Header>",
    "<s:Body>",
    "<s:Fault><s:Code><s:Value>s:Receiver</s:Value></s:Code></s:Fault>",
    "<a:Action>http://schemas.microsoft.com/windows/pki/2009/01/enrollment/RST/wstep</a:Action>",
    "<ac:ContextItem Name=\"DeviceID\"><ac:Value>x</ac:Value></ac:ContextItem>",
    "<wsse:BinarySecurityToken ValueType=\"v\">QUJD</wsse:BinarySecurityToken>",
    "<characteristic type=\"CertificateStore\">",
    "<characteristic type=\"My\"><characteristic type=\"System\">",
    "<parm name=\"EncodedCertificate\" value=\"QUJD\"/>",
    "<parm name=\"AAUTHLEVEL\" value=\"CLIENT\"/>",
    "</characteristic>",
    "xsi:nil=\"true\"",
    "MIIC",
    "====",
    "%",
    "%5C",
    "%zz",
    "\u{0}",
    "\u{feff}",
    "é",
    "\u{202e}",
    "\u{fffe}",
];

struct Rng(StdRng);

impl Rng {
    fn below(&mut self, n: usize) -> usize {
        (self.0.next_u64() % n.max(1) as u64) as usize
    }
}

fn certificate_request() -> Vec<u8> {
    include_bytes!("../tests/fixtures/csr.der").to_vec()
}

fn document() -> ProvisioningDocument {
    ProvisioningDocument {
        root_certificate: b"root certificate".to_vec(),
        issuing_certificate: Some(b"issuing certificate".to_vec()),
        client_certificate: b"client certificate".to_vec(),
        client_scope: CertificateScope::System,
        provider_id: "ztd".into(),
        server_name: "ztd <MDM> & co".into(),
        management_url: "https://mdm.example.test/ManagementServer/MDM.svc?a=1&b=2".into(),
        client_certificate_subject: "CN=7E980AD9-B86D-4306-9425-9AC066FB014A, O=\"x\"".into(),
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
        client_nonce: vec![1, 2, 3, 4],
        server_auth_name: "7E980AD9B86D430694259AC066FB014A".into(),
        server_secret: "server secret".into(),
    }
}

fn seeds() -> Vec<Vec<u8>> {
    let to = "https://enroll.example.test/EnrollmentServer/Enrollment.svc";
    let password = Credential::UsernameToken {
        username: "user@example.test".into(),
        password: "p&<w>".into(),
    };
    let jwt = Credential::BinaryToken {
        value_type: TOKEN_TYPE_JWT.into(),
        encoding_type: Some(ENCODING_BASE64.into()),
        value: "ZXlKaGJHY2lPaUpTVXpJMU5pSjkuZXlKMGFXUWlPaUowSW4wLmMybG4=".into(),
    };
    let wab = Credential::BinaryToken {
        value_type: TOKEN_TYPE_USER_TOKEN.into(),
        encoding_type: None,
        value: "d3Jlc3VsdA==".into(),
    };
    let rst = SecurityTokenRequest {
        token_type: DEVICE_ENROLLMENT_TOKEN.into(),
        request_type: REQUEST_TYPE_ISSUE.into(),
        value_type: VALUE_TYPE_PKCS10.into(),
        certificate_request: certificate_request(),
        context: [
            "DeviceID",
            "HWDevID",
            "EnrollmentType",
            "NotInOobe",
            "MAC",
            "MAC",
        ]
        .into_iter()
        .map(|name| ContextItem {
            name: name.into(),
            value: format!("{name} value"),
        })
        .collect(),
    };
    let xml = provisioning_document(&document());
    let mut seeds: Vec<String> = vec![
        discover_request(
            "urn:uuid:1",
            to,
            &DiscoverRequest {
                email_address: "user@example.test".into(),
                request_version: "4.0".into(),
                device_type: Some("CIMClient_Windows".into()),
                application_version: Some("10.0.19045.2006".into()),
                os_edition: Some("72".into()),
                auth_policies: vec![AuthPolicy::Federated, AuthPolicy::OnPremise],
            },
        ),
        get_policies_request("urn:uuid:2", to, &password, &GetPoliciesRequest::default()),
        get_policies_request(
            "urn:uuid:3",
            to,
            &wab,
            &GetPoliciesRequest {
                last_update: Some("2024-01-01T00:00:00Z".into()),
                preferred_language: Some("en-US".into()),
            },
        ),
        security_token_request("urn:uuid:4", to, &jwt, &rst),
        security_token_request("urn:uuid:5", to, &password, &rst),
        discover_response(
            Some("urn:uuid:1"),
            &DiscoverResponse {
                auth_policy: AuthPolicy::Federated,
                enrollment_version: "4.0".into(),
                policy_service_url: to.into(),
                enrollment_service_url: to.into(),
                authentication_service_url: Some("https://auth.example.test/?a=1&b=2".into()),
            },
        ),
        get_policies_response(
            Some("urn:uuid:2"),
            &CertificatePolicy {
                policy_id: "p".into(),
                friendly_name: "ztd".into(),
                validity_seconds: 31_536_000,
                renewal_seconds: 15_552_000,
                minimal_key_length: 2048,
                next_update_hours: 8,
            },
        ),
        security_token_response(
            Some("urn:uuid:4"),
            &xml,
            datetime!(2025-01-01 0:00 UTC),
            datetime!(2025-01-01 0:05 UTC),
        ),
        fault_response(
            Some("urn:uuid:4"),
            &Fault {
                code: FaultCode::Authorization,
                reason: "not allowed".into(),
                error_type: Some(ERROR_TYPE_DEVICE_NOT_SUPPORTED.into()),
                trace_id: Some("trace".into()),
            },
        ),
        xml,
    ];
    seeds.extend(SAMPLES.iter().map(|s| s.to_string()));
    seeds.into_iter().map(String::into_bytes).collect()
}

fn mutate(rng: &mut Rng, seeds: &[Vec<u8>], seed: &[u8]) -> Vec<u8> {
    let mut bytes = seed.to_vec();
    for _ in 0..1 + rng.below(6) {
        let at = rng.below(bytes.len() + 1);
        match rng.below(7) {
            0 if !bytes.is_empty() => {
                let end = (at + 1 + rng.below(32)).min(bytes.len());
                bytes.drain(at.min(end)..end);
            }
            1 => {
                let token = TOKENS[rng.below(TOKENS.len())].as_bytes();
                bytes.splice(at..at, token.iter().copied());
            }
            2 => {
                // Huge repeats: deep nesting, many elements, long texts, oversized documents.
                let token = TOKENS[rng.below(TOKENS.len())];
                let most = if rng.below(10) == 0 { 60_000 } else { 2_000 };
                let times = 1 + rng.below(most);
                bytes.splice(at..at, token.repeat(times).into_bytes());
            }
            3 if !bytes.is_empty() => {
                let i = rng.below(bytes.len());
                bytes[i] ^= 1 << rng.below(8);
            }
            4 if !bytes.is_empty() => {
                // Duplicate a slice of the input somewhere else (repeated elements, attributes).
                let start = rng.below(bytes.len());
                let end = (start + 1 + rng.below(512)).min(bytes.len());
                let copy = bytes[start..end].to_vec();
                let most = if rng.below(8) == 0 { 100 } else { 3 };
                let times = 1 + rng.below(most);
                for _ in 0..times {
                    let at = rng.below(bytes.len() + 1);
                    bytes.splice(at..at, copy.iter().copied());
                }
            }
            5 => {
                // Splice in a slice of another seed.
                let other = &seeds[rng.below(seeds.len())];
                let start = rng.below(other.len());
                let end = (start + 1 + rng.below(1024)).min(other.len());
                bytes.splice(at..at, other[start..end].iter().copied());
            }
            _ if !bytes.is_empty() => {
                // Truncate.
                bytes.truncate(at);
            }
            _ => {}
        }
    }
    bytes
}

#[derive(Default)]
struct Tally {
    accepted: u64,
    refused: u64,
    slowest: Duration,
    finding: Option<String>,
}

impl Tally {
    /// Runs one parser call, timing it and checking its refusal.
    fn call<T>(
        &mut self,
        parser: &str,
        run: impl FnOnce() -> Result<T, EnrollmentError>,
    ) -> Option<T> {
        let started = Instant::now();
        let outcome = run();
        let took = started.elapsed();
        self.slowest = self.slowest.max(took);
        if took > BOUND && self.finding.is_none() {
            self.finding = Some(format!("{parser} took {took:?}"));
        }
        match outcome {
            Ok(value) => {
                self.accepted += 1;
                Some(value)
            }
            Err(error) => {
                self.refused += 1;
                let message = error.to_string();
                if message.chars().count() > MAX_MESSAGE && self.finding.is_none() {
                    self.finding = Some(format!(
                        "{parser} refused with a {}-character message",
                        message.chars().count()
                    ));
                }
                None
            }
        }
    }
}

fn exercise(tally: &mut Tally, input: &[u8]) {
    tally.call("parse_request", || parse_request(input));
    tally.call("parse_discover_response", || parse_discover_response(input));
    tally.call("parse_get_policies_response", || {
        parse_get_policies_response(input)
    });
    if let Some(Ok(document)) = tally.call("parse_security_token_response", || {
        parse_security_token_response(input)
    }) {
        tally.call("parse_provisioning_document (from an RSTR)", || {
            parse_provisioning_document(&document)
        });
    }
    tally.call("parse_fault", || parse_fault(input));
    let text = String::from_utf8_lossy(input);
    tally.call("parse_provisioning_document", || {
        parse_provisioning_document(&text)
    });
}

fn excerpt(input: &[u8]) -> String {
    format!(
        "{:?}",
        String::from_utf8_lossy(&input[..input.len().min(300)])
    )
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().collect();
    let Some(seconds) = args.get(1).and_then(|s| s.parse::<u64>().ok()) else {
        eprintln!("usage: fuzz_enrollment SECONDS [SEED]");
        return ExitCode::from(2);
    };
    let seed: u64 = args.get(2).and_then(|s| s.parse().ok()).unwrap_or(1);
    let mut rng = Rng(StdRng::seed_from_u64(seed));
    let seeds = seeds();

    // The unmutated seeds must all be handled too (and the builders' ones accepted by some parser).
    let mut tally = Tally::default();
    panic::set_hook(Box::new(|_| {}));
    let deadline = Instant::now() + Duration::from_secs(seconds);
    let mut runs = 0u64;
    loop {
        let input = if (runs as usize) < seeds.len() {
            seeds[runs as usize].clone()
        } else if Instant::now() < deadline {
            let pick = rng.below(seeds.len());
            mutate(&mut rng, &seeds, &seeds[pick])
        } else {
            break;
        };
        let outcome = panic::catch_unwind(AssertUnwindSafe(|| exercise(&mut tally, &input)));
        runs += 1;
        if let Err(payload) = outcome {
            let _ = panic::take_hook();
            let message = payload
                .downcast_ref::<String>()
                .cloned()
                .or_else(|| payload.downcast_ref::<&str>().map(|s| s.to_string()))
                .unwrap_or_default();
            eprintln!(
                "FINDING: panic ({message}) on input #{runs} ({} bytes): {}",
                input.len(),
                excerpt(&input)
            );
            return ExitCode::FAILURE;
        }
        if let Some(finding) = tally.finding.take() {
            eprintln!(
                "FINDING: {finding} on input #{runs} ({} bytes): {}",
                input.len(),
                excerpt(&input)
            );
            return ExitCode::FAILURE;
        }
    }
    println!(
        "fuzz_enrollment: seed {seed}, {runs} inputs, {} parses accepted, {} refused, slowest {:?}, no findings",
        tally.accepted, tally.refused, tally.slowest
    );
    ExitCode::SUCCESS
}
