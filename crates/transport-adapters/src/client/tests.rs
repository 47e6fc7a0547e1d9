//! The client driver over real sockets on loopback: the request count of a whole
//! authorization, refresh single-flight across tasks and processes, and the SSRF guard on
//! discovery.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

use std::convert::Infallible;
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use http::{HeaderMap, Method, Request, Response, StatusCode, header};
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper_util::rt::TokioIo;
use mcp_oauth_client_flow::{
    ClientConfig, Credential, CredentialStore, MemoryStore, ResourceUri, UnixTime,
};
use mcp_oauth_resource_indicators::url::{Url, form_urlencoded};
use serde_json::json;

use super::{ClientError, FileStore, HeadlessBrowser, OAuthClient};
use crate::http::{FetchConfig, FetchError, Fetcher};

/// What the fake MCP server + authorization server saw and holds.
#[derive(Default)]
struct World {
    /// Every request: method and path.
    log: Vec<(String, String)>,
    /// The refresh token currently valid; each use rotates it.
    refresh: u32,
    /// Refresh-grant requests, with the refresh token each one spent.
    refreshes: Vec<String>,
    /// PRM's `authorization_servers`, when overridden.
    servers: Option<Vec<String>>,
}

type Shared = Arc<Mutex<World>>;

fn form(body: &[u8]) -> Vec<(String, String)> {
    form_urlencoded::parse(body).into_owned().collect()
}

fn get<'a>(f: &'a [(String, String)], k: &str) -> Option<&'a str> {
    f.iter().find(|(n, _)| n == k).map(|(_, v)| v.as_str())
}

