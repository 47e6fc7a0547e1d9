#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

use std::convert::Infallible;
use std::sync::Arc;

use bytes::Bytes;
use http::{Request, Response, StatusCode};
use http_body_util::{BodyExt, Full};
use mcp_oauth_common::UnixTime;
use mcp_oauth_jwt_validate::crypto::Ring;
use mcp_oauth_jwt_validate::{
    AuthContext, JwksCache, JwksConfig, KeySet, KeySetLimits, Policy, Validator,
};
use mcp_oauth_prm_metadata::{PrmBuilder, PrmEndpoint, bearer_params, parse_www_authenticate};
use mcp_oauth_resource_indicators::ResourceUri;
use mcp_oauth_tests::jwt::{ISSUER, N, RESOURCE, TestKeys, claims, header};
use serde_json::{Value, json};
use tower::{Layer, Service, ServiceExt, service_fn};

use crate::CachedKeys;
use crate::rs::{
    EitherBody, KeySource, OperationScopes, ProtectedResource, RequireAuthLayer, StaticKeys,
};

const PRM_PATH: &str = "/.well-known/oauth-protected-resource/mcp";
const PRM_URL: &str = "https://mcp.example.com/.well-known/oauth-protected-resource/mcp";

fn resource(keys: Arc<dyn KeySource>, cache: bool) -> ProtectedResource {
    resource_with(keys, cache, |p| p)
}

fn resource_with(
    keys: Arc<dyn KeySource>,
    cache: bool,
    policy: impl FnOnce(Policy) -> Policy,
) -> ProtectedResource {
    let me = ResourceUri::parse(RESOURCE).unwrap();
    let prm = PrmBuilder::new(me.clone())
        .authorization_server(ISSUER)
        .scopes_supported(["mcp:tools", "mcp:read", "mcp:write"])
        .build()
        .unwrap();
    let r = ProtectedResource::new(
        Validator::new(policy(
            Policy::new(ISSUER, &me).require_scopes(["mcp:read"]),
        )),
        keys,
        PrmEndpoint::new(prm, &me),
    )
    .challenge_scope("mcp:read")
    .operation_scopes(
        OperationScopes::new()
            .tool("echo", ["mcp:write"])
            .method("resources/write", ["mcp:write"]),
    )
    .max_body(1024)
    .clock(|| UnixTime(N));
    if cache { r.token_cache(16) } else { r }
}

fn trusted() -> Arc<dyn KeySource> {
    let k = TestKeys::load().unwrap();
    Arc::new(StaticKeys(Arc::new(
        KeySet::from_value(&k.jwks(), &Ring, &KeySetLimits::default()).unwrap(),
    )))
}

/// The inner MCP service: answers 200 with the authenticated subject and scopes.
async fn inner(req: Request<EitherBody<Full<Bytes>>>) -> Result<Response<Full<Bytes>>, Infallible> {
    let ctx = req.extensions().get::<Arc<AuthContext>>().cloned();
    let body = req
        .into_body()
        .collect()
        .await
        .map(|c| c.to_bytes())
        .unwrap_or_default();
    let out = json!({
        "sub": ctx.as_ref().and_then(|c| c.subject().map(str::to_owned)),
        "scopes": ctx.as_ref().map(|c| c.scopes().map(str::to_owned).collect::<Vec<_>>()),
        "body_len": body.len(),
    });
    Ok(Response::new(Full::new(Bytes::from(out.to_string()))))
}

async fn send(
    layer: &RequireAuthLayer,
    req: Request<Full<Bytes>>,
) -> (
    StatusCode,
    Option<mcp_oauth_prm_metadata::BearerParams>,
    Value,
) {
    let svc = layer.layer(service_fn(inner));
    let resp = svc.oneshot(req).await.unwrap();
    let status = resp.status();
    let challenge = resp
        .headers()
        .get("www-authenticate")
        .map(|v| bearer_params(&parse_www_authenticate(v.as_bytes()).unwrap()).unwrap());
    let body = resp.into_body().collect().await.unwrap().to_bytes();
    let json = serde_json::from_slice(&body).unwrap_or(Value::Null);
    (status, challenge, json)
}

fn post(auth: Option<&str>, body: &str) -> Request<Full<Bytes>> {
    let mut b =
        Request::post("https://mcp.example.com/mcp").header("content-type", "application/json");
    if let Some(a) = auth {
        b = b.header("authorization", a);
    }
    b.body(Full::new(Bytes::from(body.to_owned()))).unwrap()
}

fn call(tool: &str) -> String {
    json!({"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": {"name": tool, "arguments": {}}}).to_string()
}

fn token(f: impl FnOnce(&mut Value)) -> String {
    let k = TestKeys::load().unwrap();
    let mut c = claims();
    f(&mut c);
    k.rs1.sign(&header("RS256", "rs1"), &c)
}

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

