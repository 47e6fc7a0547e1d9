//! `mcp-oauth-as-server`: the authorization server (`mcp-oauth-authorization-server` over
//! hyper) as a program, with durable state.
//!
//! ```text
//! mcp-oauth-as-server --listen 127.0.0.1:9000 --resource http://127.0.0.1:8080/mcp \
//!     --store sqlite:/var/lib/mcp-oauth/as.db --signing-key /var/lib/mcp-oauth/signing.pem \
//!     --consent auto
//! ```
//!
//! SIGTERM (or Ctrl-C) stops accepting, lets requests in flight finish (at most 10 s) and
//! exits 0. Every change a request makes is committed before its response is sent.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use mcp_oauth_authorization_server::{
    AsConfig, AuthorizationServer, AutoApprove, Consent, MemoryStorage, Storage,
};
use mcp_oauth_resource_indicators::ResourceUri;
use mcp_oauth_transport_adapters::as_server::{AsService, Es256Signer, key_file};
use mcp_oauth_transport_adapters::http::listen::ServeConfig;
use mcp_oauth_transport_adapters::store::{SqliteConfig, SqliteStorage};
use mcp_oauth_transport_adapters::{FetchConfig, Fetcher};

const USAGE: &str = "\
mcp-oauth-as-server: an OAuth 2.1 authorization server for MCP servers

  --listen ADDR           address to listen on (default 127.0.0.1:9000)
  --issuer URL            the issuer (default http://ADDR); https, or http on loopback
  --resource URL          an MCP server's canonical URL this server issues tokens for
                          (repeatable; at least one)
  --scopes \"A B\"          scopes offered for every resource (default
                          \"mcp:tools mcp:read mcp:write\")
  --store memory|sqlite:PATH|postgres://URL
                          where clients, codes and grants live (default memory: lost
                          on exit); sqlite: a durable file (created 0600)
  --signing-key PATH      PEM file of the token signing key (created 0600 when missing;
                          a second key in it is the previous one, still published);
                          without it a new key per process: tokens stop verifying on
                          restart
  --access-token-ttl SECS access token lifetime (default 3600)
  --consent auto          FOR TESTS AND DEMOS ONLY: approve every authorization request
                          as the user demo-user; anyone reaching /authorize gets tokens
  --help                  this text
";

/// Where the state lives.
enum Store {
    Memory,
    Sqlite(PathBuf),
}

struct Args {
    listen: SocketAddr,
    issuer: Option<String>,
    resources: Vec<String>,
    scopes: String,
    store: Store,
    signing_key: Option<PathBuf>,
    access_ttl: Option<u64>,
    consent_auto: bool,
}

fn parse(mut it: impl Iterator<Item = String>) -> Result<Option<Args>, String> {
    let mut a = Args {
        listen: SocketAddr::from(([127, 0, 0, 1], 9000)),
        issuer: None,
        resources: Vec::new(),
        scopes: "mcp:tools mcp:read mcp:write".into(),
        store: Store::Memory,
        signing_key: None,
        access_ttl: None,
        consent_auto: false,
    };
    while let Some(flag) = it.next() {
        if flag == "--help" || flag == "-h" {
            return Ok(None);
        }
        let value = it.next().ok_or(format!("{flag} needs a value"))?;
        match flag.as_str() {
            "--listen" => a.listen = value.parse().map_err(|e| format!("--listen: {e}"))?,
            "--issuer" => a.issuer = Some(value),
            "--resource" => a.resources.push(value),
            "--scopes" => a.scopes = value,
            "--store" => {
                a.store = match value.as_str() {
                    "memory" => Store::Memory,
                    v if v.starts_with("sqlite:") => {
                        Store::Sqlite(PathBuf::from(v.trim_start_matches("sqlite:")))
                    }
                    v if v.starts_with("postgres://") || v.starts_with("postgresql://") => {
                        return Err(
                            "--store postgres: the Postgres store is not built yet; use \
                                    sqlite:PATH"
                                .into(),
                        );
                    }
                    other => return Err(format!("--store {other}: memory, sqlite:PATH")),
                }
            }
            "--signing-key" => a.signing_key = Some(PathBuf::from(value)),
            "--access-token-ttl" => {
                a.access_ttl = Some(
                    value
                        .parse()
                        .map_err(|e| format!("--access-token-ttl: {e}"))?,
                );
            }
            "--consent" if value == "auto" => a.consent_auto = true,
            "--consent" => return Err(format!("--consent {value}: only `auto` exists yet")),
            other => return Err(format!("unknown flag {other} (see --help)")),
        }
    }
    if a.resources.is_empty() {
        return Err("--resource URL is required (an MCP server's canonical URL)".into());
    }
    if !a.consent_auto {
        return Err(
            "no consent step: pass --consent auto (tests and demos only: every \
                    authorization request is approved as demo-user)"
                .into(),
        );
    }
    Ok(Some(a))
}

fn config(a: &Args) -> Result<AsConfig, String> {
    let issuer = a.issuer.clone().unwrap_or(format!("http://{}", a.listen));
    let mut config = AsConfig::new(issuer);
    for r in &a.resources {
        let uri = ResourceUri::parse(r).map_err(|e| format!("--resource {r}: {e}"))?;
        config = config.resource(uri, a.scopes.split(' ').filter(|s| !s.is_empty()));
    }
    if let Some(ttl) = a.access_ttl {
        config.access_ttl = ttl;
    }
    Ok(config)
}

fn server<S: Storage>(a: &Args, storage: S) -> Result<AuthorizationServer<S>, String> {
    let consent: Box<dyn Consent> = Box::new(AutoApprove {
        subject: "demo-user".into(),
    });
    let config = config(a)?;
    match &a.signing_key {
        Some(path) => key_file::load_or_create(path)
            .map_err(|e| e.to_string())?
            .server(config, storage, consent)
            .map_err(|e| e.to_string()),
        None => {
            eprintln!("mcp-oauth-as-server: no --signing-key: a new key for this process only");
            let signer = Es256Signer::generate().map_err(|e| e.to_string())?;
            AuthorizationServer::new(config, storage, Box::new(signer), consent)
                .map_err(|e| e.to_string())
        }
    }
}

async fn terminated() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        if let Ok(mut term) = signal(SignalKind::terminate()) {
            tokio::select! {
                _ = term.recv() => {}
                _ = tokio::signal::ctrl_c() => {}
            }
            return;
        }
    }
    let _ = tokio::signal::ctrl_c().await;
}

