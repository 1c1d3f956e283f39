//! A serde `Serializer` that builds a fastjson [`Value`]. Unlike `serde_json`, map keys keep
//! their type: integer keys become unquoted numeric keys and struct keys (a `MessageQueue`)
//! become object keys, exactly as Java's fastjson writes `Map<Integer, Long>` and
//! `Map<MessageQueue, OffsetWrapper>`.

use serde::ser::{self, Serialize};
use serde_json::Number;

use crate::error::Error;
use crate::value::{Key, Object, Value};

/// Serializes any `T: Serialize` into a fastjson [`Value`].
pub fn to_value<T: Serialize + ?Sized>(value: &T) -> Result<Value, Error> {
    value.serialize(ValueSerializer)
}

fn key_of(value: Value) -> Result<Key, Error> {
    match value {
        Value::String(s) => Ok(Key::String(s)),
        Value::Number(n) => Ok(Key::Number(n)),
        Value::Object(o) => Ok(Key::Object(o)),
        Value::Bool(b) => Ok(Key::String(b.to_string())),
        other => Err(Error::Serialize(format!("unsupported map key {other:?}"))),
    }
}

fn float(f: f64) -> Value {
    Number::from_f64(f).map_or(Value::Null, Value::Number)
}

fn tagged(variant: &'static str, value: Value) -> Value {
    let mut obj = Object::new();
    obj.push(Key::String(variant.to_owned()), value);
    Value::Object(obj)
}

/// The serializer behind [`to_value`].
#[derive(Debug, Clone, Copy)]
pub struct ValueSerializer;

impl ser::Serializer for ValueSerializer {
    type Ok = Value;
    type Error = Error;
    type SerializeSeq = SeqBuilder;
    type SerializeTuple = SeqBuilder;
    type SerializeTupleStruct = SeqBuilder;
    type SerializeTupleVariant = SeqBuilder;
    type SerializeMap = MapBuilder;
    type SerializeStruct = MapBuilder;
    type SerializeStructVariant = MapBuilder;

