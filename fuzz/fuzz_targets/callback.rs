//! The authorization response a client receives (RFC 9207 `iss`, `state`, error
//! responses). Invariants: no panic; a code is only returned when `state` matched and
//! `iss` was either exactly the expected issuer or absent while not promised.
#![no_main]
#![forbid(unsafe_code)]

use libfuzzer_sys::fuzz_target;
use mcp_oauth_client_flow::{check_callback_issuer, parse_callback};

const ISSUER: &str = "https://as.example.com";

fuzz_target!(|data: &[u8]| {
    let Ok(s) = std::str::from_utf8(data) else {
        return;
    };
    for supported in [false, true] {
        if parse_callback(s, "st8", ISSUER, supported).is_ok() {
            let url = url::Url::parse(s).expect("accepted callbacks are URLs");
            let pairs: Vec<(String, String)> = url.query_pairs().into_owned().collect();
            let iss: Vec<&String> = pairs
                .iter()
                .filter(|(k, _)| k == "iss")
                .map(|(_, v)| v)
                .collect();
            assert!(pairs.iter().any(|(k, v)| k == "state" && v == "st8"));
            match iss.as_slice() {
                [] => assert!(!supported),
                [one] => assert_eq!(one.as_str(), ISSUER),
                _ => panic!("accepted a callback with several iss values"),
            }
        }
        let _ = check_callback_issuer(s, ISSUER, supported);
    }
});
