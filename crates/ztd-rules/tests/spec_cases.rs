//! Table-driven cases built from the specification (`docs/rules.md`): evaluation, errors with
//! positions, and normalised printing. Each row reads like a line of the spec.

use ztd_rules::{parse, Device, RuleErrorKind as K};

/// A Windows Autopilot device with every kind of property set.
const AUTOPILOT: &str = r#"{
  "deviceOSType": "Windows", "deviceOSVersion": "10.0.22631.2861", "deviceManufacturer": "Contoso",
  "deviceModel": "Surface Laptop 5", "displayName": "KIOSK-001", "deviceOwnership": "Company",
  "deviceTrustType": "AzureAD", "accountEnabled": true, "isRooted": false,
  "enrollmentProfileName": "Kiosk Profile", "objectId": "11111111-1111-1111-1111-111111111111",
  "deviceId": "22222222-2222-2222-2222-222222222222", "managementType": "MDM",
  "deviceCategory": "Shared", "profileType": "RegisteredDevice",
  "deviceManagementAppId": "0000000a-0000-0000-c000-000000000000",
  "extensionAttribute1": "Finance", "extensionAttribute15": "it's \"quoted\"",
  "devicePhysicalIds": ["[ZTDId]:abc-123", "[OrderId]:Kiosk", "[PurchaseOrderId]:76222342342", "[USER-GID]:x"],
  "systemLabels": ["M365Managed"],
  "memberOf": ["AAAAAAAA-0000-0000-0000-000000000001"]
}"#;

/// A personal iPad with no Autopilot ids and unset booleans.
const IPAD: &str = r#"{
  "deviceOSType": "iPad", "deviceOSVersion": "17.2", "deviceManufacturer": "Apple", "deviceModel": "iPad Air",
  "displayName": "Ünïcode-ÉCRAN", "deviceOwnership": "Personal", "deviceTrustType": "Workplace",
  "objectId": "33333333-3333-3333-3333-333333333333", "devicePhysicalIds": ["[GID]:g1"], "systemLabels": []
}"#;

/// Nothing set: every scalar null, every collection empty.
const EMPTY: &str = "{}";

fn device(json: &str) -> Device {
    let v: serde_json::Value = serde_json::from_str(json).unwrap();
    Device::from_json(&v).unwrap()
}

