use http::StatusCode;

/// The RFC 6750 §3.1 error codes, and the one place that maps them to HTTP statuses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum BearerError {
    /// `invalid_request` — 400: a malformed request (a token in the query string, two
    /// tokens, a missing parameter).
    InvalidRequest,
    /// `invalid_token` — 401: the token is expired, revoked, malformed, not for this
    /// server, or otherwise invalid.
    InvalidToken,
    /// `insufficient_scope` — 403: the token lacks a scope the operation needs.
    InsufficientScope,
}

impl BearerError {
    /// The error code as sent.
    pub fn as_str(self) -> &'static str {
        match self {
            BearerError::InvalidRequest => "invalid_request",
            BearerError::InvalidToken => "invalid_token",
            BearerError::InsufficientScope => "insufficient_scope",
        }
    }

    /// The HTTP status RFC 6750 §3.1 assigns: 400, 401 or 403.
    pub fn status(self) -> StatusCode {
        match self {
            BearerError::InvalidRequest => StatusCode::BAD_REQUEST,
            BearerError::InvalidToken => StatusCode::UNAUTHORIZED,
            BearerError::InsufficientScope => StatusCode::FORBIDDEN,
        }
    }

    /// Reads an error code; `None` for codes RFC 6750 does not define.
    pub fn parse(code: &str) -> Option<Self> {
        match code {
            "invalid_request" => Some(BearerError::InvalidRequest),
            "invalid_token" => Some(BearerError::InvalidToken),
            "insufficient_scope" => Some(BearerError::InsufficientScope),
            _ => None,
        }
    }

    /// The same code in the general vocabulary.
    pub fn code(self) -> crate::ErrorCode {
        match self {
            BearerError::InvalidRequest => crate::ErrorCode::InvalidRequest,
            BearerError::InvalidToken => crate::ErrorCode::InvalidToken,
            BearerError::InsufficientScope => crate::ErrorCode::InsufficientScope,
        }
    }
}
