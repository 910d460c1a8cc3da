//! Stable-toolchain fuzzing of the SyncML reader: what a device (or a server, for the client) sends ztd.
//! Mutates seed messages (Microsoft's samples and `to_xml` output) with a deterministic PRNG for N seconds:
//! deleted, inserted, duplicated and flipped bytes, and SyncML and XML tokens spliced in, some repeated
//! thousands of times. Asserts: no panic; each input handled in bounded time; every refusal is short; and
//! whatever parses writes back to the same message (`parse(to_xml(m)) == m`).
//! Usage: `fuzz_syncml SECONDS [SEED]`; `fuzz_syncml --file PATH` re-checks one saved input.

use std::panic;
use std::time::{Duration, Instant};

use rand::rngs::StdRng;
use rand::{RngCore, SeedableRng};
use ztd_mdm::syncml::{
    self, alert, header_status, reply_header, status, status_for, Alert, Command, Container, Item,
    Meta, Operation, Results, SyncHeader, SyncMessage, SyncMlError,
};
use ztd_mdm::xml::XmlError;

const BOUND: Duration = Duration::from_millis(200);
const MAX_ERROR: usize = 300;

const TOKENS: &[&str] = &[
    "<Atomic>",
    "</Atomic>",
    "<Sequence>",
    "</Sequence>",
    "<CmdID>",
    "</CmdID>",
    "<CmdID>1</CmdID>",
    "<CmdID>0</CmdID>",
    "<MoreData/>",
    "<Final/>",
    "<Item>",
    "</Item>",
    "<Data>",
    "</Data>",
    "<Meta>",
    "</Meta>",
    "<Format xmlns=\"syncml:metinf\">",
    "</Format>",
    "<Type xmlns=\"syncml:metinf\">x</Type>",
    "<Size>",
    "4294967296",
    "18446744073709551616",
    "<Get>",
    "</Get>",
    "<Status>",
    "<Results>",
    "<Copy/>",
    "<LocURI>",
    "</LocURI>",
    "<x:Get xmlns:x=\"urn:x\">",
    "xmlns=\"SYNCML:SYNCML1.2\"",
    "&",
    "&amp;",
    "&lt;",
    "&#x0;",
    "&#13;",
    "&#x1F600;",
    "&unknown;",
    "<!DOCTYPE",
    "<!DOCTYPE SyncML [<!ENTITY a \"aaaa\">]>",
    "<![CDATA[",
    "]]>",
    "<!--",
    "-->",
    "<?pi?>",
    "\"",
    "'",
    "<",
    ">",
    "/",
    "\u{0}",
    "\r",
    "\u{feff}",
    "é",
    "\u{F000}",
    "\u{202e}",
];

// [MS-MDM] §4, first message (whitespace shortened).
const MS_MDM_PACKAGE_1: &str = r#"<SyncML xmlns="SYNCML:SYNCML1.2"><SyncHdr><VerDTD>1.2</VerDTD><VerProto>DM/1.2</VerProto><SessionID>1</SessionID><MsgID>1</MsgID><Target><LocURI>https://contoso.com/management-server</LocURI></Target><Source><LocURI>{unique device id}</LocURI></Source></SyncHdr><SyncBody><Alert><CmdID>2</CmdID><Data>1224</Data><Item><Meta><Type xmlns="syncml:metinf">com.microsoft/MDM/LoginStatus</Type></Meta><Data>user</Data></Item></Alert><Replace><CmdID>3</CmdID><Item><Source><LocURI>./DevInfo/DevId</LocURI></Source><Data>{unique device id}</Data></Item><Item><Source><LocURI>./DevInfo/Man</LocURI></Source><Data>Microsoft Corporation</Data></Item><Item><Source><LocURI>./DevInfo/Mod</LocURI></Source><Data>{operating system description}</Data></Item><Item><Source><LocURI>./DevInfo/DmV</LocURI></Source><Data>1.3</Data></Item><Item><Source><LocURI>./DevInfo/Lang</LocURI></Source><Data>en-US</Data></Item></Replace><Final /></SyncBody></SyncML>"#;

// [MS-MDM] §4, third message (whitespace shortened).
const MS_MDM_CLIENT_REPLY: &str = r#"<SyncML xmlns="SYNCML:SYNCML1.2">
 <SyncHdr><VerDTD>1.2</VerDTD><VerProto>DM/1.2</VerProto><SessionID>1</SessionID><MsgID>2</MsgID>
  <Target><LocURI>https://contoso.com/management-server</LocURI></Target><Source><LocURI>{unique device id}</LocURI></Source></SyncHdr>
 <SyncBody>
  <Status><CmdID>1</CmdID><MsgRef>1</MsgRef><CmdRef>0</CmdRef><Cmd>SyncHdr</Cmd><Data>200</Data></Status>
  <Status><CmdID>2</CmdID><MsgRef>1</MsgRef><CmdRef>4</CmdRef><Cmd>Get</Cmd><Data>200</Data></Status>
  <Results><CmdID>4</CmdID><MsgRef>1</MsgRef><CmdRef>4</CmdRef><Cmd>Get</Cmd><Item><Source><LocURI>./DevDetail/SwV</LocURI></Source>
   <Meta><Format xmlns="syncml:metinf">chr</Format></Meta><Data>[software version returned here]</Data></Item></Results>
  <Final />
 </SyncBody>
