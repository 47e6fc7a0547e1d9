//! `scope-union` (step-up, MCP-SCOPE-4/13) and `iss-check` (RFC 9207 as MCP 2026-07-28
//! requires, MCP-AUTHZ-12/13): the client side.

use std::collections::BTreeSet;

use mcp_oauth_client_flow::{check_callback_issuer, scope_union, split_scopes};
use serde_json::{Map, Value, json};

use super::{Suite, exact};
use crate::conformance::Unreadable;
use crate::conformance::codes::callback_code;
use crate::conformance::input::{Input, req};

/// `scope-union`: the scope a client asks for on step-up.
pub(crate) const SCOPE_UNION: Suite = Suite {
    name: "scope-union",
    input_keys: &[req("held"), req("challenge")],
    run: union,
    compare: as_set,
};

/// `iss-check`: the RFC 9207 check of the authorization response.
pub(crate) const ISS_CHECK: Suite = Suite {
    name: "iss-check",
    input_keys: &[
        req("expected_issuer"),
        req("callback"),
        req("iss_supported"),
    ],
    run: iss,
    compare: exact,
};

fn union(input: &Input<'_>) -> Result<Value, Unreadable> {
    let scope = scope_union(input.str("held")?, input.str("challenge")?).unwrap_or_default();
    Ok(json!({ "scope": scope }))
}

/// `scope` compared as a set; any other key must match exactly.
fn as_set(expect: &Map<String, Value>, got: &Value) -> bool {
    let set = |v: Option<&Value>| {
        v.and_then(Value::as_str).map(|s| {
            split_scopes(s)
                .into_iter()
                .map(str::to_owned)
                .collect::<BTreeSet<_>>()
        })
    };
    let Some(got) = got.as_object() else {
        return false;
    };
    expect.keys().eq(got.keys())
        && set(expect.get("scope")).is_some()
        && set(expect.get("scope")) == set(got.get("scope"))
}

fn iss(input: &Input<'_>) -> Result<Value, Unreadable> {
    let supported = input
        .value("iss_supported")?
        .as_bool()
        .ok_or_else(|| Unreadable("input \"iss_supported\" must be a boolean".into()))?;
    Ok(
        match check_callback_issuer(
            input.str("callback")?,
            input.str("expected_issuer")?,
            supported,
        ) {
            Ok(code) => json!({ "ok": true, "code": code.expose() }),
            Err(e) => json!({ "error": callback_code(&e) }),
        },
    )
}
