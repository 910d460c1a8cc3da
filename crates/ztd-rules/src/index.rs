//! Incremental membership.
//!
//! Every rule is reduced to a set of *anchors*: atomic tests (`property == value` or
//! `property starts with prefix`, on folded text) such that the rule can only be true when
//! at least one anchor holds for the device. Rules are registered in per-property hash maps
//! under their anchors; a device change looks up its own (few) values and evaluates only the
//! rules found there, plus the residual rules that have no anchor set (e.g. pure `-match`,
//! `-ne`, `-all`). Anchors are derived on the negation normal form, so `-not`/De Morgan
//! rewrites of an indexable rule stay indexable.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::hash::Hash;

use rayon::prelude::*;

use crate::ast::{CmpOp, Expr, Quantifier, Subject, Value};
use crate::device::Device;
use crate::eval::fold;
use crate::property::{Property, PropertyKind, COUNT};
use crate::Rule;

#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub(crate) enum Anchor {
    Eq(Property, Box<str>),
    Prefix(Property, Box<str>),
}

impl Anchor {
    /// Static selectivity guess (lower = fewer devices): ids are near-unique, prefixes broad.
    fn cost(&self) -> u32 {
        match self {
            Anchor::Eq(p, _) => match p.name() {
                "devicePhysicalIds" | "objectId" | "deviceId" | "displayName" | "memberOf" => 1,
                _ => 4,
            },
            Anchor::Prefix(..) => 8,
        }
    }
}

fn cost(v: &[Anchor]) -> u32 {
    v.iter().map(Anchor::cost).sum()
}

/// Anchors of `e` (under `neg` negations); `None` = could be true with no anchor holding.
pub(crate) fn anchors(e: &Expr, neg: bool, coll: Option<Property>) -> Option<Vec<Anchor>> {
    match e {
        Expr::Or(cs) | Expr::And(cs) => {
            let disjunction = matches!(e, Expr::Or(_)) != neg;
            if disjunction {
                let mut all = Vec::new();
                for c in cs {
                    all.extend(anchors(c, neg, coll)?);
                }
                Some(all)
            } else {
                cs.iter()
                    .filter_map(|c| anchors(c, neg, coll))
                    .min_by_key(|v| cost(v))
            }
        }
        Expr::Not(x) => anchors(x, !neg, coll),
        Expr::Compare { subject, op, value } => {
            let p = match subject {
                Subject::Property(p) => *p,
                Subject::Item => coll?,
            };
            if p.kind() == PropertyKind::Unsupported {
                return if neg { None } else { Some(Vec::new()) };
            }
            let eff = if neg { op.negated() } else { *op };
            match (eff, value) {
                (CmpOp::Eq, Value::String(s)) => Some(vec![Anchor::Eq(p, fold(s).into())]),
                (CmpOp::Eq, Value::Bool(b)) => Some(vec![Anchor::Eq(
                    p,
                    if *b { "true" } else { "false" }.into(),
                )]),
                (CmpOp::StartsWith, Value::String(s)) => {
                    Some(vec![Anchor::Prefix(p, fold(s).into())])
                }
                (CmpOp::In, Value::Array(items)) => Some(
                    items
                        .iter()
                        .map(|i| Anchor::Eq(p, fold(i.text()).into()))
                        .collect(),
                ),
                _ => None,
            }
        }
        Expr::Quantified {
            property,
            quantifier,
            body,
        } => match (quantifier, neg) {
            (Quantifier::Any, false) => anchors(body, false, Some(*property)),
            (Quantifier::All, true) => anchors(body, true, Some(*property)),
            _ => None,
        },
        Expr::MemberOf { groups } => {
            if neg {
                None
            } else {
                Some(
                    groups
                        .iter()
                        .map(|g| Anchor::Eq(Property::MEMBER_OF, fold(g).into()))
                        .collect(),
                )
            }
        }
    }
}

#[derive(Debug, Default)]
struct PropIndex {
    eq: HashMap<Box<str>, Vec<u32>>,
    prefix: HashMap<Box<str>, Vec<u32>>,
    /// Distinct prefix lengths (bytes of folded text) → number of prefixes of that length.
    prefix_lens: BTreeMap<usize, usize>,
}

impl PropIndex {
    fn is_empty(&self) -> bool {
        self.eq.is_empty() && self.prefix.is_empty()
    }

