//! A token's `aud` claim as JSON, then the audience check. Invariants: no panic; a
//! deserialised audience holds at most 64 values; a match is a real match.
#![no_main]
#![forbid(unsafe_code)]

use libfuzzer_sys::fuzz_target;
use mcp_oauth_resource_indicators::{Audience, MAX_AUDIENCE_VALUES, ResourceUri};

fuzz_target!(|data: &[u8]| {
    let Ok(aud) = serde_json::from_slice::<Audience>(data) else {
        return;
    };
    assert!(aud.iter().count() <= MAX_AUDIENCE_VALUES);
    let me = ResourceUri::parse("https://mcp.example.com/mcp").expect("valid literal");
    if me.check_audience(Some(&aud)).is_ok() {
        assert!(aud.iter().any(|a| me.matches_audience_value(a)));
    }
});
