//! A multi-tenant server is one layer: each `Host` is a tenant with its own resource,
//! metadata, issuer and keys; a token of one tenant's issuer is refused at the other's
//! host, and a host that is no tenant's is refused.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

use mcp_oauth_tenant::{IssuerTrust, Registry, Resolver, TenantId, TenantTrust};

use super::*;
use crate::rs::Tenants;

const AS_A: &str = "https://as-a.example.com";
const AS_B: &str = "https://as-b.example.com";

fn tenant(id: &str, host: &str, issuer: &str, keys: Arc<KeySet>) -> TenantTrust {
    let me = ResourceUri::parse(&format!("http://{host}/mcp")).unwrap();
    let prm = PrmBuilder::new(me.clone())
        .authorization_server(issuer)
        .build()
        .unwrap();
    TenantTrust::new(TenantId::new(id), me.clone())
        .issuer(issuer, IssuerTrust::new(Policy::new(issuer, &me), keys))
        .prm(prm)
}

fn set(k: &mcp_oauth_tests::jwt::TestKey) -> Arc<KeySet> {
    Arc::new(
        KeySet::from_value(&json!({"keys": [k.jwk()]}), &Ring, &KeySetLimits::default()).unwrap(),
    )
}

fn layer() -> RequireAuthLayer {
    let k = TestKeys::load().unwrap();
    let mut registry = Registry::new(Resolver::Host);
    // The trusts hold no usable keys: the per-issuer key sources (what a refresher keeps
    // fresh) are what verify.
    let none = Arc::new(KeySet::default());
    registry
        .add(
            "127.0.0.1:8080",
            tenant("a", "127.0.0.1:8080", AS_A, none.clone()),
        )
        .unwrap();
    registry
        .add("127.0.0.2:8080", tenant("b", "127.0.0.2:8080", AS_B, none))
        .unwrap();
    let keys: Vec<(String, Arc<dyn KeySource>)> = vec![
        (AS_A.to_owned(), Arc::new(StaticKeys(set(&k.rs1)))),
        (AS_B.to_owned(), Arc::new(StaticKeys(set(&k.rs2)))),
    ];
    ProtectedResource::multi_tenant(Tenants::new(registry, keys).unwrap())
        .clock(|| UnixTime(N))
        .layer()
}

fn token_of(issuer: &str, host: &str) -> String {
    let k = TestKeys::load().unwrap();
    let mut c = claims();
    c["iss"] = json!(issuer);
    c["aud"] = json!(format!("http://{host}/mcp"));
    let key = if issuer == AS_A { &k.rs1 } else { &k.rs2 };
    key.sign(&header("RS256", key.kid), &c)
}

fn at(host: &str, path: &str, token: Option<&str>) -> Request<Full<Bytes>> {
    let mut b = Request::post(format!("http://{host}{path}"))
        .header("host", host)
        .header("content-type", "application/json");
    if let Some(t) = token {
        b = b.header("authorization", format!("Bearer {t}"));
    }
    b.body(Full::new(Bytes::from(call("whoami")))).unwrap()
}

#[tokio::test]
async fn tokens_stay_with_their_tenant_and_unknown_hosts_are_refused() {
    let layer = layer();
    let a = "127.0.0.1:8080";
    let b = "127.0.0.2:8080";
    let for_a = token_of(AS_A, a);
    let for_b = token_of(AS_B, b);

    let (status, _, body) = send(&layer, at(a, "/mcp", Some(&for_a))).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["sub"], "user-1");
    let (status, _, _) = send(&layer, at(b, "/mcp", Some(&for_b))).await;
    assert_eq!(status, StatusCode::OK);

    // A's token at B: B does not trust A's issuer. The challenge points to B's metadata.
    let (status, challenge, _) = send(&layer, at(b, "/mcp", Some(&for_a))).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let challenge = challenge.unwrap();
    assert_eq!(challenge.error.as_deref(), Some("invalid_token"));
    assert_eq!(
        challenge.resource_metadata.as_deref(),
        Some("http://127.0.0.2:8080/.well-known/oauth-protected-resource/mcp")
    );
    // Even with A's audience rewritten to B's, A's issuer is not B's.
    let (status, _, _) = send(&layer, at(b, "/mcp", Some(&token_of(AS_A, b)))).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);

    // No token at A: the challenge names A's metadata.
    let (status, challenge, _) = send(&layer, at(a, "/mcp", None)).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(
        challenge.unwrap().resource_metadata.as_deref(),
        Some("http://127.0.0.1:8080/.well-known/oauth-protected-resource/mcp")
    );

    // Each tenant's metadata on its own host.
    let prm = |host: &str| {
        Request::get(format!(
            "http://{host}/.well-known/oauth-protected-resource/mcp"
        ))
        .header("host", host)
        .body(Full::new(Bytes::new()))
        .unwrap()
    };
    let (status, _, doc) = send(&layer, prm(b)).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(doc["resource"], "http://127.0.0.2:8080/mcp");
    assert_eq!(doc["authorization_servers"], json!([AS_B]));

    // A host that is no tenant's: 404, with or without a valid token, metadata included.
    for req in [
        at("localhost:8080", "/mcp", Some(&for_a)),
        at("localhost:8080", "/mcp", None),
        prm("localhost:8080"),
    ] {
        let (status, challenge, _) = send(&layer, req).await;
        assert_eq!(status, StatusCode::NOT_FOUND);
        assert!(challenge.is_none());
    }
}
