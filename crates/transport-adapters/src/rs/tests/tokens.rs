//! The bearer token: metadata, the token matrix, challenges, scope hierarchies, request shape, the token cache.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

use super::*;

#[tokio::test]
async fn serves_protected_resource_metadata() {
    let r = resource(trusted(), false).layer();
    let req = Request::get(PRM_PATH)
        .body(Full::new(Bytes::new()))
        .unwrap();
    let (status, challenge, body) = send(&r, req).await;
    assert_eq!(status, StatusCode::OK);
    assert!(challenge.is_none());
    assert_eq!(body["resource"], RESOURCE);
    assert_eq!(body["authorization_servers"][0], ISSUER);
}

#[tokio::test]
async fn token_matrix() {
    let r = resource(trusted(), false).layer();
    let valid = format!("Bearer {}", token(|_| {}));
    // (authorization header, body, status, error code in the challenge)
    let cases: Vec<(Option<String>, String, StatusCode, Option<&str>)> = vec![
        (Some(valid.clone()), call("whoami"), StatusCode::OK, None),
        (None, call("whoami"), StatusCode::UNAUTHORIZED, None),
        (Some("Basic dXNlcjpwYXNz".into()), call("whoami"), StatusCode::UNAUTHORIZED, None),
        (Some("Bearer".into()), call("whoami"), StatusCode::BAD_REQUEST, Some("invalid_request")),
        (Some("Bearer a b".into()), call("whoami"), StatusCode::BAD_REQUEST, Some("invalid_request")),
        (Some("Bearer garbage".into()), call("whoami"), StatusCode::UNAUTHORIZED, Some("invalid_token")),
        (Some(format!("Bearer {}", token(|c| c["aud"] = json!("https://other.example/mcp")))), call("whoami"), StatusCode::UNAUTHORIZED, Some("invalid_token")),
        (Some(format!("Bearer {}", token(|c| c["exp"] = json!(N - 3600)))), call("whoami"), StatusCode::UNAUTHORIZED, Some("invalid_token")),
        (Some(format!("Bearer {}", token(|c| c["iss"] = json!("https://evil.example")))), call("whoami"), StatusCode::UNAUTHORIZED, Some("invalid_token")),
        (Some(format!("{}x", valid)), call("whoami"), StatusCode::UNAUTHORIZED, Some("invalid_token")),
        (Some(format!("Bearer {}", token(|c| c["scope"] = json!("mcp:tools")))), call("whoami"), StatusCode::FORBIDDEN, Some("insufficient_scope")),
        (Some(valid.clone()), call("echo"), StatusCode::FORBIDDEN, Some("insufficient_scope")),
        (Some(format!("Bearer {}", token(|c| c["scope"] = json!("mcp:read mcp:write")))), call("echo"), StatusCode::OK, None),
        (Some(valid.clone()), "not json".into(), StatusCode::BAD_REQUEST, Some("invalid_request")),
        (Some(valid.clone()), json!([{"jsonrpc":"2.0","id":1,"method":"tools/list"}, {"jsonrpc":"2.0","id":2,"method":"resources/write"}]).to_string(), StatusCode::FORBIDDEN, Some("insufficient_scope")),
    ];
    for (i, (auth, body, want, code)) in cases.into_iter().enumerate() {
        let (status, challenge, _) = send(&r, post(auth.as_deref(), &body)).await;
        assert_eq!(status, want, "case {i}");
        if status == StatusCode::OK {
            continue;
        }
        let c = challenge.expect("a refusal carries a challenge");
        assert_eq!(c.resource_metadata.as_deref(), Some(PRM_URL), "case {i}");
        assert_eq!(c.error.as_deref(), code, "case {i}");
    }
    // alg: none.
    let none = {
        let t = token(|_| {});
        let p: Vec<&str> = t.split('.').collect();
        let h = base64::Engine::encode(
            &base64::engine::general_purpose::URL_SAFE_NO_PAD,
            br#"{"alg":"none","kid":"rs1"}"#,
        );
        format!("Bearer {h}.{}.", p[1])
    };
    assert_eq!(
        send(&r, post(Some(&none), &call("whoami"))).await.0,
        StatusCode::UNAUTHORIZED
    );
}

#[tokio::test]
async fn challenges_carry_the_right_scope() {
    let r = resource(trusted(), false).layer();
    let (_, c, _) = send(&r, post(None, &call("whoami"))).await;
    let c = c.unwrap();
    assert_eq!(
        c.scope.as_deref(),
        Some("mcp:read"),
        "401: what to ask for first"
    );
    assert!(
        c.error.is_none(),
        "RFC 6750 3.1: no error code without credentials"
    );
    let valid = format!("Bearer {}", token(|_| {}));
    let (_, c, _) = send(&r, post(Some(&valid), &call("echo"))).await;
    assert_eq!(
        c.unwrap().scope.as_deref(),
        Some("mcp:write"),
        "403: this operation's scopes"
    );
    let weak = format!("Bearer {}", token(|c| c["scope"] = json!("other")));
    let (_, c, _) = send(&r, post(Some(&weak), &call("whoami"))).await;
    assert_eq!(
        c.unwrap().scope.as_deref(),
        Some("mcp:read"),
        "403: the missing policy scope"
    );
}

