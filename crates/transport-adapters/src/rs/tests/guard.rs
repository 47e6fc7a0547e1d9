//! The guard through the layer: rate limits, blocks, trusted proxies.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

use super::*;

#[tokio::test]
async fn guard_rate_limits_and_blocks_with_429() {
    use mcp_oauth_guard::{GuardConfig, Rate};
    let config = GuardConfig {
        per_address: Some(Rate {
            burst: 3,
            per_second: 0.001,
        }),
        per_client: None,
        per_subject: Some(Rate {
            burst: 2,
            per_second: 0.001,
        }),
        per_tenant: None,
        max_failures: 2,
        failure_window: std::time::Duration::from_secs(60),
        block_for: std::time::Duration::from_secs(120),
        max_keys: 100,
    };
    let layer = resource(trusted(), false)
        .guard(config)
        .monotonic_clock(|| std::time::Duration::from_secs(1000))
        .layer();
    let from = |ip: &str, auth: Option<&str>| {
        let mut r = post(auth, &call("whoami"));
        r.extensions_mut()
            .insert(crate::ClientAddr(ip.parse().unwrap()));
        r
    };
    let valid = format!("Bearer {}", token(|_| {}));
    let send_raw = |req: Request<Full<Bytes>>| {
        let svc = layer.layer(service_fn(inner));
        async move { svc.oneshot(req).await.unwrap() }
    };
    // Per subject: two requests pass, the third is 429 with Retry-After.
    assert_eq!(
        send_raw(from("198.51.100.1", Some(&valid))).await.status(),
        StatusCode::OK
    );
    assert_eq!(
        send_raw(from("198.51.100.1", Some(&valid))).await.status(),
        StatusCode::OK
    );
    let r = send_raw(from("198.51.100.2", Some(&valid))).await;
    assert_eq!(r.status(), StatusCode::TOO_MANY_REQUESTS);
    assert!(
        r.headers()["retry-after"]
            .to_str()
            .unwrap()
            .parse::<u64>()
            .unwrap()
            >= 1
    );
    // Per address (burst 3): the third request from .1 still passes the address limit,
    // the fourth is refused before its token is read.
    assert_eq!(
        send_raw(from("198.51.100.1", None)).await.status(),
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        send_raw(from("198.51.100.1", None)).await.status(),
        StatusCode::TOO_MANY_REQUESTS
    );
    // Invalid tokens block their source, even for a valid token afterwards.
    let bad = "Bearer garbage";
    assert_eq!(
        send_raw(from("198.51.100.9", Some(bad))).await.status(),
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        send_raw(from("198.51.100.9", Some(bad))).await.status(),
        StatusCode::UNAUTHORIZED
    );
    let r = send_raw(from("198.51.100.9", Some(&valid))).await;
    assert_eq!(r.status(), StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(r.headers()["retry-after"], "120");
}

/// Behind a trusted reverse proxy, the guard limits and blocks each client by the address
/// the proxy forwards: one client's invalid tokens block that client, not everyone behind
/// the proxy. From a peer that is not a listed proxy the header is ignored, so a client
/// cannot name someone else's address to get it blocked.
#[tokio::test]
async fn guard_behind_trusted_proxies_blocks_the_client_not_the_proxy() {
    use mcp_oauth_guard::{GuardConfig, TrustedProxies};
    let config = GuardConfig {
        max_failures: 2,
        block_for: std::time::Duration::from_secs(120),
        ..GuardConfig::default()
    };
    let layer = resource(trusted(), false)
        .guard(config)
        .trusted_proxies(TrustedProxies::x_forwarded_for(["10.0.0.0/24"
            .parse()
            .unwrap()]))
        .monotonic_clock(|| std::time::Duration::from_secs(1000))
        .layer();
    let via = |peer: &str, forwarded: &str, auth: &str| {
        let mut r = post(Some(auth), &call("whoami"));
        r.extensions_mut()
            .insert(crate::ClientAddr(peer.parse().unwrap()));
        r.headers_mut()
            .insert("x-forwarded-for", forwarded.parse().unwrap());
        r
    };
    let send = |req: Request<Full<Bytes>>| {
        let svc = layer.layer(service_fn(inner));
        async move { svc.oneshot(req).await.unwrap().status() }
    };
    let valid = format!("Bearer {}", token(|_| {}));
    let bad = "Bearer garbage";
    let proxy = "10.0.0.1";
    for _ in 0..2 {
        assert_eq!(
            send(via(proxy, "203.0.113.1, 198.51.100.66", bad)).await,
            StatusCode::UNAUTHORIZED
        );
    }
    // The client who sent them is blocked, through the proxy or (spoofing) a made-up
    // header prefix alike.
    assert_eq!(
        send(via(proxy, "198.51.100.66", &valid)).await,
        StatusCode::TOO_MANY_REQUESTS
    );
    assert_eq!(
        send(via(proxy, "192.0.2.1, 198.51.100.66, 10.0.0.2", &valid)).await,
        StatusCode::TOO_MANY_REQUESTS
    );
    // Everyone else behind the same proxy is not.
    assert_eq!(
        send(via(proxy, "198.51.100.7", &valid)).await,
        StatusCode::OK
    );
    assert_eq!(
        send(via(proxy, "203.0.113.1", &valid)).await,
        StatusCode::OK
    );
    // A direct client naming someone else's address blocks only itself.
    for _ in 0..2 {
        assert_eq!(
            send(via("192.0.2.99", "198.51.100.8", bad)).await,
            StatusCode::UNAUTHORIZED
        );
    }
    assert_eq!(
        send(via("192.0.2.99", "198.51.100.8", &valid)).await,
        StatusCode::TOO_MANY_REQUESTS
    );
    assert_eq!(
        send(via(proxy, "198.51.100.8", &valid)).await,
        StatusCode::OK
    );
}
