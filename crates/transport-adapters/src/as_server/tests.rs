//! The authorization server over HTTP: the RS256 signer (JWTAT-1) and what the adapter
//! adds to each answer (no CORS on the authorization endpoint, O21-23).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use http::{Method, Request, StatusCode, header};
use http_body_util::{BodyExt as _, Full};
use mcp_oauth_authorization_server::{
    AsConfig, AuthorizationServer, AutoApprove, MemoryStorage, Storage as _, StoredClient,
};
use mcp_oauth_common::UnixTime;
use mcp_oauth_jwt_validate::crypto::Ring;
use mcp_oauth_jwt_validate::{KeySet, KeySetLimits, Policy, Validator};
use mcp_oauth_resource_indicators::ResourceUri;
use serde_json::{Value, json};
use sha2::Digest as _;

use crate::as_server::{AsService, Rs256Signer};

const ISS: &str = "https://auth.example.com";
const MCP: &str = "https://mcp.example.com/mcp";

fn rs256_server() -> AuthorizationServer<MemoryStorage> {
    let signer =
        Rs256Signer::from_pkcs8(include_bytes!("../../../../tests/fixtures/jwt/rs1.pk8"))
            .unwrap();
    let config = AsConfig::new(ISS).resource(ResourceUri::parse(MCP).unwrap(), ["mcp:read"]);
    AuthorizationServer::new(
        config,
        MemoryStorage::new(),
        Box::new(signer),
        Box::new(AutoApprove {
            subject: "alice".into(),
        }),
    )
    .unwrap()
}

/// JWTAT-1: the AS can sign RS256, and a resource server validates what it signs.
#[test]
fn the_as_signs_rs256_access_tokens() {
    let s = rs256_server();
    let metadata: ClientMetadataValue = json!({
        "token_endpoint_auth_method": "client_secret_basic",
        "grant_types": ["client_credentials"]
    });
    s.storage().put_client(StoredClient::new(
        "svc",
        Some(sha2::Sha256::digest(b"secret").into()),
        serde_json::from_value(metadata).unwrap(),
    ));
    let basic = format!("Basic {}", STANDARD.encode("svc:secret"));
    let body = format!(
        "grant_type=client_credentials&scope=mcp%3Aread&resource={}",
        mcp_oauth_resource_indicators::url::form_urlencoded::byte_serialize(MCP.as_bytes())
            .collect::<String>()
    );
    let now = UnixTime(1_800_000_000);
    let r = s.token(now, Some(&basic), body.as_bytes(), &[7u8; 64]);
    assert_eq!(
        r.status(),
        StatusCode::OK,
        "{}",
        String::from_utf8_lossy(r.body())
    );
    let token: Value = serde_json::from_slice(r.body()).unwrap();
    let token = token["access_token"].as_str().unwrap();

    let jwks: Value = serde_json::from_slice(s.jwks_response().body()).unwrap();
    assert_eq!(jwks["keys"][0]["alg"], "RS256");
    assert_eq!(jwks["keys"][0]["kty"], "RSA");
    let keys = KeySet::from_value(&jwks, &Ring, &KeySetLimits::default()).unwrap();
    let ctx = Validator::new(Policy::new(ISS, &ResourceUri::parse(MCP).unwrap()))
        .validate(token, &keys, now)
        .unwrap();
    assert_eq!(ctx.algorithm(), Some(mcp_oauth_jwt_validate::Algorithm::RS256));
    assert_eq!(ctx.client_id(), Some("svc"));
    // Not a key ring accepts as RSA: too small, or not RSA at all.
    assert!(Rs256Signer::from_pkcs8(b"not a key").is_err());
    assert!(
        Rs256Signer::from_pkcs8(include_bytes!("../../../../tests/fixtures/jwt/ec1.pk8"))
            .is_err()
    );
}

type ClientMetadataValue = Value;

/// O21-23: the authorization endpoint answers no CORS request (it is reached by
/// navigation, never by a script), and neither does any other endpoint of the AS but the
/// metadata; ASM-7: the metadata is 200 `application/json`.
#[tokio::test]
async fn no_cors_at_the_authorization_endpoint_and_json_metadata() {
    let service = AsService::new(
        rs256_server(),
        crate::Fetcher::with_ring(crate::FetchConfig::default()).unwrap(),
    );
    let send = |method: Method, path: &str| {
        Request::builder()
            .method(method)
            .uri(path)
            .header(header::ORIGIN, "https://evil.example")
            .header(header::ACCESS_CONTROL_REQUEST_METHOD, "GET")
            .body(Full::new(bytes::Bytes::new()))
            .unwrap()
    };
    for (method, path) in [
        (Method::OPTIONS, "/authorize"),
        (Method::GET, "/authorize?response_type=code&client_id=x"),
        (Method::POST, "/token"),
    ] {
        let r = service.handle(send(method.clone(), path), None).await;
        for (name, _) in r.headers() {
            assert!(
                !name.as_str().starts_with("access-control-"),
                "{method} {path} answered with {name}"
            );
        }
        assert_ne!(r.status(), StatusCode::NO_CONTENT, "{method} {path}");
    }
    let r = service
        .handle(
            send(Method::GET, "/.well-known/oauth-authorization-server"),
            None,
        )
        .await;
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(r.headers()[header::CONTENT_TYPE], "application/json");
    let body = r.into_body().collect().await.unwrap().to_bytes();
    let doc: Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(doc["issuer"], ISS);
    // Empty-valued members are omitted (RFC 8414 §3.2).
    for (k, v) in doc.as_object().unwrap() {
        assert!(!v.is_null(), "{k} is null");
        assert!(v.as_array().is_none_or(|a| !a.is_empty()), "{k} is empty");
    }
}

/// Behind a trusted reverse proxy the AS limits each client by the address the proxy
/// forwarded, so one client's flood does not lock the others out; without the proxy named
/// (the default) every client shares the proxy's budget.
#[tokio::test]
async fn the_as_limiter_resolves_clients_behind_trusted_proxies() {
    let proxy: std::net::SocketAddr = "10.0.0.5:40000".parse().unwrap();
    let post = |client: &str| {
        Request::builder()
            .method(Method::POST)
            .uri("/token")
            .header("x-forwarded-for", client)
            .body(Full::new(bytes::Bytes::from_static(b"grant_type=x")))
            .unwrap()
    };
    let fetcher = || crate::Fetcher::with_ring(crate::FetchConfig::default()).unwrap();
    let behind = AsService::new(rs256_server(), fetcher()).trusted_proxies(
        mcp_oauth_guard::TrustedProxies::x_forwarded_for(["10.0.0.0/8".parse().unwrap()]),
    );
    let default = AsService::new(rs256_server(), fetcher());
    for service in [&behind, &default] {
        let mut limited = false;
        for _ in 0..40 {
            let r = service.handle(post("198.51.100.1"), Some(proxy)).await;
            limited |= r.status() == StatusCode::TOO_MANY_REQUESTS;
        }
        assert!(limited, "the flooding client was never limited");
    }
    let other = behind.handle(post("198.51.100.2"), Some(proxy)).await;
    assert_ne!(other.status(), StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(
        default
            .handle(post("198.51.100.2"), Some(proxy))
            .await
            .status(),
        StatusCode::TOO_MANY_REQUESTS,
        "untrusted: the header is ignored and everyone shares the proxy's budget"
    );
}
