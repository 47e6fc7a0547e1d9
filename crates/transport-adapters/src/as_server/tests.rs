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

/// Durable state through the service (issue 16): a client registered over HTTP, a code
/// issued at `/authorize` and the signing key all survive a restart of the service on the
/// same SQLite file and key file; the code issued before the restart is redeemed after it.
/// The SQLite store blocks, so the service runs the core on a blocking thread.
#[cfg(feature = "sqlite")]
#[tokio::test]
async fn state_survives_a_restart_on_sqlite() {
    use crate::as_server::key_file;
    use crate::store::{SqliteConfig, SqliteStorage};

    let dir = std::env::temp_dir().join(format!("mcp-oauth-as-restart-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let start = || {
        let config = AsConfig::new(ISS).resource(ResourceUri::parse(MCP).unwrap(), ["mcp:read"]);
        let server = key_file::load_or_create(&dir.join("signing.pem"))
            .unwrap()
            .server(
                config,
                SqliteStorage::open(SqliteConfig::new(dir.join("as.db"))).unwrap(),
                Box::new(AutoApprove {
                    subject: "alice".into(),
                }),
            )
            .unwrap();
        AsService::new(
            server,
            crate::Fetcher::with_ring(crate::FetchConfig::default()).unwrap(),
        )
    };
    async fn call(s: &AsService<SqliteStorage>, req: Request<Full<bytes::Bytes>>) -> (StatusCode, http::HeaderMap, Vec<u8>) {
        let r = s.handle(req, None).await;
        let (parts, body) = r.into_parts();
        (parts.status, parts.headers, body.collect().await.unwrap().to_bytes().to_vec())
    }
    let get = |uri: &str| Request::get(uri).body(Full::new(bytes::Bytes::new())).unwrap();
    let post = |uri: &str, ct: &str, body: String| {
        Request::post(uri)
            .header(header::CONTENT_TYPE, ct)
            .body(Full::new(bytes::Bytes::from(body)))
            .unwrap()
    };
    let redirect = "http://127.0.0.1:7000/cb";
    let verifier = "dBjftJeZ4CVP-mJ92K9zt0-MA6vT9_xPeJc0Bj7qVuGA7LSiPsM";
    let challenge = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .encode(sha2::Sha256::digest(verifier.as_bytes()));

    let (client_id, jwks, code) = {
        let a = start();
        let reg = json!({"redirect_uris": [redirect], "token_endpoint_auth_method": "none",
                         "grant_types": ["authorization_code", "refresh_token"]});
        let (status, _, body) = call(&a, post("/register", "application/json", reg.to_string())).await;
        assert_eq!(status, StatusCode::CREATED);
        let id = serde_json::from_slice::<Value>(&body).unwrap()["client_id"]
            .as_str()
            .unwrap()
            .to_owned();
        let (_, _, jwks) = call(&a, get("/jwks")).await;
        let q = format!(
            "/authorize?response_type=code&client_id={id}&redirect_uri={}&code_challenge={challenge}&code_challenge_method=S256&resource={}&scope=mcp:read",
            "http%3A%2F%2F127.0.0.1%3A7000%2Fcb",
            "https%3A%2F%2Fmcp.example.com%2Fmcp"
        );
        let (status, headers, _) = call(&a, get(&q)).await;
        assert_eq!(status, StatusCode::FOUND);
        let location = headers[header::LOCATION].to_str().unwrap().to_owned();
        let code = url::Url::parse(&location)
            .unwrap()
            .query_pairs()
            .find(|(k, _)| k == "code")
            .unwrap()
            .1
            .into_owned();
        (id, jwks, code)
    };

    let b = start();
    let (_, _, jwks_after) = call(&b, get("/jwks")).await;
    assert_eq!(jwks_after, jwks, "the same key after a restart");
    assert!(b.server().storage().client(&client_id).is_some());
    let form = format!(
        "grant_type=authorization_code&code={code}&redirect_uri={}&code_verifier={verifier}&client_id={client_id}",
        "http%3A%2F%2F127.0.0.1%3A7000%2Fcb"
    );
    let (status, _, body) = call(&b, post("/token", "application/x-www-form-urlencoded", form.clone())).await;
    assert_eq!(status, StatusCode::OK, "{}", String::from_utf8_lossy(&body));
    let (status, _, _) = call(&b, post("/token", "application/x-www-form-urlencoded", form)).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "single use across the restart too");
    drop(b);
    std::fs::remove_dir_all(&dir).unwrap();
}
