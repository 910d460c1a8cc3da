//! Property tests: logical equivalences, print/parse round trip, and incremental membership
//! equal to full re-evaluation after any sequence of device and rule changes.

use proptest::prelude::*;
use ztd_rules::{
    parse, CmpOp, Device, Expr, Item, MembershipEngine, MembershipIndex, Property, Quantifier,
    Rule, Subject, Value,
};

const STRINGS: &[&str] = &[
    "Windows",
    "windows",
    "iPad",
    "[ZTDId]:a1",
    "[OrderId]:Kiosk",
    "[orderid]:kiosk",
    "Surface",
    "",
    "Ünï",
    "a\"b`c",
    "it's",
    "Win",
];
const PATTERNS: &[&str] = &["^win", "k$", "a.b", ".", "^\\[orderid\\]"];
const SCALARS: &[&str] = &[
    "deviceOSType",
    "deviceModel",
    "displayName",
    "extensionAttribute1",
];
const COLLECTIONS: &[&str] = &["devicePhysicalIds", "systemLabels"];

fn prop(name: &str) -> Property {
    Property::lookup(name).unwrap()
}

fn string() -> impl Strategy<Value = String> {
    prop::sample::select(STRINGS).prop_map(str::to_string)
}

/// A value valid for `op` on a string subject.
fn value_for(op: CmpOp, allow_null: bool) -> BoxedStrategy<Value> {
    match op {
        CmpOp::In | CmpOp::NotIn => prop::collection::vec(string(), 1..4)
            .prop_map(|v| Value::Array(v.into_iter().map(Item::String).collect()))
            .boxed(),
        CmpOp::Match | CmpOp::NotMatch => prop::sample::select(PATTERNS)
            .prop_map(|p| Value::String(p.to_string()))
            .boxed(),
        CmpOp::Eq | CmpOp::Ne if allow_null => {
            prop_oneof![4 => string().prop_map(Value::String), 1 => Just(Value::Null)].boxed()
        }
        _ => string().prop_map(Value::String).boxed(),
    }
}

fn op() -> impl Strategy<Value = CmpOp> {
    prop::sample::select(CmpOp::ALL.to_vec())
}

fn item_expr() -> impl Strategy<Value = Expr> {
    let leaf = op().prop_flat_map(|op| {
        value_for(op, true).prop_map(move |value| Expr::Compare {
            subject: Subject::Item,
            op,
            value,
        })
    });
    leaf.prop_recursive(2, 6, 3, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 2..4).prop_map(Expr::Or),
            prop::collection::vec(inner.clone(), 2..4).prop_map(Expr::And),
            inner.prop_map(|x| Expr::Not(Box::new(x))),
        ]
    })
}

fn leaf() -> impl Strategy<Value = Expr> {
    let scalar = (prop::sample::select(SCALARS), op()).prop_flat_map(|(p, op)| {
        value_for(op, true).prop_map(move |value| Expr::Compare {
            subject: Subject::Property(prop(p)),
            op,
            value,
        })
    });
    let boolean = (
        prop::sample::select(vec![CmpOp::Eq, CmpOp::Ne]),
        prop_oneof![
            Just(Value::Bool(true)),
            Just(Value::Bool(false)),
            Just(Value::Null)
        ],
    )
        .prop_map(|(op, value)| Expr::Compare {
            subject: Subject::Property(prop("accountEnabled")),
            op,
            value,
        });
    let direct = (prop::sample::select(COLLECTIONS), op()).prop_flat_map(|(p, op)| {
        value_for(op, false).prop_map(move |value| Expr::Compare {
            subject: Subject::Property(prop(p)),
            op,
            value,
        })
    });
    let quantified = (
        prop::sample::select(COLLECTIONS),
        prop::bool::ANY,
        item_expr(),
    )
        .prop_map(|(p, any, body)| Expr::Quantified {
            property: prop(p),
            quantifier: if any {
                Quantifier::Any
            } else {
                Quantifier::All
            },
            body: Box::new(body),
        });
    let ou = Just(Expr::Compare {
        subject: Subject::Property(prop("organizationalUnit")),
        op: CmpOp::Eq,
        value: Value::String("x".into()),
    });
    prop_oneof![6 => scalar, 2 => boolean, 2 => direct, 4 => quantified, 1 => ou]
}

