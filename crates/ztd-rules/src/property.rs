//! The device properties a rule may name, interned to small ids so that a device is a
//! compact sorted vector instead of a map keyed by strings. One table holds both languages that share
//! the syntax: Entra's membership rules and Intune's assignment filters ([`Dialect`]).

use crate::ast::CmpOp;

/// How a property's values look and which operators apply to it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub enum PropertyKind {
    /// Single string value; all twelve comparison operators.
    String,
    /// `true` / `false` / null; only `-eq` and `-ne`.
    Boolean,
    /// `devicePhysicalIds`, `systemLabels`: `-any`/`-all`, or comparisons with any-item semantics.
    StringCollection,
    /// `memberOf`: only `-any (group.objectId -in [...])`, as the whole rule.
    MemberOf,
    /// `organizationalUnit`: accepted (Entra accepts it) but never matches.
    Unsupported,
}

/// An interned device property (index into the static table).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Property(u8);

/// Which rule language a property belongs to: Entra's dynamic membership rules, or Intune's assignment
/// filters (same syntax, other device properties, fewer operators).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub enum Dialect {
    /// Entra dynamic device membership rules.
    Membership,
    /// Intune assignment filters on managed Windows devices (`windows10AndLater`).
    Filter,
}

struct Def {
    name: &'static str,
    kind: PropertyKind,
    /// Values Entra documents; anything else is accepted with a warning (it would never match).
    allowed: &'static [&'static str],
    dialect: Dialect,
    /// The operators the property takes (empty: every operator its kind allows).
    operators: &'static [CmpOp],
}

const fn s(name: &'static str) -> Def {
    Def {
        name,
        kind: PropertyKind::String,
        allowed: &[],
        dialect: Dialect::Membership,
        operators: &[],
    }
}

/// Intune's operators for a filter property compared as a whole or in part.
const FILTER_TEXT_OPS: &[CmpOp] = &[
    CmpOp::Eq,
    CmpOp::Ne,
    CmpOp::In,
    CmpOp::NotIn,
    CmpOp::StartsWith,
    CmpOp::Contains,
    CmpOp::NotContains,
];
/// Intune's operators for an enumerated filter property.
const FILTER_ENUM_OPS: &[CmpOp] = &[CmpOp::Eq, CmpOp::Ne, CmpOp::In, CmpOp::NotIn];

const fn f(
    name: &'static str,
    allowed: &'static [&'static str],
    operators: &'static [CmpOp],
) -> Def {
    Def {
        name,
        kind: PropertyKind::String,
        allowed,
        dialect: Dialect::Filter,
        operators,
    }
}

