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

mod guard;
mod operations;
mod sessions;
mod tenants;
mod tokens;
