//! A token endpoint response (RFC 6749 §5). Invariants: no panic; an accepted response
//! has a non-empty access token of type Bearer.
#![no_main]
#![forbid(unsafe_code)]

use http::StatusCode;
use libfuzzer_sys::fuzz_target;
use mcp_oauth_client_flow::{UnixTime, parse_token_response};

fuzz_target!(|data: &[u8]| {
    let (status, body) = match data.split_first() {
        Some((b, rest)) if b % 4 == 0 => (StatusCode::BAD_REQUEST, rest),
        Some((_, rest)) => (StatusCode::OK, rest),
        None => (StatusCode::OK, data),
    };
    if let Ok(t) = parse_token_response(status, body, UnixTime(1_800_000_000), Some("s"), None) {
        assert!(!t.access_token.expose().is_empty());
        assert_eq!(t.token_type, "Bearer");
    }
});
