//! The tower client layer.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

use super::*;

/// The tower client layer: one request through it, from no credential to the answer.
#[tokio::test(flavor = "current_thread")]
async fn the_tower_layer_authorizes_and_retries() {
    use tower::{Layer as _, ServiceExt as _};
    let world = Shared::default();
    let base = start(world.clone()).await;
    let server = ResourceUri::parse(&format!("{base}/mcp")).unwrap();
    let oauth = client(Arc::new(MemoryStore::new()));
    let f = fetcher();
    let http = tower::service_fn(move |req: Request<Vec<u8>>| {
        let f = f.clone();
        async move { f.fetch(req).await }
    });
    let svc = crate::client::OAuthLayer::new(oauth, server).layer(http);
    let req = Request::builder()
        .method(Method::POST)
        .uri(format!("{base}/mcp"))
        .body(b"{}".to_vec())
        .unwrap();
    let resp = svc.clone().oneshot(req.clone()).await.unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    let posts = |w: &Shared| {
        w.lock()
            .unwrap()
            .log
            .iter()
            .filter(|(_, p)| p == "/mcp")
            .count()
    };
    assert_eq!(posts(&world), 2, "the 401, then the authorized retry");
    // The next request carries the stored token at once.
    let resp = svc.oneshot(req).await.unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    assert_eq!(posts(&world), 3);
}

/// MCP-TOK-2, BEARER-9: the tower client layer attaches the token to the resource URL and
/// the paths below it, and to nothing else on the origin (`/mcpx`, `/other`, the metadata,
/// a dot-segment path): those go out as they were made.
#[tokio::test(flavor = "current_thread")]
async fn the_tower_layer_sends_the_token_to_the_resource_url_only() {
    use tower::{Layer as _, ServiceExt as _};
    let world = Shared::default();
    let base = start(world.clone()).await;
    let server = ResourceUri::parse(&format!("{base}/mcp")).unwrap();
    let oauth = client(Arc::new(MemoryStore::new()));
    type Seen = Arc<Mutex<Vec<(String, Option<String>)>>>;
    let seen: Seen = Arc::default();
    let (f, log) = (fetcher(), seen.clone());
    let http = tower::service_fn(move |req: Request<Vec<u8>>| {
        let auth = req
            .headers()
            .get(header::AUTHORIZATION)
            .map(|v| v.to_str().unwrap().to_owned());
        log.lock()
            .unwrap()
            .push((req.uri().path().to_owned(), auth));
        let f = f.clone();
        async move { f.fetch(req).await }
    });
    let svc = crate::client::OAuthLayer::new(oauth, server).layer(http);
    let send = |path: &str| {
        let req = Request::builder()
            .method(Method::POST)
            .uri(format!("{base}{path}"))
            .body(b"{}".to_vec())
            .unwrap();
        svc.clone().oneshot(req)
    };
    // The first request runs the flow; from then on the token is stored.
    assert_eq!(send("/mcp").await.unwrap().status(), StatusCode::OK);
    seen.lock().unwrap().clear();
    for path in ["/mcp", "/mcp/", "/mcp/sub"] {
        send(path).await.unwrap();
    }
    for path in [
        "/mcpx",
        "/other",
        "/.well-known/oauth-protected-resource/mcp",
        "/mcp/../token",
    ] {
        send(path).await.unwrap();
    }
    let seen = seen.lock().unwrap().clone();
    let with = |p: &str| (p.to_owned(), Some("Bearer at-0".to_owned()));
    let without = |p: &str| (p.to_owned(), None);
    assert_eq!(
        seen,
        [
            with("/mcp"),
            with("/mcp/"),
            with("/mcp/sub"),
            without("/mcpx"),
            without("/other"),
            without("/.well-known/oauth-protected-resource/mcp"),
            without("/mcp/../token"),
        ]
    );
}