    fn collect(&self, value: &str, out: &mut Vec<u32>) {
        let f = fold(value);
        if let Some(v) = self.eq.get(&*f) {
            out.extend_from_slice(v);
        }
        for &len in self.prefix_lens.keys() {
            if len > f.len() {
                break;
            }
            if let Some(head) = f.get(..len) {
                if let Some(v) = self.prefix.get(head) {
                    out.extend_from_slice(v);
                }
            }
        }
    }
}

#[derive(Debug, Clone)]
struct Slot<K> {
    key: K,
    rule: Rule,
    anchors: Option<Vec<Anchor>>,
}

/// Counts describing how well the current rules are indexed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct IndexStats {
    pub rules: usize,
    /// Rules reachable only through their anchors.
    pub indexed: usize,
    /// Rules evaluated for every device change.
    pub residual: usize,
    pub eq_keys: usize,
    pub prefix_keys: usize,
}

/// Compiled rules keyed by group id, indexed so that a device change evaluates only the rules
/// it could satisfy.
#[derive(Debug)]
pub struct MembershipIndex<K> {
    slots: Vec<Option<Slot<K>>>,
    free: Vec<u32>,
    by_key: HashMap<K, u32>,
    props: Vec<PropIndex>,
    residual: Vec<u32>,
}

impl<K: Clone + Eq + Hash + Ord> Default for MembershipIndex<K> {
    fn default() -> Self {
        Self::new()
    }
}

impl<K: Clone + Eq + Hash + Ord> MembershipIndex<K> {
    pub fn new() -> Self {
        MembershipIndex {
            slots: Vec::new(),
            free: Vec::new(),
            by_key: HashMap::new(),
            props: (0..COUNT).map(|_| PropIndex::default()).collect(),
            residual: Vec::new(),
        }
    }

    /// Adds a rule, replacing an existing rule for `key`.
    pub fn insert(&mut self, key: K, rule: Rule) {
        self.remove(&key);
        let mut anchors = anchors(rule.ast(), false, None);
        if let Some(a) = anchors.as_mut() {
            a.sort();
            a.dedup();
        }
        let id = match self.free.pop() {
            Some(id) => id,
            None => {
                self.slots.push(None);
                u32::try_from(self.slots.len() - 1).unwrap_or(u32::MAX)
            }
        };
        match &anchors {
            None => self.residual.push(id),
            Some(list) => {
                for a in list {
                    match a {
                        Anchor::Eq(p, v) => self.props[p.index()]
                            .eq
                            .entry(v.clone())
                            .or_default()
                            .push(id),
                        Anchor::Prefix(p, v) => {
                            let pi = &mut self.props[p.index()];
                            let ids = pi.prefix.entry(v.clone()).or_default();
                            if ids.is_empty() {
                                *pi.prefix_lens.entry(v.len()).or_default() += 1;
                            }
                            ids.push(id);
                        }
                    }
                }
            }
        }
        self.by_key.insert(key.clone(), id);
        self.slots[id as usize] = Some(Slot { key, rule, anchors });
    }

