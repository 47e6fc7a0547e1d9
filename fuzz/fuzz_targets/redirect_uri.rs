//! Redirect URIs from registrations and authorization requests. Invariants: no panic; an
//! accepted URI has no fragment and matches itself; matching is never looser than exact
//! outside the loopback-port rule.
#![no_main]
#![forbid(unsafe_code)]

use libfuzzer_sys::fuzz_target;
use mcp_oauth_dcr::{RedirectPolicy, redirect_matches};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let (registered, requested) = text.split_once('\n').unwrap_or((text, text));
    if RedirectPolicy::default().check(registered).is_ok() {
        assert!(!registered.contains('#'));
        assert!(redirect_matches(&[registered.to_owned()], registered));
    }
    if redirect_matches(&[registered.to_owned()], requested) && registered != requested {
        assert!(requested.starts_with("http://127.0.0.1") || requested.starts_with("http://[::1]"));
    }
});
