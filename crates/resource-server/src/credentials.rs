//! Bearer credentials: where a token may come from (RFC 6750 §2.1, the `Authorization`
//! header only; MCP forbids tokens in the URI) and what counts as malformed.

use http::{HeaderMap, Uri, header};

/// The header's `kid`, for key lookup before validation (validation re-reads the header
/// strictly; this is only a hint), through the one unverified peek of
/// `mcp-oauth-jwt-validate`.
pub(crate) fn token_kid(token: &str) -> Option<String> {
    mcp_oauth_jwt_validate::peek(token)?.kid
}

/// What the `Authorization` header holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Credentials<'a> {
    /// No bearer credentials (no header, or another scheme).
    None,
    /// A bearer token (its syntax is checked only when it fails to validate).
    Bearer(&'a str),
    /// Repeated, non-UTF-8, or `Bearer` without a token.
    Malformed,
}

pub(crate) fn credentials(req_headers: &HeaderMap) -> Credentials<'_> {
    let mut values = req_headers.get_all(header::AUTHORIZATION).iter();
    let Some(value) = values.next() else {
        return Credentials::None;
    };
    if values.next().is_some() {
        return Credentials::Malformed;
    }
    // UTF-8 is enough here (a quick check); a token that fails to validate has its
    // syntax checked in full (`is_b64token`).
    let Ok(text) = std::str::from_utf8(value.as_bytes()) else {
        return Credentials::Malformed;
    };
    match text.split_once(' ') {
        Some((scheme, token)) if scheme.eq_ignore_ascii_case("bearer") => {
            let token = token.trim_start_matches(' ');
            if token.is_empty() {
                Credentials::Malformed
            } else {
                // Its syntax is checked when it fails to validate (`is_b64token`): a token
                // that validates, or is in the token cache, is made of base64url and dots.
                Credentials::Bearer(token)
            }
        }
        // Another scheme (Basic, DPoP, …): no bearer credentials (RFC 6750 §3.1).
        Some(_) => Credentials::None,
        None if text.eq_ignore_ascii_case("bearer") => Credentials::Malformed,
        None => Credentials::None,
    }
}

/// RFC 6750 §2.1 `b64token` syntax.
pub(crate) fn is_b64token(token: &str) -> bool {
    !token.is_empty()
        && token.bytes().all(|b| {
            b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~' | b'+' | b'/' | b'=')
        })
}

/// Whether the query string carries `access_token` (MCP: tokens never in the URI).
pub(crate) fn token_in_query(uri: &Uri) -> bool {
    uri.query().is_some_and(|q| {
        mcp_oauth_resource_indicators::url::form_urlencoded::parse(q.as_bytes())
            .any(|(k, _)| k == "access_token")
    })
}
