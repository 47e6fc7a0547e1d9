//! PKCE parsers on untrusted input: a verifier from a token request, a challenge and
//! method from an authorization request. Invariants: no panic; whatever parses obeys
//! RFC 7636 §4.1; a parsed verifier always verifies against its own challenge.
#![no_main]
#![forbid(unsafe_code)]

use libfuzzer_sys::fuzz_target;
use mcp_oauth_pkce::{CodeChallenge, CodeVerifier};

fuzz_target!(|data: &[u8]| {
    let _ = CodeVerifier::from_entropy(data);
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    // Split as "challenge|method" to reach the method parser with arbitrary values too.
    let (challenge, method) = text.split_once('|').unwrap_or((text, "S256"));
    if let Ok(c) = CodeChallenge::from_request(Some(challenge), Some(method)) {
        assert_eq!(c.as_string(), challenge);
        let _ = c.verify(text);
    }
    if let Ok(v) = CodeVerifier::parse(text) {
        assert!((43..=128).contains(&v.as_str().len()));
        assert!(v.challenge().verify(v.as_str()).is_ok());
    }
});