#[tokio::test]
async fn guard_rate_limits_and_blocks_with_429() {
    use mcp_oauth_guard::{GuardConfig, Rate};
    let config = GuardConfig {
        per_address: Some(Rate {
            burst: 3,
            per_second: 0.001,
        }),
        per_client: None,
        per_subject: Some(Rate {
            burst: 2,
            per_second: 0.001,
        }),
        per_tenant: None,
        max_failures: 2,
        failure_window: std::time::Duration::from_secs(60),
        block_for: std::time::Duration::from_secs(120),
        max_keys: 100,
    };
    let layer = resource(trusted(), false)
        .guard(config)
        .monotonic_clock(|| std::time::Duration::from_secs(1000))
        .layer();
    let from = |ip: &str, auth: Option<&str>| {
        let mut r = post(auth, &call("whoami"));
        r.extensions_mut()
            .insert(crate::ClientAddr(ip.parse().unwrap()));
        r
    };
    let valid = format!("Bearer {}", token(|_| {}));
    let send_raw = |req: Request<Full<Bytes>>| {
        let svc = layer.layer(service_fn(inner));
        async move { svc.oneshot(req).await.unwrap() }
    };
    // Per subject: two requests pass, the third is 429 with Retry-After.
    assert_eq!(
        send_raw(from("198.51.100.1", Some(&valid))).await.status(),
        StatusCode::OK
    );
    assert_eq!(
        send_raw(from("198.51.100.1", Some(&valid))).await.status(),
        StatusCode::OK
    );
    let r = send_raw(from("198.51.100.2", Some(&valid))).await;
    assert_eq!(r.status(), StatusCode::TOO_MANY_REQUESTS);
    assert!(
        r.headers()["retry-after"]
            .to_str()
            .unwrap()
            .parse::<u64>()
            .unwrap()
            >= 1
    );
    // Per address (burst 3): the third request from .1 still passes the address limit,
    // the fourth is refused before its token is read.
    assert_eq!(
        send_raw(from("198.51.100.1", None)).await.status(),
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        send_raw(from("198.51.100.1", None)).await.status(),
        StatusCode::TOO_MANY_REQUESTS
    );
    // Invalid tokens block their source, even for a valid token afterwards.
    let bad = "Bearer garbage";
    assert_eq!(
        send_raw(from("198.51.100.9", Some(bad))).await.status(),
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        send_raw(from("198.51.100.9", Some(bad))).await.status(),
        StatusCode::UNAUTHORIZED
    );
    let r = send_raw(from("198.51.100.9", Some(&valid))).await;
    assert_eq!(r.status(), StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(r.headers()["retry-after"], "120");
}

/// Behind a trusted reverse proxy, the guard limits and blocks each client by the address
/// the proxy forwards: one client's invalid tokens block that client, not everyone behind
/// the proxy. From a peer that is not a listed proxy the header is ignored, so a client
/// cannot name someone else's address to get it blocked.
#[tokio::test]
async fn guard_behind_trusted_proxies_blocks_the_client_not_the_proxy() {
    use mcp_oauth_guard::{GuardConfig, TrustedProxies};
    let config = GuardConfig {
        max_failures: 2,
        block_for: std::time::Duration::from_secs(120),
        ..GuardConfig::default()
    };
    let layer = resource(trusted(), false)
        .guard(config)
        .trusted_proxies(TrustedProxies::x_forwarded_for(["10.0.0.0/24"
            .parse()
            .unwrap()]))
        .monotonic_clock(|| std::time::Duration::from_secs(1000))
        .layer();
    let via = |peer: &str, forwarded: &str, auth: &str| {
        let mut r = post(Some(auth), &call("whoami"));
        r.extensions_mut()
            .insert(crate::ClientAddr(peer.parse().unwrap()));
        r.headers_mut()
            .insert("x-forwarded-for", forwarded.parse().unwrap());
        r
    };
    let send = |req: Request<Full<Bytes>>| {
        let svc = layer.layer(service_fn(inner));
        async move { svc.oneshot(req).await.unwrap().status() }
    };
    let valid = format!("Bearer {}", token(|_| {}));
    let bad = "Bearer garbage";
    let proxy = "10.0.0.1";
    for _ in 0..2 {
        assert_eq!(
            send(via(proxy, "203.0.113.1, 198.51.100.66", bad)).await,
            StatusCode::UNAUTHORIZED
        );
    }
    // The client who sent them is blocked, through the proxy or (spoofing) a made-up
    // header prefix alike.
    assert_eq!(
        send(via(proxy, "198.51.100.66", &valid)).await,
        StatusCode::TOO_MANY_REQUESTS
    );
    assert_eq!(
        send(via(proxy, "192.0.2.1, 198.51.100.66, 10.0.0.2", &valid)).await,
        StatusCode::TOO_MANY_REQUESTS
    );
    // Everyone else behind the same proxy is not.
    assert_eq!(
        send(via(proxy, "198.51.100.7", &valid)).await,
        StatusCode::OK
    );
    assert_eq!(
        send(via(proxy, "203.0.113.1", &valid)).await,
        StatusCode::OK
    );
    // A direct client naming someone else's address blocks only itself.
    for _ in 0..2 {
        assert_eq!(
            send(via("192.0.2.99", "198.51.100.8", bad)).await,
            StatusCode::UNAUTHORIZED
        );
    }
    assert_eq!(
        send(via("192.0.2.99", "198.51.100.8", &valid)).await,
        StatusCode::TOO_MANY_REQUESTS
    );
    assert_eq!(
        send(via(proxy, "198.51.100.8", &valid)).await,
        StatusCode::OK
    );
}

/// The per-operation scope lookup reads each message once: the method, and for
/// `tools/call` the tool name in any spelling; other shapes need no scope; a message that
/// is not JSON, or names its tool twice, is refused (MCP-SCOPE step-up, fail closed).
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
