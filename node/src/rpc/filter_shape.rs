//! A log filter's size read off the request text before anything is decoded:
//! its addresses and each topic position's alternatives are counted with
//! `serde::de::IgnoredAny`, allocating nothing per element, so a filter past
//! `--rpc.logquerylimit` (100,000 addresses are 4.6 MB of JSON) is refused before
//! the arguments become values (which cost about ten times the text).

use std::fmt;

use serde::de::{self, Deserialize, DeserializeSeed, Deserializer, IgnoredAny, SeqAccess, Visitor};

use crate::rpc::chain::{
    MAX_TOPIC_POSITIONS, too_many_addresses, too_many_alternatives, too_many_positions,
};
use crate::rpc::error::RpcResult;

/// How many values a JSON value holds: an array's length, 1 for a scalar, 0 for null.
#[derive(Default)]
struct Count(usize);

struct CountVisitor;

impl<'de> Visitor<'de> for CountVisitor {
    type Value = Count;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("any JSON value")
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Count, A::Error> {
        let mut n = 0;
        while seq.next_element::<IgnoredAny>()?.is_some() {
            n += 1;
        }
        Ok(Count(n))
    }
    fn visit_map<A: de::MapAccess<'de>>(self, mut map: A) -> Result<Count, A::Error> {
        while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
        Ok(Count(1))
    }
    fn visit_str<E>(self, _: &str) -> Result<Count, E> {
        Ok(Count(1))
    }
    fn visit_bool<E>(self, _: bool) -> Result<Count, E> {
        Ok(Count(1))
    }
    fn visit_u64<E>(self, _: u64) -> Result<Count, E> {
        Ok(Count(1))
    }
    fn visit_i64<E>(self, _: i64) -> Result<Count, E> {
        Ok(Count(1))
    }
    fn visit_f64<E>(self, _: f64) -> Result<Count, E> {
        Ok(Count(1))
    }
    fn visit_unit<E>(self) -> Result<Count, E> {
        Ok(Count(0))
    }
}

impl<'de> Deserialize<'de> for Count {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(CountVisitor)
    }
}

/// Topic positions: how many, and the most alternatives at one (with where).
#[derive(Default)]
struct Topics {
    positions: usize,
    widest: Option<(usize, usize)>,
}

impl<'de> Deserialize<'de> for Topics {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Topics;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a list of topics")
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Topics, A::Error> {
                let mut t = Topics::default();
                while let Some(Count(n)) = seq.next_element::<Count>()? {
                    if t.widest.is_none_or(|(_, w)| n > w) {
                        t.widest = Some((t.positions, n));
                    }
                    t.positions += 1;
                }
                Ok(t)
            }
            fn visit_unit<E>(self) -> Result<Topics, E> {
                Ok(Topics::default())
            }
        }
        d.deserialize_any(V)
    }
}

/// The parts of a filter object that are counted (other keys are skipped).
#[derive(Default, serde::Deserialize)]
struct Shape {
    #[serde(default)]
    address: Count,
    #[serde(default)]
    topics: Topics,
}

/// Reads argument `index` of a params array as a [`Shape`], skipping the rest.
struct ShapeAt(usize);

impl<'de> DeserializeSeed<'de> for ShapeAt {
    type Value = Option<Shape>;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_seq(self)
    }
}

impl<'de> Visitor<'de> for ShapeAt {
    type Value = Option<Shape>;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a params array")
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        let mut shape = None;
        let mut i = 0;
        loop {
            if i == self.0 {
                match seq.next_element::<Shape>()? {
                    Some(s) => shape = Some(s),
                    None => break,
                }
            } else if seq.next_element::<IgnoredAny>()?.is_none() {
                break;
            }
            i += 1;
        }
        Ok(shape)
    }
}

/// Refuses, from the request text `params`, a filter object at argument
/// `index` with more than `limit` addresses or alternatives at one topic
/// position, or more than four positions. Text that does not read as a params
/// array with a filter object there passes: decoding then says what is wrong.
pub fn check_filter_text(params: Option<&str>, index: usize, limit: usize) -> RpcResult<()> {
    let Some(text) = params else { return Ok(()) };
    let mut de = serde_json::Deserializer::from_str(text);
    let Ok(Some(shape)) = ShapeAt(index).deserialize(&mut de) else {
        return Ok(());
    };
    if shape.topics.positions > MAX_TOPIC_POSITIONS {
        return Err(too_many_positions(shape.topics.positions));
    }
    if shape.address.0 > limit {
        return Err(too_many_addresses(shape.address.0, limit));
    }
    if let Some((i, n)) = shape.topics.widest.filter(|(_, n)| *n > limit) {
        return Err(too_many_alternatives(i, n, limit));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rpc::error::RpcError;

    fn refusal(text: &str, index: usize) -> Option<String> {
        match check_filter_text(Some(text), index, 3) {
            Ok(()) => None,
            Err(RpcError::InvalidParams(m)) => Some(m),
            Err(e) => Some(format!("unexpected {e:?}")),
        }
    }

    #[test]
    fn filters_are_measured_from_the_text() {
        let a = r#""0x0000000000000000000000000000000000000001""#;
        let four = format!("[{{\"address\":[{a},{a},{a},{a}]}}]");
        assert!(refusal(&four, 0).is_some_and(|m| m.contains("too many addresses")));
        let three = format!("[{{\"fromBlock\":\"0x0\",\"address\":[{a},{a},{a}]}}]");
        assert_eq!(refusal(&three, 0), None);
        assert_eq!(refusal(&format!("[{{\"address\":{a}}}]"), 0), None);
        // Topics: positions and alternatives per position.
        let t = r#""0x01""#;
        let wide = format!("[{{\"topics\":[null,[{t},{t},{t},{t}]]}}]");
        assert!(refusal(&wide, 0).is_some_and(|m| m.contains("topic 1")));
        let five = "[{\"topics\":[null,null,null,null,null]}]";
        assert!(refusal(five, 0).is_some_and(|m| m.contains("positions")));
        // The subscription's filter is the second argument.
        let sub = format!("[\"logs\",{{\"address\":[{a},{a},{a},{a}]}}]");
        assert!(refusal(&sub, 1).is_some());
        assert_eq!(refusal(&sub, 0), None, "the first argument is a string");
        // Text that is not a params array passes to the decoder.
        for odd in [
            "{}",
            "[1, 2]",
            "[null]",
            "[",
            "\"x\"",
            "[{\"address\": {}}]",
        ] {
            assert_eq!(refusal(odd, 0), None, "{odd}");
        }
    }
}
