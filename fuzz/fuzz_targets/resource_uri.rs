//! `ResourceUri::parse` on untrusted input (a server URL from configuration, a discovery
//! document, a `resource` parameter). Invariants: no panic; canonicalisation is
//! idempotent; the canonical form names the same resource as the input.
#![no_main]
#![forbid(unsafe_code)]

use libfuzzer_sys::fuzz_target;
use mcp_oauth_resource_indicators::ResourceUri;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(r) = ResourceUri::parse(text) {
        let again = ResourceUri::parse(r.as_str()).expect("canonical form must re-parse");
        assert_eq!(again.as_str(), r.as_str());
        assert!(r.matches_audience_value(r.as_str()));
        assert!(!r.as_str().contains('#'));
        assert_eq!(r.as_url().host_str(), Some(r.host_str()));
    }
});
