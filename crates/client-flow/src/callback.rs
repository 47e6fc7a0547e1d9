//! The authorization response at the redirect URI: `state`, the RFC 9207 `iss` check as
//! MCP 2026-07-28 requires (MCP-AUTHZ-12..14), and typed error responses.

use core::fmt;

use mcp_oauth_resource_indicators::url::{Url, form_urlencoded};
use subtle::ConstantTimeEq;

/// Largest callback URL read, in bytes.
pub const MAX_CALLBACK_LEN: usize = 8 * 1024;

/// An authorization code, redacted in `Debug`.
#[derive(Clone, PartialEq, Eq)]
pub struct AuthorizationCode(String);

impl AuthorizationCode {
    /// The code, for the token request.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for AuthorizationCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("AuthorizationCode(<redacted>)")
    }
}

/// Why a callback was not accepted. An [`IssuerMismatch`](CallbackError::IssuerMismatch)
/// or [`IssuerMissing`](CallbackError::IssuerMissing) hides any `error` the response
/// carried: MCP-AUTHZ-14 forbids acting on or showing it.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum CallbackError {
    /// Not a URL, longer than [`MAX_CALLBACK_LEN`], or a parameter repeated.
    Malformed,
    /// `iss` is present and differs from the issuer the request was sent to, byte for
    /// byte (RFC 9207 §2.4; MCP-AUTHZ-13: no normalisation). A mix-up attack, or a
    /// misconfigured server: the code must not be sent anywhere.
    IssuerMismatch {
        /// The issuer recorded with the request.
        expected: String,
        /// The `iss` received.
        found: String,
    },
    /// The server advertises `authorization_response_iss_parameter_supported` but the
    /// response has no `iss` (RFC 9207 §2.4).
    IssuerMissing,
    /// `state` is missing or not the one sent (MCP-AUTHZ-8): a forged or stale response.
    StateMismatch,
    /// The authorization server answered with an error (RFC 6749 §4.1.2.1).
    Denied {
        /// `error`, e.g. `access_denied`.
        error: String,
        /// `error_description`, when sent.
        description: Option<String>,
    },
    /// A success response without `code`.
    MissingCode,
}

impl CallbackError {
    /// The short code the FORMAT `iss-check` suite uses: `issuer_mismatch` for both
    /// issuer failures.
    pub fn code(&self) -> &str {
        match self {
            CallbackError::Malformed => "malformed_callback",
            CallbackError::IssuerMismatch { .. } | CallbackError::IssuerMissing => {
                "issuer_mismatch"
            }
            CallbackError::StateMismatch => "state_mismatch",
            CallbackError::Denied { error, .. } => error,
            CallbackError::MissingCode => "missing_code",
        }
    }
}

impl fmt::Display for CallbackError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CallbackError::Malformed => f.write_str("the authorization response is malformed"),
            CallbackError::IssuerMismatch { expected, found } => write!(
                f,
                "the authorization response came from issuer {found:?}, not {expected:?} (RFC 9207): refused"
            ),
            CallbackError::IssuerMissing => f.write_str(
                "the authorization server promises `iss` in responses but sent none (RFC 9207): refused",
            ),
            CallbackError::StateMismatch => {
                f.write_str("the authorization response's state is missing or wrong")
            }
            CallbackError::Denied { error, description } => {
                write!(f, "authorization refused: {error}")?;
                if let Some(d) = description {
                    write!(f, " ({d})")?;
                }
                Ok(())
            }
            CallbackError::MissingCode => f.write_str("the authorization response has no code"),
        }
    }
}

impl std::error::Error for CallbackError {}

/// The parameters of a callback, each at most once.
#[derive(Debug, Default)]
struct Params {
    code: Option<String>,
    state: Option<String>,
    iss: Option<String>,
    error: Option<String>,
    error_description: Option<String>,
    iss_repeated: bool,
}

fn params(callback: &str) -> Result<Params, CallbackError> {
    if callback.len() > MAX_CALLBACK_LEN {
        return Err(CallbackError::Malformed);
    }
    let url = Url::parse(callback).map_err(|_| CallbackError::Malformed)?;
    let mut p = Params::default();
    for (k, v) in form_urlencoded::parse(url.query().unwrap_or("").as_bytes()) {
        let slot = match k.as_ref() {
            "code" => &mut p.code,
            "state" => &mut p.state,
            "iss" => &mut p.iss,
            "error" => &mut p.error,
            "error_description" => &mut p.error_description,
            _ => continue,
        };
        if slot.is_some() {
            // Two `iss` values: neither can be trusted to be *the* issuer.
            if k == "iss" {
                p.iss_repeated = true;
                continue;
            }
            return Err(CallbackError::Malformed);
        }
        *slot = Some(v.into_owned());
    }
    Ok(p)
}

fn check_iss(p: &Params, expected_issuer: &str, iss_supported: bool) -> Result<(), CallbackError> {
    match &p.iss {
        Some(iss) if p.iss_repeated => Err(CallbackError::IssuerMismatch {
            expected: expected_issuer.to_owned(),
            found: format!("{iss} (and another iss)"),
        }),
        Some(iss) if iss != expected_issuer => Err(CallbackError::IssuerMismatch {
            expected: expected_issuer.to_owned(),
            found: iss.clone(),
        }),
        Some(_) => Ok(()),
        None if iss_supported => Err(CallbackError::IssuerMissing),
        None => Ok(()),
    }
}

fn outcome(p: Params) -> Result<AuthorizationCode, CallbackError> {
    if let Some(error) = p.error {
        return Err(CallbackError::Denied {
            error,
            description: p.error_description,
        });
    }
    match p.code {
        Some(c) if !c.is_empty() => Ok(AuthorizationCode(c)),
        _ => Err(CallbackError::MissingCode),
    }
}

/// The RFC 9207 check alone (FORMAT suite `iss-check`), then the code: when `iss` is
/// present it must equal `expected_issuer` byte for byte; when it is absent and the
/// metadata said `authorization_response_iss_parameter_supported: true`, the response is
/// refused. The issuer is checked before anything else, so an error response from the
/// wrong issuer is never read (MCP-AUTHZ-14).
///
/// ```
/// use mcp_oauth_client_flow::{CallbackError, check_callback_issuer};
/// let ok = check_callback_issuer("http://localhost/cb?code=abc&iss=https%3A%2F%2Fas.example", "https://as.example", true);
/// assert_eq!(ok.unwrap().expose(), "abc");
/// let bad = check_callback_issuer("http://localhost/cb?code=abc&iss=https%3A%2F%2FAS.example", "https://as.example", false);
/// assert!(matches!(bad, Err(CallbackError::IssuerMismatch { .. })));
/// ```
pub fn check_callback_issuer(
    callback: &str,
    expected_issuer: &str,
    iss_supported: bool,
) -> Result<AuthorizationCode, CallbackError> {
    let p = params(callback)?;
    check_iss(&p, expected_issuer, iss_supported)?;
    outcome(p)
}

/// The whole check a client runs on the redirect it received, in this order: the issuer
/// ([`check_callback_issuer`]), then `state` (present and equal, compared in constant
/// time), then an error response, then the code.
pub fn parse_callback(
    callback: &str,
    expected_state: &str,
    expected_issuer: &str,
    iss_supported: bool,
) -> Result<AuthorizationCode, CallbackError> {
    let p = params(callback)?;
    check_iss(&p, expected_issuer, iss_supported)?;
    match &p.state {
        Some(s) if bool::from(s.as_bytes().ct_eq(expected_state.as_bytes())) => {}
        _ => return Err(CallbackError::StateMismatch),
    }
    outcome(p)
}
