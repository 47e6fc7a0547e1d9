//! `Forwarded` / `X-Forwarded-*` from a trusted proxy. Invariants: no panic; a resolved
//! public URL is a valid resource URI that keeps the configured path; the client address
//! behind trusted proxies (the same bytes as `Forwarded` and as `X-Forwarded-For`) is the
//! peer itself when the peer is not a trusted proxy.
#![no_main]
#![forbid(unsafe_code)]

use http::{HeaderMap, HeaderValue};
use libfuzzer_sys::fuzz_target;
use mcp_oauth_guard::TrustedProxies;
use mcp_oauth_prm_metadata::PublicUrl;
use mcp_oauth_resource_indicators::ResourceUri;

fuzz_target!(|data: &[u8]| {
    let configured = ResourceUri::parse("https://internal.example:8443/mcp").expect("literal");
    let public = PublicUrl::new(configured)
        .trust_forwarded_headers_from(["0.0.0.0/0".parse().expect("literal")]);
    let mut headers = HeaderMap::new();
    // First byte picks the header, the rest is its value.
    let Some((&which, value)) = data.split_first() else {
        return;
    };
    let name = match which % 5 {
        0 => "forwarded",
        1 => "x-forwarded-host",
        2 => "x-forwarded-proto",
        3 => "x-forwarded-port",
        _ => "x-forwarded-prefix",
    };
    let Ok(value) = HeaderValue::from_bytes(value) else {
        return;
    };
    headers.insert(name, value.clone());
    let _ = mcp_oauth_prm_metadata::forwarded_for(&headers).count();
    let nets = ["10.0.0.0/8".parse().expect("literal")];
    let (proxy, outsider) = (
        "10.0.0.1".parse().expect("literal"),
        "192.0.2.1".parse().expect("literal"),
    );
    for (proxies, header) in [
        (TrustedProxies::forwarded(nets), "forwarded"),
        (TrustedProxies::x_forwarded_for(nets), "x-forwarded-for"),
    ] {
        let mut h = HeaderMap::new();
        h.insert(header, value.clone());
        let _ = proxies.client_addr(proxy, &h);
        assert_eq!(proxies.client_addr(outsider, &h), outsider);
    }
    if let Ok(url) = public.resolve("192.0.2.1".parse().expect("literal"), &headers) {
        assert!(url.path().ends_with("/mcp"));
        assert_eq!(ResourceUri::parse(url.as_str()).ok().as_ref(), Some(&url));
    }
});
