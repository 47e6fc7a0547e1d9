//! The JWKS refresher behind a live layer under faults and load: slow, broken and
//! hostile endpoints never hang a request or let a bad token in; a rotation under load
//! rejects nothing wrongly.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

use super::*;

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

    let now = crate::sys::now().as_secs();
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
            let started = crate::sys::monotonic();
            let status = status_through(&layer, &token).await;
            (status, crate::sys::monotonic() - started)
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
    let started = crate::sys::monotonic();
    assert_eq!(
        status_through(&layer, &forged).await,
        StatusCode::UNAUTHORIZED
    );
    let took = crate::sys::monotonic() - started;
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
    let now = crate::sys::now().as_secs();
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
    let t = crate::sys::monotonic();
    assert_eq!(
        status_through(&layer, &rogue).await,
        StatusCode::UNAUTHORIZED
    );
    assert!(crate::sys::monotonic() - t < Duration::from_secs(3));
    refresher.abort();
}
