//! A bearer token at a multi-tenant server: the unverified issuer peek and the dispatch
//! to a validator (exact issuers and an Entra multi-tenant template). Invariants: no
//! panic; nothing signed by no key is ever accepted (the tenant's key set is empty).
#![no_main]
#![forbid(unsafe_code)]

use std::sync::Arc;

use libfuzzer_sys::fuzz_target;
use mcp_oauth_jwt_validate::{KeySet, Policy, UnixTime};
use mcp_oauth_resource_indicators::ResourceUri;
use mcp_oauth_tenant::{EntraTemplate, IssuerTrust, TenantId, TenantTrust, peek_issuer};

fuzz_target!(|data: &[u8]| {
    let Ok(token) = std::str::from_utf8(data) else {
        return;
    };
    let _ = peek_issuer(token);
    let keys = Arc::new(KeySet::default());
    let resource = ResourceUri::parse("https://mcp.example.com/mcp").expect("fixed");
    let template = EntraTemplate::new(
        "https://login.microsoftonline.com/{tenantid}/v2.0",
        ["72f988bf-86f1-41af-91ab-2d7cd011db47"],
        |iss| Policy::from_lists([iss], ["api://x"]),
        keys.clone(),
    )
    .expect("template has a placeholder");
    let t = TenantTrust::new(TenantId::new("t"), resource.clone())
        .issuer(
            "https://as.example.com",
            IssuerTrust::new(Policy::new("https://as.example.com", &resource), keys),
        )
        .entra_template(template);
    assert!(t.validate(token, UnixTime(1_800_000_000)).is_err());
});
