//! `$select` applied while an item is serialised: the properties it drops are never written, where
//! [`QueryOptions::project`] builds the whole item as a JSON value first and then drops them (for a page of
//! 100 devices, `$select=id` cost more than the whole page).

use serde::ser::{
    self, Impossible, Serialize, SerializeMap, SerializeStruct, Serializer, StdError,
};

use crate::QueryOptions;

/// `item` serialised with the query's top-level `$select` applied: the same properties, in the same order,
/// as [`QueryOptions::project`] keeps. Meant for queries where
/// [`QueryOptions::selects_top_level_only`] holds; nested selections need `project`.
pub struct Selected<'a, T> {
    pub item: &'a T,
    pub options: &'a QueryOptions,
}

impl<T: Serialize> Serialize for Selected<'_, T> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        self.item.serialize(Selecting {
            inner: serializer,
            options: self.options,
        })
    }
}

/// Passes everything through to `inner`, except the entries of the item's own map or struct that
/// `$select` drops. Values inside the kept entries go to `inner` directly, so only the top level is
/// filtered.
struct Selecting<'a, S> {
    inner: S,
    options: &'a QueryOptions,
}

struct SelectingMap<'a, M> {
    inner: M,
    options: &'a QueryOptions,
    /// Whether the value after the last key is dropped with it.
    dropping: bool,
}

struct SelectingStruct<'a, M> {
    inner: M,
    options: &'a QueryOptions,
}

impl<M: SerializeMap> SerializeMap for SelectingMap<'_, M> {
    type Ok = M::Ok;
    type Error = M::Error;

    fn serialize_key<K: Serialize + ?Sized>(&mut self, key: &K) -> Result<(), M::Error> {
        self.dropping = !key.serialize(KeyKept::<M::Error>::new(self.options))?;
        if self.dropping {
            Ok(())
        } else {
            self.inner.serialize_key(key)
        }
    }

    fn serialize_value<V: Serialize + ?Sized>(&mut self, value: &V) -> Result<(), M::Error> {
        if self.dropping {
            Ok(())
        } else {
            self.inner.serialize_value(value)
        }
    }

    fn end(self) -> Result<M::Ok, M::Error> {
        self.inner.end()
    }
}

impl<M: SerializeStruct> SerializeStruct for SelectingStruct<'_, M> {
    type Ok = M::Ok;
    type Error = M::Error;

    fn serialize_field<V: Serialize + ?Sized>(
        &mut self,
        key: &'static str,
        value: &V,
    ) -> Result<(), M::Error> {
        if self.options.keeps_property(key) {
            self.inner.serialize_field(key, value)
        } else {
            self.inner.skip_field(key)
        }
    }

    fn end(self) -> Result<M::Ok, M::Error> {
        self.inner.end()
    }
}

/// Forwards a scalar or a compound that is not the item's own map or struct.
macro_rules! forward {
    ($($method:ident($($arg:ident: $ty:ty),*) -> $out:ty;)*) => {
        $(fn $method(self, $($arg: $ty),*) -> Result<$out, S::Error> {
            self.inner.$method($($arg),*)
        })*
    };
}

impl<'a, S: Serializer> Serializer for Selecting<'a, S> {
    type Ok = S::Ok;
    type Error = S::Error;
    type SerializeSeq = S::SerializeSeq;
    type SerializeTuple = S::SerializeTuple;
    type SerializeTupleStruct = S::SerializeTupleStruct;
    type SerializeTupleVariant = S::SerializeTupleVariant;
    type SerializeMap = SelectingMap<'a, S::SerializeMap>;
    type SerializeStruct = SelectingStruct<'a, S::SerializeStruct>;
    type SerializeStructVariant = S::SerializeStructVariant;

