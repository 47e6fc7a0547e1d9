//! The client half of `cargo xtask demo`: our OAuth client and rmcp against a protected
//! MCP server, narrating each step. `demo_client <mcp-url>`.

use std::sync::Arc;
use std::time::Duration;

use mcp_oauth_client_flow::{ClientConfig, MemoryStore, ResourceUri};
use mcp_oauth_transport_adapters::client::{
    AuthorizedHttpClient, HeadlessBrowser, OAuthClient, Step,
};
use mcp_oauth_transport_adapters::{FetchConfig, Fetcher};
use rmcp::model::{
    CallToolRequestParams, ClientCapabilities, ClientConfig as McpConfig, Implementation,
};
use rmcp::service::{ClientLifecycleMode, ClientServiceExt as _};
use rmcp::transport::StreamableHttpClientTransport;
use rmcp::transport::streamable_http_client::StreamableHttpClientTransportConfig;

fn short(url: &str) -> String {
    match url.split_once('?') {
        Some((base, _)) => format!("{base}?…"),
        None => url.to_owned(),
    }
}

fn narrate(step: &Step) {
    match step {
        Step::Challenged {
            status,
            error,
            scope,
            resource_metadata,
        } => {
            let mut said = Vec::new();
            if let Some(e) = error {
                said.push(format!("error={e}"));
            }
            if let Some(s) = scope {
                said.push(format!("scope=\"{s}\""));
            }
            if let Some(r) = resource_metadata {
                said.push(format!("resource_metadata={r}"));
            }
            println!(
                "  ← MCP server: {status}, WWW-Authenticate: Bearer {}",
                said.join(", ")
            );
        }
        Step::Request { method, url } => {
            let what = if url.contains("oauth-protected-resource") {
                "protected resource metadata (RFC 9728): which authorization server, which scopes"
            } else if url.contains("oauth-authorization-server")
                || url.contains("openid-configuration")
            {
                "authorization server metadata (RFC 8414): endpoints, PKCE S256, iss support"
            } else if url.ends_with("/register") {
                "dynamic client registration (RFC 7591): a client id for this server"
            } else if url.ends_with("/token") {
                "token request (code + PKCE verifier, or refresh token; resource bound, RFC 8707)"
            } else {
                ""
            };
            println!("  → {method} {}   {what}", short(url));
        }
        Step::Response { status } => println!("    ← {status}"),
        Step::Authorize { url } => println!(
            "  → browser to {} (PKCE S256 challenge, state, resource, scope)",
            short(url)
        ),
        Step::Callback => {
            println!("    ← redirect back: state matches, iss is the issuer (RFC 9207)")
        }
        Step::Authorized {
            issuer,
            scope,
            refresh_token,
        } => println!(
            "  ✓ token from {issuer}: scope \"{}\"{}",
            scope.as_deref().unwrap_or(""),
            if *refresh_token {
                ", refresh token kept"
            } else {
                ""
            }
        ),
        Step::Refreshed { spent } => println!(
            "  ✓ {}",
            if *spent {
                "refreshed: new access token, refresh token rotated"
            } else {
                "another task had just refreshed"
            }
        ),
        Step::Discarded { reason } => println!("  ! {reason}"),
        _ => {}
    }
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let url = std::env::args()
        .nth(1)
        .ok_or("usage: demo_client <mcp-url>")?;
    let server = ResourceUri::parse(&url)?;
    let fetcher = Fetcher::with_ring(
        FetchConfig::default()
            .with_timeout(Duration::from_secs(10))
            .allow_loopback()
            .insecure_allow_http(),
    )?;
    let agent = Arc::new(HeadlessBrowser::new(
        fetcher.clone(),
        "http://127.0.0.1/callback",
    ));
    let oauth = OAuthClient::new(
        ClientConfig::native("mcp-oauth demo", "http://127.0.0.1/callback"),
        fetcher,
        Arc::new(MemoryStore::new()),
        agent,
    )
    .with_observer(Arc::new(narrate));

    println!(
        "1. Connect to {url} with no token: the server answers 401 and the client starts the flow."
    );
    let http = AuthorizedHttpClient::new(reqwest::Client::new(), oauth.clone(), server.clone());
    let transport = StreamableHttpClientTransport::with_client(
        http.clone(),
        StreamableHttpClientTransportConfig::with_uri(url.clone()),
    );
    let info = McpConfig::new(
        ClientCapabilities::default(),
        Implementation::new("mcp-oauth-demo", env!("CARGO_PKG_VERSION")),
    );
    let client = info
        .serve_with_lifecycle(transport, ClientLifecycleMode::Initialize)
        .await
        .map_err(|e| format!("connect: {e} ({:?})", http.last_error()))?;
    let tools = client.list_all_tools().await?;
    println!(
        "   MCP session open; tools: {}",
        tools
            .iter()
            .map(|t| t.name.as_ref())
            .collect::<Vec<_>>()
            .join(", ")
    );

    println!(
        "\n2. Call `whoami` (any valid token): the server read the token's subject and scopes."
    );
    let r = client
        .call_tool(CallToolRequestParams::new("whoami"))
        .await?;
    println!("   result: {}", serde_json::to_string(&r.content)?);

    println!(
        "\n3. Call `echo`, which needs mcp:write: 403 insufficient_scope, step-up with the union of scopes, retry."
    );
    let mut args = serde_json::Map::new();
    args.insert("text".into(), "hello from the demo".into());
    let r = client
        .call_tool(CallToolRequestParams::new("echo").with_arguments(args))
        .await?;
    println!("   result: {}", serde_json::to_string(&r.content)?);
    if r.is_error == Some(true) {
        return Err("echo failed".into());
    }

    println!(
        "\n4. Refresh: exchange the refresh token (rotated) for a new access token, then call `whoami` with it."
    );
    let old = oauth.access_token(&server).await?.ok_or("no token held")?;
    let cred = oauth
        .refresh(&server, &old)
        .await?
        .ok_or("the refresh was refused")?;
    if cred.tokens.access_token.expose() == old {
        return Err("the refresh returned the same access token".into());
    }
    let r = client
        .call_tool(CallToolRequestParams::new("whoami"))
        .await?;
    println!("   result: {}", serde_json::to_string(&r.content)?);

    let _ = client.cancel().await;
    println!(
        "\nDone: discovery, registration, PKCE, token, tool call, step-up and refresh; {} requests to the authorization side.",
        oauth.requests_sent()
    );
    Ok(())
}
