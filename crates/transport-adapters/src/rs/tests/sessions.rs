//! MCP sessions bound to the principal that created them.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

use super::*;

/// A session-keeping MCP server: a request without `Mcp-Session-Id` (an `initialize`) gets
/// a new session id; a request with one the server has ended gets 404.
fn stateful_server(
    ended: Arc<std::sync::Mutex<Vec<String>>>,
) -> impl Service<
    Request<EitherBody<Full<Bytes>>>,
    Response = Response<Full<Bytes>>,
    Error = Infallible,
    Future = impl Send,
> + Clone
+ Send
+ 'static {
    let next = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    service_fn(move |req: Request<EitherBody<Full<Bytes>>>| {
        let next = next.clone();
        let ended = ended.clone();
        async move {
            let mut resp = Response::new(Full::new(Bytes::new()));
            match req.headers().get("mcp-session-id") {
                None => {
                    let n = next.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                    resp.headers_mut()
                        .insert("mcp-session-id", format!("session-{n}").parse().unwrap());
                }
                Some(id) if ended.lock().unwrap().iter().any(|e| e == id) => {
                    *resp.status_mut() = StatusCode::NOT_FOUND;
                }
                Some(_) => {}
            }
            Ok::<_, Infallible>(resp)
        }
    })
}

/// Item 8: an MCP session id is bound to the (issuer, subject, client) whose request
/// created it; the same id with another principal's valid token, or an id the layer does
/// not know, is `404` (MCP: a session the server does not recognise), never passed on.
#[tokio::test]
async fn sessions_are_bound_to_their_principal() {
    use std::sync::atomic::{AtomicU64, Ordering};
    let now = Arc::new(AtomicU64::new(1000));
    let clock = now.clone();
    let layer = resource_with(trusted(), true, |p| {
        p.also_accept_issuer("https://as2.example.com")
    })
    .monotonic_clock(move || std::time::Duration::from_secs(clock.load(Ordering::SeqCst)))
    .layer();
    let ended = Arc::new(std::sync::Mutex::new(Vec::new()));
    let svc = layer.layer(stateful_server(ended.clone()));
    let req = |method: http::Method, auth: &str, session: Option<&str>| {
        let mut b = Request::builder()
            .method(method)
            .uri("https://mcp.example.com/mcp")
            .header("authorization", format!("Bearer {auth}"));
        if let Some(s) = session {
            b = b.header("mcp-session-id", s);
        }
        b.body(Full::new(Bytes::from(call("whoami")))).unwrap()
    };
    let send = |r: Request<Full<Bytes>>| {
        let svc = svc.clone();
        async move { svc.oneshot(r).await.unwrap() }
    };
    let alice = token(|_| {});
    let alice_again = token(|c| c["jti"] = json!("jti-2"));
    let bob = token(|c| c["sub"] = json!("user-2"));
    let alice_other_client = token(|c| c["client_id"] = json!("client-2"));
    let alice_other_issuer = token(|c| c["iss"] = json!("https://as2.example.com"));

    let init = send(req(http::Method::POST, &alice, None)).await;
    assert_eq!(init.status(), StatusCode::OK);
    assert_eq!(init.headers()["mcp-session-id"], "session-0");
    let post = http::Method::POST;
    assert_eq!(
        send(req(post.clone(), &alice, Some("session-0")))
            .await
            .status(),
        StatusCode::OK
    );
    // A new token of the same principal (a refresh) keeps the session.
    assert_eq!(
        send(req(post.clone(), &alice_again, Some("session-0")))
            .await
            .status(),
        StatusCode::OK
    );
    // Another subject, client or issuer with a valid token: 404, for POST, GET and DELETE.
    for other in [&bob, &alice_other_client, &alice_other_issuer] {
        for m in [http::Method::POST, http::Method::GET, http::Method::DELETE] {
            let resp = send(req(m.clone(), other, Some("session-0"))).await;
            assert_eq!(resp.status(), StatusCode::NOT_FOUND, "{m}");
            assert!(resp.headers().get("www-authenticate").is_none());
        }
    }
    // An id the layer never saw, and a repeated header.
    assert_eq!(
        send(req(post.clone(), &alice, Some("session-99")))
            .await
            .status(),
        StatusCode::NOT_FOUND
    );
    let mut twice = req(post.clone(), &alice, Some("session-0"));
    twice
        .headers_mut()
        .append("mcp-session-id", "session-0".parse().unwrap());
    assert_eq!(send(twice).await.status(), StatusCode::NOT_FOUND);
    // The owner still has it; its DELETE ends it.
    assert_eq!(
        send(req(post.clone(), &alice, Some("session-0")))
            .await
            .status(),
        StatusCode::OK
    );
    assert_eq!(
        send(req(http::Method::DELETE, &alice, Some("session-0")))
            .await
            .status(),
        StatusCode::OK
    );
    assert_eq!(
        send(req(post.clone(), &alice, Some("session-0")))
            .await
            .status(),
        StatusCode::NOT_FOUND
    );
    // A session the MCP server ended (its 404) is forgotten.
    let s1 = send(req(post.clone(), &bob, None)).await.headers()["mcp-session-id"].clone();
    ended.lock().unwrap().push(s1.to_str().unwrap().to_owned());
    assert_eq!(
        send(req(post.clone(), &bob, Some("session-1")))
            .await
            .status(),
        StatusCode::NOT_FOUND
    );
    ended.lock().unwrap().clear();
    assert_eq!(
        send(req(post.clone(), &bob, Some("session-1")))
            .await
            .status(),
        StatusCode::NOT_FOUND,
        "forgotten by the layer"
    );
    // Idle past the default hour: forgotten.
    send(req(post.clone(), &alice, None)).await;
    now.fetch_add(3000, Ordering::SeqCst);
    assert_eq!(
        send(req(post.clone(), &alice, Some("session-2")))
            .await
            .status(),
        StatusCode::OK,
        "used within the hour"
    );
    now.fetch_add(3601, Ordering::SeqCst);
    assert_eq!(
        send(req(post.clone(), &alice, Some("session-2")))
            .await
            .status(),
        StatusCode::NOT_FOUND
    );
}

