//! A JWK Set document from an issuer's `jwks_uri`. Invariants: no panic; every usable key
//! verifies at least one algorithm; kids are unique.
#![no_main]
#![forbid(unsafe_code)]

use libfuzzer_sys::fuzz_target;
use mcp_oauth_jwt_validate::{KeySet, KeySetLimits, crypto::Ring};

fuzz_target!(|data: &[u8]| {
    if let Ok(set) = KeySet::parse(data, &Ring, &KeySetLimits::default()) {
        let mut kids = Vec::new();
        for key in set.keys() {
            assert!(key.algorithms().next().is_some());
            if let Some(kid) = key.kid() {
                assert!(!kids.contains(&kid));
                kids.push(kid);
            }
        }
    }
});
