//! `$filter`, `$search` and the other options as Graph tools send them, and the bounds on hostile input.

use serde_json::{json, Value};
use ztd_odata::{
    limits, parse_filter, search_to_filter, OdataErrorKind, QueryOptions, SkipToken, WorkBudget,
};

fn device() -> Value {
    json!({
        "serialNumber": "PF1-ABC DE", "groupTag": "Kiosk", "enrollmentState": "notContacted",
        "azureActiveDirectoryDeviceId": "8a114385-b11b-4dda-bc33-a8725775e27e", "deviceVersion": 2,
        "accountEnabled": false,
        "physicalIds": ["[ZTDID]:abc", "[OrderId]:Kiosk"]
    })
}

#[test]
fn filters_tools_send_match_as_graph_does() {
    let cases = [
        ("contains(serialNumber,'abc')", true),
        ("contains(serialNumber,'PF1-ABC DE')", true),
        ("contains(serialNumber, 'zzz')", false),
        ("startswith(serialNumber,'pf1')", true),
        ("endswith(serialNumber,'de')", true),
        ("serialNumber eq 'pf1-abc de'", true),
        ("serialNumber ne 'x'", true),
        ("groupTag eq 'Kiosk' and contains(serialNumber,'PF1')", true),
        (
            "groupTag eq 'Other' or enrollmentState eq 'notContacted'",
            true,
        ),
        (
            "groupTag eq 'a' or groupTag eq 'b' or groupTag eq 'kiosk'",
            true,
        ),
        (
            "groupTag eq 'kiosk' and groupTag eq 'kiosk' and serialNumber eq 'x'",
            false,
        ),
        ("not(groupTag eq 'Kiosk')", false),
        ("not groupTag eq 'x'", true),
        (
            "azureActiveDirectoryDeviceId eq '8a114385-b11b-4dda-bc33-a8725775e27e'",
            true,
        ),
        (
            "azureActiveDirectoryDeviceId eq 8a114385-b11b-4dda-bc33-a8725775e27e",
            true,
        ),
        ("physicalIds/any(p:p eq '[ZTDID]:abc')", true),
        ("physicalIds/any(p: startswith(p, '[ztdid]'))", true),
        ("physicalIds/any(p:p eq '[ZTDID]:zzz')", false),
        ("physicalIds/any()", true),
        ("physicalIds/$count eq 0", false),
        ("physicalIds/$count eq 2", true),
        ("deviceVersion ge 2", true),
        ("deviceVersion lt 2", false),
        ("accountEnabled eq false", true),
        ("contains(serialNumber,'abc') eq true", true),
        ("contains(serialNumber,'abc') eq false", false),
        ("tolower(groupTag) eq 'kiosk'", true),
        ("groupTag eq 'O''Brien'", false),
        (
            "enrollmentState eq microsoft.graph.enrollmentState'notContacted'",
            true,
        ),
        ("missing eq null", true),
    ];
    for (filter, expected) in cases {
        let expr = parse_filter(filter).unwrap_or_else(|e| panic!("{filter}: {e}"));
        assert_eq!(expr.matches(&device()).unwrap(), expected, "{filter}");
    }
}

#[test]
fn malformed_filters_are_invalid_filter_clauses() {
    for filter in [
        "",
        "serialNumber",
        "serialNumber eq",
        "contains(serialNumber 'x')",
        "frobnicate(serialNumber,'x')",
        "serialNumber eq 'unterminated",
        "serialNumber in ('a','b')",
        "(serialNumber eq 'x'",
        "serialNumber eq 'x' extra",
        "physicalIds/all(p:p eq 'x')",
        "physicalIds/$count eq 'x'",
        "serialNumber eq 12abc",
    ] {
        let err = parse_filter(filter).expect_err(filter);
        assert_eq!(err.kind, OdataErrorKind::Invalid, "{filter}");
        assert!(
            err.message.starts_with("Invalid filter clause"),
            "{}",
            err.message
        );
    }
}

