//! `dcr-validate`, `dcr-response` and `redirect-match` (RFC 7591, RFC 8252).

use http::StatusCode;
use mcp_oauth_dcr::{
    RegistrationError, RegistrationPolicy, parse_registration_response, redirect_matches,
};
use serde_json::{Value, json};

use super::{Suite, exact, subset};
use crate::conformance::Unreadable;
use crate::conformance::codes::error_value;
use crate::conformance::input::{Input, req};

/// `dcr-validate`: the authorization server's check of a registration request.
pub(crate) const VALIDATE: Suite = Suite {
    name: "dcr-validate",
    input_keys: &[req("request")],
    run: validate,
    compare: subset,
};

/// `dcr-response`: the client's reading of a registration response.
pub(crate) const RESPONSE: Suite = Suite {
    name: "dcr-response",
    input_keys: &[req("status"), req("body")],
    run: response,
    compare: exact,
};

/// `redirect-match`: the authorization endpoint's redirect URI comparison.
pub(crate) const REDIRECT_MATCH: Suite = Suite {
    name: "redirect-match",
    input_keys: &[req("registered"), req("requested")],
    run: redirect,
    compare: exact,
};

fn validate(input: &Input<'_>) -> Result<Value, Unreadable> {
    let body =
        serde_json::to_vec(input.value("request")?).map_err(|e| Unreadable(e.to_string()))?;
    Ok(match RegistrationPolicy::new().validate(&body) {
        Ok(m) => json!({
            "ok": true,
            "token_endpoint_auth_method": m.auth_method(),
            "grant_types": m.grant_types_or_default(),
            "response_types": m.response_types_or_default(),
        }),
        Err(e) => error_value(&e),
    })
}

fn response(input: &Input<'_>) -> Result<Value, Unreadable> {
    let status = u16::try_from(input.u64("status")?)
        .ok()
        .and_then(|s| StatusCode::from_u16(s).ok())
        .ok_or_else(|| Unreadable("status must be an HTTP status code".into()))?;
    let body = serde_json::to_vec(input.value("body")?).map_err(|e| Unreadable(e.to_string()))?;
    Ok(match parse_registration_response(status, &body) {
        Ok(c) => json!({"ok": true, "client_id": c.client_id}),
        Err(RegistrationError::Rejected { code, .. }) => json!({"error": code}),
        Err(_) => json!({"error": "invalid_registration_response"}),
    })
}

fn redirect(input: &Input<'_>) -> Result<Value, Unreadable> {
    let registered = input.strings("registered")?;
    let requested = input.str("requested")?;
    Ok(json!({"ok": redirect_matches(&registered, requested)}))
}
