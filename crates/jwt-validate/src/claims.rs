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
#[derive(Default)]
pub(crate) struct Claims<'a> {
    pub(crate) iss: Field<Cow<'a, str>>,
    pub(crate) sub: Field<Cow<'a, str>>,
    pub(crate) aud: Field<OneOrMany<'a>>,
    pub(crate) exp: Field<f64>,
    pub(crate) nbf: Field<f64>,
    pub(crate) iat: Field<f64>,
    pub(crate) jti: Field<Cow<'a, str>>,
    pub(crate) client_id: Field<Cow<'a, str>>,
    pub(crate) azp: Field<Cow<'a, str>>,
    pub(crate) appid: Field<Cow<'a, str>>,
    pub(crate) cid: Field<Cow<'a, str>>,
    pub(crate) token_use: Field<Cow<'a, str>>,
    pub(crate) scope: Field<Cow<'a, str>>,
    pub(crate) scp: Field<OneOrMany<'a>>,
    /// `cnf`; `null` counts as absent.
    pub(crate) cnf: Option<IgnoredAny>,
}

impl<'a> Claims<'a> {
    /// Reads the claims of the JSON object `json` into `self` (which starts out
    /// default), in one pass and in place. Unknown members are skipped; a registered
    /// claim given twice, in any spelling (`"iss"`, `"\u0069ss"`), fails.
    pub(crate) fn read(&mut self, json: &'a str) -> Result<(), serde_json::Error> {
        let mut de = serde_json::Deserializer::from_str(json);
        de::Deserializer::deserialize_map(&mut de, ClaimsVisitor(self))?;
        de.end()
    }
}

/// The registered claim names (the key of a member, after unescaping).
#[derive(Clone, Copy)]
enum Name {
    Iss,
    Sub,
    Aud,
    Exp,
    Nbf,
    Iat,
    Jti,
    ClientId,
    Azp,
    Appid,
    Cid,
    TokenUse,
    Scope,
    Scp,
    Cnf,
    Other,
}

impl Name {
    fn of(key: &str) -> Name {
        match key {
            "iss" => Name::Iss,
            "sub" => Name::Sub,
            "aud" => Name::Aud,
            "exp" => Name::Exp,
            "nbf" => Name::Nbf,
            "iat" => Name::Iat,
            "jti" => Name::Jti,
            "client_id" => Name::ClientId,
            "azp" => Name::Azp,
            "appid" => Name::Appid,
            "cid" => Name::Cid,
            "token_use" => Name::TokenUse,
            "scope" => Name::Scope,
            "scp" => Name::Scp,
            "cnf" => Name::Cnf,
            _ => Name::Other,
        }
    }

    fn as_str(self) -> &'static str {
        match self {
            Name::Iss => "iss",
            Name::Sub => "sub",
            Name::Aud => "aud",
            Name::Exp => "exp",
            Name::Nbf => "nbf",
            Name::Iat => "iat",
            Name::Jti => "jti",
            Name::ClientId => "client_id",
            Name::Azp => "azp",
            Name::Appid => "appid",
            Name::Cid => "cid",
            Name::TokenUse => "token_use",
            Name::Scope => "scope",
            Name::Scp => "scp",
            Name::Cnf => "cnf",
            Name::Other => "",
        }
    }
}

struct NameVisitor;

impl Visitor<'_> for NameVisitor {
    type Value = Name;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a claim name")
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<Name, E> {
        Ok(Name::of(v))
    }
}

impl<'de> Deserialize<'de> for Name {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_identifier(NameVisitor)
    }
}

struct ClaimsVisitor<'c, 'a>(&'c mut Claims<'a>);

impl<'de: 'a, 'a> Visitor<'de> for ClaimsVisitor<'_, 'a> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a claims set")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        let c = self.0;
        // One bit per registered claim already read.
        let mut seen = 0u32;
        while let Some(name) = map.next_key::<Name>()? {
            if !matches!(name, Name::Other) {
                let bit = 1u32 << (name as u32);
                if seen & bit != 0 {
                    return Err(de::Error::duplicate_field(name.as_str()));
                }
                seen |= bit;
            }
            match name {
                Name::Iss => c.iss = map.next_value()?,
                Name::Sub => c.sub = map.next_value()?,
                Name::Aud => c.aud = map.next_value()?,
                Name::Exp => c.exp = map.next_value()?,
                Name::Nbf => c.nbf = map.next_value()?,
                Name::Iat => c.iat = map.next_value()?,
                Name::Jti => c.jti = map.next_value()?,
                Name::ClientId => c.client_id = map.next_value()?,
                Name::Azp => c.azp = map.next_value()?,
                Name::Appid => c.appid = map.next_value()?,
                Name::Cid => c.cid = map.next_value()?,
                Name::TokenUse => c.token_use = map.next_value()?,
                Name::Scope => c.scope = map.next_value()?,
                Name::Scp => c.scp = map.next_value()?,
                Name::Cnf => c.cnf = map.next_value()?,
                Name::Other => {
                    map.next_value::<IgnoredAny>()?;
                }
            }
        }
        Ok(())
    }
}