#[test]
fn deeply_nested_parentheses_are_refused_without_recursing() {
    for depth in [limits::MAX_DEPTH + 1, 2_000, 100_000] {
        let filter = format!(
            "{}serialNumber eq 'x'{}",
            "(".repeat(depth),
            ")".repeat(depth)
        );
        let err = parse_filter(&filter).expect_err("too deep");
        assert_eq!(err.kind, OdataErrorKind::TooComplex);
    }
    let at_limit = format!(
        "{}serialNumber eq 'x'{}",
        "(".repeat(limits::MAX_DEPTH),
        ")".repeat(limits::MAX_DEPTH)
    );
    assert!(parse_filter(&at_limit).is_ok());
}

#[test]
fn deeply_nested_not_is_refused() {
    let filter = format!(
        "{}groupTag eq 'x'{}",
        "not(".repeat(2_000),
        ")".repeat(2_000)
    );
    assert_eq!(
        parse_filter(&filter).unwrap_err().kind,
        OdataErrorKind::TooComplex
    );
    let filter = format!("{}groupTag eq 'x'", "not ".repeat(1_000));
    assert_eq!(
        parse_filter(&filter).unwrap_err().kind,
        OdataErrorKind::TooComplex
    );
}

#[test]
fn nested_lambdas_are_refused_past_two_levels() {
    let nested = |depth: usize| {
        let mut filter = "p0 eq 'x'".to_string();
        for level in (0..depth).rev() {
            filter = format!("physicalIds/any(p{level}: {filter})");
        }
        filter
    };
    assert!(parse_filter(&nested(1)).is_ok());
    assert!(parse_filter(&nested(2)).is_ok());
    for depth in [3, 20] {
        let err = parse_filter(&nested(depth)).unwrap_err();
        assert_eq!(err.kind, OdataErrorKind::TooComplex, "{depth}");
        assert!(err.message.contains("lambdas"), "{}", err.message);
    }
}

#[test]
fn a_long_chain_of_clauses_is_flat_and_bounded() {
    // 200 serials in one filter (what a reporting script sends) parse as one flat `or`.
    let clauses: Vec<String> = (0..200)
        .map(|i| format!("serialNumber eq 'S{i}'"))
        .collect();
    let filter = clauses.join(" or ");
    let expr = parse_filter(&filter).unwrap();
    assert!(expr.matches(&json!({"serialNumber": "s199"})).unwrap());
    // Past the node limit: refused, not evaluated.
    let clauses: Vec<String> = (0..limits::MAX_NODES)
        .map(|i| format!("a eq {i}"))
        .collect();
    let err = parse_filter(&clauses.join(" or ")).unwrap_err();
    assert_eq!(err.kind, OdataErrorKind::TooComplex);
}

#[test]
fn an_overlong_filter_is_refused_before_parsing() {
    let filter = format!("serialNumber eq '{}'", "x".repeat(limits::MAX_FILTER_BYTES));
    let err = parse_filter(&filter).unwrap_err();
    assert_eq!(err.kind, OdataErrorKind::TooComplex);
    assert!(err.message.len() < 200, "the error does not echo the input");
}

#[test]
fn evaluation_stops_when_the_work_budget_runs_out() {
    // Two nested lambdas over a large collection: every pair is visited, so the budget must cut it short.
    let many: Vec<String> = (0..1_000).map(|i| format!("v{i}")).collect();
    let item = json!({ "physicalIds": many });
    let expr = parse_filter("physicalIds/any(a: physicalIds/any(b: b eq 'none' and a eq 'none'))")
        .unwrap();
    let mut budget = WorkBudget::new(100_000);
    let err = expr.evaluate(&item, &mut budget).unwrap_err();
    assert_eq!(err.kind, OdataErrorKind::TooComplex);
    assert!(budget.is_exhausted());
    // The same filter on a small collection fits easily.
    let small = json!({ "physicalIds": ["a", "b", "c"] });
    assert!(!expr.matches(&small).unwrap());
}

