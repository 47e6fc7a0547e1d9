//! `mcp-oauth-client`: connect to an MCP server, authorize with OAuth as the MCP
//! specification describes, list its tools and optionally call one.
//!
//! ```text
//! mcp-oauth-client [OPTIONS] <server-url>
//! ```
//!
//! Run with `--help` for the options. It is also the client the official MCP conformance
//! suite drives: it reads `MCP_CONFORMANCE_PROTOCOL_VERSION` and `MCP_CONFORMANCE_CONTEXT`
//! (pre-registered `client_id`/`client_secret`, `private_key_pem` for `private_key_jwt`).

use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use mcp_oauth_client_flow::{
    ClientAuth, ClientConfig, ClientSecret, CredentialStore, MemoryStore, RegisteredClient,
    ResourceUri,
};
use mcp_oauth_transport_adapters::client::{
    AuthorizedHttpClient, Es256Signer, FileStore, HeadlessBrowser, LoopbackRedirect, OAuthClient,
    Step, UserAgent,
};
use mcp_oauth_transport_adapters::http::{FetchConfig, Fetcher};
use rmcp::model::{
    CallToolRequestParams, ClientCapabilities, ClientConfig as McpClientConfig, Implementation,
    ProtocolVersion,
};
use rmcp::service::{ClientLifecycleMode, ClientServiceExt as _};
use rmcp::transport::StreamableHttpClientTransport;
use rmcp::transport::streamable_http_client::StreamableHttpClientTransportConfig;
use serde_json::Value;

const USAGE: &str = "\
mcp-oauth-client [OPTIONS] <server-url>

Connects to the MCP server, authorizes (discovery, registration, PKCE, token) when it
answers 401, lists its tools, and calls one with --call.

Options:
  --call TOOL                 call this tool after listing
  --args JSON                 its arguments (a JSON object)
  --headless                  follow the authorization server's redirects and forms
                              without a browser (tests, CI); otherwise a loopback
                              listener on 127.0.0.1 receives the redirect
  --login USER --password PW  what --headless types into a login form
  --no-browser                print the authorization URL instead of opening a browser
  --store FILE                keep registrations and tokens in FILE (0600); default: memory
  --client-id ID              a pre-registered client (with --issuer)
  --client-secret SECRET      its secret
  --issuer URL                the authorization server the client is registered at
  --client-metadata-url URL   this client's client ID metadata document URL
  --client-credentials        machine client: client_credentials grant, no user
  --private-key-pem FILE      private_key_jwt with this ES256 PKCS#8 key
  --scope SCOPE               scope for --client-credentials
  --protocol-version V        MCP protocol version (default: newest)
  --allow-loopback            allow loopback addresses and http to them (automatic
                              when the server URL itself is on loopback)
  --dangerous-allow-private-addresses
                              allow private/link-local addresses (SSRF guard off)
  -v, --verbose               narrate each step on stderr
  -h, --help                  this text";

#[derive(Default)]
struct Args {
    url: Option<String>,
    call: Option<String>,
    args: Option<String>,
    headless: bool,
    login: Option<String>,
    password: Option<String>,
    no_browser: bool,
    store: Option<String>,
    client_id: Option<String>,
    client_secret: Option<String>,
    issuer: Option<String>,
    cimd: Option<String>,
    client_credentials: bool,
    private_key_pem: Option<String>,
    scope: Option<String>,
    protocol_version: Option<String>,
    allow_loopback: bool,
    allow_private: bool,
    verbose: bool,
}