fn respond(
    world: &Shared,
    base: &str,
    method: &Method,
    path: &str,
    query: &str,
    headers: &HeaderMap,
    body: &[u8],
) -> (StatusCode, Vec<(&'static str, String)>, Vec<u8>) {
    let mut w = world.lock().unwrap();
    w.log.push((method.to_string(), path.to_owned()));
    let json_ok = |v: serde_json::Value| {
        (
            StatusCode::OK,
            vec![("content-type", "application/json".to_owned())],
            v.to_string().into_bytes(),
        )
    };
    match path {
        "/mcp" => {
            let auth = headers
                .get(header::AUTHORIZATION)
                .and_then(|v| v.to_str().ok())
                .unwrap_or("");
            if auth.starts_with("Bearer at-") {
                json_ok(json!({"ok": true}))
            } else {
                (
                    StatusCode::UNAUTHORIZED,
                    vec![(
                        "www-authenticate",
                        format!(
                            r#"Bearer resource_metadata="{base}/.well-known/oauth-protected-resource/mcp", scope="mcp:read""#
                        ),
                    )],
                    Vec::new(),
                )
            }
        }
        "/.well-known/oauth-protected-resource/mcp" => json_ok(json!({
            "resource": format!("{base}/mcp"),
            "authorization_servers": w.servers.clone().unwrap_or_else(|| vec![base.to_owned()]),
        })),
        "/.well-known/oauth-authorization-server" => json_ok(json!({
            "issuer": base,
            "authorization_endpoint": format!("{base}/authorize"),
            "token_endpoint": format!("{base}/token"),
            "registration_endpoint": format!("{base}/register"),
            "code_challenge_methods_supported": ["S256"],
            "authorization_response_iss_parameter_supported": true,
        })),
        "/register" => (
            StatusCode::CREATED,
            vec![("content-type", "application/json".to_owned())],
            json!({"client_id": "c1", "token_endpoint_auth_method": "none"})
                .to_string()
                .into_bytes(),
        ),
        "/authorize" => {
            let q = form(query.as_bytes());
            let mut to = Url::parse(get(&q, "redirect_uri").unwrap()).unwrap();
            to.query_pairs_mut()
                .append_pair("code", "the-code")
                .append_pair("state", get(&q, "state").unwrap_or(""))
                .append_pair("iss", base);
            (StatusCode::FOUND, vec![("location", to.into())], Vec::new())
        }
        "/token" => {
            let f = form(body);
            match get(&f, "grant_type") {
                Some("authorization_code") => {
                    let rt = format!("rt-{}", w.refresh);
                    json_ok(json!({"access_token": "at-0", "token_type": "Bearer",
                                   "expires_in": 3600, "refresh_token": rt}))
                }
                Some("refresh_token") => {
                    let sent = get(&f, "refresh_token").unwrap_or("").to_owned();
                    w.refreshes.push(sent.clone());
                    if sent != format!("rt-{}", w.refresh) {
                        return (
                            StatusCode::BAD_REQUEST,
                            vec![("content-type", "application/json".to_owned())],
                            br#"{"error":"invalid_grant"}"#.to_vec(),
                        );
                    }
                    w.refresh += 1;
                    let n = w.refresh;
                    json_ok(
                        json!({"access_token": format!("at-{n}"), "token_type": "Bearer",
                                   "expires_in": 3600, "refresh_token": format!("rt-{n}")}),
                    )
                }
                _ => (StatusCode::BAD_REQUEST, Vec::new(), Vec::new()),
            }
        }
        _ => (StatusCode::NOT_FOUND, Vec::new(), Vec::new()),
    }
}

/// Starts the fake servers on loopback; returns the base URL.
async fn start(world: Shared) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr: SocketAddr = listener.local_addr().unwrap();
    let base = format!("http://{addr}");
    let b = base.clone();
    tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                return;
            };
            let (world, base) = (world.clone(), b.clone());
            tokio::spawn(async move {
                let svc = hyper::service::service_fn(move |req: Request<Incoming>| {
                    let (world, base) = (world.clone(), base.clone());
                    async move {
                        let (parts, body) = req.into_parts();
                        let body = body
                            .collect()
                            .await
                            .map(|b| b.to_bytes())
                            .unwrap_or_default();
                        let (status, headers, out) = respond(
                            &world,
                            &base,
                            &parts.method,
                            parts.uri.path(),
                            parts.uri.query().unwrap_or(""),
                            &parts.headers,
                            &body,
                        );
                        let mut resp = Response::new(Full::new(Bytes::from(out)));
                        *resp.status_mut() = status;
                        for (k, v) in headers {
                            resp.headers_mut().insert(k, v.parse().unwrap());
                        }
                        Ok::<_, Infallible>(resp)
                    }
                });
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), svc)
                    .await;
            });
        }
    });
    base
}

fn fetcher() -> Fetcher {
    Fetcher::with_ring(
        FetchConfig::default()
            .with_timeout(Duration::from_secs(5))
            .allow_loopback()
            .insecure_allow_http(),
    )
    .unwrap()
}

fn client<S: CredentialStore + 'static>(store: Arc<S>) -> OAuthClient<S> {
    let f = fetcher();
    let agent = Arc::new(HeadlessBrowser::new(f.clone(), "http://127.0.0.1/callback"));
    OAuthClient::new(
        ClientConfig::native("test", "http://127.0.0.1/callback"),
        f,
        store,
        agent,
    )
}

/// POSTs to the MCP endpoint with `token`: status and headers.
async fn mcp(base: &str, token: Option<&str>) -> (StatusCode, HeaderMap) {
    let mut b = Request::builder()
        .method(Method::POST)
        .uri(format!("{base}/mcp"));
    if let Some(t) = token {
        b = b.header(header::AUTHORIZATION, format!("Bearer {t}"));
    }
    let r = fetcher()
        .fetch(b.body(b"{}".to_vec()).unwrap())
        .await
        .unwrap();
    (r.status(), r.headers().clone())
}

