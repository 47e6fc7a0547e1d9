//! OAuth error responses: the one place a refusal becomes a status and a JSON body.

use core::fmt;

use http::{HeaderValue, Response, StatusCode, header};
use mcp_oauth_common::{ErrorCode, ErrorResponse};
use serde_json::Value;

/// An OAuth error response (RFC 6749 §5.2, RFC 7009, RFC 7662, RFC 8707).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OAuthError {
    /// HTTP status.
    pub status: StatusCode,
    /// The error code.
    pub error: ErrorCode,
    /// A description (never echoes a secret).
    pub description: String,
}

impl OAuthError {
    pub(super) fn new(
        status: StatusCode,
        error: ErrorCode,
        description: impl Into<String>,
    ) -> Self {
        OAuthError {
            status,
            error,
            description: description.into(),
        }
    }

    pub(super) fn bad(error: ErrorCode, description: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, error, description)
    }

    pub(super) fn invalid_client() -> Self {
        Self::new(
            StatusCode::UNAUTHORIZED,
            ErrorCode::InvalidClient,
            "client authentication failed",
        )
    }

    /// `500 server_error`, for an adapter whose request handling failed unexpectedly.
    pub fn server_error() -> Self {
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            ErrorCode::ServerError,
            "the request could not be handled",
        )
    }

    /// The store could not commit: `503 temporarily_unavailable`, nothing issued.
    pub(super) fn unavailable() -> Self {
        Self::new(
            StatusCode::SERVICE_UNAVAILABLE,
            ErrorCode::TemporarilyUnavailable,
            "storage is unavailable; try again",
        )
    }

    /// As a JSON response.
    pub fn response(&self) -> Response<Vec<u8>> {
        let body = ErrorResponse::new(self.error.clone(), self.description.clone());
        let mut r = json_bytes_response(self.status, body.to_json());
        if self.status == StatusCode::UNAUTHORIZED {
            r.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Basic realm=\"token\""),
            );
        }
        r
    }
}

impl fmt::Display for OAuthError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.error, self.description)
    }
}

impl std::error::Error for OAuthError {}

pub(super) fn json_response(status: StatusCode, v: &Value) -> Response<Vec<u8>> {
    json_bytes_response(status, v.to_string().into_bytes())
}

/// A JSON body that is already serialised, with `Cache-Control: no-store`.
pub(super) fn json_bytes_response(status: StatusCode, body: Vec<u8>) -> Response<Vec<u8>> {
    let mut r = Response::new(body);
    *r.status_mut() = status;
    let h = r.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    r
}