    forward! {
        serialize_bool(v: bool) -> S::Ok;
        serialize_i8(v: i8) -> S::Ok;
        serialize_i16(v: i16) -> S::Ok;
        serialize_i32(v: i32) -> S::Ok;
        serialize_i64(v: i64) -> S::Ok;
        serialize_i128(v: i128) -> S::Ok;
        serialize_u8(v: u8) -> S::Ok;
        serialize_u16(v: u16) -> S::Ok;
        serialize_u32(v: u32) -> S::Ok;
        serialize_u64(v: u64) -> S::Ok;
        serialize_u128(v: u128) -> S::Ok;
        serialize_f32(v: f32) -> S::Ok;
        serialize_f64(v: f64) -> S::Ok;
        serialize_char(v: char) -> S::Ok;
        serialize_str(v: &str) -> S::Ok;
        serialize_bytes(v: &[u8]) -> S::Ok;
        serialize_none() -> S::Ok;
        serialize_unit() -> S::Ok;
        serialize_unit_struct(name: &'static str) -> S::Ok;
        serialize_unit_variant(name: &'static str, index: u32, variant: &'static str) -> S::Ok;
        serialize_seq(len: Option<usize>) -> S::SerializeSeq;
        serialize_tuple(len: usize) -> S::SerializeTuple;
        serialize_tuple_struct(name: &'static str, len: usize) -> S::SerializeTupleStruct;
        serialize_tuple_variant(name: &'static str, index: u32, variant: &'static str, len: usize)
            -> S::SerializeTupleVariant;
        serialize_struct_variant(name: &'static str, index: u32, variant: &'static str, len: usize)
            -> S::SerializeStructVariant;
    }

    fn serialize_some<V: Serialize + ?Sized>(self, value: &V) -> Result<S::Ok, S::Error> {
        // An optional item is the item itself, selected the same way.
        value.serialize(self)
    }

    fn serialize_newtype_struct<V: Serialize + ?Sized>(
        self,
        name: &'static str,
        value: &V,
    ) -> Result<S::Ok, S::Error> {
        self.inner.serialize_newtype_struct(name, value)
    }

    fn serialize_newtype_variant<V: Serialize + ?Sized>(
        self,
        name: &'static str,
        index: u32,
        variant: &'static str,
        value: &V,
    ) -> Result<S::Ok, S::Error> {
        self.inner
            .serialize_newtype_variant(name, index, variant, value)
    }

    fn serialize_map(self, _len: Option<usize>) -> Result<Self::SerializeMap, S::Error> {
        // The length changes with what is dropped.
        Ok(SelectingMap {
            inner: self.inner.serialize_map(None)?,
            options: self.options,
            dropping: false,
        })
    }

    fn serialize_struct(
        self,
        name: &'static str,
        len: usize,
    ) -> Result<Self::SerializeStruct, S::Error> {
        Ok(SelectingStruct {
            inner: self.inner.serialize_struct(name, len)?,
            options: self.options,
        })
    }

    fn is_human_readable(&self) -> bool {
        self.inner.is_human_readable()
    }
}

/// Whether `$select` keeps a map key: text keys are checked, any other key is kept.
struct KeyKept<'a, E> {
    options: &'a QueryOptions,
    error: std::marker::PhantomData<E>,
}

impl<'a, E> KeyKept<'a, E> {
    fn new(options: &'a QueryOptions) -> Self {
        Self {
            options,
            error: std::marker::PhantomData,
        }
    }
}

macro_rules! keep {
    ($($method:ident($($ty:ty),*);)*) => {
        $(fn $method(self, $(_: $ty),*) -> Result<bool, E> {
            Ok(true)
        })*
    };
}

impl<E: ser::Error + StdError> Serializer for KeyKept<'_, E> {
    type Ok = bool;
    type Error = E;
    type SerializeSeq = Impossible<bool, E>;
    type SerializeTuple = Impossible<bool, E>;
    type SerializeTupleStruct = Impossible<bool, E>;
    type SerializeTupleVariant = Impossible<bool, E>;
    type SerializeMap = Impossible<bool, E>;
    type SerializeStruct = Impossible<bool, E>;
    type SerializeStructVariant = Impossible<bool, E>;

    fn serialize_str(self, key: &str) -> Result<bool, E> {
        Ok(self.options.keeps_property(key))
    }

    fn serialize_unit_variant(
        self,
        _name: &'static str,
        _index: u32,
        variant: &'static str,
    ) -> Result<bool, E> {
        Ok(self.options.keeps_property(variant))
    }