/// From the first 401 to the authorized request, the client makes the requests the flow
/// needs and no more: PRM, AS metadata, registration, authorization, token, retry.
#[tokio::test(flavor = "current_thread")]
async fn a_whole_authorization_costs_exactly_the_needed_requests() {
    let world = Shared::default();
    let base = start(world.clone()).await;
    let server = ResourceUri::parse(&format!("{base}/mcp")).unwrap();
    let oauth = client(Arc::new(MemoryStore::new()));

    let (status, headers) = mcp(&base, None).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let token = oauth
        .handle_challenge(&server, status, &headers, None, "tools/list")
        .await
        .unwrap();
    let (status, _) = mcp(&base, Some(&token)).await;
    assert_eq!(status, StatusCode::OK);

    let log: Vec<String> = world
        .lock()
        .unwrap()
        .log
        .iter()
        .map(|(m, p)| format!("{m} {p}"))
        .collect();
    assert_eq!(
        log,
        [
            "POST /mcp",
            "GET /.well-known/oauth-protected-resource/mcp",
            "GET /.well-known/oauth-authorization-server",
            "POST /register",
            "GET /authorize",
            "POST /token",
            "POST /mcp",
        ]
    );
    assert_eq!(
        oauth.requests_sent(),
        4,
        "PRM, metadata, registration, token"
    );
    // The credential is stored; the next request needs nothing.
    assert_eq!(
        oauth.access_token(&server).await.unwrap().as_deref(),
        Some("at-0")
    );
    assert_eq!(world.lock().unwrap().log.len(), 7);
}

/// Puts an expiring credential for the fake server into `store`.
async fn seed<S: CredentialStore + 'static>(store: Arc<S>, base: &str) -> ResourceUri {
    let server = ResourceUri::parse(&format!("{base}/mcp")).unwrap();
    let oauth = client(store.clone());
    let (status, headers) = mcp(base, None).await;
    oauth
        .handle_challenge(&server, status, &headers, None, "x")
        .await
        .unwrap();
    // Make it due for refresh.
    let mut c: Credential = store.credential(server.as_str()).unwrap().unwrap();
    c.tokens.expires_at = Some(UnixTime::from_secs(1));
    store.save_credential(server.as_str(), &c).unwrap();
    server
}

/// Two tasks refreshing the same credential at once: one refresh request, both get the
/// new token (the rotating refresh token is spent exactly once).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_tasks_refresh_once() {
    let world = Shared::default();
    let base = start(world.clone()).await;
    let store = Arc::new(MemoryStore::new());
    let server = seed(store.clone(), &base).await;
    let oauth = client(store.clone());
    let (a, b) = tokio::join!(oauth.access_token(&server), oauth.access_token(&server));
    assert_eq!(a.unwrap().as_deref(), Some("at-1"));
    assert_eq!(b.unwrap().as_deref(), Some("at-1"));
    assert_eq!(world.lock().unwrap().refreshes, ["rt-0"]);
}

const CHILD_STORE: &str = "MCP_OAUTH_TEST_CHILD_STORE";
const CHILD_SERVER: &str = "MCP_OAUTH_TEST_CHILD_SERVER";

/// Run only as a child of `two_processes_refresh_once`: refreshes through the file store.
#[tokio::test(flavor = "current_thread")]
#[ignore = "a helper process for two_processes_refresh_once"]
async fn refresh_child() {
    let (Ok(store), Ok(server)) = (std::env::var(CHILD_STORE), std::env::var(CHILD_SERVER)) else {
        return;
    };
    let server = ResourceUri::parse(&server).unwrap();
    let oauth = client(Arc::new(FileStore::new(store)));
    let token = oauth.access_token(&server).await.unwrap().unwrap();
    println!("CHILD-TOKEN {token}");
}

