//! An RFC 7662 introspection response body. Invariants: no panic; an accepted response
//! names the accepted issuer and audience and is unexpired.
#![no_main]
#![forbid(unsafe_code)]

use http::StatusCode;
use libfuzzer_sys::fuzz_target;
use mcp_oauth_jwt_validate::{Policy, UnixTime, parse_introspection};

fuzz_target!(|data: &[u8]| {
    let policy = Policy::from_lists(["https://as.example.com"], ["https://mcp.example.com/mcp"]);
    let now = UnixTime(1_800_000_000);
    if let Ok(ctx) = parse_introspection(&policy, StatusCode::OK, data, now) {
        assert_eq!(ctx.issuer(), "https://as.example.com");
        assert!(ctx.is_live(now, 60));
    }
});
