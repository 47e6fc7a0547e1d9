//! The whole flow over loopback: its request count, the SSRF guard on discovery, the
//! file store.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

use super::*;

/// From the first 401 to the authorized request, the client makes the requests the flow
/// needs and no more: PRM, AS metadata, registration, authorization, token, retry.
#[tokio::test(flavor = "current_thread")]
async fn a_whole_authorization_costs_exactly_the_needed_requests() {
    let world = Shared::default();
    let base = start(world.clone()).await;
    let server = ResourceUri::parse(&format!("{base}/mcp")).unwrap();
    let oauth = client(Arc::new(MemoryStore::new()));

    let (status, headers) = mcp(&base, None).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let token = oauth
        .handle_challenge(&server, status, &headers, None, "tools/list")
        .await
        .unwrap();
    let (status, _) = mcp(&base, Some(&token)).await;
    assert_eq!(status, StatusCode::OK);

    let log: Vec<String> = world
        .lock()
        .unwrap()
        .log
        .iter()
        .map(|(m, p)| format!("{m} {p}"))
        .collect();
    assert_eq!(
        log,
        [
            "POST /mcp",
            "GET /.well-known/oauth-protected-resource/mcp",
            "GET /.well-known/oauth-authorization-server",
            "POST /register",
            "GET /authorize",
            "POST /token",
            "POST /mcp",
        ]
    );
    assert_eq!(
        oauth.requests_sent(),
        4,
        "PRM, metadata, registration, token"
    );
    // The credential is stored; the next request needs nothing.
    assert_eq!(
        oauth.access_token(&server).await.unwrap().as_deref(),
        Some("at-0")
    );
    assert_eq!(world.lock().unwrap().log.len(), 7);
}

/// SSRF: protected resource metadata naming the cloud metadata address, or a challenge
/// whose metadata URL resolves to a private address, is refused before any connection.
#[tokio::test(flavor = "current_thread")]
async fn discovery_never_reaches_private_addresses() {
    let world = Shared::default();
    let base = start(world.clone()).await;
    world.lock().unwrap().servers = Some(vec!["https://169.254.169.254".into()]);
    let server = ResourceUri::parse(&format!("{base}/mcp")).unwrap();
    let oauth = client(Arc::new(MemoryStore::new()));
    let (status, headers) = mcp(&base, None).await;
    let err = oauth
        .handle_challenge(&server, status, &headers, None, "x")
        .await
        .unwrap_err();
    assert!(
        matches!(err, ClientError::Fetch(FetchError::Forbidden)),
        "{err:?}"
    );

    // A name that resolves to 10.0.0.1 (pinned here, as DNS would answer).
    let f = Fetcher::with_ring(
        FetchConfig::default()
            .with_timeout(Duration::from_secs(30))
            .allow_loopback()
            .insecure_allow_http()
            .resolve("metadata.internal.example", IpAddr::from([10, 0, 0, 1])),
    )
    .unwrap();
    let agent = Arc::new(HeadlessBrowser::new(f.clone(), "http://127.0.0.1/callback"));
    let oauth = OAuthClient::new(
        ClientConfig::native("test", "http://127.0.0.1/callback"),
        f,
        Arc::new(MemoryStore::new()),
        agent,
    );
    let mut h = HeaderMap::new();
    h.insert(
        header::WWW_AUTHENTICATE,
        r#"Bearer resource_metadata="https://metadata.internal.example/prm""#
            .parse()
            .unwrap(),
    );
    let started = std::time::Instant::now();
    let err = oauth
        .handle_challenge(&server, StatusCode::UNAUTHORIZED, &h, None, "x")
        .await
        .unwrap_err();
    assert!(
        matches!(err, ClientError::Fetch(FetchError::Forbidden)),
        "{err:?}"
    );
    // Refused by the resolver, not by a connect timeout to an unroutable address.
    assert!(started.elapsed() < Duration::from_secs(5));
}

/// The file store survives a round trip and keeps clients by issuer.
#[test]
fn file_store_round_trip() {
    let dir = std::env::temp_dir().join(format!("mcp-oauth-store-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let s = FileStore::new(dir.join("a").join("store.json"));
    assert!(s.client("https://as").unwrap().is_none());
    s.save_client(
        "https://as",
        &mcp_oauth_client_flow::RegisteredClient::new("c"),
    )
    .unwrap();
    assert_eq!(s.client("https://as").unwrap().unwrap().client_id, "c");
    std::fs::write(s.path(), b"not json").unwrap();
    assert!(
        s.clients().is_err(),
        "a corrupt file is an error, not an empty store"
    );
    let _ = std::fs::remove_dir_all(&dir);
}
