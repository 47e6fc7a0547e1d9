//! An MCP server built with rmcp (the official Rust SDK), protected by mcp-oauth.
//!
//! ```text
//! cargo run -p mcp-oauth-transport-adapters --example rmcp_server -- \
//!     --listen 127.0.0.1:8080 --issuer https://auth.example.com [--resource URL] [--accept-typ JWT]
//! cargo run -p mcp-oauth-transport-adapters --example rmcp_server -- \
//!     --listen 127.0.0.1:8080 --tenant 127.0.0.1:8080=http://127.0.0.1:9001 \
//!     --tenant localhost:8080=http://127.0.0.1:9002
//! ```
//!
//! With `--tenant HOST=ISSUER` (repeatable; `--issuer` is then not needed) it serves one
//! tenant per `Host` (HOST includes the port): resource `http://HOST/mcp`, its metadata at
//! `http://HOST/.well-known/oauth-protected-resource/mcp`, tokens of that issuer only, whose
//! keys come from that issuer's JWK Set (found through its metadata, one refresher each).
//! A request for another host gets `404`.
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
use mcp_oauth_tenant::{IssuerTrust, Registry, Resolver, TenantId, TenantTrust};
use mcp_oauth_transport_adapters::http::listen::{ServeConfig, serve};
use mcp_oauth_transport_adapters::rs::Tenants;
use mcp_oauth_transport_adapters::{
    CachedKeys, ClientAddr, FetchConfig, Fetcher, KeySource, OperationScopes, ProtectedResource,
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
    issuer: Option<String>,
    /// `(HOST, ISSUER)`: one tenant per host.
    tenants: Vec<(String, String)>,
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
    let mut tenants = Vec::new();
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
            "--tenant" => {
                let v = value()?;
                let (host, issuer) = v
                    .split_once('=')
                    .ok_or(format!("--tenant {v}: expected HOST=ISSUER"))?;
                tenants.push((host.to_owned(), issuer.to_owned()));
            }
            other => return Err(format!("unknown argument {other}")),
        }
    }
    Ok(Args {
        listen: listen.parse().map_err(|e| format!("--listen: {e}"))?,
        issuer: match (issuer, tenants.is_empty()) {
            (None, true) => return Err("--issuer (or --tenant HOST=ISSUER) is required".into()),
            (issuer, _) => issuer,
        },
        tenants,
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

/// The issuer's JWK Set, kept fresh by a refresher: its metadata found in the MCP order
/// (RFC 8414 / OIDC discovery), then its `jwks_uri`.
async fn issuer_keys(issuer_url: &str) -> Result<Arc<CachedKeys>, Box<dyn std::error::Error>> {
    let issuer = mcp_oauth_as_metadata::parse_issuer(issuer_url)?;
    let mut config = FetchConfig::default();
    if issuer.is_loopback() {
        eprintln!(
            "issuer {issuer_url} is on loopback: allowing plain http and loopback addresses for it"
        );
        config = config.allow_loopback().insecure_allow_http();
    }
    let fetcher = Fetcher::with_ring(config)?;
    let mut metadata = None;
    for url in discovery_urls(issuer_url)? {
        let resp = fetcher
            .fetch(http::Request::get(&url).body(Vec::new())?)
            .await?;
        if resp.status() == http::StatusCode::OK {
            metadata = Some(Validation::new().validate(resp.body(), issuer_url)?);
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
    // Runs for the life of the process.
    drop(spawn_jwks_refresher(keys.clone(), fetcher));
    Ok(keys)
}

/// The policy for one issuer and resource.
fn policy(args: &Args, issuer: &str, resource: &ResourceUri) -> Policy {
    let mut policy =
        Policy::new(issuer, resource).leeway(std::time::Duration::from_secs(args.leeway));
    // RFC 9068 `at+jwt` is checked by default; `--accept-typ JWT` relaxes it by name.
    if !args.accept_typ.is_empty() {
        policy = policy.accept_typ(
            std::iter::once(mcp_oauth_jwt_validate::RFC9068_TYP.to_owned())
                .chain(args.accept_typ.iter().cloned()),
        );
    }
    policy
}

fn metadata(
    resource: &ResourceUri,
    issuer: &str,
) -> Result<mcp_oauth_prm_metadata::ProtectedResourceMetadata, Box<dyn std::error::Error>> {
    Ok(PrmBuilder::new(resource.clone())
        .authorization_server(issuer)
        .scopes_supported(["mcp:tools", "mcp:read", "mcp:write"])
        .resource_name("mcp-oauth rmcp example")
        .build()?)
}

/// One tenant per `--tenant HOST=ISSUER`, each issuer with its own refreshed keys.
async fn tenants(args: &Args) -> Result<ProtectedResource, Box<dyn std::error::Error>> {
    let mut registry = Registry::new(Resolver::Host);
    let mut keys: Vec<(String, Arc<dyn KeySource>)> = Vec::new();
    for (host, issuer) in &args.tenants {
        let resource = ResourceUri::parse(&format!("http://{host}/mcp"))?;
        // One refresher per trusted issuer (tenants sharing an issuer share its keys).
        if !keys.iter().any(|(i, _)| i == issuer) {
            keys.push((issuer.clone(), issuer_keys(issuer).await?));
        }
        let trust = TenantTrust::new(TenantId::new(host), resource.clone())
            .issuer(
                issuer.clone(),
                // The keys here are unused: the refreshed ones above verify.
                IssuerTrust::new(policy(args, issuer, &resource), Arc::default()),
            )
            .prm(metadata(&resource, issuer)?);
        registry.add(host, trust)?;
        println!(
            "tenant {host}: MCP endpoint {}, issuer {issuer}",
            resource.as_str()
        );
    }
    Ok(ProtectedResource::multi_tenant(Tenants::new(
        registry, keys,
    )?))
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args = args()?;
    let resource = ResourceUri::parse(
        &args
            .resource
            .clone()
            .unwrap_or_else(|| format!("http://{}/mcp", args.listen)),
    )?;
    let mut protected = match &args.issuer {
        Some(issuer) if args.tenants.is_empty() => {
            let keys = issuer_keys(issuer).await?;
            ProtectedResource::new(
                Validator::new(policy(&args, issuer, &resource)),
                keys,
                PrmEndpoint::new(metadata(&resource, issuer)?, &resource),
            )
        }
        _ => tenants(&args).await?,
    }
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
    mcp_config
        .allowed_hosts
        .extend(args.tenants.iter().map(|(host, _)| host.clone()));
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