#[test]
fn hostile_text_is_never_echoed_whole() {
    let long = format!("{}(", "x".repeat(5_000));
    let err = parse_filter(&long).unwrap_err();
    assert!(err.message.len() < 200, "{}", err.message.len());
    let err = parse_filter("serialNumber eq '\u{1}' \u{7}").unwrap_err();
    assert!(!err.message.contains('\u{7}'), "{}", err.message);
}

#[test]
fn options_parse_as_graph_allows() {
    let o = QueryOptions::parse(Some(
        "%24top=5&$select=id,serialNumber&$count=true&$orderby=serialNumber%20desc&custom=1",
    ))
    .unwrap();
    assert_eq!(o.top, Some(5));
    assert!(o.count);
    assert_eq!(o.order_by, vec![("serialNumber".to_string(), true)]);
    assert_eq!(o.select.as_deref().unwrap(), ["id", "serialNumber"]);
    let o = QueryOptions::parse(Some("filter=groupTag+eq+%27a%2Bb%27")).unwrap();
    assert_eq!(
        o.filter.unwrap().required_equal("groupTag").as_deref(),
        Some("a+b")
    );
    for bad in [
        "$top=0",
        "$top=1000",
        "$top=x",
        "$skip=-1",
        "$count=maybe",
        "$orderby=a sideways",
        "$search=\"x\"",
        "$bogus=1",
        "$skiptoken=!!",
    ] {
        assert!(QueryOptions::parse(Some(bad)).is_err(), "{bad}");
    }
    let many = format!(
        "$select={}",
        vec!["a"; limits::MAX_LIST_ITEMS + 1].join(",")
    );
    assert!(QueryOptions::parse(Some(&many)).is_err());
    let huge = format!("$filter={}", "a".repeat(limits::MAX_QUERY_BYTES));
    assert_eq!(
        QueryOptions::parse(Some(&huge)).unwrap_err().kind,
        OdataErrorKind::TooComplex
    );
}

#[test]
fn unknown_properties_are_refused_and_known_ones_are_case_insensitive() {
    let options = QueryOptions::parse(Some("$filter=contains(nope,'x')")).unwrap();
    assert!(options.validate(&["serialNumber"], &[]).is_err());
    let options = QueryOptions::parse(Some("$filter=contains(SERIALNUMBER,'x')")).unwrap();
    assert!(options.validate(&["serialNumber"], &[]).is_ok());
    let options = QueryOptions::parse(Some("$filter=physicalIds/any(p:p eq 'x')")).unwrap();
    assert!(options.validate(&["physicalIds"], &[]).is_ok());
}

#[test]
fn pushdown_hints_only_for_top_level_conjunctions() {
    let e = parse_filter("contains(serialNumber,'AB') and groupTag eq 'x'").unwrap();
    assert_eq!(e.required_substring("serialNumber").as_deref(), Some("AB"));
    let e = parse_filter("contains(serialNumber,'AB') or groupTag eq 'x'").unwrap();
    assert_eq!(e.required_substring("serialNumber"), None);
    let e = parse_filter("deviceId eq 'x'").unwrap();
    assert_eq!(e.required_equal("deviceid").as_deref(), Some("x"));
    let e = parse_filter("not(deviceId eq 'x')").unwrap();
    assert_eq!(e.required_equal("deviceId"), None);
}

