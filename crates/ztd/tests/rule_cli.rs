//! `ztd rule` end to end: runs the built binary.

use std::io::Write;
use std::process::{Command, Output, Stdio};

fn ztd(args: &[&str], stdin: Option<&str>) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_ztd"))
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn ztd");
    if let Some(input) = stdin {
        child
            .stdin
            .take()
            .expect("stdin")
            .write_all(input.as_bytes())
            .expect("write stdin");
    }
    drop(child.stdin.take());
    child.wait_with_output().expect("wait ztd")
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

#[test]
fn check_valid_rule_prints_normalised_rule_and_exits_0() {
    let o = ztd(
        &[
            "rule",
            "check",
            r#"(device.devicePhysicalIDs -any _ -eq "[OrderId]:Kiosk")"#,
        ],
        None,
    );
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert_eq!(
        stdout(&o),
        "device.devicePhysicalIds -any (_ -eq \"[OrderId]:Kiosk\")\n"
    );
}

#[test]
fn check_invalid_rule_prints_error_with_position_and_exits_2() {
    let o = ztd(
        &[
            "rule",
            "check",
            r#"device.deviceOSType -eq "Windows" -and device.foo -eq "x""#,
        ],
        None,
    );
    assert_eq!(o.status.code(), Some(2));
    let err = stderr(&o);
    assert!(err.contains("Attribute not supported"), "{err}");
    assert!(err.contains("line 1, column 40 (position 39)"), "{err}");
    assert!(stdout(&o).is_empty());
}

#[test]
fn check_json_reports_error_object() {
    let o = ztd(
        &["rule", "check", "--json", "device.deviceOSType -eq"],
        None,
    );
    assert_eq!(o.status.code(), Some(2));
    let v: serde_json::Value = serde_json::from_str(stdout(&o).trim()).unwrap();
    assert_eq!(v["valid"], false);
    assert_eq!(v["error"]["position"], 23);
    assert_eq!(v["error"]["kind"], "syntax");
    let o = ztd(
        &[
            "rule",
            "check",
            "--json",
            r#"device.deviceOwnership -eq "Corporate""#,
        ],
        None,
    );
    assert_eq!(o.status.code(), Some(0));
    let v: serde_json::Value = serde_json::from_str(stdout(&o).trim()).unwrap();
    assert_eq!(v["rule"], r#"device.deviceOwnership -eq "Corporate""#);
    assert_eq!(v["warnings"].as_array().map(Vec::len), Some(1));
}

#[test]
fn check_warnings_go_to_stderr() {
    let o = ztd(
        &["rule", "check", r#"device.organizationalUnit -eq "x""#],
        None,
    );
    assert_eq!(o.status.code(), Some(0));
    assert!(stderr(&o).contains("warning:"));
}

#[test]
fn eval_jsonl_answers_every_line_in_order() {
    let mut input = String::new();
    let mut expected = Vec::new();
    for i in 0..200 {
        let (os, want) = if i % 3 == 0 {
            ("Windows", true)
        } else {
            ("iPad", false)
        };
        input.push_str(&serde_json::json!({"rule": "device.deviceOSType -eq \"windows\"", "device": {"deviceOSType": os}}).to_string());
        input.push('\n');
        expected.push(format!("{{\"match\":{want}}}"));
    }
    let o = ztd(&["rule", "eval", "--jsonl"], Some(&input));
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let lines: Vec<String> = stdout(&o).lines().map(str::to_string).collect();
    assert_eq!(lines, expected);
}

#[test]
fn eval_jsonl_null_and_missing_properties() {
    let input = [
        r#"{"rule": "device.deviceModel -ne \"x\"", "device": {}}"#,
        r#"{"rule": "device.devicePhysicalIds -any (_ -eq \"[OrderId]:Kiosk\")", "device": {"devicePhysicalIds": ["[OrderID]:KIOSK"]}}"#,
        r#"{"rule": "device.devicePhysicalIds -all (_ -eq \"a\")", "device": {}}"#,
        r#"{"rule": "device.memberOf -any (group.objectId -in ['g1'])", "device": {"memberOf": ["G1"]}}"#,
        r#"{"rule": "device.accountEnabled -eq null", "device": {"accountEnabled": null}}"#,
    ]
    .join("\n");
    let o = ztd(&["rule", "eval", "--jsonl"], Some(&input));
    let lines: Vec<&str> = std::str::from_utf8(&o.stdout).unwrap().lines().collect();
    assert_eq!(lines, vec![r#"{"match":true}"#; 5]);
}

#[test]
fn eval_jsonl_invalid_rule_gives_error_line_and_continues() {
    let input = "{\"rule\": \"device.deviceOSType -eq Windows\", \"device\": {}}\n\
                 not json\n\
                 {\"rule\": \"device.deviceOSType -eq \\\"Windows\\\"\", \"device\": {\"deviceOSType\": 5}}\n\
                 {\"rule\": \"device.deviceOSType -eq \\\"Windows\\\"\", \"device\": {\"deviceOSType\": \"Windows\"}}\n";
    let o = ztd(&["rule", "eval", "--jsonl"], Some(input));
    assert_eq!(o.status.code(), Some(0));
    let lines: Vec<serde_json::Value> = stdout(&o)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 4);
    let e0 = lines[0]["error"].as_str().unwrap();
    assert!(
        e0.contains("unquoted value 'Windows'") && e0.contains("column 25"),
        "{e0}"
    );
    assert_eq!(
        lines[0].as_object().unwrap().len(),
        1,
        "error lines carry only \"error\""
    );
    assert!(lines[1]["error"]
        .as_str()
        .unwrap()
        .contains("invalid input line"));
    assert!(lines[2]["error"]
        .as_str()
        .unwrap()
        .contains("invalid device"));
    assert_eq!(lines[3], serde_json::json!({"match": true}));
}

#[test]
fn explain_prints_trace_and_json() {
    let dir = std::env::temp_dir().join(format!("ztd-rule-cli-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("device.json");
    std::fs::write(
        &path,
        r#"{"deviceOSType": "Windows", "devicePhysicalIds": ["[ZTDId]:a", "[OrderId]:Kiosk"]}"#,
    )
    .unwrap();
    let rule = r#"device.deviceOSType -eq "Windows" -and -not (device.devicePhysicalIds -any (_ -startsWith "[ZTDId]"))"#;
    let p = path.to_str().unwrap();
    let o = ztd(&["rule", "explain", rule, "--device", p], None);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let text = stdout(&o);
    assert!(text.contains("result: not a member"), "{text}");
    assert!(
        text.contains(
            "true  device.deviceOSType -eq \"Windows\"   [device.deviceOSType = \"Windows\"]"
        ),
        "{text}"
    );
    assert!(text.contains("[_ = \"[OrderId]:Kiosk\"]"), "{text}");
    let o = ztd(&["rule", "explain", rule, "--device", p, "--json"], None);
    let v: serde_json::Value = serde_json::from_str(&stdout(&o)).unwrap();
    assert_eq!(v["result"], false);
    assert_eq!(v["children"][0]["value"], "Windows");
    let o = ztd(
        &["rule", "explain", "device.x -eq \"a\"", "--device", p],
        None,
    );
    assert_eq!(o.status.code(), Some(2));
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn help_describes_subcommands() {
    let o = ztd(&["rule", "--help"], None);
    let text = stdout(&o);
    for word in ["check", "eval", "explain"] {
        assert!(text.contains(word), "{text}");
    }
    let o = ztd(&["rule", "eval", "--help"], None);
    assert!(stdout(&o).contains("{\"match\": true}"));
}
