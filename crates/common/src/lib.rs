#![doc = include_str!("../README.md")]
#![forbid(unsafe_code)]

use core::fmt;

use serde::de::DeserializeOwned;

mod net;
mod source;
mod time;
pub mod wire;

pub use net::is_forbidden_address;
pub use source::source_key;
pub use time::UnixTime;
pub use wire::{
    AccessToken, BearerError, ClientSecret, ErrorCode, ErrorResponse, RefreshToken, TokenResponse,
    TokenResponseError, ct_eq,
};
pub use wire::{MAX_ERROR_RESPONSE_LEN, MAX_TOKEN_RESPONSE_LEN};

/// Default [`JsonLimits::max_bytes`]: 1 MiB.
pub const DEFAULT_MAX_BYTES: usize = 1024 * 1024;
/// Default [`JsonLimits::max_depth`].
pub const DEFAULT_MAX_DEPTH: usize = 32;

/// Bounds on an untrusted JSON document.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct JsonLimits {
    /// Largest document accepted, in bytes.
    pub max_bytes: usize,
    /// Deepest nesting of arrays and objects accepted (the top-level value is depth 1).
    pub max_depth: usize,
}

impl Default for JsonLimits {
    fn default() -> Self {
        JsonLimits {
            max_bytes: DEFAULT_MAX_BYTES,
            max_depth: DEFAULT_MAX_DEPTH,
        }
    }
}

impl JsonLimits {
    /// These limits with another size cap.
    pub fn with_max_bytes(mut self, max_bytes: usize) -> Self {
        self.max_bytes = max_bytes;
        self
    }

    /// These limits with another depth cap.
    pub fn with_max_depth(mut self, max_depth: usize) -> Self {
        self.max_depth = max_depth;
        self
    }
}

/// What serde_json objected to, without its message (which can quote the document).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum JsonErrorKind {
    /// Not JSON at all.
    Syntax,
    /// JSON, but a value has the wrong type or a required field is missing.
    Data,
    /// The document ended early.
    Eof,
}

/// Why a document was not parsed.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum JsonError {
    /// Larger than [`JsonLimits::max_bytes`]; nothing was parsed.
    TooLarge {
        /// The document's length.
        len: usize,
        /// The limit.
        max: usize,
    },
    /// Nested deeper than [`JsonLimits::max_depth`]; nothing was parsed.
    TooDeep {
        /// The limit.
        max: usize,
    },
    /// serde_json refused it.
    Invalid {
        /// Syntax or data.
        kind: JsonErrorKind,
        /// 1-based line of the problem (0 when unknown).
        line: usize,
        /// 1-based column of the problem (0 when unknown).
        column: usize,
    },
}

impl fmt::Display for JsonError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            JsonError::TooLarge { len, max } => {
                write!(f, "JSON document is {len} bytes; the limit is {max}")
            }
            JsonError::TooDeep { max } => {
                write!(f, "JSON document nests deeper than {max} levels")
            }
            JsonError::Invalid { kind, line, column } => {
                let what = match kind {
                    JsonErrorKind::Syntax => "not valid JSON",
                    JsonErrorKind::Data => "a value of the wrong type or a missing field",
                    JsonErrorKind::Eof => "the document ends early",
                };
                write!(f, "JSON document: {what} at line {line}, column {column}")
            }
        }
    }
}

impl std::error::Error for JsonError {}

impl From<serde_json::Error> for JsonError {
    fn from(e: serde_json::Error) -> Self {
        use serde_json::error::Category;
        let kind = match e.classify() {
            Category::Data => JsonErrorKind::Data,
            Category::Eof => JsonErrorKind::Eof,
            Category::Syntax | Category::Io => JsonErrorKind::Syntax,
        };
        JsonError::Invalid {
            kind,
            line: e.line(),
            column: e.column(),
        }
    }
}

/// Checks size and nesting depth without parsing or allocating.
///
/// Brackets inside strings do not count; escapes inside strings are skipped. Malformed
/// JSON that passes this check is left for the parser to refuse.
pub fn check_limits(bytes: &[u8], limits: &JsonLimits) -> Result<(), JsonError> {
    if bytes.len() > limits.max_bytes {
        return Err(JsonError::TooLarge {
            len: bytes.len(),
            max: limits.max_bytes,
        });
    }
    let mut depth = 0usize;
    let mut in_string = false;
    let mut escaped = false;
    for &b in bytes {
        if in_string {
            if escaped {
                escaped = false;
            } else if b == b'\\' {
                escaped = true;
            } else if b == b'"' {
                in_string = false;
            }
            continue;
        }
        match b {
            b'"' => in_string = true,
            b'[' | b'{' => {
                depth += 1;
                if depth > limits.max_depth {
                    return Err(JsonError::TooDeep {
                        max: limits.max_depth,
                    });
                }
            }
            b']' | b'}' => depth = depth.saturating_sub(1),
            _ => {}
        }
    }
    Ok(())
}

