//! Strict reading of a vector's `input` object.

use serde_json::{Map, Value};

use super::Unreadable;

/// A suite's declaration of one input key.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Key {
    pub(crate) name: &'static str,
    pub(crate) required: bool,
}

/// A required input key.
pub(crate) const fn req(name: &'static str) -> Key {
    Key {
        name,
        required: true,
    }
}

/// An optional input key.
pub(crate) const fn opt(name: &'static str) -> Key {
    Key {
        name,
        required: false,
    }
}

/// The `input` object of one vector, checked against the suite's keys up front.
pub(crate) struct Input<'a> {
    map: &'a Map<String, Value>,
}

impl<'a> Input<'a> {
    /// Fails on any key the suite does not declare and on any missing required key.
    pub(crate) fn new(map: &'a Map<String, Value>, keys: &[Key]) -> Result<Self, Unreadable> {
        if let Some(k) = map
            .keys()
            .find(|k| !keys.iter().any(|d| d.name == k.as_str()))
        {
            return Err(Unreadable(format!("unknown input key {k:?}")));
        }
        if let Some(k) = keys
            .iter()
            .find(|k| k.required && !map.contains_key(k.name))
        {
            return Err(Unreadable(format!("missing input key {:?}", k.name)));
        }
        Ok(Input { map })
    }

    /// A required string.
    pub(crate) fn str(&self, key: &str) -> Result<&'a str, Unreadable> {
        self.opt_str(key)?
            .ok_or_else(|| Unreadable(format!("input {key:?} is missing")))
    }

    /// An optional string; present but not a string is unreadable.
    pub(crate) fn opt_str(&self, key: &str) -> Result<Option<&'a str>, Unreadable> {
        match self.map.get(key) {
            None => Ok(None),
            Some(Value::String(s)) => Ok(Some(s)),
            Some(other) => Err(Unreadable(format!(
                "input {key:?} must be a string, not {other}"
            ))),
        }
    }

    /// A required value of any JSON type.
    pub(crate) fn value(&self, key: &str) -> Result<&'a Value, Unreadable> {
        self.map
            .get(key)
            .ok_or_else(|| Unreadable(format!("input {key:?} is missing")))
    }

    /// A required whole number.
    pub(crate) fn u64(&self, key: &str) -> Result<u64, Unreadable> {
        self.value(key)?
            .as_u64()
            .ok_or_else(|| Unreadable(format!("input {key:?} must be a whole number")))
    }

    /// A required array of strings.
    pub(crate) fn strings(&self, key: &str) -> Result<Vec<String>, Unreadable> {
        self.value(key)?
            .as_array()
            .and_then(|a| a.iter().map(|v| v.as_str().map(str::to_owned)).collect())
            .ok_or_else(|| Unreadable(format!("input {key:?} must be an array of strings")))
    }

    /// An optional value of any JSON type.
    pub(crate) fn opt_value(&self, key: &str) -> Option<&'a Value> {
        self.map.get(key)
    }
}
