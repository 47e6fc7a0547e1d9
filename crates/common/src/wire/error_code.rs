use core::fmt;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::{JsonLimits, parse_json};

/// The largest error response body [`ErrorResponse::parse`] reads: 16 KiB.
pub const MAX_ERROR_RESPONSE_LEN: usize = 16 * 1024;

/// An OAuth error code, as sent in an error response's `error` member, a redirect's
/// `error` parameter or a `WWW-Authenticate` challenge. One enum for the authorization
/// server, the client and the resource server; codes no specification here defines are
/// kept in [`ErrorCode::Other`] (RFC 6749 §8.5 lets extensions register more).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ErrorCode {
    /// `invalid_request` (RFC 6749 §4.1.2.1, §5.2; RFC 6750 §3.1).
    InvalidRequest,
    /// `invalid_client` (RFC 6749 §5.2): client authentication failed.
    InvalidClient,
    /// `invalid_grant` (RFC 6749 §5.2): a bad, expired, revoked or spent code or refresh
    /// token, or a PKCE verifier that does not match.
    InvalidGrant,
    /// `unauthorized_client` (RFC 6749 §4.1.2.1, §5.2).
    UnauthorizedClient,
    /// `unsupported_grant_type` (RFC 6749 §5.2).
    UnsupportedGrantType,
    /// `unsupported_response_type` (RFC 6749 §4.1.2.1).
    UnsupportedResponseType,
    /// `invalid_scope` (RFC 6749 §4.1.2.1, §5.2).
    InvalidScope,
    /// `access_denied` (RFC 6749 §4.1.2.1): the user or the server refused.
    AccessDenied,
    /// `server_error` (RFC 6749 §4.1.2.1).
    ServerError,
    /// `temporarily_unavailable` (RFC 6749 §4.1.2.1).
    TemporarilyUnavailable,
    /// `invalid_token` (RFC 6750 §3.1).
    InvalidToken,
    /// `insufficient_scope` (RFC 6750 §3.1).
    InsufficientScope,
    /// `unsupported_token_type` (RFC 7009 §2.2.1).
    UnsupportedTokenType,
    /// `invalid_redirect_uri` (RFC 7591 §3.2.2).
    InvalidRedirectUri,
    /// `invalid_client_metadata` (RFC 7591 §3.2.2).
    InvalidClientMetadata,
    /// `invalid_software_statement` (RFC 7591 §3.2.2).
    InvalidSoftwareStatement,
    /// `unapproved_software_statement` (RFC 7591 §3.2.2).
    UnapprovedSoftwareStatement,
    /// `invalid_target` (RFC 8707 §2): the requested resource is not one the server
    /// issues tokens for.
    InvalidTarget,
    /// `invalid_dpop_proof` (RFC 9449 §5, §7.1).
    InvalidDpopProof,
    /// `use_dpop_nonce` (RFC 9449 §8, §9).
    UseDpopNonce,
    /// `interaction_required` (OpenID Connect Core §3.1.2.6).
    InteractionRequired,
    /// `login_required` (OpenID Connect Core §3.1.2.6).
    LoginRequired,
    /// `consent_required` (OpenID Connect Core §3.1.2.6).
    ConsentRequired,
    /// Any other code, kept as received (an extension's, or a peer's mistake).
    Other(String),
}

