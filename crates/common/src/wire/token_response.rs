use core::fmt;

use serde::{Deserialize, Deserializer, Serialize};
use serde_json::Value;

use super::{AccessToken, RefreshToken};
use crate::{JsonLimits, parse_json};

/// The largest token response [`TokenResponse::parse`] reads: 64 KiB.
pub const MAX_TOKEN_RESPONSE_LEN: usize = 64 * 1024;

/// A successful token endpoint response (RFC 6749 §5.1, plus RFC 8693 §2.2.1's
/// `issued_token_type`): the authorization server serialises it, the client parses it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct TokenResponse {
    /// `access_token`.
    pub access_token: AccessToken,
    /// `token_type`: `Bearer` (or `DPoP`, RFC 9449 §5); compare it case-insensitively
    /// ([`TokenResponse::is_token_type`]).
    pub token_type: String,
    /// `expires_in`, seconds. Read leniently: a JSON number or a string of digits (some
    /// servers send `"3600"`); anything else is an error.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "lenient_seconds"
    )]
    pub expires_in: Option<u64>,
    /// `refresh_token`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub refresh_token: Option<RefreshToken>,
    /// `scope`: the granted scope, when it differs from the request (RFC 6749 §5.1).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scope: Option<String>,
    /// `issued_token_type` (RFC 8693 §2.2.1), for token exchange.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub issued_token_type: Option<String>,
}

/// Why a token response body was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum TokenResponseError {
    /// Larger than [`MAX_TOKEN_RESPONSE_LEN`], too deep, not JSON, a member of the wrong
    /// type, or a required member missing.
    Malformed,
    /// `access_token` or `token_type` is empty.
    Empty,
}

impl fmt::Display for TokenResponseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            TokenResponseError::Malformed => "the token response is not a valid RFC 6749 §5.1 body",
            TokenResponseError::Empty => {
                "the token response has an empty access_token or token_type"
            }
        })
    }
}

impl std::error::Error for TokenResponseError {}

impl TokenResponse {
    /// A `Bearer` token response.
    pub fn bearer(access_token: AccessToken, expires_in: Option<u64>) -> Self {
        TokenResponse {
            access_token,
            token_type: "Bearer".to_owned(),
            expires_in,
            refresh_token: None,
            scope: None,
            issued_token_type: None,
        }
    }

    /// With a refresh token.
    #[must_use]
    pub fn with_refresh_token(mut self, refresh_token: RefreshToken) -> Self {
        self.refresh_token = Some(refresh_token);
        self
    }

    /// With the granted scope.
    #[must_use]
    pub fn with_scope(mut self, scope: impl Into<String>) -> Self {
        self.scope = Some(scope.into());
        self
    }

    /// With another `token_type` (`DPoP` for a bound token).
    #[must_use]
    pub fn with_token_type(mut self, token_type: impl Into<String>) -> Self {
        self.token_type = token_type.into();
        self
    }

    /// With `issued_token_type` (RFC 8693).
    #[must_use]
    pub fn with_issued_token_type(mut self, token_type: impl Into<String>) -> Self {
        self.issued_token_type = Some(token_type.into());
        self
    }

    /// Whether `token_type` is `expected`, compared case-insensitively (RFC 6749 §5.1).
    pub fn is_token_type(&self, expected: &str) -> bool {
        self.token_type.eq_ignore_ascii_case(expected)
    }

    /// Reads a success body: at most [`MAX_TOKEN_RESPONSE_LEN`] bytes, nesting depth 16,
    /// `access_token` and `token_type` present and not empty. Unknown members are
    /// ignored (RFC 6749 §5.1).
    ///
    /// # Errors
    ///
    /// [`TokenResponseError`]; it never carries the body (which holds tokens).
    pub fn parse(body: &[u8]) -> Result<Self, TokenResponseError> {
        let limits = JsonLimits::default()
            .with_max_bytes(MAX_TOKEN_RESPONSE_LEN)
            .with_max_depth(16);
        let r: TokenResponse =
            parse_json(body, &limits).map_err(|_| TokenResponseError::Malformed)?;
        if r.access_token.is_empty() || r.token_type.is_empty() {
            return Err(TokenResponseError::Empty);
        }
        Ok(r)
    }

    /// The JSON body, for the authorization server.
    pub fn to_json(&self) -> Vec<u8> {
        // A struct of strings and numbers always serialises.
        serde_json::to_vec(self).unwrap_or_default()
    }
}

fn lenient_seconds<'de, D: Deserializer<'de>>(d: D) -> Result<Option<u64>, D::Error> {
    use serde::de::Error as _;
    match Option::<Value>::deserialize(d)? {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Number(n)) => n
            .as_u64()
            .map(Some)
            .ok_or_else(|| D::Error::custom("expires_in is not a non-negative integer")),
        Some(Value::String(s)) if !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()) => s
            .parse()
            .map(Some)
            .map_err(|_| D::Error::custom("expires_in is out of range")),
        Some(_) => Err(D::Error::custom("expires_in is not a number")),
    }
}