    fn serialize_bool(self, v: bool) -> Result<Value, Error> {
        Ok(Value::Bool(v))
    }
    fn serialize_i8(self, v: i8) -> Result<Value, Error> {
        self.serialize_i64(v.into())
    }
    fn serialize_i16(self, v: i16) -> Result<Value, Error> {
        self.serialize_i64(v.into())
    }
    fn serialize_i32(self, v: i32) -> Result<Value, Error> {
        self.serialize_i64(v.into())
    }
    fn serialize_i64(self, v: i64) -> Result<Value, Error> {
        Ok(Value::Number(v.into()))
    }
    fn serialize_u8(self, v: u8) -> Result<Value, Error> {
        self.serialize_u64(v.into())
    }
    fn serialize_u16(self, v: u16) -> Result<Value, Error> {
        self.serialize_u64(v.into())
    }
    fn serialize_u32(self, v: u32) -> Result<Value, Error> {
        self.serialize_u64(v.into())
    }
    fn serialize_u64(self, v: u64) -> Result<Value, Error> {
        Ok(Value::Number(v.into()))
    }
    fn serialize_f32(self, v: f32) -> Result<Value, Error> {
        Ok(float(v.into()))
    }
    fn serialize_f64(self, v: f64) -> Result<Value, Error> {
        Ok(float(v))
    }
    fn serialize_char(self, v: char) -> Result<Value, Error> {
        Ok(Value::String(v.to_string()))
    }
    fn serialize_str(self, v: &str) -> Result<Value, Error> {
        Ok(Value::String(v.to_owned()))
    }
    fn serialize_bytes(self, v: &[u8]) -> Result<Value, Error> {
        Ok(Value::Array(
            v.iter().map(|b| Value::Number((*b).into())).collect(),
        ))
    }
    fn serialize_none(self) -> Result<Value, Error> {
        Ok(Value::Null)
    }
    fn serialize_some<T: Serialize + ?Sized>(self, value: &T) -> Result<Value, Error> {
        value.serialize(self)
    }
    fn serialize_unit(self) -> Result<Value, Error> {
        Ok(Value::Null)
    }
    fn serialize_unit_struct(self, _name: &'static str) -> Result<Value, Error> {
        Ok(Value::Null)
    }
    fn serialize_unit_variant(
        self,
        _name: &'static str,
        _index: u32,
        variant: &'static str,
    ) -> Result<Value, Error> {
        Ok(Value::String(variant.to_owned()))
    }
    fn serialize_newtype_struct<T: Serialize + ?Sized>(
        self,
        _name: &'static str,
        value: &T,
    ) -> Result<Value, Error> {
        value.serialize(self)
    }
    fn serialize_newtype_variant<T: Serialize + ?Sized>(
        self,
        _name: &'static str,
        _index: u32,
        variant: &'static str,
        value: &T,
    ) -> Result<Value, Error> {
        Ok(tagged(variant, value.serialize(self)?))
    }
    fn serialize_seq(self, len: Option<usize>) -> Result<SeqBuilder, Error> {
        Ok(SeqBuilder {
            items: Vec::with_capacity(len.unwrap_or(0)),
            variant: None,
        })
    }
    fn serialize_tuple(self, len: usize) -> Result<SeqBuilder, Error> {
        self.serialize_seq(Some(len))
    }
    fn serialize_tuple_struct(self, _name: &'static str, len: usize) -> Result<SeqBuilder, Error> {
        self.serialize_seq(Some(len))
    }
    fn serialize_tuple_variant(
        self,
        _name: &'static str,
        _index: u32,
        variant: &'static str,
        len: usize,
    ) -> Result<SeqBuilder, Error> {
        Ok(SeqBuilder {
            items: Vec::with_capacity(len),
            variant: Some(variant),
        })
    }
    fn serialize_map(self, _len: Option<usize>) -> Result<MapBuilder, Error> {
        Ok(MapBuilder::default())
    }
    fn serialize_struct(self, _name: &'static str, _len: usize) -> Result<MapBuilder, Error> {
        Ok(MapBuilder::default())
    }
    fn serialize_struct_variant(
        self,
        _name: &'static str,
        _index: u32,
        variant: &'static str,
        _len: usize,
    ) -> Result<MapBuilder, Error> {
        Ok(MapBuilder {
            variant: Some(variant),
            ..MapBuilder::default()
        })
    }
}

/// Collects the elements of a sequence, tuple or tuple variant.
#[derive(Debug)]
pub struct SeqBuilder {
    items: Vec<Value>,
    variant: Option<&'static str>,
}

impl SeqBuilder {
    fn push<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), Error> {
        self.items.push(value.serialize(ValueSerializer)?);
        Ok(())
    }

    fn finish(self) -> Value {
        let array = Value::Array(self.items);
        match self.variant {
            Some(variant) => tagged(variant, array),
            None => array,
        }
    }
}

macro_rules! seq_impl {
    ($trait:ident, $method:ident) => {
        impl ser::$trait for SeqBuilder {
            type Ok = Value;
            type Error = Error;
            fn $method<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), Error> {
                self.push(value)
            }
            fn end(self) -> Result<Value, Error> {
                Ok(self.finish())
            }
        }
    };
}

seq_impl!(SerializeSeq, serialize_element);
seq_impl!(SerializeTuple, serialize_element);
seq_impl!(SerializeTupleStruct, serialize_field);
seq_impl!(SerializeTupleVariant, serialize_field);

/// Collects the entries of a map, struct or struct variant.
#[derive(Debug, Default)]
pub struct MapBuilder {
    object: Object,
    pending_key: Option<Key>,
    variant: Option<&'static str>,
}

