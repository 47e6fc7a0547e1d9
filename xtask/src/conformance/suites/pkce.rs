//! `pkce-challenge` and `pkce-verify` (RFC 7636).

use mcp_oauth_pkce::{CodeChallenge, CodeVerifier};
use serde_json::{Value, json};

use super::{Suite, exact};
use crate::conformance::Unreadable;
use crate::conformance::codes::error_value;
use crate::conformance::input::{Input, req};

/// `pkce-challenge`: verifier → S256 challenge, or `invalid_verifier`.
pub(crate) const CHALLENGE: Suite = Suite {
    name: "pkce-challenge",
    input_keys: &[req("verifier")],
    run: challenge,
    compare: exact,
};

/// `pkce-verify`: the authorization server's check of a verifier against a stored
/// challenge and method. Only S256 can succeed.
pub(crate) const VERIFY: Suite = Suite {
    name: "pkce-verify",
    input_keys: &[req("verifier"), req("challenge"), req("method")],
    run: verify,
    compare: exact,
};

fn challenge(input: &Input<'_>) -> Result<Value, Unreadable> {
    Ok(match CodeVerifier::parse(input.str("verifier")?) {
        Ok(v) => json!({ "challenge": v.challenge().as_string() }),
        Err(e) => error_value(&e),
    })
}

fn verify(input: &Input<'_>) -> Result<Value, Unreadable> {
    let verifier = input.str("verifier")?;
    let challenge = input.str("challenge")?;
    let method = input.str("method")?;
    let ok = CodeChallenge::from_request(Some(challenge), Some(method))
        .and_then(|c| c.verify(verifier))
        .is_ok();
    Ok(json!({ "ok": ok }))
}