async fn run<S: Storage + 'static>(a: &Args, storage: S) -> Result<(), String> {
    let server = server(a, storage)?;
    let issuer = server.config().issuer.clone();
    let fetcher = Fetcher::with_ring(FetchConfig::default()).map_err(|e| e.to_string())?;
    let listener = tokio::net::TcpListener::bind(a.listen)
        .await
        .map_err(|e| format!("--listen {}: {e}", a.listen))?;
    println!(
        "mcp-oauth-as-server: {issuer} (consent: automatic, user demo-user; tests and demos only)"
    );
    AsService::new(server, fetcher)
        .serve_until(
            listener,
            ServeConfig::default(),
            async {
                terminated().await;
                eprintln!("mcp-oauth-as-server: stopping: finishing requests in flight");
            },
            Duration::from_secs(10),
        )
        .await
        .map_err(|e| e.to_string())?;
    eprintln!("mcp-oauth-as-server: stopped");
    Ok(())
}

#[tokio::main]
async fn main() -> ExitCode {
    let args = match parse(std::env::args().skip(1)) {
        Ok(Some(a)) => a,
        Ok(None) => {
            print!("{USAGE}");
            return ExitCode::SUCCESS;
        }
        Err(e) => {
            eprintln!("mcp-oauth-as-server: {e}");
            return ExitCode::from(2);
        }
    };
    let result = match &args.store {
        Store::Memory => run(&args, MemoryStorage::new()).await,
        Store::Sqlite(path) => match SqliteStorage::open(SqliteConfig::new(path)) {
            Ok(s) => run(&args, s).await,
            Err(e) => Err(format!("--store sqlite:{}: {e}", path.display())),
        },
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("mcp-oauth-as-server: {e}");
            ExitCode::FAILURE
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn args(s: &str) -> Result<Option<Args>, String> {
        parse(s.split(' ').map(String::from))
    }

    #[test]
    fn flags() {
        let a = args("--resource http://127.0.0.1:8080/mcp --consent auto --store sqlite:/tmp/x.db --access-token-ttl 60")
            .unwrap()
            .unwrap();
        assert!(matches!(a.store, Store::Sqlite(ref p) if p == &PathBuf::from("/tmp/x.db")));
        assert_eq!(config(&a).unwrap().access_ttl, 60);
        assert_eq!(config(&a).unwrap().issuer, "http://127.0.0.1:9000");
        assert!(args("--help").unwrap().is_none());
        for (bad, why) in [
            ("--resource http://127.0.0.1:8080/mcp", "no consent step"),
            ("--consent auto", "--resource URL is required"),
            (
                "--resource x --consent auto --store postgres://db",
                "not built yet",
            ),
            ("--resource x --consent page", "only `auto`"),
            (
                "--resource x --consent auto --store redis:x",
                "memory, sqlite:PATH",
            ),
            ("--listen nope", "--listen"),
        ] {
            let e = args(bad).err().unwrap();
            assert!(e.contains(why), "{bad}: {e}");
        }
    }
}