/// Two processes sharing a file store refresh the same credential at once: the file lock
/// makes the second find the first one's tokens, so the refresh token is spent once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_processes_refresh_once() {
    let world = Shared::default();
    let base = start(world.clone()).await;
    let dir = std::env::temp_dir().join(format!("mcp-oauth-refresh-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let path = dir.join("store.json");
    let store = Arc::new(FileStore::new(&path));
    let server = seed(store.clone(), &base).await;

    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        let mode = std::fs::metadata(&path).unwrap().permissions().mode();
        assert_eq!(
            mode & 0o777,
            0o600,
            "the store is readable by its owner only"
        );
    }

    let exe = std::env::current_exe().unwrap();
    let spawn = || {
        tokio::process::Command::new(&exe)
            .args([
                "--exact",
                "client::tests::refresh_child",
                "--ignored",
                "--nocapture",
            ])
            .env(CHILD_STORE, &path)
            .env(CHILD_SERVER, server.as_str())
            .output()
    };
    let (a, b) = tokio::join!(spawn(), spawn());
    let tokens: Vec<String> = [a.unwrap(), b.unwrap()]
        .iter()
        .map(|o| {
            let out = String::from_utf8_lossy(&o.stdout).into_owned();
            assert!(o.status.success(), "{out}");
            out.lines()
                .find_map(|l| l.strip_prefix("CHILD-TOKEN "))
                .unwrap_or_else(|| panic!("no token in {out}"))
                .to_owned()
        })
        .collect();
    assert_eq!(tokens, ["at-1", "at-1"]);
    assert_eq!(world.lock().unwrap().refreshes, ["rt-0"]);
    let stored = store.credential(server.as_str()).unwrap().unwrap();
    assert_eq!(stored.tokens.refresh_token.unwrap().expose(), "rt-1");
    let _ = std::fs::remove_dir_all(&dir);
}

/// After `invalid_grant` the store is read again; an unchanged dead credential is
/// dropped and the caller is told to run the flow.
#[tokio::test(flavor = "current_thread")]
async fn a_spent_refresh_token_drops_the_credential() {
    let world = Shared::default();
    let base = start(world.clone()).await;
    let store = Arc::new(MemoryStore::new());
    let server = seed(store.clone(), &base).await;
    world.lock().unwrap().refresh = 7; // the stored rt-0 is no longer valid
    let oauth = client(store.clone());
    assert_eq!(oauth.access_token(&server).await.unwrap(), None);
    assert!(store.credential(server.as_str()).unwrap().is_none());
    assert_eq!(world.lock().unwrap().refreshes, ["rt-0"]);
}

/// A 401 for the stored token refreshes once; a 401 for the refreshed token runs the
/// whole flow instead of refreshing in a loop.
#[tokio::test(flavor = "current_thread")]
async fn a_401_refreshes_once_then_reauthorizes() {
    let world = Shared::default();
    let base = start(world.clone()).await;
    let store = Arc::new(MemoryStore::new());
    let server = seed(store.clone(), &base).await;
    let oauth = client(store.clone());
    let (status, headers) = mcp(&base, None).await;
    let t1 = oauth
        .handle_challenge(&server, status, &headers, Some("at-0"), "x")
        .await
        .unwrap();
    assert_eq!(t1, "at-1");
    let authorizations = |w: &Shared| {
        w.lock()
            .unwrap()
            .log
            .iter()
            .filter(|(_, p)| p == "/authorize")
            .count()
    };
    let before = authorizations(&world);
    let t2 = oauth
        .handle_challenge(&server, status, &headers, Some("at-1"), "x")
        .await
        .unwrap();
    assert_eq!(authorizations(&world), before + 1, "the whole flow ran");
    assert_eq!(t2, "at-0");
}