/// Item 8: the bindings are bounded (least recently used evicted first), and can be
/// turned off by a `dangerous_` name only.
#[tokio::test]
async fn session_bindings_are_bounded_and_optional() {
    let alice = format!("Bearer {}", token(|_| {}));
    let bob = format!("Bearer {}", token(|c| c["sub"] = json!("user-2")));
    let req = |auth: &str, session: Option<&str>| {
        let mut r = post(Some(auth), &call("whoami"));
        if let Some(s) = session {
            r.headers_mut().insert("mcp-session-id", s.parse().unwrap());
        }
        r
    };
    let ended = Arc::new(std::sync::Mutex::new(Vec::new()));
    let small = resource(trusted(), false)
        .session_binding(2, std::time::Duration::from_secs(3600))
        .layer()
        .layer(stateful_server(ended.clone()));
    for _ in 0..3 {
        let resp = small.clone().oneshot(req(&alice, None)).await.unwrap();
        assert_eq!(resp.status(), StatusCode::OK);
    }
    for (session, want) in [
        ("session-0", StatusCode::NOT_FOUND),
        ("session-1", StatusCode::OK),
        ("session-2", StatusCode::OK),
    ] {
        let resp = small.clone().oneshot(req(&alice, Some(session))).await;
        assert_eq!(resp.unwrap().status(), want, "{session}");
    }

    let open = resource(trusted(), false)
        .dangerous_unbound_sessions()
        .layer()
        .layer(stateful_server(ended));
    let resp = open.clone().oneshot(req(&alice, None)).await.unwrap();
    assert_eq!(resp.headers()["mcp-session-id"], "session-0");
    let resp = open.oneshot(req(&bob, Some("session-0"))).await.unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
}
