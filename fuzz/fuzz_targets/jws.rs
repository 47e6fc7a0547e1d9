//! A bearer token from the network, through the whole validator with the fixture keys.
//! Invariants: no panic; an accepted token names the fixture issuer and audience; a second
//! validation of the same token (its header now in the per-thread memo) gives the same
//! result.
#![no_main]
#![forbid(unsafe_code)]

use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use mcp_oauth_jwt_validate::{KeySet, KeySetLimits, Policy, UnixTime, Validator, crypto::Ring};
use mcp_oauth_tests::jwt::{ISSUER, N, RESOURCE, TestKeys};

fn fixture() -> &'static (Validator, KeySet) {
    static F: OnceLock<(Validator, KeySet)> = OnceLock::new();
    F.get_or_init(|| {
        let keys = TestKeys::load().expect("fixture keys");
        let set =
            KeySet::from_value(&keys.jwks(), &Ring, &KeySetLimits::default()).expect("fixture set");
        let policy = Policy::from_lists([ISSUER], [RESOURCE]);
        (Validator::new(policy), set)
    })
}

fuzz_target!(|data: &[u8]| {
    let Ok(token) = std::str::from_utf8(data) else {
        return;
    };
    let (validator, keys) = fixture();
    let first = validator.validate(token, keys, UnixTime(N));
    if let Ok(ctx) = &first {
        assert_eq!(ctx.issuer(), ISSUER);
        assert!(ctx.audience().any(|a| a == RESOURCE));
    }
    assert_eq!(first, validator.validate(token, keys, UnixTime(N)));
});
