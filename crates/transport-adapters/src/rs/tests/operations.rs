//! Per-operation scopes from the MCP 2026-07-28 headers and the body.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

use super::*;

fn mcp_post(
    auth: &str,
    method: Option<&str>,
    name: Option<&str>,
    body: &str,
) -> Request<Full<Bytes>> {
    let mut r = post(Some(auth), body);
    if let Some(m) = method {
        r.headers_mut().append("mcp-method", m.parse().unwrap());
    }
    if let Some(n) = name {
        r.headers_mut().append("mcp-name", n.parse().unwrap());
    }
    r.headers_mut()
        .insert("mcp-protocol-version", "2026-07-28".parse().unwrap());
    r
}

/// Item 9: with the MCP 2026-07-28 `Mcp-Method` / `Mcp-Name` headers, per-operation
/// scopes are decided from the headers (before the body is read), and a body that does
/// not agree with them — another method or name, a batch, not JSON — is `400` with
/// JSON-RPC error `-32020` (`HeaderMismatch`), so it never reaches the MCP server.
#[tokio::test]
async fn mirrored_headers_decide_scopes_and_must_match_the_body() {
    let r = resource(trusted(), true).layer();
    let ro = format!("Bearer {}", token(|_| {}));
    let rw = format!(
        "Bearer {}",
        token(|c| c["scope"] = json!("mcp:read mcp:write"))
    );
    let big = "x".repeat(2048);
    let read = |uri: &str| {
        json!({"jsonrpc": "2.0", "id": "r1", "method": "resources/read", "params": {"uri": uri}})
            .to_string()
    };
    let tc = Some("tools/call");
    /// Token, `Mcp-Method`, `Mcp-Name`, body, expected status.
    type Case<'a> = (
        &'a str,
        Option<&'a str>,
        Option<&'a str>,
        String,
        StatusCode,
    );
    let cases: Vec<Case<'_>> = vec![
        // Agreeing headers: the header's tool decides.
        (&rw, tc, Some("echo"), call("echo"), StatusCode::OK),
        (&ro, tc, Some("echo"), call("echo"), StatusCode::FORBIDDEN),
        (&ro, tc, Some("whoami"), call("whoami"), StatusCode::OK),
        // Decided before the body is read: a body over the cap does not matter.
        (&ro, tc, Some("echo"), big.clone(), StatusCode::FORBIDDEN),
        (&ro, Some("resources/write"), None, big.clone(), StatusCode::FORBIDDEN),
        // The headers name a tool the token may call, the body another.
        (&ro, tc, Some("whoami"), call("echo"), StatusCode::BAD_REQUEST),
        (&rw, tc, Some("echo"), call("whoami"), StatusCode::BAD_REQUEST),
        (&rw, Some("tools/list"), None, call("echo"), StatusCode::BAD_REQUEST),
        // Values are case-sensitive.
        (&rw, Some("Tools/Call"), Some("echo"), call("echo"), StatusCode::BAD_REQUEST),
        (&rw, tc, Some("Echo"), call("echo"), StatusCode::BAD_REQUEST),
        // Mcp-Name is required for tools/call; never alone.
        (&rw, tc, None, call("echo"), StatusCode::BAD_REQUEST),
        (&rw, None, Some("echo"), call("echo"), StatusCode::BAD_REQUEST),
        // One message only, and JSON.
        (&rw, tc, Some("echo"), format!("[{}]", call("echo")), StatusCode::BAD_REQUEST),
        (&rw, tc, Some("echo"), "not json".into(), StatusCode::BAD_REQUEST),
        (
            &rw,
            tc,
            Some("whoami"),
            r#"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"whoami","name":"echo"}}"#.into(),
            StatusCode::BAD_REQUEST,
        ),
        (
            &rw,
            Some("tools/list"),
            None,
            r#"{"jsonrpc":"2.0","id":1,"method":"tools/list","method":"tools/call","params":{"name":"echo"}}"#.into(),
            StatusCode::BAD_REQUEST,
        ),
        // The Base64 sentinel is decoded before comparing (and deciding).
        (&rw, tc, Some("=?base64?ZWNobw==?="), call("echo"), StatusCode::OK),
        (&ro, tc, Some("=?base64?ZWNobw==?="), call("echo"), StatusCode::FORBIDDEN),
        (&ro, tc, Some("=?base64?w6ljaG8=?="), call("écho"), StatusCode::OK),
        (&rw, tc, Some("=?base64?not base64?="), call("echo"), StatusCode::BAD_REQUEST),
        (&rw, tc, Some("=?base64?ZWNobw==?="), call("whoami"), StatusCode::BAD_REQUEST),
        // resources/read: Mcp-Name mirrors params.uri.
        (&ro, Some("resources/read"), Some("file:///a"), read("file:///a"), StatusCode::OK),
        (&ro, Some("resources/read"), Some("file:///a"), read("file:///b"), StatusCode::BAD_REQUEST),
        (&ro, Some("resources/read"), None, read("file:///a"), StatusCode::BAD_REQUEST),
        // Mcp-Name on a method it does not mirror: no scope depends on it.
        (
            &ro,
            Some("tools/list"),
            Some("anything"),
            json!({"jsonrpc": "2.0", "id": 2, "method": "tools/list"}).to_string(),
            StatusCode::OK,
        ),
    ];
    for (i, (auth, method, name, body, want)) in cases.into_iter().enumerate() {
        let resp = r
            .layer(service_fn(inner))
            .oneshot(mcp_post(auth, method, name, &body))
            .await
            .unwrap();
        let status = resp.status();
        assert_eq!(status, want, "case {i}");
        let headers = resp.headers().clone();
        let json: Value =
            serde_json::from_slice(&resp.into_body().collect().await.unwrap().to_bytes())
                .unwrap_or(Value::Null);
        match status {
            StatusCode::OK => assert_eq!(json["body_len"], body.len(), "case {i}: body intact"),
            StatusCode::FORBIDDEN => {
                let c = bearer_params(
                    &parse_www_authenticate(headers["www-authenticate"].as_bytes()).unwrap(),
                )
                .unwrap();
                assert_eq!(c.error.as_deref(), Some("insufficient_scope"), "case {i}");
                assert_eq!(c.scope.as_deref(), Some("mcp:write"), "case {i}");
            }
            _ => {
                assert_eq!(json["error"]["code"], -32020, "case {i}: {json}");
                assert!(headers.get("www-authenticate").is_none(), "case {i}");
            }
        }
    }
    // The refusal answers the request's id.
    let resp = r
        .layer(service_fn(inner))
        .oneshot(mcp_post(&ro, tc, Some("whoami"), &call("echo")))
        .await
        .unwrap();
    let json: Value =
        serde_json::from_slice(&resp.into_body().collect().await.unwrap().to_bytes()).unwrap();
    assert_eq!(json["id"], 1);
    assert_eq!(json["jsonrpc"], "2.0");
    // A repeated header.
    let mut twice = mcp_post(&rw, tc, Some("echo"), &call("echo"));
    twice
        .headers_mut()
        .append("mcp-method", "tools/call".parse().unwrap());
    assert_eq!(send(&r, twice).await.0, StatusCode::BAD_REQUEST);
    // Without the headers (earlier versions) the body still decides.
    assert_eq!(
        send(&r, post(Some(&ro), &call("echo"))).await.0,
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        send(&r, post(Some(&rw), &call("echo"))).await.0,
        StatusCode::OK
    );
}