static PROPERTIES: [Def; 41] = [
    Def {
        name: "accountEnabled",
        kind: PropertyKind::Boolean,
        allowed: &[],
        dialect: Dialect::Membership,
        operators: &[],
    },
    s("deviceCategory"),
    s("deviceId"),
    s("deviceManagementAppId"),
    s("deviceManufacturer"),
    s("deviceModel"),
    s("displayName"),
    s("deviceOSType"),
    s("deviceOSVersion"),
    Def {
        name: "deviceOwnership",
        kind: PropertyKind::String,
        allowed: &["Personal", "Company", "Unknown"],
        dialect: Dialect::Membership,
        operators: &[],
    },
    Def {
        name: "deviceTrustType",
        kind: PropertyKind::String,
        allowed: &["AzureAD", "ServerAD", "Workplace"],
        dialect: Dialect::Membership,
        operators: &[],
    },
    s("enrollmentProfileName"),
    s("extensionAttribute1"),
    s("extensionAttribute2"),
    s("extensionAttribute3"),
    s("extensionAttribute4"),
    s("extensionAttribute5"),
    s("extensionAttribute6"),
    s("extensionAttribute7"),
    s("extensionAttribute8"),
    s("extensionAttribute9"),
    s("extensionAttribute10"),
    s("extensionAttribute11"),
    s("extensionAttribute12"),
    s("extensionAttribute13"),
    s("extensionAttribute14"),
    s("extensionAttribute15"),
    Def {
        name: "isRooted",
        kind: PropertyKind::Boolean,
        allowed: &[],
        dialect: Dialect::Membership,
        operators: &[],
    },
    Def {
        name: "managementType",
        kind: PropertyKind::String,
        allowed: &["MDM", "PC"],
        dialect: Dialect::Membership,
        operators: &[],
    },
    s("objectId"),
    Def {
        name: "profileType",
        kind: PropertyKind::String,
        allowed: &["RegisteredDevice", "SecureVM", "Printer", "Shared", "IoT"],
        dialect: Dialect::Membership,
        operators: &[],
    },
    Def {
        name: "organizationalUnit",
        kind: PropertyKind::Unsupported,
        allowed: &[],
        dialect: Dialect::Membership,
        operators: &[],
    },
    Def {
        name: "devicePhysicalIds",
        kind: PropertyKind::StringCollection,
        allowed: &[],
        dialect: Dialect::Membership,
        operators: &[],
    },
    Def {
        name: "systemLabels",
        kind: PropertyKind::StringCollection,
        allowed: &[],
        dialect: Dialect::Membership,
        operators: &[],
    },
    Def {
        name: "memberOf",
        kind: PropertyKind::MemberOf,
        allowed: &[],
        dialect: Dialect::Membership,
        operators: &[],
    },
    // Intune assignment filters (Windows 10 and later): the managed device properties ztd can evaluate.
    f("deviceName", &[], FILTER_TEXT_OPS),
    f("manufacturer", &[], FILTER_TEXT_OPS),
    f("model", &[], FILTER_TEXT_OPS),
    f("osVersion", &[], FILTER_TEXT_OPS),
    f(
        "deviceOwnership",
        &["Personal", "Corporate"],
        FILTER_ENUM_OPS,
    ),
    f(
        "deviceTrustType",
        &[
            "Azure AD joined",
            "Azure AD registered",
            "Hybrid Azure AD joined",
        ],
        FILTER_ENUM_OPS,
    ),
];

/// Number of known properties (ids are `0..COUNT`).
pub(crate) const COUNT: usize = PROPERTIES.len();

impl Property {
    /// `memberOf` (last entry of the membership properties; checked by a unit test).
    pub const MEMBER_OF: Property = Property(34);

    /// Case-insensitive lookup of a membership rule property (Entra's own examples mix
    /// `devicePhysicalIDs`/`devicePhysicalIds`).
    pub fn lookup(name: &str) -> Option<Property> {
        Self::lookup_in(Dialect::Membership, name)
    }

    /// Case-insensitive lookup of a property of `dialect`.
    pub fn lookup_in(dialect: Dialect, name: &str) -> Option<Property> {
        PROPERTIES
            .iter()
            .position(|d| d.dialect == dialect && d.name.eq_ignore_ascii_case(name))
            .and_then(|i| u8::try_from(i).ok())
            .map(Property)
    }

    /// The language the property belongs to.
    pub fn dialect(self) -> Dialect {
        PROPERTIES[self.0 as usize].dialect
    }

    /// The operators the property takes; empty when every operator of its kind applies.
    pub fn operators(self) -> &'static [CmpOp] {
        PROPERTIES[self.0 as usize].operators
    }

    /// Every property of `dialect`, in id order.
    pub fn all_in(dialect: Dialect) -> impl Iterator<Item = Property> {
        (0..COUNT)
            .filter_map(|i| u8::try_from(i).ok())
            .map(Property)
            .filter(move |p| p.dialect() == dialect)
    }

    /// Canonical spelling, used by the printer and in diagnostics.
    pub fn name(self) -> &'static str {
        PROPERTIES[self.0 as usize].name
    }

    pub fn kind(self) -> PropertyKind {
        PROPERTIES[self.0 as usize].kind
    }

    /// Documented values for enumerated properties (empty = any value).
    pub fn allowed_values(self) -> &'static [&'static str] {
        PROPERTIES[self.0 as usize].allowed
    }

    pub(crate) fn index(self) -> usize {
        self.0 as usize
    }

    /// Every membership rule property, in id order.
    pub fn all() -> impl Iterator<Item = Property> {
        Self::all_in(Dialect::Membership)
    }
}

impl std::fmt::Display for Property {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "device.{}", self.name())
    }
}
