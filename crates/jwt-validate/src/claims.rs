//! The registered claims, read in one pass without copying unescaped strings.
//!
//! Each claim is a [`Field`]: absent, valid, or present with the wrong JSON type. A wrong
//! type never fails the parse itself, so the validator can say which claim was wrong;
//! a repeated registered claim does fail it (serde's duplicate-field check), since two
//! values for one claim are ambiguous (attack catalogue AC-015).

use core::fmt;
use std::borrow::Cow;

use serde::Deserialize;
use serde::de::{self, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};

/// Most values read from an array claim (`aud`, `scp`); more makes the claim invalid.
pub(crate) const MAX_LIST: usize = 64;

/// One claim.
#[derive(Debug, Default)]
pub(crate) enum Field<T> {
    #[default]
    Absent,
    Valid(T),
    Invalid,
}

impl<T> Field<T> {
    /// `Ok(None)` when absent, the value when valid, `Err(())` when of the wrong type.
    pub(crate) fn get(self) -> Result<Option<T>, ()> {
        match self {
            Field::Absent => Ok(None),
            Field::Valid(v) => Ok(Some(v)),
            Field::Invalid => Err(()),
        }
    }

    pub(crate) fn is_present(&self) -> bool {
        !matches!(self, Field::Absent)
    }
}

/// A string, or a list of strings.
#[derive(Debug)]
pub(crate) enum OneOrMany<'a> {
    One(Cow<'a, str>),
    Many(Vec<Cow<'a, str>>),
}

/// Consumes whatever value follows and reports it as the wrong type.
fn drain_seq<'de, A: SeqAccess<'de>, T>(mut seq: A) -> Result<Field<T>, A::Error> {
    while seq.next_element::<IgnoredAny>()?.is_some() {}
    Ok(Field::Invalid)
}

fn drain_map<'de, A: MapAccess<'de>, T>(mut map: A) -> Result<Field<T>, A::Error> {
    while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
    Ok(Field::Invalid)
}

macro_rules! wrong_type_scalars {
    ($t:ty) => {
        fn visit_bool<E: de::Error>(self, _: bool) -> Result<Field<$t>, E> {
            Ok(Field::Invalid)
        }
        fn visit_unit<E: de::Error>(self) -> Result<Field<$t>, E> {
            Ok(Field::Invalid)
        }
        fn visit_none<E: de::Error>(self) -> Result<Field<$t>, E> {
            Ok(Field::Invalid)
        }
    };
}

struct StrVisitor;

impl<'de> Visitor<'de> for StrVisitor {
    type Value = Field<Cow<'de, str>>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a claim value")
    }

    fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<Self::Value, E> {
        Ok(Field::Valid(Cow::Borrowed(v)))
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
        Ok(Field::Valid(Cow::Owned(v.to_owned())))
    }
    fn visit_string<E: de::Error>(self, v: String) -> Result<Self::Value, E> {
        Ok(Field::Valid(Cow::Owned(v)))
    }
    fn visit_i64<E: de::Error>(self, _: i64) -> Result<Self::Value, E> {
        Ok(Field::Invalid)
    }
    fn visit_u64<E: de::Error>(self, _: u64) -> Result<Self::Value, E> {
        Ok(Field::Invalid)
    }
    fn visit_f64<E: de::Error>(self, _: f64) -> Result<Self::Value, E> {
        Ok(Field::Invalid)
    }
    wrong_type_scalars!(Cow<'de, str>);
    fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<Self::Value, A::Error> {
        drain_seq(seq)
    }
    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Self::Value, A::Error> {
        drain_map(map)
    }
}

impl<'de: 'a, 'a> Deserialize<'de> for Field<Cow<'a, str>> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(StrVisitor)
    }
}

struct NumVisitor;

