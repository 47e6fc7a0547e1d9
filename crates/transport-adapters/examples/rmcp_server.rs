//! An MCP server built with rmcp (the official Rust SDK), protected by mcp-oauth.
//!
//! ```text
//! cargo run -p mcp-oauth-transport-adapters --example rmcp_server -- \
//!     --listen 127.0.0.1:8080 --issuer https://auth.example.com [--resource URL] [--accept-typ JWT]
//! ```
//!
//! It discovers the issuer's metadata (RFC 8414 / OIDC order), keeps its JWK Set fresh with
//! the refresher, publishes protected resource metadata for `http://LISTEN/mcp`, and serves
//! two tools: `whoami` (any valid token: returns the subject and scopes it read from the
//! request's `AuthContext`) and `echo` (needs scope `mcp:write`). Tokens from a loopback
//! issuer are fetched over plain http with private addresses allowed, and only then.

#![allow(clippy::print_stdout, clippy::print_stderr)]

use std::net::SocketAddr;
use std::sync::Arc;

use hyper_util::service::TowerToHyperService;
use mcp_oauth_as_metadata::{Validation, discovery_urls};
use mcp_oauth_guard::GuardConfig;
use mcp_oauth_jwt_validate::{
    AuthContext, JwksCache, JwksConfig, Policy, Validator, default_provider,
};
use mcp_oauth_prm_metadata::{PrmBuilder, PrmEndpoint};
use mcp_oauth_resource_indicators::ResourceUri;
use mcp_oauth_transport_adapters::http::listen::{ServeConfig, serve};
use mcp_oauth_transport_adapters::{
    CachedKeys, ClientAddr, FetchConfig, Fetcher, OperationScopes, ProtectedResource,
    spawn_jwks_refresher,
};
use rmcp::handler::server::tool::Extension;
use rmcp::handler::server::wrapper::Parameters;
use rmcp::transport::streamable_http_server::session::local::LocalSessionManager;
use rmcp::transport::streamable_http_server::{StreamableHttpServerConfig, StreamableHttpService};
use rmcp::{schemars, tool, tool_router};
use serde::Deserialize;
use tower::ServiceExt as _;
use tower_layer::Layer;

/// The tools.
#[derive(Clone, Default)]
struct Demo;

#[derive(Deserialize, schemars::JsonSchema)]
struct EchoArgs {
    /// What to echo back.
    text: String,
}

fn context(parts: &http::request::Parts) -> Option<&Arc<AuthContext>> {
    parts.extensions.get::<Arc<AuthContext>>()
}

#[tool_router(server_handler)]
impl Demo {
    /// The caller, as the access token says.
    #[tool(description = "Returns the token's subject and scopes")]
    fn whoami(&self, Extension(parts): Extension<http::request::Parts>) -> String {
        #[derive(serde::Serialize)]
        struct Who<'a> {
            sub: Option<&'a str>,
            client_id: Option<&'a str>,
            scopes: Vec<&'a str>,
        }
        match context(&parts) {
            Some(ctx) => serde_json::to_string(&Who {
                sub: ctx.subject(),
                client_id: ctx.client_id(),
                scopes: ctx.scopes().collect(),
            })
            .unwrap_or_default(),
            None => "no authenticated context".to_owned(),
        }
    }

    /// Echo; the layer lets it through only with `mcp:write`.
    #[tool(description = "Echoes its text (requires scope mcp:write)")]
    fn echo(&self, Parameters(EchoArgs { text }): Parameters<EchoArgs>) -> String {
        text
    }
}

struct Args {
    listen: SocketAddr,
    issuer: String,
    resource: Option<String>,
    /// Serve without the layer (benchmark baseline).
    unprotected: bool,
    /// No verified-token cache.
    no_token_cache: bool,
    /// No rate limits.
    no_guard: bool,
    /// Stateless JSON responses (MCP 2026-07-28 style), for load tests.
    stateless: bool,
    challenge_scope: Option<String>,
    leeway: u64,
    /// `typ` header values accepted besides `at+jwt` (for issuers that write `JWT`).
    accept_typ: Vec<String>,
}