#[rustfmt::skip]
const EVAL: &[(&str, &str, bool)] = &[
    // --- every comparison operator on a string property, case-insensitive ---
    (r#"device.deviceOSType -eq "Windows""#, AUTOPILOT, true),
    (r#"device.deviceOSType -eq "windows""#, AUTOPILOT, true),
    (r#"device.deviceOSType -eq "WINDOWS""#, AUTOPILOT, true),
    (r#"device.deviceOSType -eq "Window""#, AUTOPILOT, false),
    (r#"device.deviceOSType -eq "Windows ""#, AUTOPILOT, false),
    (r#"device.deviceOSType -ne "Windows""#, AUTOPILOT, false),
    (r#"device.deviceOSType -ne "iPad""#, AUTOPILOT, true),
    (r#"device.deviceOSVersion -startsWith "10.0.2""#, AUTOPILOT, true),
    (r#"device.deviceOSVersion -startsWith "10.0.1""#, AUTOPILOT, false),
    (r#"device.deviceOSVersion -notStartsWith "10.0.1""#, AUTOPILOT, true),
    (r#"device.deviceOSVersion -notStartsWith "10.""#, AUTOPILOT, false),
    (r#"device.deviceModel -endsWith "LAPTOP 5""#, AUTOPILOT, true),
    (r#"device.deviceModel -endsWith "Laptop""#, AUTOPILOT, false),
    (r#"device.deviceModel -notEndsWith "Laptop""#, AUTOPILOT, true),
    (r#"device.deviceModel -notEndsWith "5""#, AUTOPILOT, false),
    (r#"device.deviceModel -contains "laptop""#, AUTOPILOT, true),
    (r#"device.deviceModel -contains "Desktop""#, AUTOPILOT, false),
    (r#"device.deviceModel -notContains "Desktop""#, AUTOPILOT, true),
    (r#"device.deviceModel -notContains "surface""#, AUTOPILOT, false),
    (r#"device.displayName -match "^kiosk-\d+$""#, AUTOPILOT, true),
    (r#"device.displayName -match "OSK""#, AUTOPILOT, true),
    (r#"device.displayName -match "^OSK""#, AUTOPILOT, false),
    (r#"device.displayName -notMatch "^OSK""#, AUTOPILOT, true),
    (r#"device.displayName -notMatch "K-0""#, AUTOPILOT, false),
    (r#"device.deviceModel -in ["Surface Laptop 5", "Surface Pro 9"]"#, AUTOPILOT, true),
    (r#"device.deviceModel -in ["surface laptop 5"]"#, AUTOPILOT, true),
    (r#"device.deviceModel -in ["Surface Pro 9"]"#, AUTOPILOT, false),
    (r#"device.deviceModel -notIn ["Surface Pro 9"]"#, AUTOPILOT, true),
    (r#"device.deviceModel -notIn ["Surface Pro 9", "SURFACE LAPTOP 5"]"#, AUTOPILOT, false),
    (r#"device.deviceModel -in ['Surface Laptop 5']"#, AUTOPILOT, true),
    (r#"device.deviceModel -in ["a","b","c","d","e","f","g","h","i","surface laptop 5"]"#, AUTOPILOT, true),
    (r#"device.deviceModel -notIn ["a","b","c","d","e","f","g","h","i","j"]"#, AUTOPILOT, true),
    // --- operators without the hyphen, any case ---
    (r#"device.deviceOSType eq "Windows""#, AUTOPILOT, true),
    (r#"device.deviceOSType EQ "Windows""#, AUTOPILOT, true),
    (r#"device.deviceOSType -EQ "Windows""#, AUTOPILOT, true),
    (r#"device.deviceOSVersion startswith "10.0""#, AUTOPILOT, true),
    (r#"device.deviceModel -STARTSWITH "surface""#, AUTOPILOT, true),
    (r#"device.deviceModel notin ["x"]"#, AUTOPILOT, true),
    (r#"device.deviceModel -NotIn ["x"]"#, AUTOPILOT, true),
    (r#"device.deviceOSType -eq "Windows" and device.deviceOwnership -eq "Company""#, AUTOPILOT, true),
    (r#"device.deviceOSType -eq "iPad" or device.deviceOwnership -eq "Company""#, AUTOPILOT, true),
    (r#"not (device.deviceOSType -eq "iPad")"#, AUTOPILOT, true),
    (r#"device.devicePhysicalIds any (_ eq "[OrderId]:Kiosk")"#, AUTOPILOT, true),
    // --- property names are case-insensitive ---
    (r#"device.deviceostype -eq "Windows""#, AUTOPILOT, true),
    (r#"device.DEVICEOSTYPE -eq "Windows""#, AUTOPILOT, true),
    (r#"Device.deviceOSType -eq "Windows""#, AUTOPILOT, true),
    (r#"device.devicePhysicalIDs -any (_ -eq "[orderid]:kiosk")"#, AUTOPILOT, true),
    // --- null ---
    (r#"device.objectId -ne null"#, AUTOPILOT, true),
    (r#"device.objectId -ne null"#, EMPTY, false),
    (r#"device.objectId -eq null"#, EMPTY, true),
    (r#"device.objectId -eq $null"#, EMPTY, true),
    (r#"device.objectId -eq NULL"#, EMPTY, true),
    (r#"device.objectId -ne $null"#, AUTOPILOT, true),
    (r#"device.deviceCategory -eq null"#, IPAD, true),
    (r#"device.deviceCategory -eq "null""#, IPAD, false),
    (r#"device.accountEnabled -eq null"#, IPAD, true),
    (r#"device.accountEnabled -ne null"#, AUTOPILOT, true),
    // --- operators on a null scalar: positive false, negative true ---
    (r#"device.deviceModel -eq "x""#, EMPTY, false),
    (r#"device.deviceModel -ne "x""#, EMPTY, true),
    (r#"device.deviceModel -startsWith """#, EMPTY, false),
    (r#"device.deviceModel -notStartsWith "x""#, EMPTY, true),
    (r#"device.deviceModel -endsWith "x""#, EMPTY, false),
    (r#"device.deviceModel -notEndsWith "x""#, EMPTY, true),
    (r#"device.deviceModel -contains "x""#, EMPTY, false),
    (r#"device.deviceModel -notContains "x""#, EMPTY, true),
    (r#"device.deviceModel -match ".*""#, EMPTY, false),
    (r#"device.deviceModel -notMatch ".*""#, EMPTY, true),
    (r#"device.deviceModel -in ["x"]"#, EMPTY, false),
    (r#"device.deviceModel -notIn ["x"]"#, EMPTY, true),
    (r#"device.deviceModel -startsWith """#, AUTOPILOT, true),
    (r#"device.deviceModel -contains """#, AUTOPILOT, true),
    // --- booleans ---
    (r#"device.accountEnabled -eq true"#, AUTOPILOT, true),
    (r#"device.accountEnabled -eq false"#, AUTOPILOT, false),
    (r#"device.accountEnabled -ne false"#, AUTOPILOT, true),
    (r#"device.accountEnabled -eq TRUE"#, AUTOPILOT, true),
    (r#"device.accountEnabled -eq "true""#, AUTOPILOT, true),
    (r#"device.isRooted -eq false"#, AUTOPILOT, true),
    (r#"device.isRooted -eq false"#, IPAD, false),
    (r#"device.isRooted -ne true"#, IPAD, true),
    // --- escaping and quoting ---
    (r#"device.extensionAttribute15 -eq "it''s `"quoted`"""#, AUTOPILOT, true),
    (r#"device.extensionAttribute15 -contains "`"quoted`"""#, AUTOPILOT, true),
    (r#"device.extensionAttribute15 -startsWith "it's""#, AUTOPILOT, true),
    (r#"device.displayName -match "KIOSK\-001""#, AUTOPILOT, true),
    (r#"device.displayName -eq "KIOSK\-001""#, AUTOPILOT, false),
    (r#"device.displayName -contains "*""#, AUTOPILOT, false),
    (r#"device.displayName -eq "kiosk-00?""#, AUTOPILOT, false),
    (r#"device.displayName -eq "ünïcode-écran""#, IPAD, true),
    (r#"device.displayName -startsWith "ÜNÏCODE""#, IPAD, true),
    (r#"device.displayName -contains "écran""#, IPAD, true),
    (r#"device.displayName -endsWith "ÉCRAN""#, IPAD, true),
    (r#"device.displayName -match "^ünïcode""#, IPAD, true),
    (r#"device.displayName -in ["ÜNÏCODE-ÉCRAN"]"#, IPAD, true),
    // --- whitespace: leading, trailing, newlines, tabs, no space before string ---
    ("  device.deviceOSType -eq \"Windows\"  ", AUTOPILOT, true),
    ("device.deviceOSType\t-eq\t\"Windows\"", AUTOPILOT, true),
    ("device.deviceOSType -eq \"Windows\"\r\n-and\r\ndevice.deviceOwnership -eq \"Company\"\n", AUTOPILOT, true),
    (r#"device.deviceOSType-eq"Windows""#, AUTOPILOT, true),
    (r#"device.deviceOSType -eq"Windows""#, AUTOPILOT, true),
    (r#"(device.deviceOSType -eq "Windows")-and(device.deviceOwnership -eq "Company")"#, AUTOPILOT, true),
    (r#"device.deviceModel -in [ "x" ,
        "Surface Laptop 5" ]"#, AUTOPILOT, true),
    // --- precedence: -and binds tighter than -or ---
    (r#"device.deviceOSType -eq "iPad" -or device.deviceOSType -eq "Windows" -and device.deviceOwnership -eq "Personal""#, AUTOPILOT, false),
    (r#"device.deviceOSType -eq "Windows" -or device.deviceOSType -eq "iPad" -and device.deviceOwnership -eq "Personal""#, AUTOPILOT, true),
    (r#"device.deviceOSType -eq "Windows" -and device.deviceOwnership -eq "Personal" -or device.deviceOSType -eq "Windows""#, AUTOPILOT, true),
    (r#"(device.deviceOSType -eq "iPad" -or device.deviceOSType -eq "Windows") -and device.deviceOwnership -eq "Personal""#, AUTOPILOT, false),
    (r#"device.deviceOSType -eq "iPad" -or (device.deviceOSType -eq "Windows" -and device.deviceOwnership -eq "Company")"#, AUTOPILOT, true),
    // --- -not binds tighter than -and/-or ---
    (r#"-not (device.deviceOSType -eq "iPad") -and (device.deviceOwnership -eq "Company")"#, AUTOPILOT, true),
    (r#"-not device.deviceOSType -eq "Windows""#, AUTOPILOT, false),
    (r#"-not device.deviceOSType -eq "iPad" -and device.deviceOwnership -eq "Personal""#, AUTOPILOT, false),
    (r#"-not (device.deviceOSType -eq "iPad" -and device.deviceOwnership -eq "Personal")"#, AUTOPILOT, true),
    (r#"-not -not device.deviceOSType -eq "Windows""#, AUTOPILOT, true),
    (r#"-not(device.deviceOSType -eq "Windows")"#, AUTOPILOT, false),
    (r#"-NOT (device.deviceOSType -eq "Windows")"#, AUTOPILOT, false),
    // --- nesting ---
    (r#"((device.deviceOSType -eq "Windows"))"#, AUTOPILOT, true),
    (r#"(((device.deviceOSType -eq "Windows") -and ((device.deviceModel -startsWith "Surface"))))"#, AUTOPILOT, true),
    (r#"((device.deviceOSType -eq "iPad" -or (device.deviceModel -eq "x" -or device.displayName -eq "KIOSK-001")) -and -not (device.isRooted -eq true))"#, AUTOPILOT, true),
    // --- -any / -all with _ ---
    (r#"device.devicePhysicalIds -any _ -startsWith "[ZTDId]""#, AUTOPILOT, true),
    (r#"(device.devicePhysicalIDs -any (_ -startsWith "[ZTDid]"))"#, AUTOPILOT, true),
    (r#"(device.devicePhysicalIDs -any (_ -contains "[ZTDID]"))"#, AUTOPILOT, true),
    (r#"(device.devicePhysicalIDs -any _ -contains "[ZTDId]")"#, AUTOPILOT, true),
    (r#"device.devicePhysicalIds -any _ -startsWith "[ZTDId]""#, IPAD, false),
    (r#"device.devicePhysicalIds -any _ -startsWith "[ZTDId]""#, EMPTY, false),
    (r#"device.devicePhysicalIds -any _ -eq "[OrderID]:Kiosk""#, AUTOPILOT, true),
    (r#"device.devicePhysicalIds -any _ -eq "[OrderID]:Kiosk2""#, AUTOPILOT, false),
    (r#"(device.devicePhysicalIds -any (_ -eq "[PurchaseOrderId]:76222342342"))"#, AUTOPILOT, true),
    (r#"device.devicePhysicalIds -any (_ -startsWith "[OrderId]" -and _ -endsWith "kiosk")"#, AUTOPILOT, true),
    (r#"device.devicePhysicalIds -any (_ -startsWith "[OrderId]" -and _ -endsWith "abc-123")"#, AUTOPILOT, false),
    (r#"device.devicePhysicalIds -any (_ -eq "x" -or _ -eq "[usER-gid]:X")"#, AUTOPILOT, true),
    (r#"device.devicePhysicalIds -any (-not (_ -startsWith "["))"#, AUTOPILOT, false),
    (r#"device.devicePhysicalIds -any (_ -ne "[OrderId]:Kiosk")"#, AUTOPILOT, true),
    (r#"device.devicePhysicalIds -all (_ -ne "[OrderId]:Kiosk")"#, AUTOPILOT, false),
    (r#"device.devicePhysicalIds -all (_ -startsWith "[")"#, AUTOPILOT, true),
    (r#"device.devicePhysicalIds -all (_ -startsWith "[Z")"#, AUTOPILOT, false),
    (r#"device.devicePhysicalIds -all (_ -eq "anything")"#, EMPTY, true),
    (r#"device.devicePhysicalIds -any (_ -eq "anything")"#, EMPTY, false),
    (r#"device.devicePhysicalIds -all (_ -ne null)"#, AUTOPILOT, true),
    (r#"device.devicePhysicalIds -any (_ -eq null)"#, AUTOPILOT, false),
    (r#"device.devicePhysicalIds -any (_ -match "^\[orderid\]:k")"#, AUTOPILOT, true),
    (r#"device.devicePhysicalIds -any (_ -in ["[OrderId]:Kiosk", "[OrderId]:Lab"])"#, AUTOPILOT, true),
    (r#"device.devicePhysicalIds -any (_ -notIn ["[OrderId]:Kiosk"])"#, AUTOPILOT, true),
    (r#"device.systemLabels -any (_ -eq "m365managed")"#, AUTOPILOT, true),
    (r#"device.systemLabels -all (_ -eq "M365Managed")"#, AUTOPILOT, true),
    (r#"device.systemLabels -all (_ -eq "M365Managed")"#, IPAD, true),
    (r#"-not (device.devicePhysicalIds -any (_ -eq "[OrderId]:Kiosk"))"#, AUTOPILOT, false),
    (r#"(device.deviceOSType -startsWith "Windows") -and (device.deviceOwnership -eq "Company") -and -not(device.devicePhysicalIds -any (_ -startsWith "[ZTDId]"))"#, AUTOPILOT, false),
    // --- comparison operators applied directly to a collection ---
    (r#"device.devicePhysicalIds -contains "[ZTDId]""#, AUTOPILOT, true),
    (r#"device.devicePhysicalIds -contains "[ZTDId]""#, IPAD, false),
    (r#"device.devicePhysicalIds -eq "[OrderId]:Kiosk""#, AUTOPILOT, true),
    (r#"device.devicePhysicalIds -ne "[OrderId]:Kiosk""#, AUTOPILOT, false),
    (r#"device.devicePhysicalIds -ne "[OrderId]:Kiosk""#, EMPTY, true),
    (r#"device.systemLabels -startsWith "M365""#, AUTOPILOT, true),
    (r#"device.systemLabels -notStartsWith "M365""#, AUTOPILOT, false),
    (r#"device.systemLabels -notContains "Azure""#, AUTOPILOT, true),
    (r#"device.devicePhysicalIds -in ["[OrderId]:Kiosk"]"#, AUTOPILOT, true),
    (r#"device.devicePhysicalIds -match "^\[ztdid\]""#, AUTOPILOT, true),
    // --- -match is an unanchored, case-insensitive search ---
    (r#"device.deviceModel -match "^Da.*""#, r#"{"deviceModel":"David"}"#, true),
    (r#"device.deviceModel -match "^Da.*""#, r#"{"deviceModel":"aDa"}"#, false),
    (r#"device.deviceModel -match ".*vid""#, r#"{"deviceModel":"David"}"#, true),
    (r#"device.deviceModel -match ".*vid""#, r#"{"deviceModel":"Da"}"#, false),
    (r#"device.deviceModel -match "ago""#, r#"{"deviceModel":"Lagos"}"#, true),
    (r#"device.deviceModel -match "AGO""#, r#"{"deviceModel":"Lagos"}"#, true),
    (r#"device.deviceModel -match "(?i)^l.*?s$""#, r#"{"deviceModel":"Lagos"}"#, true),
    (r#"device.deviceModel -match "^(Surface|ThinkPad) ""#, AUTOPILOT, true),
    (r#"device.deviceModel -match "[0-9]$""#, AUTOPILOT, true),
    (r#"device.deviceModel -match "\d{2}""#, AUTOPILOT, false),
    // --- memberOf ---
    (r#"device.memberOf -any (group.objectId -in ['aaaaaaaa-0000-0000-0000-000000000001'])"#, AUTOPILOT, true),
    (r#"device.memberof -any (group.objectid -in ['x', 'AAAAAAAA-0000-0000-0000-000000000001'])"#, AUTOPILOT, true),
    (r#"(device.memberOf -any (group.objectId -in ["aaaaaaaa-0000-0000-0000-000000000002"]))"#, AUTOPILOT, false),
    (r#"device.memberOf -any (group.objectId -in ['aaaaaaaa-0000-0000-0000-000000000001'])"#, EMPTY, false),
    // --- organizationalUnit is accepted but never matches ---
    (r#"device.organizationalUnit -eq "x""#, AUTOPILOT, false),
    (r#"device.organizationalUnit -ne "x""#, AUTOPILOT, false),
    (r#"-not (device.organizationalUnit -eq "x")"#, AUTOPILOT, true),
    // --- every scalar property is readable ---
    (r#"device.deviceCategory -eq "shared""#, AUTOPILOT, true),
    (r#"device.deviceId -startsWith "2222""#, AUTOPILOT, true),
    (r#"device.deviceManagementAppId -eq "0000000A-0000-0000-C000-000000000000""#, AUTOPILOT, true),
    (r#"device.deviceManufacturer -eq "contoso""#, AUTOPILOT, true),
    (r#"device.deviceTrustType -eq "AzureAd""#, AUTOPILOT, true),
    (r#"device.enrollmentProfileName -eq "Kiosk Profile""#, AUTOPILOT, true),
    (r#"device.extensionAttribute1 -eq "finance""#, AUTOPILOT, true),
    (r#"device.extensionAttribute2 -eq null"#, AUTOPILOT, true),
    (r#"device.managementType -eq "mdm""#, AUTOPILOT, true),
    (r#"device.profileType -eq "RegisteredDevice""#, AUTOPILOT, true),
    (r#"device.deviceOwnership -eq "Company""#, IPAD, false),
    // --- Autopilot patterns from the docs ---
    (r#"(device.devicePhysicalIds -any (_ -eq "[OrderId]:Kiosk"))"#, AUTOPILOT, true),
    (r#"(device.devicePhysicalIds -any (_ -eq "[OrderId]:Kiosk"))"#, IPAD, false),
    (r#"device.deviceOSType -eq "Windows" -and device.devicePhysicalIds -any (_ -startsWith "[ZTDId]") -and device.deviceModel -in ["Surface Laptop 5","Surface Pro 9"]"#, AUTOPILOT, true),
    (r#"device.deviceManufacturer -eq "Contoso" -and (device.devicePhysicalIds -any (_ -eq "[OrderId]:Lab") -or device.devicePhysicalIds -any (_ -eq "[OrderId]:Kiosk"))"#, AUTOPILOT, true),
];

#[test]
fn evaluation_table() {
    let mut failures = Vec::new();
    for (rule, dev, expected) in EVAL {
        match parse(rule) {
            Ok(r) => {
                let got = r.evaluate(&device(dev));
                if got != *expected {
                    failures.push(format!("{rule}: expected {expected}, got {got}"));
                }
                // the normalised text means the same thing
                let again = parse(&r.to_string()).unwrap_or_else(|e| panic!("{rule} -> {r}: {e}"));
                assert_eq!(again, r, "print/parse of {rule}");
                assert_eq!(again.evaluate(&device(dev)), got, "normalised {r}");
                // explain agrees with evaluate
                assert_eq!(r.explain(&device(dev)).result, got, "explain {rule}");
            }
            Err(e) => failures.push(format!("{rule}: unexpected error {e}")),
        }
    }
    assert!(
        failures.is_empty(),
        "{} failures:\n{}",
        failures.len(),
        failures.join("\n")
    );
    assert!(EVAL.len() >= 150, "{}", EVAL.len());
}

/// (rule, kind, 0-based char position of the error, substring of the message)
#[rustfmt::skip]
const ERRORS: &[(&str, K, usize, &str)] = &[
    // lexical
    (r#"device.deviceOSType -eq "Windows"#, K::Lex, 24, "unterminated string"),
    ("device.deviceOSType \u{2013}eq \"Windows\"", K::Lex, 20, "U+2013"),
    ("device.deviceOSType \u{2014}eq \"Windows\"", K::Lex, 20, "U+2014"),
    ("device.deviceOSType -eq \u{201C}Windows\u{201D}", K::Lex, 24, "curly quote"),
    ("device.deviceOSType -eq \u{2018}Windows\u{2019}", K::Lex, 24, "curly quote"),
    ("device.deviceOSType\u{00A0}-eq \"Windows\"", K::Lex, 19, "non-breaking space"),
    (r#"device.deviceOSType -equals "Windows""#, K::Lex, 20, "unknown operator '-equals'"),
    (r#"device.deviceOSType -gt "Windows""#, K::Lex, 20, "unknown operator '-gt'"),
    (r#"device.deviceOSType -like "Win*""#, K::Lex, 20, "unknown operator"),
    (r#"device.deviceOSType - eq "Windows""#, K::Lex, 20, "followed by an operator name"),
    (r#"device.deviceOSType -eq $nul"#, K::Lex, 24, "$null"),
    (r#"device.deviceOSType -eq "a" & device.deviceModel -eq "b""#, K::Lex, 28, "unexpected character '&'"),
    (r#"device.deviceOSType -eq "Windows`"#, K::Lex, 24, "unterminated string"),
    (r#"device.deviceModel -in ['a"#, K::Lex, 24, "unterminated"),
    (r#"device.deviceOSType -eq 12abc"#, K::Lex, 24, "malformed number"),
    // syntax
    (r#"device.extensionAttribute15 -eq "it's "quoted"""#, K::Syntax, 39, "expected -and, -or"),
    ("", K::Syntax, 0, "empty rule"),
    ("   \n ", K::Syntax, 0, "empty rule"),
    (r#"(device.department -eq "Sales") (device.department -eq "Marketing")"#, K::UnknownAttribute, 1, "Attribute not supported"),
    (r#"(device.deviceOSType -eq "a") (device.deviceModel -eq "b")"#, K::Syntax, 30, "expected -and, -or or the end"),
    (r#"device.deviceOSType -eq "a" device.deviceModel -eq "b""#, K::Syntax, 28, "expected -and, -or"),
    (r#"(device.deviceOSType -eq "a""#, K::Syntax, 28, "expected ')'"),
    (r#"device.deviceOSType -eq "a")"#, K::Syntax, 27, "unmatched ')'"),
    (r#"()"#, K::Syntax, 1, "expected an expression, found ')'"),
    (r#"device.deviceOSType -eq "a" -and"#, K::Syntax, 32, "unexpected end"),
    (r#"device.deviceOSType -eq "a" -or -or device.deviceModel -eq "b""#, K::Syntax, 32, "expected an expression"),
    (r#"-and device.deviceOSType -eq "a""#, K::Syntax, 0, "expected an expression"),
    (r#"device.deviceOSType -eq"#, K::Syntax, 23, "expected a value"),
    (r#"device.deviceOSType"#, K::Syntax, 19, "expected a comparison operator"),
    (r#"device.deviceOSType "Windows""#, K::Syntax, 20, "expected a comparison operator"),
    (r#"device.deviceOSType -eq Windows"#, K::Syntax, 24, "unquoted value 'Windows'"),
    (r#"deviceOSType -eq "Windows""#, K::Syntax, 0, "missing object prefix"),
    (r#""Windows" -eq device.deviceOSType"#, K::Syntax, 0, "the property must come first"),
    (r#"device -eq "Windows""#, K::Syntax, 7, "expected '.'"),
    (r#"device. -eq "Windows""#, K::Syntax, 8, "expected a property name"),
    (r#"device.deviceOSType -and "Windows""#, K::Syntax, 20, "expected a comparison operator"),
    (r#"device.deviceOSType -not null"#, K::Syntax, 20, "-ne null"),
    (r#"device.deviceOSType -eq "a" and(device.deviceModel -eq "b")"#, K::Syntax, 28, "expected -and, -or"),
    (r#"device.deviceOSType eq"Windows""#, K::Syntax, 20, "surrounded by spaces"),
    (r#"_ -eq "a""#, K::Syntax, 0, "'_' can only be used inside"),
    (r#"device.devicePhysicalIds -any (device.deviceOSType -eq "a")"#, K::Syntax, 31, "only '_'"),
    (r#"device.devicePhysicalIds -any "a""#, K::Syntax, 30, "expected '(' or '_'"),
    (r#"device.deviceModel -in ["a" "b"]"#, K::Syntax, 28, "expected ',' or ']'"),
    (r#"device.deviceModel -in ["a",]"#, K::Syntax, 28, "expected a quoted string or number"),
    (r#"device.deviceModel -in [true]"#, K::Syntax, 24, "expected a quoted string or number"),
    (r#"Direct Reports for "62e19b97-8b3d-4d4a-a106-4ce66896a863""#, K::Syntax, 0, "Direct Reports"),
    // ambiguity
    (r#"device.devicePhysicalIds -any _ -eq "a" -or device.deviceOSType -eq "b""#, K::AmbiguousQuantifierBody, 40, "parenthesize"),
    (r#"device.devicePhysicalIds -any _ -eq "a" -and device.deviceOSType -eq "b""#, K::AmbiguousQuantifierBody, 40, "parenthesize"),
    // unknown attribute / mixed objects
    (r#"device.operatingSystem -eq "Windows""#, K::UnknownAttribute, 0, "did you mean device.deviceOSType"),
    (r#"device.model -eq "x""#, K::UnknownAttribute, 0, "deviceModel"),
    (r#"device.physicalIds -any (_ -eq "x")"#, K::UnknownAttribute, 0, "devicePhysicalIds"),
    (r#"device.extensionAttribute16 -eq "x""#, K::UnknownAttribute, 0, "Attribute not supported"),
    (r#"device.invalidProperty -eq "Value""#, K::UnknownAttribute, 0, "Attribute not supported"),
    (r#"user.department -eq "Sales""#, K::MixedObjectTypes, 0, "user properties"),
    (r#"device.deviceOSType -eq "a" -and user.city -eq "b""#, K::MixedObjectTypes, 33, "user properties"),
    // operator not supported
    (r#"device.accountEnabled -contains true"#, K::OperatorNotSupported, 22, "Operator isn't supported on attribute"),
    (r#"device.isRooted -startsWith "t""#, K::OperatorNotSupported, 16, "boolean"),
    (r#"device.accountEnabled -in ["true"]"#, K::OperatorNotSupported, 22, "boolean"),
    (r#"device.deviceOSType -le "a""#, K::OperatorNotSupported, 20, "employeeHireDate"),
    (r#"device.deviceOSType -ge "a""#, K::OperatorNotSupported, 20, "employeeHireDate"),
    (r#"device.deviceOSType -any (_ -eq "a")"#, K::OperatorNotSupported, 20, "Invalid operands found for operator -any"),
    (r#"device.deviceModel -all (_ -eq "a")"#, K::OperatorNotSupported, 19, "-all"),
    (r#"device.devicePhysicalIds -any (_ -any (_ -eq "a"))"#, K::OperatorNotSupported, 33, "Invalid operands"),
    // invalid value
    (r#"device.deviceOSType -eq ["a"]"#, K::InvalidValue, 24, "needs -in or -notIn"),
    (r#"device.deviceOSType -match ["a"]"#, K::InvalidValue, 27, "Value can't be applied to property"),
    (r#"device.deviceOSType -in "a""#, K::InvalidValue, 24, "needs an array"),
    (r#"device.deviceOSType -in []"#, K::InvalidValue, 24, "empty array"),
    (r#"device.deviceOSType -eq 'Windows'"#, K::InvalidValue, 24, "single-quoted"),
    (r#"device.deviceOSType -eq 10"#, K::InvalidValue, 24, "number 10"),
    (r#"device.deviceOSType -eq true"#, K::InvalidValue, 24, "quote the value"),
    (r#"device.deviceOSType -startsWith null"#, K::InvalidValue, 32, "null can only be compared with -eq or -ne"),
    (r#"device.deviceOSType -in null"#, K::InvalidValue, 24, "needs an array"),
    (r#"device.accountEnabled -eq "yes""#, K::InvalidValue, 26, "boolean"),
    (r#"device.devicePhysicalIds -eq null"#, K::InvalidValue, 29, "multi-valued"),
    // regex
    (r#"device.displayName -match "*@domain.ext""#, K::InvalidRegex, 26, "Query compilation error"),
    (r#"device.displayName -match "(abc""#, K::InvalidRegex, 26, "invalid regular expression"),
    (r#"device.displayName -match "^(?=a)""#, K::InvalidRegex, 26, "lookahead"),
    (r#"device.displayName -match "(?<!a)b""#, K::InvalidRegex, 26, "lookbehind"),
    (r#"device.displayName -match "(a)\1""#, K::InvalidRegex, 26, "backreference"),
    (r#"device.displayName -match "(?<n>a)\k<n>""#, K::InvalidRegex, 26, "backreference"),
    (r#"device.displayName -match "(?>a)""#, K::InvalidRegex, 26, "atomic"),
    (r#"device.displayName -match "[a-z-[aeiou]]""#, K::InvalidRegex, 26, "character class"),
    (r#"device.displayName -match "[a&&b]""#, K::InvalidRegex, 26, "class set operator"),
    (r#"device.displayName -match "a\Z""#, K::InvalidRegex, 26, "\\Z"),
    (r#"device.displayName -match "(?U)a+""#, K::InvalidRegex, 26, "inline flag"),
    (r#"device.displayName -match "a{,3}""#, K::InvalidRegex, 26, "{,n}"),
    (r#"device.displayName -notMatch "(?#c)a""#, K::InvalidRegex, 29, "comment"),
    (r#"device.devicePhysicalIds -any (_ -match "(?=x)")"#, K::InvalidRegex, 40, "lookahead"),
    // memberOf restrictions
    (r#"device.memberOf -any (group.objectId -in ['a']) -and device.deviceOSType -eq "Windows""#, K::MemberOfRestriction, 0, "whole rule"),
    (r#"-not (device.memberOf -any (group.objectId -in ['a']))"#, K::MemberOfRestriction, 6, "whole rule"),
    (r#"device.memberOf -all (group.objectId -in ['a'])"#, K::MemberOfRestriction, 16, "-all"),
    (r#"device.memberOf -any (group.id -in ['a'])"#, K::MemberOfRestriction, 28, "cannot be applied to object 'Group'"),
    (r#"device.memberOf -any (group.objectId -eq 'a')"#, K::MemberOfRestriction, 37, "-in"),
    (r#"device.memberOf -any (_ -eq "a")"#, K::MemberOfRestriction, 22, "group.objectId"),
    (r#"device.memberOf -eq "a""#, K::MemberOfRestriction, 16, "memberOf supports only"),
    (r#"group.objectId -in ['a']"#, K::MemberOfRestriction, 0, "only valid inside"),
    // limits
    (r#"((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((device.deviceOSType -eq "a"))))))))))))))))))))))))))))))))))))))))))))))))))))))))))))))))))))))))))))))))))))))))"#, K::NestingTooDeep, 100, "deeper than 100"),
];

#[test]
fn error_table() {
    let mut failures = Vec::new();
    for (rule, kind, pos, needle) in ERRORS {
        match parse(rule) {
            Ok(r) => failures.push(format!("{rule}: expected {kind:?}, parsed as {r}")),
            Err(e) => {
                if e.kind != *kind || e.position != *pos || !e.message.contains(needle) {
                    failures.push(format!("{rule}\n   expected {kind:?} at {pos} containing {needle:?}\n   got      {:?} at {}: {}", e.kind, e.position, e.message));
                }
            }
        }
    }
    assert!(
        failures.is_empty(),
        "{} failures:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

#[test]
fn length_limit_is_3072_characters_inclusive() {
    let head = r#"device.displayName -eq ""#;
    let fill = |n: usize| format!("{head}{}\"", "x".repeat(n - head.chars().count() - 1));
    let exact = fill(3072);
    assert_eq!(exact.chars().count(), 3072);
    assert!(parse(&exact).is_ok());
    let over = fill(3073);
    let e = parse(&over).unwrap_err();
    assert_eq!(e.kind, K::LengthExceeded);
    assert_eq!(e.position, 3072);
    assert!(e.message.contains("Rule exceeds maximum allowed length"));
    // counted in characters, not bytes
    let multibyte = format!("{head}{}\"", "é".repeat(3072 - head.chars().count() - 1));
    assert!(multibyte.len() > 3072);
    assert!(parse(&multibyte).is_ok());
}

#[test]
fn error_positions_have_line_and_column() {
    let e = parse("device.deviceOSType -eq \"Windows\"\n-and device.foo -eq \"x\"").unwrap_err();
    assert_eq!((e.line, e.column, e.position), (2, 6, 39));
    assert!(e.to_string().contains("line 2, column 6"));
    assert_eq!(
        e.snippet("device.deviceOSType -eq \"Windows\"\n-and device.foo -eq \"x\""),
        "  -and device.foo -eq \"x\"\n       ^"
    );
}

#[test]
fn too_many_member_of_groups() {
    let ids: Vec<String> = (0..51).map(|i| format!("'g{i}'")).collect();
    let e = parse(&format!(
        "device.memberOf -any (group.objectId -in [{}])",
        ids.join(",")
    ))
    .unwrap_err();
    assert_eq!(e.kind, K::MemberOfRestriction);
    let ok: Vec<String> = (0..50).map(|i| format!("'g{i}'")).collect();
    let r = parse(&format!(
        "device.memberOf -any (group.objectId -in [{}])",
        ok.join(",")
    ))
    .unwrap();
    assert_eq!(r.member_of_groups().len(), 50);
}

/// (rule, normalised text)
#[rustfmt::skip]
const NORMALISED: &[(&str, &str)] = &[
    (r#"(device.devicePhysicalIds -any (_ -eq "[OrderId]:Kiosk"))"#, r#"device.devicePhysicalIds -any (_ -eq "[OrderId]:Kiosk")"#),
    (r#"device.devicePhysicalIDs -any _ -startsWith "[ZTDId]""#, r#"device.devicePhysicalIds -any (_ -startsWith "[ZTDId]")"#),
    (r#"device.deviceostype eq "Windows""#, r#"device.deviceOSType -eq "Windows""#),
    (r#"DEVICE.DEVICEMODEL -NOTIN ['a', 1, -2.5]"#, r#"device.deviceModel -notIn ["a", 1, -2.5]"#),
    (r#"device.objectId -ne $null"#, r#"device.objectId -ne null"#),
    (r#"device.accountEnabled -eq "TRUE""#, r#"device.accountEnabled -eq true"#),
    (r#"device.deviceOSType -eq "a" and (device.deviceModel -eq "b") or not (device.deviceModel -eq "c")"#, r#"device.deviceOSType -eq "a" -and device.deviceModel -eq "b" -or -not (device.deviceModel -eq "c")"#),
    (r#"device.deviceOSType -eq "a" -or device.deviceOSType -eq "b" -and device.deviceModel -eq "c""#, r#"device.deviceOSType -eq "a" -or device.deviceOSType -eq "b" -and device.deviceModel -eq "c""#),
    (r#"(device.deviceOSType -eq "a" -or device.deviceOSType -eq "b") -and device.deviceModel -eq "c""#, r#"(device.deviceOSType -eq "a" -or device.deviceOSType -eq "b") -and device.deviceModel -eq "c""#),
    (r#"device.deviceOSType -eq "a" -or (device.deviceOSType -eq "b" -or device.deviceModel -eq "c")"#, r#"device.deviceOSType -eq "a" -or (device.deviceOSType -eq "b" -or device.deviceModel -eq "c")"#),
    (r#"-not device.deviceOSType -eq "a""#, r#"-not (device.deviceOSType -eq "a")"#),
    (r#"not (((device.deviceOSType -eq "a")))"#, r#"-not (device.deviceOSType -eq "a")"#),
    (r#"device.displayName -eq "it's""#, r#"device.displayName -eq "it''s""#),
    (r#"device.displayName -eq "`"x`" and ``""#, r#"device.displayName -eq "`"x`" and ``""#),
    (r#"device.displayName -eq "`a""#, r#"device.displayName -eq "a""#),
    (r#"device.displayName -match "^PC\.contoso$""#, r#"device.displayName -match "^PC\.contoso$""#),
    (r#"device.memberof -any (group.objectid -in ["g1","g2"])"#, r#"device.memberOf -any (group.objectId -in ['g1', 'g2'])"#),
    ("device.deviceOSType\n  -eq\n  \"Windows\"", r#"device.deviceOSType -eq "Windows""#),
    (r#"device.devicePhysicalIds -all (-not _ -eq "a" -and (_ -eq "b" -or _ -eq "c"))"#, r#"device.devicePhysicalIds -all (-not (_ -eq "a") -and (_ -eq "b" -or _ -eq "c"))"#),
];

#[test]
fn normalised_printing() {
    for (rule, expected) in NORMALISED {
        let r = parse(rule).unwrap_or_else(|e| panic!("{rule}: {e}"));
        assert_eq!(r.to_string(), *expected, "{rule}");
        assert_eq!(
            parse(expected).unwrap(),
            r,
            "{expected} reparses to the same tree"
        );
    }
}

#[test]
fn warnings_do_not_reject() {
    let r = parse(r#"device.displayName -eq "it's""#).unwrap();
    assert_eq!(r.warnings().len(), 1);
    let r = parse(r#"device.deviceOwnership -eq "Corporate""#).unwrap();
    assert!(r.warnings()[0].message.contains("Company"));
    let r = parse(r#"device.organizationalUnit -eq "x""#).unwrap();
    assert!(r.warnings()[0].message.contains("never matches"));
    assert!(parse(r#"device.deviceOwnership -eq "company""#)
        .unwrap()
        .warnings()
        .is_empty());
}

#[test]
fn table_has_at_least_200_cases() {
    assert!(EVAL.len() + ERRORS.len() + NORMALISED.len() >= 200);
}

#[test]
fn explain_shows_every_sub_expression_with_values() {
    let r = parse(r#"device.deviceOSType -eq "Windows" -and -not (device.devicePhysicalIds -any (_ -startsWith "[ZTDId]"))"#).unwrap();
    let t = r.explain(&device(AUTOPILOT));
    assert!(!t.result);
    assert_eq!(t.children.len(), 2);
    assert_eq!(t.children[0].value, Some(serde_json::json!("Windows")));
    let q = &t.children[1].children[0];
    assert!(q.result);
    assert_eq!(q.children.len(), 4, "one child per physical id");
    assert_eq!(q.children[0].item.as_deref(), Some("[ZTDId]:abc-123"));
    let text = t.to_string();
    assert!(
        text.contains("false device.deviceOSType -eq \"Windows\" -and"),
        "{text}"
    );
    assert!(
        text.contains("[device.deviceOSType = \"Windows\"]"),
        "{text}"
    );
    let json = serde_json::to_value(&t).unwrap();
    assert_eq!(json["children"][0]["result"], true);
}

#[test]
fn device_json_errors_and_lenience() {
    assert!(Device::from_json(&serde_json::json!({"deviceOSType": 3})).is_err());
    assert!(Device::from_json(&serde_json::json!({"devicePhysicalIds": "x"})).is_err());
    assert!(Device::from_json(&serde_json::json!({"accountEnabled": "maybe"})).is_err());
    assert!(Device::from_json(&serde_json::json!([])).is_err());
    let d = Device::from_json(
        &serde_json::json!({"id": 5, "DEVICEOSTYPE": "Windows", "systemLabels": null}),
    )
    .unwrap();
    assert_eq!(d.get("deviceOSType"), Some("Windows"));
    let mut a = Device::new();
    a.set("deviceOSType", Some("Windows".to_string()));
    assert_eq!(a, d);
}
