//! A device as rules see it: property id → value, kept in a small sorted vector.

use crate::property::{Dialect, Property, PropertyKind};

#[derive(Debug, Clone, PartialEq)]
enum Slot {
    Str(Box<str>),
    Bool(bool),
    List(Box<[Box<str>]>),
}

/// A device as rules see it. Property names are case-insensitive (`deviceOSType` == `deviceostype`).
///
/// Stored as a vector sorted by interned property id: ~24 bytes of header plus 24 bytes per
/// set property and the string bytes, so a million devices fit comfortably in memory.
/// Absent scalars are null; absent collections are empty.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Device {
    slots: Vec<(Property, Slot)>,
}

impl Device {
    pub fn new() -> Self {
        Self::default()
    }

    fn put(&mut self, p: Property, v: Option<Slot>) {
        match (self.slots.binary_search_by_key(&p, |e| e.0), v) {
            (Ok(i), Some(v)) => self.slots[i].1 = v,
            (Ok(i), None) => {
                self.slots.remove(i);
            }
            (Err(i), Some(v)) => self.slots.insert(i, (p, v)),
            (Err(_), None) => {}
        }
    }

    fn slot(&self, p: Property) -> Option<&Slot> {
        self.slots
            .binary_search_by_key(&p, |e| e.0)
            .ok()
            .map(|i| &self.slots[i].1)
    }

    /// Sets a scalar string property (`None` = null). Unknown names are ignored; on a boolean
    /// property the text `true`/`false` is parsed (anything else = null); on a collection the
    /// value becomes a one-item list.
    pub fn set(&mut self, property: &str, value: impl Into<Option<String>>) {
        let Some(p) = Property::lookup(property) else {
            return;
        };
        let value = value.into();
        match p.kind() {
            PropertyKind::Boolean => {
                let b = value.and_then(|v| parse_bool(&v));
                self.put(p, b.map(Slot::Bool));
            }
            PropertyKind::StringCollection | PropertyKind::MemberOf => {
                self.set_list(property, value.into_iter().collect());
            }
            PropertyKind::String | PropertyKind::Unsupported => {
                self.put(p, value.map(|v| Slot::Str(v.into_boxed_str())));
            }
        }
    }

    /// Sets a string property of `dialect` (`None` = null); unknown names and non-string properties are
    /// ignored. An assignment filter's device is built with this and [`Dialect::Filter`].
    pub fn set_in(&mut self, dialect: Dialect, property: &str, value: Option<String>) {
        if let Some(p) =
            Property::lookup_in(dialect, property).filter(|p| p.kind() == PropertyKind::String)
        {
            self.put(p, value.map(|v| Slot::Str(v.into_boxed_str())));
        }
    }

    /// Sets a boolean property (`accountEnabled`, `isRooted`); ignored for other names.
    pub fn set_bool(&mut self, property: &str, value: Option<bool>) {
        if let Some(p) = Property::lookup(property).filter(|p| p.kind() == PropertyKind::Boolean) {
            self.put(p, value.map(Slot::Bool));
        }
    }

    /// Sets a multi-valued property (`devicePhysicalIds`, `systemLabels`, `memberOf`); ignored
    /// for other names. An empty list is the same as unset.
    pub fn set_list(&mut self, property: &str, values: Vec<String>) {
        if let Some(p) = Property::lookup(property).filter(|p| {
            matches!(
                p.kind(),
                PropertyKind::StringCollection | PropertyKind::MemberOf
            )
        }) {
            let v = (!values.is_empty())
                .then(|| Slot::List(values.into_iter().map(String::into_boxed_str).collect()));
            self.put(p, v);
        }
    }

    /// Scalar string value (`None` when null or not a string property).
    pub fn get(&self, property: &str) -> Option<&str> {
        Property::lookup(property).and_then(|p| self.str_of(p))
    }

    /// Boolean value (`None` when null).
    pub fn get_bool(&self, property: &str) -> Option<bool> {
        Property::lookup(property).and_then(|p| self.bool_of(p))
    }

    /// Multi-valued property (empty when unset).
    pub fn get_list(&self, property: &str) -> &[Box<str>] {
        Property::lookup(property).map_or(&[], |p| self.list_of(p))
    }

