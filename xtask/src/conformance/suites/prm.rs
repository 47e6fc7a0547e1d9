//! `prm-discovery-urls`, `prm-validate` and `www-authenticate` (RFC 9728, RFC 9110 §11.6.1).

use mcp_oauth_prm_metadata::{Validation, discovery_candidates, parse_www_authenticate};
use mcp_oauth_resource_indicators::ResourceUri;
use serde_json::{Map, Value, json};

use super::{Suite, exact, subset};
use crate::conformance::Unreadable;
use crate::conformance::codes::error_value;
use crate::conformance::input::{Input, opt, req};

/// `prm-discovery-urls`: the URLs a client tries, in order.
pub(crate) const DISCOVERY_URLS: Suite = Suite {
    name: "prm-discovery-urls",
    input_keys: &[req("resource"), opt("resource_metadata")],
    run: discovery_urls,
    compare: exact,
};

/// `prm-validate`: a fetched document against the resource it was fetched for.
pub(crate) const VALIDATE: Suite = Suite {
    name: "prm-validate",
    input_keys: &[req("document"), req("resource")],
    run: validate,
    compare: subset,
};

/// `www-authenticate`: a header value into challenges.
pub(crate) const WWW_AUTHENTICATE: Suite = Suite {
    name: "www-authenticate",
    input_keys: &[req("header")],
    run: www_authenticate,
    compare: exact,
};

fn discovery_urls(input: &Input<'_>) -> Result<Value, Unreadable> {
    let resource = match ResourceUri::parse(input.str("resource")?) {
        Ok(r) => r,
        Err(e) => return Ok(error_value(&e)),
    };
    Ok(
        match discovery_candidates(&resource, input.opt_str("resource_metadata")?) {
            Ok(c) => json!({ "urls": c.into_iter().map(|c| c.url).collect::<Vec<_>>() }),
            Err(e) => error_value(&e),
        },
    )
}

fn validate(input: &Input<'_>) -> Result<Value, Unreadable> {
    let document = input.value("document")?.clone();
    let resource = input.str("resource")?;
    Ok(match Validation::new().validate_value(document, resource) {
        Ok(doc) => json!({ "ok": true, "authorization_servers": doc.authorization_servers }),
        Err(e) => error_value(&e),
    })
}

fn www_authenticate(input: &Input<'_>) -> Result<Value, Unreadable> {
    Ok(
        match parse_www_authenticate(input.str("header")?.as_bytes()) {
            Ok(challenges) => {
                let list: Vec<Value> = challenges
                    .into_iter()
                    .map(|c| {
                        let mut obj = Map::new();
                        obj.insert("scheme".into(), c.scheme.into());
                        if !c.params.is_empty() {
                            let params: Map<String, Value> =
                                c.params.into_iter().map(|(k, v)| (k, v.into())).collect();
                            obj.insert("params".into(), params.into());
                        }
                        if let Some(t) = c.token68 {
                            obj.insert("token68".into(), t.into());
                        }
                        Value::Object(obj)
                    })
                    .collect();
                json!({ "challenges": list })
            }
            Err(e) => error_value(&e),
        },
    )
}
