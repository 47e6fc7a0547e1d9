//! A fetched authorization server metadata document (RFC 8414 / OIDC), validated against
//! the expected issuer. Invariants: no panic; an accepted document names exactly that
//! issuer, advertises S256, and survives a round trip.
#![no_main]
#![forbid(unsafe_code)]

use libfuzzer_sys::fuzz_target;
use mcp_oauth_as_metadata::{AuthorizationServerMetadata, JsonLimits, Validation, discovery_urls};

fuzz_target!(|data: &[u8]| {
    let issuer = "https://as.example.com";
    if let Ok(doc) = Validation::new().validate(data, issuer) {
        assert_eq!(doc.issuer, issuer);
        assert!(doc.supports_s256());
        let again = AuthorizationServerMetadata::parse(&doc.to_json(), &JsonLimits::default())
            .expect("a validated document re-parses");
        assert_eq!(again, doc);
    }
    if let Ok(text) = std::str::from_utf8(data) {
        if let Ok(urls) = discovery_urls(text) {
            assert!(urls.len() == 2 || urls.len() == 3);
        }
    }
});