/// SSRF: protected resource metadata naming the cloud metadata address, or a challenge
/// whose metadata URL resolves to a private address, is refused before any connection.
#[tokio::test(flavor = "current_thread")]
async fn discovery_never_reaches_private_addresses() {
    let world = Shared::default();
    let base = start(world.clone()).await;
    world.lock().unwrap().servers = Some(vec!["https://169.254.169.254".into()]);
    let server = ResourceUri::parse(&format!("{base}/mcp")).unwrap();
    let oauth = client(Arc::new(MemoryStore::new()));
    let (status, headers) = mcp(&base, None).await;
    let err = oauth
        .handle_challenge(&server, status, &headers, None, "x")
        .await
        .unwrap_err();
    assert!(
        matches!(err, ClientError::Fetch(FetchError::Forbidden)),
        "{err:?}"
    );

    // A name that resolves to 10.0.0.1 (pinned here, as DNS would answer).
    let f = Fetcher::with_ring(
        FetchConfig::default()
            .with_timeout(Duration::from_secs(30))
            .allow_loopback()
            .insecure_allow_http()
            .resolve("metadata.internal.example", IpAddr::from([10, 0, 0, 1])),
    )
    .unwrap();
    let agent = Arc::new(HeadlessBrowser::new(f.clone(), "http://127.0.0.1/callback"));
    let oauth = OAuthClient::new(
        ClientConfig::native("test", "http://127.0.0.1/callback"),
        f,
        Arc::new(MemoryStore::new()),
        agent,
    );
    let mut h = HeaderMap::new();
    h.insert(
        header::WWW_AUTHENTICATE,
        r#"Bearer resource_metadata="https://metadata.internal.example/prm""#
            .parse()
            .unwrap(),
    );
    let started = std::time::Instant::now();
    let err = oauth
        .handle_challenge(&server, StatusCode::UNAUTHORIZED, &h, None, "x")
        .await
        .unwrap_err();
    assert!(
        matches!(err, ClientError::Fetch(FetchError::Forbidden)),
        "{err:?}"
    );
    // Refused by the resolver, not by a connect timeout to an unroutable address.
    assert!(started.elapsed() < Duration::from_secs(5));
}

