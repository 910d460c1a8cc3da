//! Intune assignment filter rules: the membership rule syntax over the filter properties.

use ztd_rules::{parse, parse_filter, Device, Dialect, Property, RuleErrorKind};

fn device(pairs: &[(&str, &str)]) -> Device {
    let mut d = Device::new();
    for (k, v) in pairs {
        d.set_in(Dialect::Filter, k, Some((*v).to_string()));
    }
    d
}

#[test]
fn filter_rules_parse_and_evaluate_on_filter_properties() {
    let rule = parse_filter(
        r#"(device.manufacturer -eq "Contoso") and (device.model -startsWith "Surface") or (device.deviceName -in ["KIOSK-1", "KIOSK-2"])"#,
    )
    .unwrap();
    assert!(rule.evaluate(&device(&[
        ("manufacturer", "contoso"),
        ("model", "Surface Pro")
    ])));
    assert!(!rule.evaluate(&device(&[
        ("manufacturer", "Fabrikam"),
        ("model", "Surface Pro")
    ])));
    assert!(rule.evaluate(&device(&[("deviceName", "kiosk-2")])));
    let owned = parse_filter(r#"device.deviceOwnership -eq "Corporate" -and device.deviceTrustType -ne "Azure AD registered""#).unwrap();
    assert!(owned.evaluate(&device(&[
        ("deviceOwnership", "Corporate"),
        ("deviceTrustType", "Azure AD joined")
    ])));
    assert!(!owned.evaluate(&device(&[("deviceOwnership", "Personal")])));
    // The printer writes what parses back.
    assert_eq!(parse_filter(&rule.to_string()).unwrap(), rule);
}

#[test]
fn filter_properties_are_not_membership_properties_and_back() {
    let e = parse_filter(r#"device.deviceOSType -eq "Windows""#).unwrap_err();
    assert_eq!(e.kind, RuleErrorKind::UnknownAttribute);
    assert!(
        e.message.contains(
            "deviceName, manufacturer, model, osVersion, deviceOwnership, deviceTrustType"
        ),
        "{}",
        e.message
    );
    assert_eq!(
        parse(r#"device.manufacturer -eq "x""#).unwrap_err().kind,
        RuleErrorKind::UnknownAttribute
    );
    // Known to Intune, not evaluated by ztd: refused with the list.
    for name in [
        "cpuArchitecture",
        "operatingSystemSKU",
        "enrollmentProfileName",
        "isRooted",
    ] {
        let e = parse_filter(&format!(r#"device.{name} -eq "x""#)).unwrap_err();
        assert_eq!(e.kind, RuleErrorKind::UnknownAttribute, "{name}");
    }
    assert!(parse_filter(r#"device.memberOf -any (group.objectId -in ["1"])"#).is_err());
    assert_eq!(Property::all_in(Dialect::Filter).count(), 6);
    assert!(Property::all().all(|p| p.dialect() == Dialect::Membership));
}

#[test]
fn filter_operators_are_intunes() {
    for rule in [
        r#"device.deviceOwnership -startsWith "Corp""#,
        r#"device.model -match "^Surface""#,
        r#"device.deviceName -endsWith "1""#,
        r#"device.deviceTrustType -contains "joined""#,
    ] {
        let e = parse_filter(rule).unwrap_err();
        assert_eq!(e.kind, RuleErrorKind::OperatorNotSupported, "{rule}");
        assert!(e.message.contains("-eq"), "{}", e.message);
    }
    assert!(parse_filter(r#"device.osVersion -notContains "10.0.19""#).is_ok());
    // Undocumented enumerated values parse with a warning and never match.
    let rule = parse_filter(r#"device.deviceOwnership -eq "Company""#).unwrap();
    assert_eq!(rule.warnings().len(), 1);
}

#[test]
fn filter_rules_keep_the_bounds() {
    let long = format!(r#"device.deviceName -eq "{}""#, "a".repeat(3100));
    assert_eq!(
        parse_filter(&long).unwrap_err().kind,
        RuleErrorKind::LengthExceeded
    );
    let deep = format!(
        "{}device.model -eq \"a\"{}",
        "(".repeat(200),
        ")".repeat(200)
    );
    assert_eq!(
        parse_filter(&deep).unwrap_err().kind,
        RuleErrorKind::NestingTooDeep
    );
}