    /// Removes and returns the rule for `key`.
    pub fn remove(&mut self, key: &K) -> Option<Rule> {
        let id = self.by_key.remove(key)?;
        let slot = self.slots.get_mut(id as usize)?.take()?;
        match &slot.anchors {
            None => self.residual.retain(|&r| r != id),
            Some(list) => {
                for a in list {
                    match a {
                        Anchor::Eq(p, v) => {
                            let map = &mut self.props[p.index()].eq;
                            if let Some(ids) = map.get_mut(v) {
                                ids.retain(|&r| r != id);
                                if ids.is_empty() {
                                    map.remove(v);
                                }
                            }
                        }
                        Anchor::Prefix(p, v) => {
                            let pi = &mut self.props[p.index()];
                            if let Some(ids) = pi.prefix.get_mut(v) {
                                ids.retain(|&r| r != id);
                                if ids.is_empty() {
                                    pi.prefix.remove(v);
                                    if let Some(c) = pi.prefix_lens.get_mut(&v.len()) {
                                        *c -= 1;
                                        if *c == 0 {
                                            pi.prefix_lens.remove(&v.len());
                                        }
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
        self.free.push(id);
        Some(slot.rule)
    }

    pub fn get(&self, key: &K) -> Option<&Rule> {
        self.by_key
            .get(key)
            .and_then(|&id| self.slots[id as usize].as_ref())
            .map(|s| &s.rule)
    }

    pub fn len(&self) -> usize {
        self.by_key.len()
    }

    pub fn is_empty(&self) -> bool {
        self.by_key.is_empty()
    }

    /// Slot ids of the rules `device` could satisfy (sorted, unique).
    fn candidates(&self, device: &Device, out: &mut Vec<u32>) {
        out.clear();
        out.extend_from_slice(&self.residual);
        for p in device.set_properties() {
            let pi = &self.props[p.index()];
            if pi.is_empty() {
                continue;
            }
            match p.kind() {
                PropertyKind::Boolean => {
                    if let Some(b) = device.bool_of(p) {
                        pi.collect(if b { "true" } else { "false" }, out);
                    }
                }
                PropertyKind::StringCollection | PropertyKind::MemberOf => {
                    for v in device.list_of(p) {
                        pi.collect(v, out);
                    }
                }
                _ => {
                    if let Some(v) = device.str_of(p) {
                        pi.collect(v, out);
                    }
                }
            }
        }
        out.sort_unstable();
        out.dedup();
    }

    /// Number of rules a change to `device` evaluates (for benchmarks and diagnostics).
    pub fn candidate_count(&self, device: &Device) -> usize {
        let mut c = Vec::new();
        self.candidates(device, &mut c);
        c.len()
    }

    /// Keys of all rules the device satisfies, sorted. Evaluates only candidate rules.
    pub fn matching(&self, device: &Device) -> Vec<K> {
        let mut cand = Vec::new();
        self.candidates(device, &mut cand);
        let mut out: Vec<K> = cand
            .iter()
            .filter_map(|&id| self.slots[id as usize].as_ref())
            .filter(|s| s.rule.evaluate(device))
            .map(|s| s.key.clone())
            .collect();
        out.sort_unstable();
        out
    }

    /// Evaluates the rule stored under `key` over `devices` in parallel (a new or changed
    /// rule). `None` if there is no such rule.
    pub fn evaluate_all(&self, key: &K, devices: &[Device]) -> Option<Vec<bool>>
    where
        K: Sync,
    {
        let rule = self.get(key)?;
        Some(devices.par_iter().map(|d| rule.evaluate(d)).collect())
    }

    /// [`MembershipIndex::matching`] for many devices in parallel (initial load, full rebuild).
    pub fn matching_all(&self, devices: &[Device]) -> Vec<Vec<K>>
    where
        K: Send + Sync,
    {
        devices
            .par_iter()
            .map_init(Vec::new, |cand, d| {
                self.candidates(d, cand);
                let mut out: Vec<K> = cand
                    .iter()
                    .filter_map(|&id| self.slots[id as usize].as_ref())
                    .filter(|s| s.rule.evaluate(d))
                    .map(|s| s.key.clone())
                    .collect();
                out.sort_unstable();
                out
            })
            .collect()
    }

    pub fn stats(&self) -> IndexStats {
        IndexStats {
            rules: self.len(),
            indexed: self.len() - self.residual.len(),
            residual: self.residual.len(),
            eq_keys: self.props.iter().map(|p| p.eq.len()).sum(),
            prefix_keys: self.props.iter().map(|p| p.prefix.len()).sum(),
        }
    }
}

/// Membership changes produced by one operation, as (group key, device id) pairs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MembershipDiff<K, D> {
    pub added: Vec<(K, D)>,
    pub removed: Vec<(K, D)>,
}

impl<K, D> Default for MembershipDiff<K, D> {
    fn default() -> Self {
        MembershipDiff {
            added: Vec::new(),
            removed: Vec::new(),
        }
    }
}

impl<K, D> MembershipDiff<K, D> {
    pub fn is_empty(&self) -> bool {
        self.added.is_empty() && self.removed.is_empty()
    }
}

/// Devices, rules and the current membership, kept consistent on every change so the caller
/// can apply the returned diff inside the same write transaction.
///
/// `memberOf` is an ordinary device property here: the caller supplies each device's direct
/// group ids (and can use [`Rule::member_of_groups`] to order cascading updates).
#[derive(Debug)]
pub struct MembershipEngine<K, D> {
    index: MembershipIndex<K>,
    devices: HashMap<D, Device>,
    groups_of: HashMap<D, Vec<K>>,
    members: BTreeMap<K, BTreeSet<D>>,
}

impl<K, D> Default for MembershipEngine<K, D>
where
    K: Clone + Eq + Hash + Ord + Send + Sync,
    D: Clone + Eq + Hash + Ord + Send + Sync,
{
    fn default() -> Self {
        Self::new()
    }
}

impl<K, D> MembershipEngine<K, D>
where
    K: Clone + Eq + Hash + Ord + Send + Sync,
    D: Clone + Eq + Hash + Ord + Send + Sync,
{
    pub fn new() -> Self {
        MembershipEngine {
            index: MembershipIndex::new(),
            devices: HashMap::new(),
            groups_of: HashMap::new(),
            members: BTreeMap::new(),
        }
    }

    pub fn index(&self) -> &MembershipIndex<K> {
        &self.index
    }

    pub fn device(&self, id: &D) -> Option<&Device> {
        self.devices.get(id)
    }

    /// Current members of a group (empty if none or no such rule).
    pub fn members(&self, key: &K) -> impl Iterator<Item = &D> + '_ {
        self.members.get(key).into_iter().flatten()
    }

    /// Groups a device is currently in, sorted.
    pub fn groups_of(&self, id: &D) -> &[K] {
        self.groups_of.get(id).map_or(&[], Vec::as_slice)
    }

    /// Adds or replaces a device; only candidate rules are evaluated.
    pub fn upsert_device(&mut self, id: D, device: Device) -> MembershipDiff<K, D> {
        let new = self.index.matching(&device);
        self.devices.insert(id.clone(), device);
        self.set_groups(id, new)
    }

    pub fn remove_device(&mut self, id: &D) -> MembershipDiff<K, D> {
        if self.devices.remove(id).is_none() {
            return MembershipDiff::default();
        }
        self.set_groups(id.clone(), Vec::new())
    }

    fn set_groups(&mut self, id: D, new: Vec<K>) -> MembershipDiff<K, D> {
        let old = self.groups_of.remove(&id).unwrap_or_default();
        let mut diff = MembershipDiff::default();
        for k in old.iter().filter(|k| new.binary_search(k).is_err()) {
            if let Some(m) = self.members.get_mut(k) {
                m.remove(&id);
            }
            diff.removed.push((k.clone(), id.clone()));
        }
        for k in new.iter().filter(|k| old.binary_search(k).is_err()) {
            self.members
                .entry(k.clone())
                .or_default()
                .insert(id.clone());
            diff.added.push((k.clone(), id.clone()));
        }
        if !new.is_empty() {
            self.groups_of.insert(id, new);
        }
        diff
    }

    /// Adds or replaces a rule; all devices are evaluated in parallel.
    pub fn set_rule(&mut self, key: K, rule: Rule) -> MembershipDiff<K, D> {
        let new: BTreeSet<D> = {
            let devices: Vec<(&D, &Device)> = self.devices.iter().collect();
            devices
                .par_iter()
                .filter(|(_, d)| rule.evaluate(d))
                .map(|(id, _)| (*id).clone())
                .collect::<Vec<D>>()
                .into_iter()
                .collect()
        };
        self.index.insert(key.clone(), rule);
        self.replace_members(key, new)
    }

    pub fn remove_rule(&mut self, key: &K) -> MembershipDiff<K, D> {
        if self.index.remove(key).is_none() {
            return MembershipDiff::default();
        }
        self.replace_members(key.clone(), BTreeSet::new())
    }

    fn replace_members(&mut self, key: K, new: BTreeSet<D>) -> MembershipDiff<K, D> {
        let old = self.members.remove(&key).unwrap_or_default();
        let mut diff = MembershipDiff::default();
        for d in old.difference(&new) {
            if let Some(g) = self.groups_of.get_mut(d) {
                if let Ok(i) = g.binary_search(&key) {
                    g.remove(i);
                }
                if g.is_empty() {
                    self.groups_of.remove(d);
                }
            }
            diff.removed.push((key.clone(), d.clone()));
        }
        for d in new.difference(&old) {
            let g = self.groups_of.entry(d.clone()).or_default();
            if let Err(i) = g.binary_search(&key) {
                g.insert(i, key.clone());
            }
            diff.added.push((key.clone(), d.clone()));
        }
        if !new.is_empty() {
            self.members.insert(key, new);
        }
        diff
    }
}
