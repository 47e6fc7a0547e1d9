//! A bearer token from the network, through the whole validator with the fixture keys.
//! Invariants: no panic; an accepted token names the fixture issuer and audience; a second
//! validation of the same token (its header now in the per-thread memo) gives the same
//! result; the unverified peek never panics and, on an accepted token, reads the same
//! `iss`, `kid` and `alg` the validator did.
#![no_main]
#![forbid(unsafe_code)]

use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use mcp_oauth_jwt_validate::{
    KeySet, KeySetLimits, Policy, UnixTime, Validator, crypto::Ring, peek,
};
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
    let peeked = peek(token);
    let first = validator.validate(token, keys, UnixTime(N));
    if let Ok(ctx) = &first {
        assert_eq!(ctx.issuer(), ISSUER);
        assert!(ctx.audience().any(|a| a == RESOURCE));
        let p = peeked.expect("an accepted token is peekable");
        assert_eq!(p.iss.as_deref(), Some(ctx.issuer()));
        assert_eq!(p.kid.as_deref(), ctx.key_id());
        assert_eq!(p.alg, ctx.algorithm());
    }
    assert_eq!(first, validator.validate(token, keys, UnixTime(N)));
});
