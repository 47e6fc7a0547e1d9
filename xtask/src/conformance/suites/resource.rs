//! `resource-canonical` (RFC 8707 + the MCP canonical server URI).

use mcp_oauth_resource_indicators::ResourceUri;
use serde_json::{Value, json};

use super::{Suite, exact};
use crate::conformance::Unreadable;
use crate::conformance::codes::error_value;
use crate::conformance::input::{Input, req};

/// `resource-canonical`: URI → canonical string, or `invalid_target`.
pub(crate) const CANONICAL: Suite = Suite {
    name: "resource-canonical",
    input_keys: &[req("uri")],
    run: canonical,
    compare: exact,
};

fn canonical(input: &Input<'_>) -> Result<Value, Unreadable> {
    Ok(match ResourceUri::parse(input.str("uri")?) {
        Ok(r) => json!({ "canonical": r.as_str() }),
        Err(e) => error_value(&e),
    })
}
