//! A `WWW-Authenticate` value from an MCP server (RFC 9110 §11.6.1). Invariants: no
//! panic; accepted values hold at least one challenge with lower-case names and no
//! repeated parameter; challenges the builder makes from parsed Bearer values re-parse.
#![no_main]
#![forbid(unsafe_code)]

use libfuzzer_sys::fuzz_target;
use mcp_oauth_prm_metadata::{BearerChallenge, bearer_params, parse_www_authenticate};

fuzz_target!(|data: &[u8]| {
    let Ok(challenges) = parse_www_authenticate(data) else {
        return;
    };
    assert!(!challenges.is_empty());
    for c in &challenges {
        assert!(!c.scheme.is_empty() && !c.scheme.bytes().any(|b| b.is_ascii_uppercase()));
        for (i, (name, _)) in c.params.iter().enumerate() {
            assert!(!c.params[..i].iter().any(|(n, _)| n == name));
        }
    }
    if let Some(b) = bearer_params(&challenges) {
        let mut built = BearerChallenge::new();
        if let Some(v) = b.realm.clone() {
            built = built.realm(v);
        }
        if let Some(v) = b.resource_metadata.clone() {
            built = built.resource_metadata(v);
        }
        if let Ok(value) = built.header_value() {
            let back = bearer_params(&parse_www_authenticate(value.as_bytes()).expect("re-parses"))
                .expect("bearer");
            assert_eq!(back.realm, b.realm);
            assert_eq!(back.resource_metadata, b.resource_metadata);
        }
    }
});
