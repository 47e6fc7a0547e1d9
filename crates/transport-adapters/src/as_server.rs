//! The authorization server over hyper: routes, body limits, the clock and the OS random
//! source, client ID metadata documents fetched through the SSRF-guarded [`Fetcher`],
//! per-address rate limits, and an ES256 token signer on ring.

use core::fmt;
use std::convert::Infallible;
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use bytes::Bytes;
use http::{HeaderValue, Method, Request, Response, StatusCode, header};
use http_body::Body;
use http_body_util::{BodyExt, Full, Limited};
use mcp_oauth_as::{AuthorizationServer, AuthorizeOutcome, MAX_FORM_LEN, Storage, TokenSigner};
use mcp_oauth_common::UnixTime;
use mcp_oauth_dcr::CimdPolicy;
use mcp_oauth_guard::{Rate, RateLimiter};
use ring::rand::SystemRandom;
use ring::signature::{ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair, KeyPair as _};
use serde_json::{Value, json};

use crate::client::Fetcher;

struct AbortOnDrop(tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// Signs access tokens with an ES256 key held in memory (ring).
pub struct Es256TokenSigner {
    key: EcdsaKeyPair,
    rng: SystemRandom,
    kid: String,
}

impl fmt::Debug for Es256TokenSigner {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Es256TokenSigner")
            .field("kid", &self.kid)
            .finish_non_exhaustive()
    }
}

impl Es256TokenSigner {
    /// A new random key (it lives as long as the process: tokens do not survive a
    /// restart; pass a stored key with [`from_pkcs8`](Self::from_pkcs8) for that).
    pub fn generate() -> Option<Self> {
        let rng = SystemRandom::new();
        let pkcs8 = EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &rng).ok()?;
        Self::from_pkcs8(pkcs8.as_ref())
    }

    /// From a PKCS#8 P-256 key.
    pub fn from_pkcs8(der: &[u8]) -> Option<Self> {
        let rng = SystemRandom::new();
        let key = EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, der, &rng).ok()?;
        let point = key.public_key().as_ref();
        let kid = URL_SAFE_NO_PAD.encode(point.get(1..9).unwrap_or_default());
        Some(Es256TokenSigner { key, rng, kid })
    }
}

impl TokenSigner for Es256TokenSigner {
    fn alg(&self) -> &str {
        "ES256"
    }

    fn kid(&self) -> &str {
        &self.kid
    }

    fn public_jwk(&self) -> Value {
        let p = self.key.public_key().as_ref();
        let b = |r: core::ops::Range<usize>| URL_SAFE_NO_PAD.encode(p.get(r).unwrap_or_default());
        json!({"kty": "EC", "crv": "P-256", "x": b(1..33), "y": b(33..65),
               "kid": self.kid, "alg": "ES256", "use": "sig"})
    }

    fn sign(&self, input: &[u8]) -> Option<Vec<u8>> {
        self.key
            .sign(&self.rng, input)
            .ok()
            .map(|s| s.as_ref().to_vec())
    }
}

fn now() -> UnixTime {
    UnixTime::from_secs(
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_secs()),
    )
}

/// Bytes from the OS random source; `None` when it fails (the request then gets a 500:
/// codes, ids, secrets and tokens must never be predictable).
fn fill<const N: usize>() -> Option<[u8; N]> {
    let mut b = [0u8; N];
    getrandom::fill(&mut b).ok()?;
    Some(b)
}

fn no_entropy() -> Response<Full<Bytes>> {
    plain(StatusCode::INTERNAL_SERVER_ERROR, "no random source")
}

fn plain(status: StatusCode, text: &str) -> Response<Full<Bytes>> {
    let mut r = Response::new(Full::new(Bytes::from(text.to_owned())));
    *r.status_mut() = status;
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    r.headers_mut().insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    r
}

/// The authorization server as a service over HTTP requests (serve it with hyper, or
/// wrap it in tower layers). Routes, relative to the issuer's path: the RFC 8414
/// document (at `/.well-known/oauth-authorization-server`), `/jwks`, `/authorize`,
/// `/token`, `/register`, `/revoke`, `/introspect`.
pub struct AsService<S> {
    server: Arc<AuthorizationServer<S>>,
    fetcher: Fetcher,
    cimd: CimdPolicy,
    limiter: Arc<Mutex<RateLimiter<IpAddr>>>,
    start: std::time::Instant,
}

impl<S> Clone for AsService<S> {
    fn clone(&self) -> Self {
        AsService {
            server: self.server.clone(),
            fetcher: self.fetcher.clone(),
            cimd: self.cimd.clone(),
            limiter: self.limiter.clone(),
            start: self.start,
        }
    }
}

impl<S> fmt::Debug for AsService<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AsService").finish_non_exhaustive()
    }
}