/// Checks the limits, then deserialises.
pub fn parse_json<T: DeserializeOwned>(bytes: &[u8], limits: &JsonLimits) -> Result<T, JsonError> {
    check_limits(bytes, limits)?;
    Ok(serde_json::from_slice(bytes)?)
}

/// The nesting depth of an already-parsed value (a scalar is depth 0, `[]` depth 1).
/// Useful when a document arrives as a `serde_json::Value` rather than as bytes.
pub fn value_depth(value: &serde_json::Value) -> usize {
    // Iterative, so a deep value cannot overflow the stack.
    let mut max = 0;
    let mut stack = vec![(value, 0usize)];
    while let Some((v, d)) = stack.pop() {
        match v {
            serde_json::Value::Array(a) => {
                max = max.max(d + 1);
                stack.extend(a.iter().map(|c| (c, d + 1)));
            }
            serde_json::Value::Object(o) => {
                max = max.max(d + 1);
                stack.extend(o.values().map(|c| (c, d + 1)));
            }
            _ => {}
        }
    }
    max
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;
    use proptest::prelude::*;
    use serde_json::Value;

    #[test]
    fn size_limit() {
        let limits = JsonLimits::default().with_max_bytes(10);
        assert_eq!(
            parse_json::<Value>(b"[1,2,3,4,5,6]", &limits),
            Err(JsonError::TooLarge { len: 13, max: 10 })
        );
        assert!(parse_json::<Value>(b"[1,2,3,4]", &limits).is_ok());
    }

    #[test]
    fn depth_limit_ignores_strings() {
        let limits = JsonLimits::default().with_max_depth(2);
        assert!(parse_json::<Value>(br#"{"a": ["[[[[{{{{"]}"#, &limits).is_ok());
        assert!(parse_json::<Value>(br#"{"a": "\"[[[["}"#, &limits).is_ok());
        assert_eq!(
            parse_json::<Value>(br#"{"a": [[1]]}"#, &limits),
            Err(JsonError::TooDeep { max: 2 })
        );
    }

    #[test]
    fn serde_errors_are_typed_and_quote_nothing() {
        #[derive(serde::Deserialize, Debug)]
        struct Doc {
            #[allow(dead_code)]
            n: u32,
        }
        let e = parse_json::<Doc>(br#"{"n": "secret-value"}"#, &JsonLimits::default()).unwrap_err();
        assert!(matches!(
            e,
            JsonError::Invalid {
                kind: JsonErrorKind::Data,
                line: 1,
                ..
            }
        ));
        assert!(!e.to_string().contains("secret-value"));
        let e = parse_json::<Value>(b"{", &JsonLimits::default()).unwrap_err();
        assert!(matches!(
            e,
            JsonError::Invalid {
                kind: JsonErrorKind::Eof,
                ..
            }
        ));
        let e = parse_json::<Value>(b"nope", &JsonLimits::default()).unwrap_err();
        assert!(matches!(
            e,
            JsonError::Invalid {
                kind: JsonErrorKind::Syntax,
                ..
            }
        ));
    }

    #[test]
    fn value_depth_counts() {
        assert_eq!(value_depth(&serde_json::json!(1)), 0);
        assert_eq!(value_depth(&serde_json::json!([])), 1);
        assert_eq!(value_depth(&serde_json::json!({"a": [1, {"b": []}]})), 4);
    }

    proptest! {
        /// The byte scan agrees with the parsed value's depth on every valid document.
        #[test]
        fn scan_agrees_with_value_depth(v in arb_json()) {
            let bytes = serde_json::to_vec(&v).unwrap();
            let depth = value_depth(&v);
            let at = JsonLimits::default().with_max_depth(depth);
            prop_assert!(check_limits(&bytes, &at).is_ok());
            if depth > 0 {
                let below = JsonLimits::default().with_max_depth(depth - 1);
                prop_assert_eq!(check_limits(&bytes, &below), Err(JsonError::TooDeep { max: depth - 1 }));
            }
        }

        #[test]
        fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..256)) {
            let _ = parse_json::<Value>(&bytes, &JsonLimits::default());
        }
    }

    fn arb_json() -> impl Strategy<Value = Value> {
        let leaf = prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::Bool),
            any::<i32>().prop_map(Value::from),
            "[\\[\\]{}\"\\\\a-z ]{0,8}".prop_map(Value::String),
        ];
        leaf.prop_recursive(6, 64, 4, |inner| {
            prop_oneof![
                proptest::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
                proptest::collection::btree_map("[a-z\\[{\"]{0,3}", inner, 0..4)
                    .prop_map(|m| Value::Object(m.into_iter().collect())),
            ]
        })
    }
}
