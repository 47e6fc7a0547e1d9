//! A fetched client ID metadata document. Invariants: no panic; an accepted document
//! names its URL and uses no shared secret.
#![no_main]
#![forbid(unsafe_code)]

use http::{HeaderMap, StatusCode};
use libfuzzer_sys::fuzz_target;
use mcp_oauth_common::UnixTime;
use mcp_oauth_dcr::{CimdPolicy, SHARED_SECRET_METHODS};

fuzz_target!(|data: &[u8]| {
    let url = "https://app.example.com/oauth/client.json";
    if let Ok(doc) = CimdPolicy::new().check(
        url,
        StatusCode::OK,
        &HeaderMap::new(),
        data,
        UnixTime(1_800_000_000),
    ) {
        assert!(doc.metadata.client_name.is_some());
        assert!(
            !SHARED_SECRET_METHODS.contains(&doc.metadata.auth_method())
                || doc.metadata.token_endpoint_auth_method.is_none()
        );
    }
});