fn expr() -> impl Strategy<Value = Expr> {
    leaf().prop_recursive(4, 24, 4, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 2..4).prop_map(Expr::Or),
            prop::collection::vec(inner.clone(), 2..4).prop_map(Expr::And),
            inner.prop_map(|x| Expr::Not(Box::new(x))),
        ]
    })
}

fn rule_expr() -> impl Strategy<Value = Expr> {
    prop_oneof![
        9 => expr(),
        1 => prop::collection::vec(prop::sample::select(vec!["g1", "G2", "g3"]), 1..3)
            .prop_map(|g| Expr::MemberOf { groups: g.into_iter().map(str::to_string).collect() }),
    ]
}

fn device() -> impl Strategy<Value = Device> {
    (
        prop::collection::vec(prop::option::of(string()), SCALARS.len()),
        prop::option::of(prop::bool::ANY),
        prop::collection::vec(string(), 0..4),
        prop::collection::vec(string(), 0..2),
        prop::collection::vec(prop::sample::select(vec!["g1", "g2", "G3"]), 0..3),
    )
        .prop_map(|(scalars, enabled, ids, labels, groups)| {
            let mut d = Device::new();
            for (name, v) in SCALARS.iter().zip(scalars) {
                d.set(name, v);
            }
            d.set_bool("accountEnabled", enabled);
            d.set_list("devicePhysicalIds", ids);
            d.set_list("systemLabels", labels);
            d.set_list("memberOf", groups.into_iter().map(str::to_string).collect());
            d
        })
}

fn rule(e: &Expr) -> Rule {
    Rule::from_ast(e).unwrap_or_else(|err| panic!("generated rule {e} refused: {err}"))
}