#[test]
fn a_filter_that_is_only_a_contains_is_answered_by_the_store_alone() {
    let e = parse_filter("contains(SerialNumber,'AB')").unwrap();
    assert_eq!(e.only_contains("serialNumber"), Some("AB"));
    let e = parse_filter("contains(serialNumber,'AB') eq true").unwrap();
    assert_eq!(e.only_contains("serialNumber"), Some("AB"));
    for partial in [
        "contains(serialNumber,'AB') and groupTag eq 'x'",
        "startswith(serialNumber,'AB')",
        "serialNumber eq 'AB'",
        "contains(serialNumber,'AB') eq false",
        "contains(model,'AB')",
    ] {
        let e = parse_filter(partial).unwrap();
        assert_eq!(e.only_contains("serialNumber"), None, "{partial}");
    }
}

#[test]
fn skip_tokens_round_trip_and_next_links_keep_the_query() {
    for token in [SkipToken::After("abc".into()), SkipToken::Offset(42)] {
        assert_eq!(SkipToken::decode(&token.encode()), Some(token));
    }
    assert_eq!(SkipToken::decode(&"A".repeat(10_000)), None);
    let o = QueryOptions::parse(Some("$filter=groupTag eq 'a b'&$top=2&$skiptoken=azph")).unwrap();
    let next = o.next_query(&SkipToken::After("z".into()));
    assert!(
        next.starts_with("$filter=groupTag%20eq%20%27a%20b%27&$top=2&$skiptoken="),
        "{next}"
    );
}

#[test]
fn search_becomes_a_prefix_filter() {
    assert_eq!(
        search_to_filter("\"deviceId:abc\"").unwrap(),
        "startswith(deviceId,'abc')"
    );
    assert_eq!(
        search_to_filter("\"displayName:o'k\" OR \"deviceId:1\"").unwrap(),
        "startswith(displayName,'o''k') or startswith(deviceId,'1')"
    );
    assert!(QueryOptions::parse(Some("$search=%22deviceId:abc%22"))
        .unwrap()
        .filter
        .is_some());
    for bad in [
        "\"a:b\" AND",
        "x",
        "\"a\"",
        "\"a:b\" NEAR \"c:d\"",
        "\"unterminated",
    ] {
        assert!(search_to_filter(bad).is_err(), "{bad}");
    }
}

#[test]
fn expand_takes_a_nested_select_and_applies_it_to_the_navigation() {
    let query = QueryOptions::parse(Some(
        "$select=id,displayName&$expand=assignments($select=id,target),assignedDevices",
    ))
    .unwrap();
    assert_eq!(query.expand.len(), 2, "{:?}", query.expand);
    assert!(query.expands("assignments") && query.expands("assignedDevices"));
    assert_eq!(
        query.expanded_select("assignments"),
        Some(vec!["id".to_string(), "target".to_string()])
    );
    assert!(!query.selects_everything());
    let item = json!({
        "id": "p1", "displayName": "Kiosk", "description": "dropped",
        "assignments": [{"id": "a1", "source": "direct", "target": {"groupId": "g"}}],
    });
    assert_eq!(
        query.project(item),
        json!({"id": "p1", "displayName": "Kiosk", "assignments": [{"id": "a1", "target": {"groupId": "g"}}]})
    );
    // Without $select the entity keeps everything but the navigation is still projected.
    let query = QueryOptions::parse(Some("$expand=assignments($select=target)")).unwrap();
    let item = json!({"id": "p1", "description": "kept", "assignments": [{"id": "a1", "source": "direct", "target": {}}]});
    assert_eq!(
        query.project(item),
        json!({"id": "p1", "description": "kept", "assignments": [{"id": "a1", "target": {}}]})
    );
}

#[test]
fn expand_refuses_what_it_cannot_do() {
    for bad in [
        "$expand=assignments($filter=id eq 'x')",
        "$expand=assignments($select=id",
        "$expand=assignments)",
        "$expand=assignments($top=1;$select=id)",
    ] {
        assert!(QueryOptions::parse(Some(bad)).is_err(), "{bad}");
    }
    let many = vec!["a"; 200].join(",");
    assert!(QueryOptions::parse(Some(&format!("$expand={many}"))).is_err());
}