fn args() -> Result<Args, String> {
    let mut listen = "127.0.0.1:8080".to_owned();
    let (mut issuer, mut resource, mut challenge_scope) = (None, None, None);
    let mut leeway = 60;
    let mut accept_typ = Vec::new();
    let (mut unprotected, mut no_token_cache, mut no_guard, mut stateless) =
        (false, false, false, false);
    let mut it = std::env::args().skip(1);
    while let Some(a) = it.next() {
        let mut value = || it.next().ok_or(format!("{a} needs a value"));
        match a.as_str() {
            "--listen" => listen = value()?,
            "--issuer" => issuer = Some(value()?),
            "--resource" => resource = Some(value()?),
            "--unprotected" => unprotected = true,
            "--no-token-cache" => no_token_cache = true,
            "--no-guard" => no_guard = true,
            "--stateless" => stateless = true,
            "--challenge-scope" => challenge_scope = Some(value()?),
            "--leeway" => leeway = value()?.parse().map_err(|e| format!("--leeway: {e}"))?,
            "--accept-typ" => accept_typ.push(value()?),
            other => return Err(format!("unknown argument {other}")),
        }
    }
    Ok(Args {
        listen: listen.parse().map_err(|e| format!("--listen: {e}"))?,
        issuer: issuer.ok_or("--issuer is required")?,
        resource,
        unprotected,
        no_token_cache,
        no_guard,
        stateless,
        challenge_scope,
        leeway,
        accept_typ,
    })
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args = args()?;
    let resource = ResourceUri::parse(
        &args
            .resource
            .unwrap_or_else(|| format!("http://{}/mcp", args.listen)),
    )?;
    let issuer = mcp_oauth_as_metadata::parse_issuer(&args.issuer)?;

    let mut config = FetchConfig::default();
    if issuer.is_loopback() {
        eprintln!(
            "issuer {} is on loopback: allowing plain http and loopback addresses for it",
            args.issuer
        );
        config = config.allow_loopback().insecure_allow_http();
    }
    let fetcher = Fetcher::with_ring(config)?;

    // RFC 8414 / OIDC discovery in the MCP order.
    let mut metadata = None;
    for url in discovery_urls(&args.issuer)? {
        let resp = fetcher
            .fetch(http::Request::get(&url).body(Vec::new())?)
            .await?;
        if resp.status() == http::StatusCode::OK {
            metadata = Some(Validation::new().validate(resp.body(), &args.issuer)?);
            break;
        }
    }
    let metadata = metadata.ok_or("no authorization server metadata found")?;
    let jwks_uri = metadata
        .jwks_uri
        .ok_or("the authorization server publishes no jwks_uri")?;

    let keys = CachedKeys::new(JwksCache::new(
        jwks_uri,
        default_provider(),
        JwksConfig::default(),
    ));
    let _refresher = spawn_jwks_refresher(keys.clone(), fetcher);

    let prm = PrmBuilder::new(resource.clone())
        .authorization_server(args.issuer.clone())
        .scopes_supported(["mcp:tools", "mcp:read", "mcp:write"])
        .resource_name("mcp-oauth rmcp example")
        .build()?;
    let mut policy = Policy::new(args.issuer.clone(), &resource)
        .leeway(std::time::Duration::from_secs(args.leeway));
    // RFC 9068 `at+jwt` is checked by default; `--accept-typ JWT` relaxes it by name.
    if !args.accept_typ.is_empty() {
        policy = policy.accept_typ(
            std::iter::once(mcp_oauth_jwt_validate::RFC9068_TYP.to_owned()).chain(args.accept_typ),
        );
    }
    let mut protected = ProtectedResource::new(
        Validator::new(policy),
        keys,
        PrmEndpoint::new(prm, &resource),
    )
    // No scope in the 401: clients then ask for the PRM's scopes_supported (MCP scope
    // selection), which covers every tool here.
    .operation_scopes(OperationScopes::new().tool("echo", ["mcp:write"]));
    // With --challenge-scope the 401 names a smaller set (say `mcp:tools mcp:read`), so a
    // client asks for that first and steps up when it calls `echo` (MCP 403 step-up).
    if let Some(scope) = &args.challenge_scope {
        protected = protected.challenge_scope(scope.clone());
    }
    if !args.no_token_cache {
        protected = protected.token_cache(10_000);
    }
    if !args.no_guard {
        protected = protected.guard(GuardConfig::default());
    }
    let layer = protected.layer();

    let mut mcp_config =
        StreamableHttpServerConfig::default().with_legacy_session_mode(!args.stateless);
    mcp_config.json_response = args.stateless;
    mcp_config.allowed_hosts = vec![
        resource.host_str().to_owned(),
        format!("{}:{}", resource.host_str(), resource.port_or_default()),
        args.listen.to_string(),
    ];
    let mcp = StreamableHttpService::new(
        || Ok(Demo),
        Arc::new(LocalSessionManager::default()),
        mcp_config,
    );
    let protected = layer.layer(mcp.clone());
    let listener = tokio::net::TcpListener::bind(args.listen).await?;
    println!("MCP endpoint: {}", resource.as_str());
    println!(
        "protected resource metadata: {}",
        resource.origin().to_owned() + mcp_oauth_prm_metadata::WELL_KNOWN_PATH + resource.path()
    );
    // Accept errors back off instead of ending the server; slow and idle connections are
    // cut; connections are capped (mcp_oauth_transport_adapters::http::listen).
    let limits = ServeConfig::default();
    if args.unprotected {
        serve(listener, limits, |_| TowerToHyperService::new(mcp.clone())).await;
        return Ok(());
    }
    // The guard's per-address limits read the peer address from the request (without
    // the guard nothing reads it).
    let guarded = !args.no_guard;
    serve(listener, limits, |peer| {
        TowerToHyperService::new(protected.clone().map_request(
            move |mut req: http::Request<hyper::body::Incoming>| {
                if guarded {
                    req.extensions_mut().insert(ClientAddr(peer.ip()));
                }
                req
            },
        ))
    })
    .await;
    Ok(())
}
