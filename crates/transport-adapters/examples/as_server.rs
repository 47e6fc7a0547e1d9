//! The embedded authorization server (`mcp-oauth-authorization-server`) on hyper, for development and the
//! demo: `as_server --listen 127.0.0.1:9000 --resource http://127.0.0.1:8080/mcp
//! [--scopes "mcp:tools mcp:read mcp:write"]`.
//!
//! **Consent is automatic**: every authorization request is approved as the user
//! `demo-user` (the `AutoApprove` consent step). Use it on loopback only.

use std::net::SocketAddr;

use mcp_oauth_authorization_server::{AsConfig, AuthorizationServer, AutoApprove, MemoryStorage};
use mcp_oauth_resource_indicators::ResourceUri;
use mcp_oauth_transport_adapters::as_server::{AsService, Es256Signer};
use mcp_oauth_transport_adapters::{FetchConfig, Fetcher};

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut listen: SocketAddr = "127.0.0.1:9000".parse()?;
    let mut resources = Vec::new();
    let mut scopes = "mcp:tools mcp:read mcp:write".to_owned();
    let mut it = std::env::args().skip(1);
    while let Some(a) = it.next() {
        let mut value = || it.next().ok_or(format!("{a} needs a value"));
        match a.as_str() {
            "--listen" => listen = value()?.parse()?,
            "--resource" => resources.push(value()?),
            "--scopes" => scopes = value()?,
            other => return Err(format!("unknown argument {other}").into()),
        }
    }
    if resources.is_empty() {
        return Err("--resource URL is required (the MCP server's canonical URL)".into());
    }
    let issuer = format!("http://{listen}");
    let mut config = AsConfig::new(issuer.clone());
    for r in &resources {
        config = config.resource(
            ResourceUri::parse(r)?,
            scopes.split(' ').filter(|s| !s.is_empty()),
        );
    }
    let signer = Es256Signer::generate()?;
    let server = AuthorizationServer::new(
        config,
        MemoryStorage::new(),
        Box::new(signer),
        Box::new(AutoApprove {
            subject: "demo-user".into(),
        }),
    )?;
    // Client ID metadata documents are fetched from the public internet only.
    let fetcher = Fetcher::with_ring(FetchConfig::default())?;
    let listener = tokio::net::TcpListener::bind(listen).await?;
    println!("authorization server: {issuer} (consent: automatic, user demo-user)");
    AsService::new(server, fetcher).serve(listener).await?;
    Ok(())
}