</SyncML>"#;

// Intune's server message from Microsoft's SCEP troubleshooting article, first commands.
const INTUNE_SERVER: &str = r#"<?xml version="1.0" encoding="utf-8"?><SyncML xmlns="SYNCML:SYNCML1.2"><SyncHdr><VerDTD>1.2</VerDTD><VerProto>DM/1.2</VerProto><SessionID>1</SessionID><MsgID>6</MsgID><Target><LocURI>urn:uuid:UUID</LocURI></Target><Source><LocURI>https://a.manage.microsoft.com/devicegatewayproxy/AndroidHandler.ashx</LocURI></Source><Meta><MaxMsgSize xmlns="syncml:metinf">524288</MaxMsgSize></Meta></SyncHdr><SyncBody><Status><CmdID>1</CmdID><MsgRef>6</MsgRef><CmdRef>0</CmdRef><Cmd>SyncHdr</Cmd><Data>200</Data></Status><Replace><CmdID>2</CmdID><Item><Target><LocURI>./Vendor/MSFT/Scheduler/IntervalDurationSeconds</LocURI></Target><Meta><Format xmlns="syncml:metinf">int</Format><Type xmlns="syncml:metinf">text/plain</Type></Meta><Data>28800</Data></Item></Replace><Exec><CmdID>4</CmdID><Item><Target><LocURI>./Vendor/MSFT/EnterpriseAppManagement/EnterpriseApps/ClearNotifications</LocURI></Target></Item></Exec><Final/></SyncBody></SyncML>"#;

struct Rng(StdRng);

impl Rng {
    fn below(&mut self, n: usize) -> usize {
        (self.0.next_u64() % n.max(1) as u64) as usize
    }
}

fn item(target: &str, data: Option<&str>) -> Item {
    Item {
        target: Some(target.into()),
        data: data.map(str::to_string),
        ..Item::default()
    }
}

/// A server message with every command kind, nesting, metinf and escaped text.
fn built() -> SyncMessage {
    let incoming = SyncHeader {
        session_id: "42".into(),
        msg_id: 3,
        target: "https://mdm.example/ManagementServer/MDM.svc?a=1&b=<2>".into(),
        source: "device-7".into(),
        meta: Some(Meta {
            max_msg_size: Some(65_536),
            max_obj_size: Some(1 << 20),
            ..Meta::default()
        }),
    };
    let get = Command::Get(Operation {
        cmd_id: 2,
        meta: None,
        items: vec![item("./DevDetail/Ext/DeviceHardwareData", None)],
    });
    let replace = Command::Replace(Operation {
        cmd_id: 4,
        meta: Some(Meta {
            format: Some("chr".into()),
            type_: Some("text/plain".into()),
            ..Meta::default()
        }),
        items: vec![item(
            "./Device/Vendor/MSFT/Policy/Config/Area/Policy",
            Some("<enabled/><data id=\"x\" value=\"a&b\"/>"),
        )],
    });
    let mut chunk = item("./Vendor/MSFT/OfflineDomainJoin/Blob", Some("QUJD"));
    chunk.more_data = true;
    chunk.meta = Some(Meta {
        format: Some("b64".into()),
        size: Some(4_096),
        ..Meta::default()
    });
    SyncMessage {
        header: reply_header(&incoming),
        commands: vec![
            Command::Status(header_status(&incoming, 1, status::OK)),
            Command::Status(status_for(3, &get, 5, status::NOT_FOUND)),
            get,
            Command::Atomic(Container {
                cmd_id: 3,
                commands: vec![
                    replace,
                    Command::Sequence(Container {
                        cmd_id: 6,
                        commands: vec![
                            Command::Add(Operation {
                                cmd_id: 7,
                                meta: None,
                                items: vec![item("./User/Vendor/MSFT/DMClient/Provider/ztd", None)],
                            }),
                            Command::Delete(Operation {
                                cmd_id: 8,
                                meta: None,
                                items: vec![item("./Vendor/MSFT/x", None)],
                            }),
                        ],
                    }),
                ],
            }),
            Command::Exec(Operation {
                cmd_id: 9,
                meta: None,
                items: vec![chunk],
            }),
            Command::Alert(Alert {
                cmd_id: 10,
                data: alert::GENERIC,
                items: vec![item("./x", Some("0x80070005"))],
            }),
            Command::Results(Results {
                cmd_id: 11,
                msg_ref: 3,
                cmd_ref: 2,
                items: vec![item("./y", Some("\r\n\t <&>"))],
            }),
        ],
        final_: true,
    }
}