/// MCP-SCOPE-15: with a declared hierarchy, a broad scope satisfies the policy's and the
/// operation's narrower ones; without it (before), `mcp:admin` alone was refused.
#[tokio::test]
async fn scope_hierarchies_count_when_judging_a_token() {
    let admin = format!("Bearer {}", token(|c| c["scope"] = json!("mcp:admin")));
    let plain = resource(trusted(), false).layer();
    let (status, _, _) = send(&plain, post(Some(&admin), &call("echo"))).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let h = mcp_oauth_jwt_validate::ScopeHierarchy::new()
        .implies("mcp:admin", ["mcp:write"])
        .implies("mcp:write", ["mcp:read"]);
    let layered = resource_with(trusted(), false, |p| p.scope_hierarchy(h)).layer();
    for tool in ["whoami", "echo"] {
        let (status, _, _) = send(&layered, post(Some(&admin), &call(tool))).await;
        assert_eq!(status, StatusCode::OK, "{tool}");
    }
    // Also when the MCP 2026-07-28 headers decide the operation.
    let req = Request::post("https://mcp.example.com/mcp")
        .header("content-type", "application/json")
        .header("authorization", &admin)
        .header("mcp-method", "tools/call")
        .header("mcp-name", "echo")
        .body(Full::new(Bytes::from(call("echo"))))
        .unwrap();
    assert_eq!(send(&layered, req).await.0, StatusCode::OK);
    // Narrower never implies broader.
    let read = format!("Bearer {}", token(|c| c["scope"] = json!("mcp:read")));
    let (status, c, _) = send(&layered, post(Some(&read), &call("echo"))).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert_eq!(c.unwrap().scope.as_deref(), Some("mcp:write"));
}

#[tokio::test]
async fn request_shape_rules() {
    let r = resource(trusted(), false).layer();
    let valid = format!("Bearer {}", token(|_| {}));
    // A token in the query string is refused even alongside a valid header (MCP).
    let req = Request::post("https://mcp.example.com/mcp?access_token=abc")
        .header("authorization", &valid)
        .body(Full::new(Bytes::from(call("whoami"))))
        .unwrap();
    let (status, c, _) = send(&r, req).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(c.unwrap().error.as_deref(), Some("invalid_request"));
    // Two Authorization headers.
    let req = Request::post("https://mcp.example.com/mcp")
        .header("authorization", &valid)
        .header("authorization", &valid)
        .body(Full::new(Bytes::from(call("whoami"))))
        .unwrap();
    assert_eq!(send(&r, req).await.0, StatusCode::BAD_REQUEST);
    // Body over the cap: 413, by Content-Length or while reading.
    let big = "x".repeat(2048);
    let req = Request::post("https://mcp.example.com/mcp")
        .header("authorization", &valid)
        .header("content-length", big.len().to_string())
        .body(Full::new(Bytes::from(big.clone())))
        .unwrap();
    assert_eq!(send(&r, req).await.0, StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(
        send(&r, post(Some(&valid), &big)).await.0,
        StatusCode::PAYLOAD_TOO_LARGE
    );
    // GET (the SSE stream) is checked for the token but its body is not read.
    let req = Request::get("https://mcp.example.com/mcp")
        .header("authorization", &valid)
        .body(Full::new(Bytes::new()))
        .unwrap();
    let (status, _, body) = send(&r, req).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["sub"], "user-1");
    // The body reaches the inner service intact after the scope check.
    let (status, _, body) = send(&r, post(Some(&valid), &call("whoami"))).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["body_len"], call("whoami").len());
    assert_eq!(body["scopes"], json!(["mcp:read"]));
}

#[tokio::test]
async fn token_cache_and_unavailable_keys() {
    let layer = resource(trusted(), true).layer();
    let valid = format!("Bearer {}", token(|_| {}));
    let mut svc = layer.layer(service_fn(inner));
    for _ in 0..3 {
        let resp = ServiceExt::<Request<Full<Bytes>>>::ready(&mut svc)
            .await
            .unwrap()
            .call(post(Some(&valid), &call("whoami")))
            .await
            .unwrap();
        assert_eq!(resp.status(), StatusCode::OK);
    }
    // Cached or not, scopes are checked per request.
    let resp = ServiceExt::<Request<Full<Bytes>>>::ready(&mut svc)
        .await
        .unwrap()
        .call(post(Some(&valid), &call("echo")))
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::FORBIDDEN);

    // A JWKS cache that never loaded: 401, never a 500 or a hang.
    let empty = JwksCache::new(
        "https://as.example.com/jwks",
        Arc::new(Ring),
        JwksConfig::default(),
    );
    let layer = resource(CachedKeys::new(empty), false).layer();
    let resp = layer
        .layer(service_fn(inner))
        .oneshot(post(Some(&valid), &call("whoami")))
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::UNAUTHORIZED);
}