/// Every defined code with its wire form, in one table that `as_str` and `parse` share.
const CODES: &[(&str, ErrorCode)] = &[
    ("invalid_request", ErrorCode::InvalidRequest),
    ("invalid_client", ErrorCode::InvalidClient),
    ("invalid_grant", ErrorCode::InvalidGrant),
    ("unauthorized_client", ErrorCode::UnauthorizedClient),
    ("unsupported_grant_type", ErrorCode::UnsupportedGrantType),
    (
        "unsupported_response_type",
        ErrorCode::UnsupportedResponseType,
    ),
    ("invalid_scope", ErrorCode::InvalidScope),
    ("access_denied", ErrorCode::AccessDenied),
    ("server_error", ErrorCode::ServerError),
    ("temporarily_unavailable", ErrorCode::TemporarilyUnavailable),
    ("invalid_token", ErrorCode::InvalidToken),
    ("insufficient_scope", ErrorCode::InsufficientScope),
    ("unsupported_token_type", ErrorCode::UnsupportedTokenType),
    ("invalid_redirect_uri", ErrorCode::InvalidRedirectUri),
    ("invalid_client_metadata", ErrorCode::InvalidClientMetadata),
    (
        "invalid_software_statement",
        ErrorCode::InvalidSoftwareStatement,
    ),
    (
        "unapproved_software_statement",
        ErrorCode::UnapprovedSoftwareStatement,
    ),
    ("invalid_target", ErrorCode::InvalidTarget),
    ("invalid_dpop_proof", ErrorCode::InvalidDpopProof),
    ("use_dpop_nonce", ErrorCode::UseDpopNonce),
    ("interaction_required", ErrorCode::InteractionRequired),
    ("login_required", ErrorCode::LoginRequired),
    ("consent_required", ErrorCode::ConsentRequired),
];

impl ErrorCode {
    /// The code as sent.
    pub fn as_str(&self) -> &str {
        if let ErrorCode::Other(s) = self {
            return s;
        }
        CODES
            .iter()
            .find(|(_, c)| c == self)
            .map_or("server_error", |(s, _)| s)
    }

    /// Reads a code; codes this enum does not name become [`ErrorCode::Other`]. Exact,
    /// case-sensitive comparison (RFC 6749 codes are lowercase ASCII).
    pub fn parse(code: &str) -> Self {
        CODES
            .iter()
            .find(|(s, _)| *s == code)
            .map_or_else(|| ErrorCode::Other(code.to_owned()), |(_, c)| c.clone())
    }

    /// Whether the code is one RFC 6749 §5.2's syntax allows (`%x20-21 / %x23-5B /
    /// %x5D-7E`, at least one character). Every named code is; an [`ErrorCode::Other`]
    /// read from a peer may not be, and must then not be written into a header.
    pub fn is_well_formed(&self) -> bool {
        let s = self.as_str();
        !s.is_empty()
            && s.bytes()
                .all(|b| matches!(b, 0x20..=0x21 | 0x23..=0x5B | 0x5D..=0x7E))
    }
}

impl fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl From<&str> for ErrorCode {
    fn from(code: &str) -> Self {
        ErrorCode::parse(code)
    }
}

impl Serialize for ErrorCode {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for ErrorCode {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        Ok(ErrorCode::parse(&s))
    }
}

/// An OAuth error response body (RFC 6749 §5.2; also RFC 7009, RFC 7591 §3.2.2, RFC 7662,
/// RFC 8707): what the authorization server writes and the client reads.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct ErrorResponse {
    /// `error`.
    pub error: ErrorCode,
    /// `error_description`: for developers; never echoes a secret.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error_description: Option<String>,
    /// `error_uri`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error_uri: Option<String>,
}

impl ErrorResponse {
    /// An error response with a code and a description.
    pub fn new(error: ErrorCode, description: impl Into<String>) -> Self {
        ErrorResponse {
            error,
            error_description: Some(description.into()),
            error_uri: None,
        }
    }

    /// Reads an error body received from a peer: at most [`MAX_ERROR_RESPONSE_LEN`]
    /// bytes, nesting depth 8; `None` when it is not a JSON object with a string `error`.
    pub fn parse(body: &[u8]) -> Option<Self> {
        let limits = JsonLimits::default()
            .with_max_bytes(MAX_ERROR_RESPONSE_LEN)
            .with_max_depth(8);
        parse_json(body, &limits).ok()
    }

    /// The JSON body.
    pub fn to_json(&self) -> Vec<u8> {
        // Serialising a struct of strings cannot fail.
        serde_json::to_vec(self).unwrap_or_default()
    }
}
