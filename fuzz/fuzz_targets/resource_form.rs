//! The authorization server reading `resource` parameters from a form body or query.
//! Invariants: no panic; every accepted value is canonical; never more than the cap.
#![no_main]
#![forbid(unsafe_code)]

use libfuzzer_sys::fuzz_target;
use mcp_oauth_resource_indicators::{
    MAX_RESOURCES_PER_REQUEST, ResourceUri, resources_from_pairs, url,
};

fuzz_target!(|data: &[u8]| {
    if let Ok(resources) = resources_from_pairs(url::form_urlencoded::parse(data)) {
        assert!(resources.len() <= MAX_RESOURCES_PER_REQUEST);
        for r in resources {
            assert_eq!(ResourceUri::parse(r.as_str()).ok().as_ref(), Some(&r));
        }
    }
});
