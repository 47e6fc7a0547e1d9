//! A fetched protected resource metadata document (RFC 9728), validated against the
//! resource it was fetched for. Invariants: no panic; an accepted document names the
//! resource and at least one https authorization server, and survives a round trip.
#![no_main]
#![forbid(unsafe_code)]

use libfuzzer_sys::fuzz_target;
use mcp_oauth_prm_metadata::{JsonLimits, ProtectedResourceMetadata, Validation};
use mcp_oauth_resource_indicators::ResourceUri;

fuzz_target!(|data: &[u8]| {
    let expected = "https://mcp.example.com/mcp";
    let strict = Validation::new();
    if let Ok(doc) = strict.validate(data, expected) {
        assert_eq!(doc.resource.trim_end_matches('/'), expected);
        let servers = doc.authorization_servers.as_deref().expect("validated");
        assert!(!servers.is_empty());
        assert!(servers.iter().all(|s| ResourceUri::parse(s).is_ok()));
        let again = ProtectedResourceMetadata::parse(&doc.to_json(), &JsonLimits::default())
            .expect("a validated document re-parses");
        assert_eq!(again, doc);
    }
    let _ = Validation::new()
        .dangerous_accept_parent_resource()
        .validate(data, expected);
});
