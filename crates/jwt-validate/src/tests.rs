#![allow(clippy::unwrap_used, clippy::indexing_slicing)]

use http::{HeaderMap, HeaderValue, header};

use crate::jwks_cache::max_age;
use crate::policy::normalize_typ;
use crate::{Algorithm, Policy};

#[test]
fn algorithm_names_are_exact() {
    for a in Algorithm::ALL {
        assert_eq!(Algorithm::parse(a.as_str()), Some(a));
        assert_eq!(a.to_string(), a.as_str());
    }
    for bad in [
        "none", "None", "HS256", "rs256", "RS256 ", "", "ES512", "Ed25519",
    ] {
        assert_eq!(Algorithm::parse(bad), None, "{bad}");
    }
    assert_eq!(Algorithm::ES384.fixed_signature_len(), Some(96));
    assert_eq!(Algorithm::PS256.fixed_signature_len(), None);
    assert!(Algorithm::PS512.is_rsa() && !Algorithm::EdDSA.is_rsa());
}

#[test]
fn typ_normalisation() {
    assert_eq!(normalize_typ("Application/AT+JWT"), "at+jwt");
    assert_eq!(normalize_typ("at+jwt"), "at+jwt");
    assert_eq!(normalize_typ("at+jwt "), "at+jwt ");
}

#[test]
fn cache_control_max_age() {
    let h = |v: &str| {
        let mut m = HeaderMap::new();
        m.insert(header::CACHE_CONTROL, HeaderValue::from_str(v).unwrap());
        m
    };
    assert_eq!(max_age(&h("public, max-age=600")), Some(600));
    assert_eq!(max_age(&h("Max-Age=\"30\", max-age=9")), Some(30));
    assert_eq!(max_age(&h("no-store, max-age=600")), Some(0));
    assert_eq!(max_age(&h("max-age=-1")), None);
    assert_eq!(max_age(&HeaderMap::new()), None);
}

#[test]
fn policy_defaults_are_secure() {
    let p = Policy::from_lists(["https://as.example"], ["https://mcp.example"]);
    assert_eq!(p.allowed_algorithms(), Algorithm::ALL);
    assert_eq!(p.leeway_secs(), 60);
    assert_eq!(p.issuers(), ["https://as.example"]);
    assert_eq!(p.audiences(), ["https://mcp.example"]);
}