fn not(e: Expr) -> Expr {
    Expr::Not(Box::new(e))
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 300, ..ProptestConfig::default() })]

    #[test]
    fn print_parse_round_trip(e in rule_expr()) {
        let r = rule(&e);
        prop_assert_eq!(r.ast(), &e);
        let printed = r.to_string();
        prop_assert_eq!(parse(&printed).unwrap().to_string(), printed);
    }

    #[test]
    fn de_morgan_and_double_negation(a in expr(), b in expr(), d in device()) {
        let ev = |e: &Expr| rule(e).evaluate(&d);
        let (va, vb) = (ev(&a), ev(&b));
        prop_assert_eq!(ev(&Expr::And(vec![a.clone(), b.clone()])), va && vb);
        prop_assert_eq!(ev(&Expr::Or(vec![a.clone(), b.clone()])), va || vb);
        prop_assert_eq!(ev(&not(Expr::And(vec![a.clone(), b.clone()]))), ev(&Expr::Or(vec![not(a.clone()), not(b.clone())])));
        prop_assert_eq!(ev(&not(Expr::Or(vec![a.clone(), b.clone()]))), ev(&Expr::And(vec![not(a.clone()), not(b.clone())])));
        prop_assert_eq!(ev(&not(not(a.clone()))), va);
        prop_assert_eq!(ev(&not(a.clone())), !va);
    }

    #[test]
    fn negative_operator_is_not_of_positive(p in prop::sample::select(SCALARS), op in op(), d in device()) {
        prop_assume!(!op.is_negative());
        let value = match op { CmpOp::In => Value::Array(vec![Item::String("Windows".into())]), CmpOp::Match => Value::String("^win".into()), _ => Value::String("Win".into()) };
        let pos = Expr::Compare { subject: Subject::Property(prop(p)), op, value: value.clone() };
        let neg = Expr::Compare { subject: Subject::Property(prop(p)), op: op.negated(), value };
        prop_assert_eq!(rule(&neg).evaluate(&d), !rule(&pos).evaluate(&d));
        // -any(not body) == not -all(body)
        let body = Expr::Compare { subject: Subject::Item, op, value: Value::String("win".into()) };
        let body = if op.takes_array() { Expr::Compare { subject: Subject::Item, op, value: Value::Array(vec![Item::String("win".into())]) } } else if op == CmpOp::Match { Expr::Compare { subject: Subject::Item, op, value: Value::String("^w".into()) } } else { body };
        let pid = prop("devicePhysicalIds");
        let any_not = Expr::Quantified { property: pid, quantifier: Quantifier::Any, body: Box::new(not(body.clone())) };
        let all = Expr::Quantified { property: pid, quantifier: Quantifier::All, body: Box::new(body) };
        prop_assert_eq!(rule(&any_not).evaluate(&d), !rule(&all).evaluate(&d));
    }

    #[test]
    fn explain_agrees_with_evaluate(e in rule_expr(), d in device()) {
        let r = rule(&e);
        prop_assert_eq!(r.explain(&d).result, r.evaluate(&d));
    }

    #[test]
    fn index_matching_equals_brute_force(rules in prop::collection::vec(rule_expr(), 1..12), devices in prop::collection::vec(device(), 1..12)) {
        let mut index = MembershipIndex::new();
        let compiled: Vec<Rule> = rules.iter().map(rule).collect();
        for (i, r) in compiled.iter().enumerate() {
            index.insert(i, r.clone());
        }
        for d in &devices {
            let brute: Vec<usize> = compiled.iter().enumerate().filter(|(_, r)| r.evaluate(d)).map(|(i, _)| i).collect();
            prop_assert_eq!(index.matching(d), brute);
        }
        let all = index.matching_all(&devices);
        for (d, m) in devices.iter().zip(all) {
            prop_assert_eq!(m, index.matching(d));
        }
    }

    #[test]
    fn incremental_membership_equals_full_reevaluation(ops in prop::collection::vec(
        prop_oneof![
            (0u8..6, device()).prop_map(|(id, d)| Op::Device(id, d)),
            (0u8..6).prop_map(Op::RemoveDevice),
            (0u8..5, rule_expr()).prop_map(|(k, e)| Op::Rule(k, e)),
            (0u8..5).prop_map(Op::RemoveRule),
        ], 1..40)) {
        let mut engine: MembershipEngine<u8, u8> = MembershipEngine::new();
        let mut devices = std::collections::BTreeMap::new();
        let mut rules = std::collections::BTreeMap::new();
        for op in ops {
            match op {
                Op::Device(id, d) => { engine.upsert_device(id, d.clone()); devices.insert(id, d); }
                Op::RemoveDevice(id) => { engine.remove_device(&id); devices.remove(&id); }
                Op::Rule(k, e) => { let r = rule(&e); engine.set_rule(k, r.clone()); rules.insert(k, r); }
                Op::RemoveRule(k) => { engine.remove_rule(&k); rules.remove(&k); }
            }
            for (k, r) in &rules {
                let full: Vec<u8> = devices.iter().filter(|(_, d)| r.evaluate(d)).map(|(id, _)| *id).collect();
                let inc: Vec<u8> = engine.members(k).copied().collect();
                prop_assert_eq!(inc, full, "group {}", k);
            }
            for (id, d) in &devices {
                let full: Vec<u8> = rules.iter().filter(|(_, r)| r.evaluate(d)).map(|(k, _)| *k).collect();
                prop_assert_eq!(engine.groups_of(id), full.as_slice());
            }
        }
    }
}

#[derive(Debug, Clone)]
enum Op {
    Device(u8, Device),
    RemoveDevice(u8),
    Rule(u8, Expr),
    RemoveRule(u8),
}

#[test]
fn diff_reports_changes_once() {
    let mut engine: MembershipEngine<&str, u32> = MembershipEngine::new();
    let kiosk = parse(r#"device.devicePhysicalIds -any (_ -eq "[OrderId]:Kiosk")"#).unwrap();
    assert!(engine.set_rule("kiosk", kiosk).is_empty());
    let mut d = Device::new();
    d.set_list("devicePhysicalIds", vec!["[OrderID]:KIOSK".into()]);
    let diff = engine.upsert_device(7, d.clone());
    assert_eq!(diff.added, vec![("kiosk", 7)]);
    assert!(engine.upsert_device(7, d).is_empty());
    let diff = engine.upsert_device(7, Device::new());
    assert_eq!(diff.removed, vec![("kiosk", 7)]);
}