fn parse_args() -> Result<Args, String> {
    let mut a = Args::default();
    let mut it = std::env::args().skip(1);
    while let Some(arg) = it.next() {
        let mut val = |name: &str| it.next().ok_or(format!("{name} needs a value"));
        match arg.as_str() {
            "--call" => a.call = Some(val("--call")?),
            "--args" => a.args = Some(val("--args")?),
            "--headless" => a.headless = true,
            "--login" => a.login = Some(val("--login")?),
            "--password" => a.password = Some(val("--password")?),
            "--no-browser" => a.no_browser = true,
            "--store" => a.store = Some(val("--store")?),
            "--client-id" => a.client_id = Some(val("--client-id")?),
            "--client-secret" => a.client_secret = Some(val("--client-secret")?),
            "--issuer" => a.issuer = Some(val("--issuer")?),
            "--client-metadata-url" => a.cimd = Some(val("--client-metadata-url")?),
            "--client-credentials" => a.client_credentials = true,
            "--private-key-pem" => {
                let path = val("--private-key-pem")?;
                a.private_key_pem =
                    Some(std::fs::read_to_string(&path).map_err(|e| format!("{path}: {e}"))?);
            }
            "--scope" => a.scope = Some(val("--scope")?),
            "--protocol-version" => a.protocol_version = Some(val("--protocol-version")?),
            "--allow-loopback" => a.allow_loopback = true,
            "--dangerous-allow-private-addresses" => a.allow_private = true,
            "-v" | "--verbose" => a.verbose = true,
            "-h" | "--help" => return Err(String::new()),
            s if s.starts_with('-') => return Err(format!("unknown option {s}")),
            s => a.url = Some(s.to_owned()),
        }
    }
    // The conformance harness passes what a scenario needs in the environment.
    if a.protocol_version.is_none() {
        a.protocol_version = std::env::var("MCP_CONFORMANCE_PROTOCOL_VERSION").ok();
    }
    if let Ok(ctx) = std::env::var("MCP_CONFORMANCE_CONTEXT") {
        let v: Value =
            serde_json::from_str(&ctx).map_err(|e| format!("MCP_CONFORMANCE_CONTEXT: {e}"))?;
        let s = |k: &str| v.get(k).and_then(Value::as_str).map(str::to_owned);
        a.client_id = a.client_id.or(s("client_id"));
        a.client_secret = a.client_secret.or(s("client_secret"));
        a.issuer = a.issuer.or(s("issuer"));
        a.private_key_pem = a.private_key_pem.or(s("private_key_pem"));
        let name = s("name").unwrap_or_default();
        if name.contains("client-credentials") {
            a.client_credentials = true;
        }
    }
    Ok(a)
}

fn narrate(step: &Step) {
    match step {
        Step::Challenged {
            status,
            error,
            scope,
            ..
        } => eprintln!(
            "  <- MCP server {status} (error {:?}, scope {:?})",
            error.as_deref().unwrap_or(""),
            scope.as_deref().unwrap_or("")
        ),
        Step::Request { method, url } => eprintln!("  -> {method} {url}"),
        Step::Response { status } => eprintln!("  <- {status}"),
        Step::Authorize { url } => eprintln!("  authorize: {url}"),
        Step::Callback => eprintln!("  callback accepted (state and iss checked)"),
        Step::Authorized {
            issuer,
            scope,
            refresh_token,
        } => eprintln!(
            "  authorized by {issuer}, scope {:?}{}",
            scope.as_deref().unwrap_or(""),
            if *refresh_token {
                ", with a refresh token"
            } else {
                ""
            }
        ),
        Step::Refreshed { spent } => eprintln!(
            "  {}",
            if *spent {
                "refreshed the access token"
            } else {
                "another task or process had just refreshed the token; using it"
            }
        ),
        Step::Discarded { reason } => eprintln!("  discarded credential: {reason}"),
        _ => {}
    }
}