fn mutate(rng: &mut Rng, seed: &[u8]) -> Vec<u8> {
    let mut bytes = seed.to_vec();
    for _ in 0..1 + rng.below(6) {
        let at = rng.below(bytes.len() + 1);
        match rng.below(6) {
            0 if !bytes.is_empty() => {
                let end = (at + rng.below(24)).min(bytes.len());
                bytes.drain(at.min(end)..end);
            }
            1 | 2 => {
                let token = TOKENS[rng.below(TOKENS.len())].as_bytes();
                bytes.splice(at..at, token.iter().copied());
            }
            3 => {
                let token = TOKENS[rng.below(TOKENS.len())];
                let times = 1 + rng.below(5_000);
                bytes.splice(at..at, token.repeat(times).into_bytes());
            }
            4 if !bytes.is_empty() => {
                // Duplicate a slice (a command, an item, a tag) somewhere else.
                let start = rng.below(bytes.len());
                let end = (start + 1 + rng.below(200)).min(bytes.len());
                let slice = bytes[start..end].to_vec();
                let times = if rng.below(8) == 0 {
                    1 + rng.below(2_000)
                } else {
                    1
                };
                let at = at.min(bytes.len());
                bytes.splice(at..at, slice.repeat(times));
            }
            _ if !bytes.is_empty() => {
                let i = rng.below(bytes.len());
                bytes[i] ^= 1 << rng.below(8);
            }
            _ => {}
        }
    }
    bytes
}

/// Parses `input`; on success checks the round trip. Returns whether it parsed.
fn check(input: &[u8]) -> Result<bool, String> {
    match syncml::parse(input) {
        Ok(message) => {
            let written = syncml::to_xml(&message);
            let again = syncml::parse(written.as_bytes());
            // Escaping can make the written form bigger than what was read (a raw `"` is written `&quot;`,
            // CDATA's `<` as `&lt;`, a stray metinf Type gains its Meta): past the reader's limits the round
            // trip is not expected, and only those limits may refuse it.
            if let Err(SyncMlError::Xml(XmlError::TooLarge(_) | XmlError::TooManyElements(_))) =
                again
            {
                return Ok(true);
            }
            if again.as_ref() != Ok(&message) {
                return Err(format!("round trip differs: {again:?}"));
            }
            Ok(true)
        }
        Err(e) => {
            let text = e.to_string();
            if text.len() > MAX_ERROR {
                return Err(format!("a refusal is {} bytes long", text.len()));
            }
            Ok(false)
        }
    }
}

fn report(kind: &str, input: &[u8], detail: &str) -> ! {
    let saved = std::env::temp_dir().join("fuzz_syncml-finding.xml");
    let _ = std::fs::write(&saved, input);
    eprintln!("fuzz_syncml: the input is saved in {}", saved.display());
    eprintln!(
        "fuzz_syncml: {kind} on input ({} bytes): {:?}\n{}",
        input.len(),
        String::from_utf8_lossy(&input[..input.len().min(600)]),
        &detail[..detail.len().min(2_000)]
    );
    std::process::exit(1);
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if let (Some("--file"), Some(path)) = (args.get(1).map(String::as_str), args.get(2)) {
        let input = std::fs::read(path).expect("the input file");
        let started = Instant::now();
        let outcome = check(&input);
        let took = started.elapsed();
        let started = Instant::now();
        let tree = ztd_mdm::xml::parse(&input, &ztd_mdm::xml::Limits::SYNCML).map(|_| ());
        println!(
            "fuzz_syncml: {outcome:?} in {took:?} ({:?}); the XML reader alone: {tree:?} in {:?}",
            syncml::parse(&input).err(),
            started.elapsed()
        );
        return;
    }
    let seconds: u64 = args.get(1).and_then(|s| s.parse().ok()).unwrap_or(30);
    let seed: u64 = args.get(2).and_then(|s| s.parse().ok()).unwrap_or(1);
    let mut rng = Rng(StdRng::seed_from_u64(seed));
    let seeds: Vec<Vec<u8>> = vec![
        MS_MDM_PACKAGE_1.as_bytes().to_vec(),
        MS_MDM_CLIENT_REPLY.as_bytes().to_vec(),
        INTUNE_SERVER.as_bytes().to_vec(),
        syncml::to_xml(&built()).into_bytes(),
    ];
    for s in &seeds {
        if check(s) != Ok(true) {
            report("a seed does not parse", s, "");
        }
    }
    let deadline = Instant::now() + Duration::from_secs(seconds);
    let (mut runs, mut parsed, mut slowest) = (0u64, 0u64, Duration::ZERO);
    panic::set_hook(Box::new(|_| {}));
    while Instant::now() < deadline {
        let pick = rng.below(seeds.len());
        let input = mutate(&mut rng, &seeds[pick]);
        let started = Instant::now();
        let outcome = panic::catch_unwind(|| check(&input));
        let took = started.elapsed();
        slowest = slowest.max(took);
        match outcome {
            Ok(Ok(ok)) => parsed += u64::from(ok),
            Ok(Err(finding)) => report("finding", &input, &finding),
            Err(_) => {
                let _ = panic::take_hook();
                report("PANIC", &input, "");
            }
        }
        if took > BOUND {
            report("slow input", &input, &format!("took {took:?}"));
        }
        runs += 1;
    }
    println!("fuzz_syncml: {runs} inputs, {parsed} parsed, slowest {slowest:?}, no findings");
}