    keep! {
        serialize_bool(bool);
        serialize_i8(i8);
        serialize_i16(i16);
        serialize_i32(i32);
        serialize_i64(i64);
        serialize_u8(u8);
        serialize_u16(u16);
        serialize_u32(u32);
        serialize_u64(u64);
        serialize_f32(f32);
        serialize_f64(f64);
        serialize_char(char);
        serialize_bytes(&[u8]);
        serialize_none();
        serialize_unit();
        serialize_unit_struct(&'static str);
    }

    fn serialize_some<V: Serialize + ?Sized>(self, value: &V) -> Result<bool, E> {
        value.serialize(self)
    }

    fn serialize_newtype_struct<V: Serialize + ?Sized>(
        self,
        _name: &'static str,
        value: &V,
    ) -> Result<bool, E> {
        value.serialize(self)
    }

    fn serialize_newtype_variant<V: Serialize + ?Sized>(
        self,
        _name: &'static str,
        _index: u32,
        _variant: &'static str,
        _value: &V,
    ) -> Result<bool, E> {
        Ok(true)
    }

    fn serialize_seq(self, _len: Option<usize>) -> Result<Self::SerializeSeq, E> {
        Err(E::custom("a map key that is a sequence"))
    }

    fn serialize_tuple(self, _len: usize) -> Result<Self::SerializeTuple, E> {
        Err(E::custom("a map key that is a tuple"))
    }

    fn serialize_tuple_struct(
        self,
        _name: &'static str,
        _len: usize,
    ) -> Result<Self::SerializeTupleStruct, E> {
        Err(E::custom("a map key that is a tuple"))
    }

    fn serialize_tuple_variant(
        self,
        _name: &'static str,
        _index: u32,
        _variant: &'static str,
        _len: usize,
    ) -> Result<Self::SerializeTupleVariant, E> {
        Err(E::custom("a map key that is a tuple"))
    }

    fn serialize_map(self, _len: Option<usize>) -> Result<Self::SerializeMap, E> {
        Err(E::custom("a map key that is a map"))
    }

    fn serialize_struct(
        self,
        _name: &'static str,
        _len: usize,
    ) -> Result<Self::SerializeStruct, E> {
        Err(E::custom("a map key that is a struct"))
    }

    fn serialize_struct_variant(
        self,
        _name: &'static str,
        _index: u32,
        _variant: &'static str,
        _len: usize,
    ) -> Result<Self::SerializeStructVariant, E> {
        Err(E::custom("a map key that is a struct"))
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use serde_json::{json, Value};

    use super::*;

    #[derive(serde::Serialize)]
    #[serde(rename_all = "camelCase")]
    struct Device {
        id: &'static str,
        serial_number: &'static str,
        group_tag: Option<&'static str>,
        physical_ids: Vec<&'static str>,
        deployment_profile: Option<BTreeMap<&'static str, &'static str>>,
    }

    fn device() -> Device {
        Device {
            id: "d1",
            serial_number: "SN-1",
            group_tag: None,
            physical_ids: vec!["[ZTDID]:x"],
            deployment_profile: Some(BTreeMap::from([("id", "p1"), ("displayName", "P")])),
        }
    }

    /// A map written entry by entry, as ztd's Graph types write themselves.
    struct AsMap(Device);

    impl Serialize for AsMap {
        fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
            let mut map = serializer.serialize_map(None)?;
            map.serialize_entry("@odata.type", "#microsoft.graph.device")?;
            map.serialize_entry("id", self.0.id)?;
            map.serialize_key("serialNumber")?;
            map.serialize_value(self.0.serial_number)?;
            map.serialize_entry("groupTag", &self.0.group_tag)?;
            map.serialize_entry("physicalIds", &self.0.physical_ids)?;
            map.serialize_entry("deploymentProfile", &self.0.deployment_profile)?;
            map.end()
        }
    }

    fn options(query: &str) -> QueryOptions {
        QueryOptions::parse(Some(query)).unwrap()
    }

    fn selected(item: &impl Serialize, options: &QueryOptions) -> String {
        serde_json::to_string(&Selected { item, options }).unwrap()
    }

    fn projected(item: &impl Serialize, options: &QueryOptions) -> String {
        serde_json::to_string(&options.project(serde_json::to_value(item).unwrap())).unwrap()
    }

    #[test]
    fn selecting_while_serialising_keeps_what_projecting_keeps_in_the_same_order() {
        for query in [
            "",
            "$select=*",
            "$select=id",
            "$select=serialNumber",
            "$select=SERIALNUMBER,groupTag",
            "$select=physicalIds,unknownProperty",
            "$select=serialNumber&$expand=deploymentProfile",
            "$expand=deploymentProfile",
        ] {
            let options = options(query);
            assert!(options.selects_top_level_only());
            assert_eq!(
                selected(&device(), &options),
                projected(&device(), &options),
                "derived struct, {query:?}"
            );
            let as_map = AsMap(device());
            let written = selected(&as_map, &options);
            let value: Value = serde_json::from_str(&written).unwrap();
            assert_eq!(
                value,
                serde_json::from_str::<Value>(&projected(&as_map, &options)).unwrap()
            );
            // `serde_json::Value` sorts keys; the written order is the item's own.
            let keys: Vec<&str> = [
                "@odata.type",
                "id",
                "serialNumber",
                "groupTag",
                "physicalIds",
            ]
            .into_iter()
            .filter(|k| options.keeps_property(k))
            .collect();
            let positions: Vec<usize> = keys
                .iter()
                .map(|k| written.find(&format!("\"{k}\"")).unwrap())
                .collect();
            assert!(positions.windows(2).all(|w| w[0] < w[1]), "{written}");
        }
    }

    #[test]
    fn only_the_top_level_is_selected() {
        let options = options("$select=deploymentProfile");
        assert_eq!(
            serde_json::from_str::<Value>(&selected(&AsMap(device()), &options)).unwrap(),
            json!({
                "@odata.type": "#microsoft.graph.device",
                "id": "d1",
                "deploymentProfile": { "displayName": "P", "id": "p1" },
            })
        );
    }

    #[test]
    fn selecting_drops_every_unselected_property() {
        let options = options("$select=groupTag");
        assert_eq!(
            selected(&device(), &options),
            r#"{"id":"d1","groupTag":null}"#
        );
        assert_eq!(
            selected(&Some(device()), &options),
            r#"{"id":"d1","groupTag":null}"#
        );
    }
}
