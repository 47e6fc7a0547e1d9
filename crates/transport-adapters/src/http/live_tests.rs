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
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
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

/// Issue 6 faults: the JWKS endpoint down at start, hanging, and answering garbage
/// mid-run. Known keys keep working; without keys the answer is a prompt 401 — never a
/// 500, never a hung request.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn jwks_faults_never_hang_or_fail_open() {
    use std::sync::atomic::{AtomicU8, Ordering};
    let k = TestKeys::load().unwrap();
    let good = serde_json::to_vec(&json!({"keys": [k.rs1.jwk()]})).unwrap();

    // A listener that accepts and never answers (a hung endpoint).
    let hang = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let hang_addr = hang.local_addr().unwrap();
    tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((s, _)) = hang.accept().await {
            held.push(s);
        }
    });
    // 0 = good keys, 1 = garbage, 2 = 500.
    let mode = Arc::new(AtomicU8::new(0));
    let m = mode.clone();
    let addr = serve(Arc::new(move |_: &str| match m.load(Ordering::SeqCst) {
        0 => (StatusCode::OK, vec![], good.clone()),
        1 => (StatusCode::OK, vec![], b"<html>oops</html>".to_vec()),
        _ => (StatusCode::INTERNAL_SERVER_ERROR, vec![], Vec::new()),
    }))
    .await;

    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let token = k.rs1.sign(
        &header("RS256", "rs1"),
        &json!({"iss": ISSUER, "aud": RESOURCE, "sub": "u", "exp": now + 600}),
    );
    let fast_fetcher = || {
        Fetcher::with_ring(
            FetchConfig::default()
                .with_timeout(Duration::from_millis(500))
                .dangerous_allow_private_addresses()
                .insecure_allow_http(),
        )
        .unwrap()
    };
    let status_via = |keys: Arc<CachedKeys>| {
        let layer = layer_over(keys);
        let token = token.clone();
        async move {
            let started = std::time::Instant::now();
            let status = status_through(&layer, &token).await;
            (status, started.elapsed())
        }
    };

    // Hung endpoint from the start: a prompt 401, again and again.
    let hung = CachedKeys::new(JwksCache::new(
        format!("http://{hang_addr}/jwks"),
        Arc::new(Ring),
        JwksConfig::default(),
    ));
    let r = spawn_jwks_refresher(hung.clone(), fast_fetcher());
    for _ in 0..3 {
        let (status, took) = status_via(hung.clone()).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED);
        assert!(
            took < Duration::from_millis(200),
            "the request path never waits for a fetch: {took:?}"
        );
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    r.abort();

    // Good at first, then garbage, then 500: the known key keeps working.
    let no_cooldown = JwksConfig {
        unknown_kid_cooldown: Duration::ZERO,
        initial_backoff: Duration::ZERO,
        ..JwksConfig::default()
    };
    let keys = CachedKeys::new(JwksCache::new(
        format!("http://{addr}/jwks"),
        Arc::new(Ring),
        no_cooldown,
    ));
    let r = spawn_jwks_refresher(keys.clone(), fast_fetcher());
    let mut loaded = false;
    for _ in 0..50 {
        if status_via(keys.clone()).await.0 == StatusCode::OK {
            loaded = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(loaded);
    for bad in [1, 2] {
        mode.store(bad, Ordering::SeqCst);
        // Ask for a refetch (an unknown kid), let it fail, and check the old key still works.
        let before = keys.with(|c| c.fetch_count()).unwrap();
        // Failures back off (1 s, then 2 s, …): keep asking until a refetch happens.
        let mut refetched = false;
        for _ in 0..40 {
            let _ =
                crate::KeySource::keys(&*keys, Some("unknown"), mcp_oauth_common::UnixTime(now));
            tokio::time::sleep(Duration::from_millis(250)).await;
            if keys.with(|c| c.fetch_count()).unwrap() > before {
                refetched = true;
                break;
            }
        }
        assert!(refetched, "mode {bad}: a refetch happened within 10 s");
        // Let the failed fetch be handled before checking the old key.
        tokio::time::sleep(Duration::from_millis(300)).await;
        assert_eq!(
            status_via(keys.clone()).await.0,
            StatusCode::OK,
            "mode {bad}"
        );
    }
    // While failures back off, a token with an unknown kid (a forgery, or a key the
    // endpoint cannot deliver now) is refused at once: no fetch can start, so nothing is
    // worth waiting for (a flood of forged kids must not hold requests for `key_wait`).
    let forged = k.rs1.sign(
        &header("RS256", "not-published"),
        &json!({"iss": ISSUER, "aud": RESOURCE, "sub": "u", "exp": now + 600}),
    );
    let layer = layer_over(keys.clone());
    let started = std::time::Instant::now();
    assert_eq!(
        status_through(&layer, &forged).await,
        StatusCode::UNAUTHORIZED
    );
    let took = started.elapsed();
    assert!(
        took < Duration::from_millis(500),
        "no wait during a backoff: {took:?}"
    );
    r.abort();
}

/// Issue 6: key rotation under load with no wrong rejection. Many concurrent clients;
/// the authorization server publishes a new key next to the old one and signs with it
/// at once (the common case: clients see the new `kid` before this server's scheduled
/// refresh). Every request signed with a published key is accepted, including the
/// first ones with the new `kid` (they wait for the fetch they start), with the normal
/// 60 s unknown-kid cooldown in force; then the old key is removed and its tokens stop
/// passing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn key_rotation_under_load_rejects_nothing_wrongly() {
    let k = TestKeys::load().unwrap();
    let current = Arc::new(Mutex::new(json!({"keys": [k.rs1.jwk()]})));
    let fetches = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let (served, count) = (current.clone(), fetches.clone());
    let addr = serve(Arc::new(move |_: &str| {
        count.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        let body = serde_json::to_vec(&*served.lock().unwrap()).unwrap();
        (
            StatusCode::OK,
            vec![("cache-control", "max-age=3600".to_owned())],
            body,
        )
    }))
    .await;
    let keys = CachedKeys::new(JwksCache::new(
        format!("http://{addr}/jwks"),
        Arc::new(Ring),
        JwksConfig::default(),
    ));
    let refresher = spawn_jwks_refresher(keys.clone(), loopback_fetcher());
    let layer = layer_over(keys.clone());
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let old = k.rs1.sign(
        &header("RS256", "rs1"),
        &json!({"iss": ISSUER, "aud": RESOURCE, "sub": "u", "exp": now + 600}),
    );
    let new = k.rs2.sign(
        &header("RS256", "rs2"),
        &json!({"iss": ISSUER, "aud": RESOURCE, "sub": "u", "exp": now + 600}),
    );

    // Wait for the first load (the refresher starts at once).
    for _ in 0..50 {
        if status_through(&layer, &old).await == StatusCode::OK {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    async fn ok(
        _: Request<crate::EitherBody<Full<Bytes>>>,
    ) -> Result<Response<Full<Bytes>>, Infallible> {
        Ok(Response::new(Full::new(Bytes::from_static(b"ok"))))
    }
    let svc = layer.layer(service_fn(ok));
    let load = |token: String, n: usize| {
        let svc = svc.clone();
        async move {
            let mut tasks = Vec::new();
            for _ in 0..n {
                let req = Request::post("https://mcp.example.com/mcp")
                    .header("authorization", format!("Bearer {token}"))
                    .body(Full::new(Bytes::new()))
                    .unwrap();
                let svc = svc.clone();
                tasks.push(tokio::spawn(async move {
                    svc.oneshot(req).await.unwrap().status()
                }));
            }
            let mut bad = 0;
            for t in tasks {
                if t.await.unwrap() != StatusCode::OK {
                    bad += 1;
                }
            }
            bad
        }
    };
    assert_eq!(load(old.clone(), 200).await, 0, "before the rotation");
    let before = fetches.load(std::sync::atomic::Ordering::SeqCst);

    // Rotation: both keys published; the new one is used at once, by 200 requests at once,
    // while the old one keeps being used too.
    *current.lock().unwrap() = json!({"keys": [k.rs1.jwk(), k.rs2.jwk()]});
    let (bad_new, bad_old) = tokio::join!(load(new.clone(), 200), load(old.clone(), 200));
    assert_eq!(
        bad_new, 0,
        "no request with the newly published key is refused"
    );
    assert_eq!(bad_old, 0, "the old key still verifies while published");
    let during = fetches.load(std::sync::atomic::Ordering::SeqCst) - before;
    assert!(
        during <= 2,
        "the burst of unknown kids cost {during} fetches"
    );

    // A kid that was never published is still refused, promptly (cooldown: no new fetch).
    let rogue = k.atk.sign(
        &header("RS256", "atk"),
        &json!({"iss": ISSUER, "aud": RESOURCE, "exp": now + 600}),
    );
    let t = std::time::Instant::now();
    assert_eq!(
        status_through(&layer, &rogue).await,
        StatusCode::UNAUTHORIZED
    );
    assert!(t.elapsed() < Duration::from_secs(3));
    refresher.abort();
}