/// The file store survives a round trip and keeps clients by issuer.
#[test]
fn file_store_round_trip() {
    let dir = std::env::temp_dir().join(format!("mcp-oauth-store-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let s = FileStore::new(dir.join("a").join("store.json"));
    assert!(s.client("https://as").unwrap().is_none());
    s.save_client(
        "https://as",
        &mcp_oauth_client_flow::RegisteredClient::new("c"),
    )
    .unwrap();
    assert_eq!(s.client("https://as").unwrap().unwrap().client_id, "c");
    std::fs::write(s.path(), b"not json").unwrap();
    assert!(
        s.clients().is_err(),
        "a corrupt file is an error, not an empty store"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

/// The tower client layer: one request through it, from no credential to the answer.
#[tokio::test(flavor = "current_thread")]
async fn the_tower_layer_authorizes_and_retries() {
    use tower::{Layer as _, ServiceExt as _};
    let world = Shared::default();
    let base = start(world.clone()).await;
    let server = ResourceUri::parse(&format!("{base}/mcp")).unwrap();
    let oauth = client(Arc::new(MemoryStore::new()));
    let f = fetcher();
    let http = tower::service_fn(move |req: Request<Vec<u8>>| {
        let f = f.clone();
        async move { f.fetch(req).await }
    });
    let svc = super::OAuthLayer::new(oauth, server).layer(http);
    let req = Request::builder()
        .method(Method::POST)
        .uri(format!("{base}/mcp"))
        .body(b"{}".to_vec())
        .unwrap();
    let resp = svc.clone().oneshot(req.clone()).await.unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    let posts = |w: &Shared| {
        w.lock()
            .unwrap()
            .log
            .iter()
            .filter(|(_, p)| p == "/mcp")
            .count()
    };
    assert_eq!(posts(&world), 2, "the 401, then the authorized retry");
    // The next request carries the stored token at once.
    let resp = svc.oneshot(req).await.unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    assert_eq!(posts(&world), 3);
}

/// MCP-TOK-2, BEARER-9: the tower client layer attaches the token to the resource URL and
/// the paths below it, and to nothing else on the origin (`/mcpx`, `/other`, the metadata,
/// a dot-segment path): those go out as they were made.
#[tokio::test(flavor = "current_thread")]
async fn the_tower_layer_sends_the_token_to_the_resource_url_only() {
    use tower::{Layer as _, ServiceExt as _};
    let world = Shared::default();
    let base = start(world.clone()).await;
    let server = ResourceUri::parse(&format!("{base}/mcp")).unwrap();
    let oauth = client(Arc::new(MemoryStore::new()));
    type Seen = Arc<Mutex<Vec<(String, Option<String>)>>>;
    let seen: Seen = Arc::default();
    let (f, log) = (fetcher(), seen.clone());
    let http = tower::service_fn(move |req: Request<Vec<u8>>| {
        let auth = req
            .headers()
            .get(header::AUTHORIZATION)
            .map(|v| v.to_str().unwrap().to_owned());
        log.lock()
            .unwrap()
            .push((req.uri().path().to_owned(), auth));
        let f = f.clone();
        async move { f.fetch(req).await }
    });
    let svc = super::OAuthLayer::new(oauth, server).layer(http);
    let send = |path: &str| {
        let req = Request::builder()
            .method(Method::POST)
            .uri(format!("{base}{path}"))
            .body(b"{}".to_vec())
            .unwrap();
        svc.clone().oneshot(req)
    };
    // The first request runs the flow; from then on the token is stored.
    assert_eq!(send("/mcp").await.unwrap().status(), StatusCode::OK);
    seen.lock().unwrap().clear();
    for path in ["/mcp", "/mcp/", "/mcp/sub"] {
        send(path).await.unwrap();
    }
    for path in [
        "/mcpx",
        "/other",
        "/.well-known/oauth-protected-resource/mcp",
        "/mcp/../token",
    ] {
        send(path).await.unwrap();
    }
    let seen = seen.lock().unwrap().clone();
    let with = |p: &str| (p.to_owned(), Some("Bearer at-0".to_owned()));
    let without = |p: &str| (p.to_owned(), None);
    assert_eq!(
        seen,
        [
            with("/mcp"),
            with("/mcp/"),
            with("/mcp/sub"),
            without("/mcpx"),
            without("/other"),
            without("/.well-known/oauth-protected-resource/mcp"),
            without("/mcp/../token"),
        ]
    );
}

/// The rmcp wrapper: the token goes with requests to the resource URL (and below it) only;
/// to any other URL the inner client gets the caller's own `auth_header` (here none).
#[cfg(feature = "rmcp-client")]
mod rmcp_client {
    use std::collections::HashMap;
    use std::pin::Pin;
    use std::task::{Context, Poll};

    use futures_core::stream::BoxStream;
    use http::{HeaderName, HeaderValue};
    use rmcp::model::ClientJsonRpcMessage;
    use rmcp::transport::streamable_http_client::{
        SseError, StreamableHttpClient, StreamableHttpError, StreamableHttpPostResponse,
    };
    use sse_stream::Sse;

    use super::*;
    use crate::client::AuthorizedHttpClient;

    type Calls = Arc<Mutex<Vec<(&'static str, String, Option<String>)>>>;

    /// An rmcp HTTP client that records what it was asked to send.
    #[derive(Clone, Default)]
    struct Recorder(Calls);

    impl Recorder {
        fn note(&self, what: &'static str, uri: &str, auth: Option<String>) {
            self.0.lock().unwrap().push((what, uri.to_owned(), auth));
        }
    }

    struct NoEvents;

    impl futures_core::Stream for NoEvents {
        type Item = Result<Sse, SseError>;
        fn poll_next(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<Option<Self::Item>> {
            Poll::Ready(None)
        }
    }

    impl StreamableHttpClient for Recorder {
        type Error = std::io::Error;

        async fn post_message(
            &self,
            uri: Arc<str>,
            _: ClientJsonRpcMessage,
            _: Option<Arc<str>>,
            auth_header: Option<String>,
            _: HashMap<HeaderName, HeaderValue>,
        ) -> Result<StreamableHttpPostResponse, StreamableHttpError<Self::Error>> {
            self.note("post", &uri, auth_header);
            Ok(StreamableHttpPostResponse::Accepted)
        }

        async fn delete_session(
            &self,
            uri: Arc<str>,
            _: Arc<str>,
            auth_header: Option<String>,
            _: HashMap<HeaderName, HeaderValue>,
        ) -> Result<(), StreamableHttpError<Self::Error>> {
            self.note("delete", &uri, auth_header);
            Ok(())
        }

        async fn get_stream(
            &self,
            uri: Arc<str>,
            _: Option<Arc<str>>,
            _: Option<String>,
            auth_header: Option<String>,
            _: HashMap<HeaderName, HeaderValue>,
        ) -> Result<BoxStream<'static, Result<Sse, SseError>>, StreamableHttpError<Self::Error>>
        {
            self.note("get", &uri, auth_header);
            Ok(Box::pin(NoEvents))
        }
    }

    #[tokio::test(flavor = "current_thread")]
    async fn the_rmcp_client_sends_the_token_to_the_resource_url_only() {
        let world = Shared::default();
        let base = start(world.clone()).await;
        let server = ResourceUri::parse(&format!("{base}/mcp")).unwrap();
        let oauth = client(Arc::new(MemoryStore::new()));
        let (status, headers) = mcp(&base, None).await;
        oauth
            .handle_challenge(&server, status, &headers, None, "x")
            .await
            .unwrap();
        let recorder = Recorder::default();
        let c = AuthorizedHttpClient::new(recorder.clone(), oauth, server);
        let message: ClientJsonRpcMessage = serde_json::from_value(
            json!({"jsonrpc": "2.0", "method": "notifications/initialized"}),
        )
        .unwrap();
        let covered = [format!("{base}/mcp"), format!("{base}/mcp/sub")];
        let elsewhere = [
            format!("{base}/mcpx"),
            format!("{base}/other"),
            format!("{base}/mcp/../token"),
            "https://evil.example/mcp".to_owned(),
            "not a url".to_owned(),
        ];
        for uri in covered.iter().chain(&elsewhere) {
            let uri: Arc<str> = uri.as_str().into();
            c.post_message(uri.clone(), message.clone(), None, None, HashMap::new())
                .await
                .unwrap();
            c.delete_session(uri.clone(), "s".into(), None, HashMap::new())
                .await
                .unwrap();
            let _ = c
                .get_stream(uri.clone(), None, None, None, HashMap::new())
                .await
                .unwrap();
            c.get_stream_with_max_sse_event_size(uri, None, None, None, HashMap::new(), 1024)
                .await
                .map(|_| ())
                .unwrap();
        }
        // The caller's own header still goes where the token does not.
        c.post_message(
            format!("{base}/other").into(),
            message.clone(),
            None,
            Some("the-callers-own".into()),
            HashMap::new(),
        )
        .await
        .unwrap();
        let calls = recorder.0.lock().unwrap().clone();
        assert_eq!(calls.len(), 4 * (covered.len() + elsewhere.len()) + 1);
        for (what, uri, auth) in &calls {
            if covered.contains(uri) {
                assert_eq!(auth.as_deref(), Some("at-0"), "{what} {uri}");
            } else if auth.is_some() {
                assert_eq!(
                    (what, uri.as_str(), auth.as_deref()),
                    (
                        &"post",
                        format!("{base}/other").as_str(),
                        Some("the-callers-own")
                    )
                );
            }
        }
        assert_eq!(
            calls.iter().filter(|(_, _, a)| a.is_none()).count(),
            4 * elsewhere.len()
        );
    }
}
