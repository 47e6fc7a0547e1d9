//! The audience check: does a token's `aud` name this resource server? (MCP-RS-2,
//! RFC 8707 §2, RFC 9068 §4.)

use core::fmt;

use serde::de::{self, Deserialize, Deserializer, SeqAccess, Visitor};

use crate::ResourceUri;

/// Most `aud` array entries read; a token naming more audiences than this is refused
/// rather than scanned.
pub const MAX_AUDIENCE_VALUES: usize = 64;

/// A JWT or introspection `aud` claim: one string or an array of strings (RFC 7519 §4.1.3).
///
/// Deserialising anything else (a number, an object, an array holding a non-string, more
/// than [`MAX_AUDIENCE_VALUES`] entries) is an error, so a malformed claim cannot be
/// mistaken for an absent one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Audience {
    /// `"aud": "https://mcp.example.com"`
    One(String),
    /// `"aud": ["https://mcp.example.com", "api://other"]`
    Many(Vec<String>),
}

impl Audience {
    /// The audience values, in claim order.
    pub fn iter(&self) -> impl Iterator<Item = &str> {
        let (one, many): (Option<&String>, &[String]) = match self {
            Audience::One(s) => (Some(s), &[]),
            Audience::Many(v) => (None, v.as_slice()),
        };
        one.into_iter().chain(many).map(String::as_str)
    }
}

impl<'de> Deserialize<'de> for Audience {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct AudienceVisitor;

        impl<'de> Visitor<'de> for AudienceVisitor {
            type Value = Audience;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a string or an array of strings")
            }

            fn visit_str<E: de::Error>(self, v: &str) -> Result<Audience, E> {
                Ok(Audience::One(v.to_owned()))
            }

            fn visit_string<E: de::Error>(self, v: String) -> Result<Audience, E> {
                Ok(Audience::One(v))
            }

            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Audience, A::Error> {
                let mut values = Vec::new();
                while let Some(v) = seq.next_element::<String>()? {
                    if values.len() == MAX_AUDIENCE_VALUES {
                        return Err(de::Error::invalid_length(
                            MAX_AUDIENCE_VALUES + 1,
                            &"at most 64 audience values",
                        ));
                    }
                    values.push(v);
                }
                Ok(Audience::Many(values))
            }
        }

        deserializer.deserialize_any(AudienceVisitor)
    }
}

/// Why a token's audience does not name this server. Both are `invalid_token` (401) on
/// the wire.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum AudienceError {
    /// The token has no `aud` claim. A token that names no audience could have been
    /// issued for any server, so it is refused (MCP-RS-2).
    Missing,
    /// None of the token's audience values is an accepted resource.
    Mismatch {
        /// How many audience values the token presented.
        presented: usize,
    },
}

impl AudienceError {
    /// The RFC 6750 error code: `invalid_token`.
    pub fn oauth_error_code(&self) -> &'static str {
        "invalid_token"
    }
}

impl fmt::Display for AudienceError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            AudienceError::Missing => f.write_str("token has no aud claim"),
            AudienceError::Mismatch { presented } => write!(
                f,
                "none of the token's {presented} audience value(s) names this resource server"
            ),
        }
    }
}

impl std::error::Error for AudienceError {}

impl ResourceUri {
    /// Checks a token's `aud` against this resource (MCP-RS-2). `None` (no claim) fails.
    ///
    /// ```
    /// use mcp_oauth_resource_indicators::{Audience, AudienceError, ResourceUri};
    /// let me = ResourceUri::parse("https://mcp.example.com/mcp")?;
    /// let aud = Audience::Many(vec!["api://x".into(), "https://mcp.example.com/mcp".into()]);
    /// assert_eq!(me.check_audience(Some(&aud)), Ok(()));
    /// assert_eq!(me.check_audience(None), Err(AudienceError::Missing));
    /// # Ok::<(), mcp_oauth_resource_indicators::ResourceError>(())
    /// ```
    pub fn check_audience(&self, aud: Option<&Audience>) -> Result<(), AudienceError> {
        check_audience(aud, core::slice::from_ref(self))
    }
}

/// Checks a token's `aud` against a set of accepted resources: at least one audience value
/// must name at least one of them ([`ResourceUri::matches_audience_value`]). A server
/// reachable under several URLs, or an authorization server that maps resources to an
/// abstract identifier, is served by listing each accepted value.
pub fn check_audience(
    aud: Option<&Audience>,
    accepted: &[ResourceUri],
) -> Result<(), AudienceError> {
    let aud = aud.ok_or(AudienceError::Missing)?;
    let mut presented = 0;
    for value in aud.iter() {
        presented += 1;
        if accepted.iter().any(|r| r.matches_audience_value(value)) {
            return Ok(());
        }
    }
    Err(AudienceError::Mismatch { presented })
}