impl<'de> Visitor<'de> for NumVisitor {
    type Value = Field<f64>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a NumericDate")
    }

    fn visit_i64<E: de::Error>(self, v: i64) -> Result<Self::Value, E> {
        Ok(Field::Valid(v as f64))
    }
    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Self::Value, E> {
        Ok(Field::Valid(v as f64))
    }
    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Self::Value, E> {
        Ok(if v.is_finite() {
            Field::Valid(v)
        } else {
            Field::Invalid
        })
    }
    fn visit_str<E: de::Error>(self, _: &str) -> Result<Self::Value, E> {
        Ok(Field::Invalid)
    }
    wrong_type_scalars!(f64);
    fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<Self::Value, A::Error> {
        drain_seq(seq)
    }
    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Self::Value, A::Error> {
        drain_map(map)
    }
}

impl<'de> Deserialize<'de> for Field<f64> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(NumVisitor)
    }
}

struct ListVisitor;

impl<'de> Visitor<'de> for ListVisitor {
    type Value = Field<OneOrMany<'de>>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a string or an array of strings")
    }

    fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<Self::Value, E> {
        Ok(Field::Valid(OneOrMany::One(Cow::Borrowed(v))))
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
        Ok(Field::Valid(OneOrMany::One(Cow::Owned(v.to_owned()))))
    }
    fn visit_i64<E: de::Error>(self, _: i64) -> Result<Self::Value, E> {
        Ok(Field::Invalid)
    }
    fn visit_u64<E: de::Error>(self, _: u64) -> Result<Self::Value, E> {
        Ok(Field::Invalid)
    }
    fn visit_f64<E: de::Error>(self, _: f64) -> Result<Self::Value, E> {
        Ok(Field::Invalid)
    }
    wrong_type_scalars!(OneOrMany<'de>);
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        let mut out = Vec::new();
        let mut valid = true;
        while let Some(item) = seq.next_element::<Field<Cow<'de, str>>>()? {
            match item {
                Field::Valid(s) if out.len() < MAX_LIST => out.push(s),
                _ => valid = false,
            }
        }
        Ok(if valid {
            Field::Valid(OneOrMany::Many(out))
        } else {
            Field::Invalid
        })
    }
    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Self::Value, A::Error> {
        drain_map(map)
    }
}

impl<'de: 'a, 'a> Deserialize<'de> for Field<OneOrMany<'a>> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(ListVisitor)
    }
}

/// The registered claims of a JWT access token (RFC 9068 §2.2) or an introspection
/// response (RFC 7662 §2.2).
#[derive(Deserialize)]
pub(crate) struct Claims<'a> {
    #[serde(default, borrow)]
    pub(crate) iss: Field<Cow<'a, str>>,
    #[serde(default, borrow)]
    pub(crate) sub: Field<Cow<'a, str>>,
    #[serde(default, borrow)]
    pub(crate) aud: Field<OneOrMany<'a>>,
    #[serde(default)]
    pub(crate) exp: Field<f64>,
    #[serde(default)]
    pub(crate) nbf: Field<f64>,
    #[serde(default)]
    pub(crate) iat: Field<f64>,
    #[serde(default, borrow)]
    pub(crate) jti: Field<Cow<'a, str>>,
    #[serde(default, borrow)]
    pub(crate) client_id: Field<Cow<'a, str>>,
    #[serde(default, borrow)]
    pub(crate) azp: Field<Cow<'a, str>>,
    #[serde(default, borrow)]
    pub(crate) appid: Field<Cow<'a, str>>,
    #[serde(default, borrow)]
    pub(crate) cid: Field<Cow<'a, str>>,
    #[serde(default, borrow)]
    pub(crate) token_use: Field<Cow<'a, str>>,
    #[serde(default, borrow)]
    pub(crate) scope: Field<Cow<'a, str>>,
    #[serde(default, borrow)]
    pub(crate) scp: Field<OneOrMany<'a>>,
    #[serde(default)]
    pub(crate) cnf: Option<IgnoredAny>,
}
