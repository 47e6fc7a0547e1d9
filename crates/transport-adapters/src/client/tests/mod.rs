//! The client driver over real sockets on loopback, by topic: the whole flow and its
//! request count, the SSRF guard and the file store (`flow`); refresh single-flight across
//! tasks and processes (`refresh`); the tower layer (`layer`); the rmcp wrapper (`rmcp`).
//! Pure decisions are tested in `mcp-oauth-client-flow` (`policy/tests.rs`).

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

mod flow;
mod layer;
mod refresh;
#[cfg(feature = "rmcp-client")]
mod rmcp_client;
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