impl MapBuilder {
    fn field<T: Serialize + ?Sized>(&mut self, name: &'static str, value: &T) -> Result<(), Error> {
        self.object.push(
            Key::String(name.to_owned()),
            value.serialize(ValueSerializer)?,
        );
        Ok(())
    }

    fn finish(self) -> Value {
        let object = Value::Object(self.object);
        match self.variant {
            Some(variant) => tagged(variant, object),
            None => object,
        }
    }
}

impl ser::SerializeMap for MapBuilder {
    type Ok = Value;
    type Error = Error;
    fn serialize_key<T: Serialize + ?Sized>(&mut self, key: &T) -> Result<(), Error> {
        self.pending_key = Some(key_of(key.serialize(ValueSerializer)?)?);
        Ok(())
    }
    fn serialize_value<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), Error> {
        let key = self
            .pending_key
            .take()
            .ok_or_else(|| Error::Serialize("map value without a key".into()))?;
        self.object.push(key, value.serialize(ValueSerializer)?);
        Ok(())
    }
    fn end(self) -> Result<Value, Error> {
        Ok(self.finish())
    }
}

impl ser::SerializeStruct for MapBuilder {
    type Ok = Value;
    type Error = Error;
    fn serialize_field<T: Serialize + ?Sized>(
        &mut self,
        key: &'static str,
        value: &T,
    ) -> Result<(), Error> {
        self.field(key, value)
    }
    fn end(self) -> Result<Value, Error> {
        Ok(self.finish())
    }
}

impl ser::SerializeStructVariant for MapBuilder {
    type Ok = Value;
    type Error = Error;
    fn serialize_field<T: Serialize + ?Sized>(
        &mut self,
        key: &'static str,
        value: &T,
    ) -> Result<(), Error> {
        self.field(key, value)
    }
    fn end(self) -> Result<Value, Error> {
        Ok(self.finish())
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use serde::Serialize;

    use super::*;
    use crate::write::write_compact;

    #[derive(Serialize, PartialEq, Eq, PartialOrd, Ord)]
    #[serde(rename_all = "camelCase")]
    struct Mq {
        broker_name: String,
        queue_id: i32,
        topic: String,
    }

    #[derive(Serialize)]
    enum Shape {
        Unit,
        Pair(i32, i32),
        Named { x: i32 },
        Wrapped(bool),
    }

    #[test]
    fn integer_keys_are_numeric() {
        let map: BTreeMap<i32, i64> = [(0, 123), (1, 456)].into();
        assert_eq!(write_compact(&to_value(&map).unwrap()), "{0:123,1:456}");
    }

    #[test]
    fn struct_keys_are_objects() {
        let key = Mq {
            broker_name: "b".into(),
            queue_id: 0,
            topic: "T".into(),
        };
        let map: BTreeMap<Mq, u8> = [(key, 5)].into();
        assert_eq!(
            write_compact(&to_value(&map).unwrap()),
            r#"{{"brokerName":"b","queueId":0,"topic":"T"}:5}"#
        );
    }

    #[test]
    fn enums_options_and_floats() {
        let v = (
            Shape::Unit,
            Shape::Pair(1, 2),
            Shape::Named { x: 3 },
            Shape::Wrapped(true),
        );
        assert_eq!(
            write_compact(&to_value(&v).unwrap()),
            r#"["Unit",{"Pair":[1,2]},{"Named":{"x":3}},{"Wrapped":true}]"#
        );
        let w = (None::<i32>, Some(0.5f64), f64::NAN, 'c');
        assert_eq!(
            write_compact(&to_value(&w).unwrap()),
            r#"[null,0.5,null,"c"]"#
        );
    }

    #[test]
    fn array_keys_are_rejected() {
        let map: BTreeMap<Vec<i32>, i32> = [(vec![1], 1)].into();
        assert!(
            matches!(to_value(&map), Err(Error::Serialize(m)) if m.contains("unsupported map key"))
        );
    }
}
