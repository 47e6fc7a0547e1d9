#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

use std::convert::Infallible;
use std::sync::Arc;

use bytes::Bytes;
use http::{Request, Response, StatusCode};
use http_body_util::{BodyExt, Full};
use mcp_oauth_common::UnixTime;
use mcp_oauth_jwt::crypto::Ring;
use mcp_oauth_jwt::{AuthContext, JwksCache, JwksConfig, KeySet, KeySetLimits, Policy, Validator};
use mcp_oauth_prm::{PrmBuilder, PrmEndpoint, bearer_params, parse_www_authenticate};
use mcp_oauth_resource::ResourceUri;
use mcp_oauth_tests::jwt::{ISSUER, N, RESOURCE, TestKeys, claims, header};
use serde_json::{Value, json};
use tower::{Layer, Service, ServiceExt, service_fn};

use crate::CachedKeys;
use crate::server::{
    BearerLayer, EitherBody, KeySource, OperationScopes, ProtectedResource, StaticKeys,
};

const PRM_PATH: &str = "/.well-known/oauth-protected-resource/mcp";
const PRM_URL: &str = "https://mcp.example.com/.well-known/oauth-protected-resource/mcp";

fn resource(keys: Arc<dyn KeySource>, cache: bool) -> ProtectedResource {
    let me = ResourceUri::parse(RESOURCE).unwrap();
    let prm = PrmBuilder::new(me.clone())
        .authorization_server(ISSUER)
        .scopes_supported(["mcp:tools", "mcp:read", "mcp:write"])
        .build()
        .unwrap();
    let r = ProtectedResource::new(
        Validator::new(Policy::new(ISSUER, &me).require_scopes(["mcp:read"])),
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
    layer: &BearerLayer,
    req: Request<Full<Bytes>>,
) -> (StatusCode, Option<mcp_oauth_prm::BearerParams>, Value) {
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

/// The per-operation scope lookup reads each message once: the method, and for
/// `tools/call` the tool name in any spelling; other shapes need no scope; a message that
/// is not JSON, or names its tool twice, is refused (MCP-SCOPE step-up, fail closed).
#[test]
fn operation_scopes_from_the_body() {
    let ops = OperationScopes::new()
        .tool("echo", ["mcp:write"])
        .method("resources/write", ["mcp:write", "mcp:files"]);
    let req = |body: &str| ops.required(body.as_bytes()).map(|v| v.join(" "));
    let call = |params: &str| {
        format!(r#"{{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{params}}}"#)
    };
    assert_eq!(
        req(&call(r#"{"name":"echo","arguments":{"name":"x"}}"#)).as_deref(),
        Some("mcp:write")
    );
    assert_eq!(
        req(&call(
            r#"{"arguments":{"a":[1,{"b":null}]},"name":"\u0065cho"}"#
        ))
        .as_deref(),
        Some("mcp:write")
    );
    assert_eq!(req(&call(r#"{"name":"whoami"}"#)).as_deref(), Some(""));
    for other in [
        r#"{"name":7}"#,
        r#"{"name":["echo"]}"#,
        r#"["echo"]"#,
        r#""echo""#,
        "null",
        "{}",
    ] {
        assert_eq!(req(&call(other)).as_deref(), Some(""), "{other}");
    }
    assert_eq!(req(&call(r#"{"name":"whoami","name":"echo"}"#)), None);
    assert_eq!(
        req(r#" [{"method":"tools/list"},{"method":"resources/write"},{"method":"tools/call","params":{"name":"echo"}}]"#).as_deref(),
        Some("mcp:write mcp:files")
    );
    assert_eq!(
        req(r#"{"method":"resources\/write"}"#).as_deref(),
        Some("mcp:write mcp:files")
    );
    for bad in [
        "not json",
        "",
        "7",
        r#"{"method":"tools/call""#,
        r#"{"method":1}"#,
    ] {
        assert_eq!(req(bad), None, "{bad}");
    }
}