    pub(crate) fn str_of(&self, p: Property) -> Option<&str> {
        match self.slot(p) {
            Some(Slot::Str(s)) => Some(s),
            _ => None,
        }
    }

    pub(crate) fn bool_of(&self, p: Property) -> Option<bool> {
        match self.slot(p) {
            Some(Slot::Bool(b)) => Some(*b),
            _ => None,
        }
    }

    pub(crate) fn list_of(&self, p: Property) -> &[Box<str>] {
        match self.slot(p) {
            Some(Slot::List(l)) => l,
            _ => &[],
        }
    }

    /// Properties that have a value, for the index (which looks up each value).
    pub(crate) fn set_properties(&self) -> impl Iterator<Item = Property> + '_ {
        self.slots.iter().map(|e| e.0)
    }

    /// Approximate heap + inline bytes, for the memory benchmark.
    pub fn approx_bytes(&self) -> usize {
        let mut n = std::mem::size_of::<Self>()
            + self.slots.capacity() * std::mem::size_of::<(Property, Slot)>();
        for (_, s) in &self.slots {
            n += match s {
                Slot::Str(s) => s.len(),
                Slot::Bool(_) => 0,
                Slot::List(l) => l
                    .iter()
                    .map(|s| s.len() + std::mem::size_of::<Box<str>>())
                    .sum(),
            };
        }
        n
    }

    /// The `--jsonl` device object: keys are rule property names (case-insensitive); strings
    /// (or null) for scalars, `true`/`false` (or the strings) for booleans, arrays of strings for
    /// collections. Unknown keys are ignored so Graph-shaped objects can be passed as they are.
    pub fn from_json(value: &serde_json::Value) -> Result<Device, String> {
        use serde_json::Value as J;
        let obj = value.as_object().ok_or("device must be a JSON object")?;
        let mut d = Device::new();
        for (k, v) in obj {
            let Some(p) = Property::lookup(k) else {
                continue;
            };
            match (p.kind(), v) {
                (_, J::Null) => d.put(p, None),
                (PropertyKind::Boolean, J::Bool(b)) => d.put(p, Some(Slot::Bool(*b))),
                (PropertyKind::Boolean, J::String(s)) => match parse_bool(s) {
                    Some(b) => d.put(p, Some(Slot::Bool(b))),
                    None => return Err(format!("{k}: expected true, false or null, found {v}")),
                },
                (PropertyKind::Boolean, _) => {
                    return Err(format!("{k}: expected true, false or null, found {v}"))
                }
                (PropertyKind::StringCollection | PropertyKind::MemberOf, J::Array(items)) => {
                    let mut out = Vec::with_capacity(items.len());
                    for it in items {
                        match it {
                            J::String(s) => out.push(s.clone()),
                            _ => {
                                return Err(format!(
                                    "{k}: expected an array of strings, found item {it}"
                                ))
                            }
                        }
                    }
                    d.set_list(p.name(), out);
                }
                (PropertyKind::StringCollection | PropertyKind::MemberOf, _) => {
                    return Err(format!("{k}: expected an array of strings, found {v}"))
                }
                (PropertyKind::String | PropertyKind::Unsupported, J::String(s)) => {
                    d.put(p, Some(Slot::Str(s.clone().into_boxed_str())))
                }
                (PropertyKind::String | PropertyKind::Unsupported, _) => {
                    return Err(format!("{k}: expected a string or null, found {v}"))
                }
            }
        }
        Ok(d)
    }

    /// Inverse of [`Device::from_json`] (canonical property names).
    pub fn to_json(&self) -> serde_json::Value {
        let mut m = serde_json::Map::new();
        for (p, s) in &self.slots {
            let v = match s {
                Slot::Str(s) => serde_json::Value::String(s.to_string()),
                Slot::Bool(b) => serde_json::Value::Bool(*b),
                Slot::List(l) => l
                    .iter()
                    .map(|s| serde_json::Value::String(s.to_string()))
                    .collect(),
            };
            m.insert(p.name().to_string(), v);
        }
        serde_json::Value::Object(m)
    }
}

fn parse_bool(s: &str) -> Option<bool> {
    if s.eq_ignore_ascii_case("true") {
        Some(true)
    } else if s.eq_ignore_ascii_case("false") {
        Some(false)
    } else {
        None
    }
}
