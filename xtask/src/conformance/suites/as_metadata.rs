//! `as-discovery-urls` and `as-metadata-validate` (RFC 8414, OpenID discovery, MCP).

use mcp_oauth_as_metadata::{Validation, discovery_urls};
use serde_json::{Value, json};

use super::{Suite, exact};
use crate::conformance::Unreadable;
use crate::conformance::codes::error_value;
use crate::conformance::input::{Input, req};

/// `as-discovery-urls`: the metadata URLs for an issuer, in MCP's order.
pub(crate) const DISCOVERY_URLS: Suite = Suite {
    name: "as-discovery-urls",
    input_keys: &[req("issuer")],
    run: urls,
    compare: exact,
};

/// `as-metadata-validate`: a fetched document against the expected issuer.
pub(crate) const VALIDATE: Suite = Suite {
    name: "as-metadata-validate",
    input_keys: &[req("document"), req("issuer")],
    run: validate,
    compare: exact,
};

fn urls(input: &Input<'_>) -> Result<Value, Unreadable> {
    Ok(match discovery_urls(input.str("issuer")?) {
        Ok(urls) => json!({ "urls": urls }),
        Err(e) => error_value(&e),
    })
}

fn validate(input: &Input<'_>) -> Result<Value, Unreadable> {
    let document = input.value("document")?.clone();
    Ok(
        match Validation::new().validate_value(document, input.str("issuer")?) {
            Ok(_) => json!({ "ok": true }),
            Err(e) => error_value(&e),
        },
    )
}
