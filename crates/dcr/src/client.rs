//! Client side of RFC 7591: the request as data, the response checked.

use core::fmt;

use http::{Method, Request, StatusCode, header};
use mcp_oauth_common::{AccessToken, ErrorCode, ErrorResponse, JsonLimits, parse_json};
use serde_json::Value;

use crate::{ClientMetadata, RegisteredClient, RegistrationErrorCode};

/// Largest registration response read, in bytes.
pub const MAX_RESPONSE_LEN: usize = 64 * 1024;

/// The `POST` to the registration endpoint (RFC 7591 §3.1), with an initial access token
/// when the server requires one.
pub fn registration_request(
    endpoint: &str,
    metadata: &ClientMetadata,
    initial_access_token: Option<&AccessToken>,
) -> Result<Request<Vec<u8>>, http::Error> {
    let mut b = Request::builder()
        .method(Method::POST)
        .uri(endpoint)
        .header(header::CONTENT_TYPE, "application/json")
        .header(header::ACCEPT, "application/json");
    if let Some(t) = initial_access_token {
        b = b.header(header::AUTHORIZATION, format!("Bearer {}", t.expose()));
    }
    b.body(metadata.to_json())
}

/// Why a registration did not give a usable client.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum RegistrationError {
    /// The server refused with an RFC 7591 §3.2.2 error (HTTP 400).
    Rejected {
        /// The error code as sent.
        code: ErrorCode,
        /// `error_description`, when sent.
        description: Option<String>,
    },
    /// Anything else the client must not use: another status, a body that is not a
    /// registration response, no `client_id`, wrong member types, too large.
    InvalidResponse,
}

impl RegistrationError {
    /// The refusal as a known code, when it is one.
    pub fn code(&self) -> Option<RegistrationErrorCode> {
        match self {
            RegistrationError::Rejected { code, .. } => RegistrationErrorCode::parse(code.as_str()),
            RegistrationError::InvalidResponse => None,
        }
    }
}

impl fmt::Display for RegistrationError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RegistrationError::Rejected { code, description } => {
                write!(f, "registration refused: {code}")?;
                if let Some(d) = description {
                    write!(f, " ({d})")?;
                }
                Ok(())
            }
            RegistrationError::InvalidResponse => {
                f.write_str("registration response is not usable")
            }
        }
    }
}

impl std::error::Error for RegistrationError {}

/// Reads a registration response (FORMAT `dcr-response`): a 2xx with a JSON object holding
/// a non-empty string `client_id` (RFC 7591 says 201; some servers send 200 with the same
/// body, which is accepted); a 400 with `{"error": …}` is
/// [`RegistrationError::Rejected`]; anything else is [`RegistrationError::InvalidResponse`].
pub fn parse_registration_response(
    status: StatusCode,
    body: &[u8],
) -> Result<RegisteredClient, RegistrationError> {
    let limits = JsonLimits::default()
        .with_max_bytes(MAX_RESPONSE_LEN)
        .with_max_depth(16);
    if status == StatusCode::BAD_REQUEST {
        return match ErrorResponse::parse(body) {
            Some(e) => Err(RegistrationError::Rejected {
                code: e.error,
                description: e.error_description,
            }),
            None => Err(RegistrationError::InvalidResponse),
        };
    }
    if !status.is_success() {
        return Err(RegistrationError::InvalidResponse);
    }
    let value: Value = parse_json(body, &limits).map_err(|_| RegistrationError::InvalidResponse)?;
    if !value.is_object() {
        return Err(RegistrationError::InvalidResponse);
    }
    let client: RegisteredClient =
        serde_json::from_value(value).map_err(|_| RegistrationError::InvalidResponse)?;
    if client.client_id.is_empty() {
        return Err(RegistrationError::InvalidResponse);
    }
    Ok(client)
}
