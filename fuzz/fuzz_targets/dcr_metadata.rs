//! A registration request body (authorization-server side) and a registration response
//! (client side). Invariants: no panic; accepted metadata re-validates to itself; an
//! accepted response has a non-empty client_id.
#![no_main]
#![forbid(unsafe_code)]

use http::StatusCode;
use libfuzzer_sys::fuzz_target;
use mcp_oauth_dcr::{RegistrationPolicy, parse_registration_response};

fuzz_target!(|data: &[u8]| {
    let policy = RegistrationPolicy::new();
    if let Ok(m) = policy.validate(data) {
        let again = policy
            .validate(&m.to_json())
            .expect("accepted metadata re-validates");
        assert_eq!(again, m);
    }
    for status in [StatusCode::CREATED, StatusCode::BAD_REQUEST] {
        if let Ok(c) = parse_registration_response(status, data) {
            assert!(!c.client_id.is_empty());
        }
    }
});