impl<S: Storage + 'static> AsService<S> {
    /// Serves `server`; client ID metadata documents are fetched with `fetcher`. The
    /// authorization, token, registration, revocation and introspection endpoints are
    /// rate-limited per client address (burst 30, 120 per minute).
    pub fn new(server: AuthorizationServer<S>, fetcher: Fetcher) -> Self {
        AsService {
            server: Arc::new(server),
            fetcher,
            cimd: CimdPolicy::new(),
            limiter: Arc::new(Mutex::new(RateLimiter::new(
                Rate::per_minute(30, 120),
                100_000,
            ))),
            start: std::time::Instant::now(),
        }
    }

    /// The server.
    pub fn server(&self) -> &AuthorizationServer<S> {
        &self.server
    }

    /// A 429 with `Retry-After` when `peer` is over its limit.
    fn too_many(&self, peer: Option<SocketAddr>) -> Option<Response<Full<Bytes>>> {
        let wait = self.limited(peer.map(|p| p.ip()))?;
        let mut r = plain(StatusCode::TOO_MANY_REQUESTS, "rate limited");
        if let Ok(v) = HeaderValue::from_str(&wait.as_secs().max(1).to_string()) {
            r.headers_mut().insert(header::RETRY_AFTER, v);
        }
        Some(r)
    }

    fn limited(&self, peer: Option<IpAddr>) -> Option<Duration> {
        let ip = peer?;
        let mut l = self.limiter.lock().unwrap_or_else(|p| p.into_inner());
        l.check(&ip, self.start.elapsed()).err()
    }

    /// Handles one request from `peer`.
    pub async fn handle<B>(
        &self,
        req: Request<B>,
        peer: Option<SocketAddr>,
    ) -> Response<Full<Bytes>>
    where
        B: Body + Send,
        B::Data: Send,
        B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
    {
        let issuer_path = mcp_oauth_resource::ResourceUri::parse(&self.server.config().issuer)
            .map(|u| u.path().trim_end_matches('/').to_owned())
            .unwrap_or_default();
        let path = req.uri().path().to_owned();
        let route = if path == format!("/.well-known/oauth-authorization-server{issuer_path}") {
            "/.well-known/oauth-authorization-server"
        } else {
            match path.strip_prefix(issuer_path.as_str()) {
                Some(r) => r,
                None => return plain(StatusCode::NOT_FOUND, "not found"),
            }
        }
        .to_owned();
        let method = req.method().clone();
        let authorization = req
            .headers()
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        let query = req.uri().query().unwrap_or("").to_owned();
        let s = &self.server;
        let as_full = |r: Response<Vec<u8>>| r.map(|b| Full::new(Bytes::from(b)));
        match (method, route.as_str()) {
            (Method::GET, "/.well-known/oauth-authorization-server") => {
                as_full(s.metadata_response())
            }
            (Method::GET, "/jwks") => as_full(s.jwks_response()),
            (Method::GET, "/authorize") => {
                if let Some(r) = self.too_many(peer) {
                    return r;
                }
                let Some(entropy) = fill::<64>() else {
                    return no_entropy();
                };
                let mut outcome = s.authorize(now(), &query, None, &entropy);
                if let AuthorizeOutcome::FetchClientMetadata { url } = &outcome {
                    let doc = self.fetch_cimd(url).await;
                    outcome = match doc {
                        Ok(d) => s.authorize(now(), &query, Some(&d), &entropy),
                        Err(e) => {
                            return plain(
                                StatusCode::BAD_REQUEST,
                                &format!("client metadata document: {e}"),
                            );
                        }
                    };
                }
                match outcome {
                    AuthorizeOutcome::Redirect(r) | AuthorizeOutcome::ErrorPage(r) => as_full(r),
                    AuthorizeOutcome::FetchClientMetadata { .. } => {
                        plain(StatusCode::BAD_REQUEST, "client metadata document unusable")
                    }
                    _ => plain(StatusCode::INTERNAL_SERVER_ERROR, "unexpected"),
                }
            }
            (Method::POST, "/token" | "/register" | "/revoke" | "/introspect") => {
                if let Some(r) = self.too_many(peer) {
                    return r;
                }
                let body = match Limited::new(req.into_body(), MAX_FORM_LEN).collect().await {
                    Ok(b) => b.to_bytes(),
                    Err(_) => return plain(StatusCode::PAYLOAD_TOO_LARGE, "body too large"),
                };
                let a = authorization.as_deref();
                as_full(match route.as_str() {
                    "/token" => match fill() {
                        Some(e) => s.token(now(), a, &body, &e),
                        None => return no_entropy(),
                    },
                    "/register" => match fill() {
                        Some(e) => s.register(now(), a, &body, &e),
                        None => return no_entropy(),
                    },
                    "/revoke" => s.revoke(now(), a, &body),
                    _ => s.introspect(now(), a, &body),
                })
            }
            _ => plain(StatusCode::NOT_FOUND, "not found"),
        }
    }

    async fn fetch_cimd(&self, url: &str) -> Result<mcp_oauth_dcr::CheckedDocument, String> {
        let req = Request::builder()
            .uri(url)
            .header(header::ACCEPT, "application/json")
            .body(Vec::new())
            .map_err(|e| e.to_string())?;
        let resp = self.fetcher.fetch(req).await.map_err(|e| e.to_string())?;
        self.cimd
            .check(url, resp.status(), resp.headers(), resp.body(), now())
            .map_err(|e| e.to_string())
    }

    /// Accepts connections on `listener` forever, one task per connection; forgets
    /// expired codes and tokens once a minute.
    pub async fn serve(self, listener: tokio::net::TcpListener) -> std::io::Result<()> {
        let server = self.server.clone();
        let purger = tokio::spawn(async move {
            loop {
                tokio::time::sleep(Duration::from_secs(60)).await;
                server.storage().purge(now());
            }
        });
        let _stop = AbortOnDrop(purger);
        loop {
            let (stream, peer) = listener.accept().await?;
            let this = self.clone();
            tokio::spawn(async move {
                let svc = hyper::service::service_fn(move |req: Request<hyper::body::Incoming>| {
                    let this = this.clone();
                    async move { Ok::<_, Infallible>(this.handle(req, Some(peer)).await) }
                });
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(hyper_util::rt::TokioIo::new(stream), svc)
                    .await;
            });
        }
    }
}