#[tokio::main]
async fn main() -> ExitCode {
    let args = match parse_args() {
        Ok(a) => a,
        Err(e) if e.is_empty() => {
            println!("{USAGE}");
            return ExitCode::SUCCESS;
        }
        Err(e) => {
            eprintln!("error: {e}\n\n{USAGE}");
            return ExitCode::from(2);
        }
    };
    let result = match args.store.clone() {
        Some(path) => run(args, Arc::new(FileStore::new(path))).await,
        None => run(args, Arc::new(MemoryStore::new())).await,
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}

async fn run<S: CredentialStore + 'static>(args: Args, store: Arc<S>) -> Result<(), String> {
    let url = args.url.clone().ok_or("no server URL")?;
    let server = ResourceUri::parse(&url).map_err(|e| format!("{url}: {e}"))?;

    let mut fetch = FetchConfig::default().with_timeout(Duration::from_secs(20));
    if args.allow_loopback || server.is_loopback() {
        fetch = fetch.allow_loopback().insecure_allow_http();
    }
    if args.allow_private {
        fetch = fetch.dangerous_allow_private_addresses();
    }
    let fetcher = Fetcher::with_ring(fetch).map_err(|e| e.to_string())?;

    let agent: Arc<dyn UserAgent> = if args.headless {
        let mut h = HeadlessBrowser::new(fetcher.clone(), "http://127.0.0.1/callback");
        if let (Some(l), Some(p)) = (&args.login, &args.password) {
            h = h.login(l, p);
        }
        if args.verbose {
            h = h.on_hop(Arc::new(|hop: &str| eprintln!("  browser: {hop}")));
        }
        Arc::new(h)
    } else {
        Arc::new(
            LoopbackRedirect::bind()
                .await
                .map_err(|e| format!("loopback listener: {e}"))?
                .open_browser(!args.no_browser),
        )
    };

    let mut config = ClientConfig::native("mcp-oauth-client", "http://127.0.0.1/callback");
    config.cimd_url = args.cimd.clone();
    let preregistered = args.client_id.as_ref().map(|id| {
        let c = RegisteredClient::new(id.clone());
        match &args.client_secret {
            Some(s) => c.with_secret(ClientSecret::new(s.clone())),
            None => c,
        }
    });
    if let (Some(c), Some(issuer)) = (&preregistered, &args.issuer) {
        config = config.preregistered(issuer.clone(), c.clone());
    }
    let signer = match &args.private_key_pem {
        Some(pem) => Some(Arc::new(
            // No `kid`, as before: the AS knows this client's one key and may refuse a
            // `kid` it was never told.
            Es256Signer::from_pkcs8_pem(pem)
                .map_err(|_| "the private key is not a PKCS#8 P-256 key")?
                .without_kid(),
        )),
        None => None,
    };
    let mut oauth = OAuthClient::new(config, fetcher, store, agent);
    if args.verbose {
        oauth = oauth.with_observer(Arc::new(narrate));
    }
    if let Some(s) = &signer {
        oauth = oauth.with_assertion_signer(s.clone());
    }

    if args.client_credentials {
        let client = preregistered.ok_or("--client-credentials needs --client-id")?;
        let auth = match (&signer, &client.client_secret) {
            (Some(s), _) => ClientAuth::PrivateKeyJwt(s.clone()),
            (None, Some(secret)) => ClientAuth::Basic(secret.clone()),
            (None, None) => ClientAuth::None,
        };
        oauth
            .client_credentials(&server, &client, &auth, args.scope.as_deref())
            .await
            .map_err(|e| e.to_string())?;
    }

    let http = AuthorizedHttpClient::new(reqwest::Client::new(), oauth.clone(), server.clone());
    let transport = StreamableHttpClientTransport::with_client(
        http.clone(),
        StreamableHttpClientTransportConfig::with_uri(url.clone()),
    );
    let mut info = McpClientConfig::new(
        ClientCapabilities::default(),
        Implementation::new("mcp-oauth-client", env!("CARGO_PKG_VERSION")),
    );
    // 2026-07-28 and later have no `initialize`: `server/discover` and per-request
    // metadata. Without a version, probe with `server/discover` and fall back.
    let lifecycle = match &args.protocol_version {
        Some(v) => {
            let v: ProtocolVersion = serde_json::from_value(Value::from(v.as_str()))
                .map_err(|e| format!("protocol version {v}: {e}"))?;
            info = info.with_protocol_version(v.clone());
            if v.has_initialize() {
                ClientLifecycleMode::Initialize
            } else {
                ClientLifecycleMode::Discover {
                    preferred_versions: vec![v],
                }
            }
        }
        None => ClientLifecycleMode::Auto {
            preferred_versions: vec![ProtocolVersion::LATEST],
            legacy_version: Some(ProtocolVersion::LATEST_WITH_INITIALIZE),
        },
    };
    let explain = |e: String| match http.last_error() {
        Some(auth) => format!("{e} (authorization: {auth})"),
        None => e,
    };
    let client = info
        .serve_with_lifecycle(transport, lifecycle)
        .await
        .map_err(|e| explain(format!("connecting: {e}")))?;
    let tools = client
        .list_all_tools()
        .await
        .map_err(|e| explain(format!("tools/list: {e}")))?;
    println!(
        "tools: {}",
        tools
            .iter()
            .map(|t| t.name.as_ref())
            .collect::<Vec<_>>()
            .join(", ")
    );
    if let Some(tool) = &args.call {
        let mut params = CallToolRequestParams::new(tool.clone());
        if let Some(a) = &args.args {
            match serde_json::from_str::<Value>(a) {
                Ok(Value::Object(m)) => params = params.with_arguments(m),
                _ => return Err("--args must be a JSON object".into()),
            }
        }
        let result = client
            .call_tool(params)
            .await
            .map_err(|e| explain(format!("tools/call {tool}: {e}")))?;
        println!(
            "{}",
            serde_json::to_string(&result).unwrap_or_else(|_| "<result>".into())
        );
        if result.is_error == Some(true) {
            let _ = client.cancel().await;
            return Err(format!("tool {tool} reported an error"));
        }
    }
    let _ = client.cancel().await;
    Ok(())
}
