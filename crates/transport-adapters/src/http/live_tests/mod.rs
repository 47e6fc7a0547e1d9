//! The client side over real sockets on loopback: the SSRF guard, no redirects, limits,
//! and the JWKS refresher picking up a key rotation behind a live layer.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use http::{Request, Response, StatusCode};
use http_body_util::Full;
use hyper::body::Incoming;
use hyper_util::rt::TokioIo;
use mcp_oauth_jwt_validate::crypto::Ring;
use mcp_oauth_jwt_validate::{JwksCache, JwksConfig, Policy, Validator};
use mcp_oauth_prm_metadata::{PrmBuilder, PrmEndpoint};
use mcp_oauth_resource_indicators::ResourceUri;
use mcp_oauth_tests::jwt::{ISSUER, RESOURCE, TestKeys, header};
use serde_json::json;
use tower::{Layer, ServiceExt, service_fn};

use crate::{
    CachedKeys, FetchConfig, FetchError, Fetcher, ProtectedResource, spawn_jwks_refresher,
};

/// How the fake server answers a path: status, headers, body.
type Responder =
    Arc<dyn Fn(&str) -> (StatusCode, Vec<(&'static str, String)>, Vec<u8>) + Send + Sync>;

/// A loopback HTTP server answering every request with `respond`; returns its address.
async fn serve(respond: Responder) -> SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                return;
            };
            let respond = respond.clone();
            tokio::spawn(async move {
                let svc = hyper::service::service_fn(move |req: Request<Incoming>| {
                    let (status, headers, body) = respond(req.uri().path());
                    async move {
                        let mut resp = Response::new(Full::new(Bytes::from(body)));
                        *resp.status_mut() = status;
                        for (k, v) in headers {
                            resp.headers_mut().insert(k, v.parse().unwrap());
                        }
                        Ok::<_, Infallible>(resp)
                    }
                });
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), svc)
                    .await;
            });
        }
    });
    addr
}

/// A layer for the fixture issuer and resource over `keys`.
fn layer_over(keys: Arc<CachedKeys>) -> crate::RequireAuthLayer {
    let me = ResourceUri::parse(RESOURCE).unwrap();
    let prm = PrmBuilder::new(me.clone())
        .authorization_server(ISSUER)
        .build()
        .unwrap();
    ProtectedResource::new(
        Validator::new(Policy::new(ISSUER, &me)),
        keys,
        PrmEndpoint::new(prm, &me),
    )
    .layer()
}

/// One POST with `token` through `layer` to a service that answers 200: the status.
async fn status_through(layer: &crate::RequireAuthLayer, token: &str) -> StatusCode {
    let svc = layer.layer(service_fn(
        |_: Request<crate::EitherBody<Full<Bytes>>>| async {
            Ok::<_, Infallible>(Response::new(Full::new(Bytes::from_static(b"ok"))))
        },
    ));
    let req = Request::post("https://mcp.example.com/mcp")
        .header("authorization", format!("Bearer {token}"))
        .body(Full::new(Bytes::new()))
        .unwrap();
    svc.oneshot(req).await.unwrap().status()
}

fn loopback_fetcher() -> Fetcher {
    let config = FetchConfig::default()
        .with_timeout(Duration::from_secs(2))
        .with_max_body(64 * 1024)
        .dangerous_allow_private_addresses()
        .insecure_allow_http();
    Fetcher::with_ring(config).unwrap()
}

fn get(url: &str) -> Request<Vec<u8>> {
    Request::get(url).body(Vec::new()).unwrap()
}

#[tokio::test(flavor = "current_thread")]
async fn the_ssrf_guard_refuses_private_targets() {
    let strict = Fetcher::with_ring(FetchConfig::default()).unwrap();
    assert!(matches!(
        strict.fetch(get("http://example.com/")).await,
        Err(FetchError::Scheme)
    ));
    for url in [
        "https://127.0.0.1/jwks",
        "https://[::1]/jwks",
        "https://169.254.169.254/latest/meta-data/",
        "https://10.0.0.1/",
    ] {
        assert!(
            matches!(strict.fetch(get(url)).await, Err(FetchError::Forbidden)),
            "{url}"
        );
    }
    // A name that resolves to loopback is refused on the resolved address.
    assert!(matches!(
        strict.fetch(get("https://localhost/jwks")).await,
        Err(FetchError::Forbidden)
    ));
}

#[tokio::test(flavor = "current_thread")]
async fn redirects_are_returned_not_followed_and_bodies_are_capped() {
    let addr = serve(Arc::new(|path: &str| match path {
        "/redirect" => (
            StatusCode::FOUND,
            vec![("location", "http://169.254.169.254/".to_owned())],
            Vec::new(),
        ),
        "/big" => (StatusCode::OK, vec![], vec![b'x'; 100_000]),
        _ => (StatusCode::OK, vec![], b"{}".to_vec()),
    }))
    .await;
    let f = loopback_fetcher();
    let resp = f
        .fetch(get(&format!("http://{addr}/redirect")))
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::FOUND);
    assert!(matches!(
        f.fetch(get(&format!("http://{addr}/big"))).await,
        Err(FetchError::TooLarge)
    ));
    assert_eq!(
        f.fetch(get(&format!("http://{addr}/ok")))
            .await
            .unwrap()
            .body()
            .as_ref(),
        b"{}"
    );
}

#[tokio::test(flavor = "current_thread")]
async fn the_refresher_loads_keys_and_follows_a_rotation() {
    let k = TestKeys::load().unwrap();
    let current = Arc::new(Mutex::new(json!({"keys": [k.rs1.jwk()]})));
    let served = current.clone();
    let addr = serve(Arc::new(move |_: &str| {
        let body = serde_json::to_vec(&*served.lock().unwrap()).unwrap();
        (
            StatusCode::OK,
            vec![("cache-control", "max-age=3600".to_owned())],
            body,
        )
    }))
    .await;
    let config = JwksConfig {
        unknown_kid_cooldown: Duration::from_secs(0),
        ..JwksConfig::default()
    };
    let keys = CachedKeys::new(JwksCache::new(
        format!("http://{addr}/jwks"),
        Arc::new(Ring),
        config,
    ));
    let refresher = spawn_jwks_refresher(keys.clone(), loopback_fetcher());

    let layer = layer_over(keys.clone());
    let now = crate::sys::now().as_secs();
    let claims = json!({"iss": ISSUER, "aud": RESOURCE, "sub": "u", "exp": now + 600});
    let call = |token: String| {
        let layer = layer.clone();
        async move { status_through(&layer, &token).await }
    };
    let eventually = |token: String, want: StatusCode| async move {
        for _ in 0..50 {
            if call(token.clone()).await == want {
                return true;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        false
    };
    let old = k.rs1.sign(&header("RS256", "rs1"), &claims);
    assert!(eventually(old.clone(), StatusCode::OK).await, "first load");
    // Rotation: the AS now publishes only rs2 and signs with it.
    *current.lock().unwrap() = json!({"keys": [k.rs2.jwk()]});
    let new = k.rs2.sign(&header("RS256", "rs2"), &claims);
    assert!(
        eventually(new, StatusCode::OK).await,
        "the new key is picked up without a restart"
    );
    assert_eq!(
        call(old).await,
        StatusCode::UNAUTHORIZED,
        "the removed key no longer verifies"
    );
    refresher.abort();
}

mod faults;
