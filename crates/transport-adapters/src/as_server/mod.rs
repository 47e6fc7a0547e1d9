//! The authorization server over hyper: routes, body limits, the clock and the OS random
//! source, client ID metadata documents fetched through the SSRF-guarded [`Fetcher`],
//! per-address rate limits; the ES256 and RS256 token signers of the signing seam
//! are re-exported here.

use core::fmt;
use std::convert::Infallible;
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use http::{HeaderValue, Method, Request, Response, StatusCode, header};
use http_body::Body;
use http_body_util::{BodyExt, Full, Limited};
use mcp_oauth_authorization_server::{AuthorizationServer, Handled, MAX_FORM_LEN, Storage};
use mcp_oauth_dcr::CimdPolicy;
use mcp_oauth_guard::{Rate, RateLimiter, TrustedProxies};

use crate::http::Fetcher;

struct AbortOnDrop(tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// The token signers: the JOSE signing seam's ES256 and RS256 signers on ring
/// (`mcp_oauth_jwt_validate::crypto`), re-exported so a server needs one import. Any
/// other [`TokenSigner`](mcp_oauth_authorization_server::TokenSigner) (an HSM, a KMS)
/// serves as well.
pub use mcp_oauth_jwt_validate::crypto::{Es256Signer, Rs256Signer};

pub mod key_file;

use crate::sys::now;
// Bytes from the OS random source; `None` when it fails (the request then gets a 500:
// codes, ids, secrets and tokens must never be predictable).
use crate::sys::random as fill;

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
    proxies: Arc<TrustedProxies>,
}

impl<S> Clone for AsService<S> {
    fn clone(&self) -> Self {
        AsService {
            server: self.server.clone(),
            fetcher: self.fetcher.clone(),
            cimd: self.cimd.clone(),
            limiter: self.limiter.clone(),
            proxies: self.proxies.clone(),
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
    /// rate-limited per client address, an IPv6 address by its /64 (burst 30, 120 per
    /// minute); the registering address also reaches [`AuthorizationServer::register`],
    /// which bounds pending registrations per source.
    pub fn new(server: AuthorizationServer<S>, fetcher: Fetcher) -> Self {
        AsService {
            server: Arc::new(server),
            fetcher,
            cimd: CimdPolicy::new(),
            limiter: Arc::new(Mutex::new(RateLimiter::new(
                Rate::per_minute(30, 120),
                100_000,
            ))),
            proxies: Arc::new(TrustedProxies::none()),
        }
    }

    /// The reverse proxies in front of this server, whose `Forwarded` or
    /// `X-Forwarded-For` header names the client ([`TrustedProxies`]). None are trusted by
    /// default, so behind a proxy every client shares the proxy's address, and so its
    /// rate limit and registration budget: name the proxy here. Never list addresses that
    /// clients can reach the server from directly: they could then pick any address.
    pub fn trusted_proxies(mut self, proxies: TrustedProxies) -> Self {
        self.proxies = Arc::new(proxies);
        self
    }

    /// The server.
    pub fn server(&self) -> &AuthorizationServer<S> {
        &self.server
    }

    /// A 429 with `Retry-After` when `client` is over its limit.
    fn too_many(&self, client: Option<IpAddr>) -> Option<Response<Full<Bytes>>> {
        let wait = self.limited(client)?;
        let mut r = plain(StatusCode::TOO_MANY_REQUESTS, "rate limited");
        if let Ok(v) = HeaderValue::from_str(&wait.as_secs().max(1).to_string()) {
            r.headers_mut().insert(header::RETRY_AFTER, v);
        }
        Some(r)
    }

    /// Whether `peer` is over its limit, and for how long. An IPv6 peer is limited by its
    /// /64 ([`mcp_oauth_common::source_key`]): one host can pick any address in it.
    fn limited(&self, peer: Option<IpAddr>) -> Option<Duration> {
        let key = mcp_oauth_common::source_key(peer?);
        let mut l = self.limiter.lock().unwrap_or_else(|p| p.into_inner());
        l.check(&key, crate::sys::monotonic()).err()
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
        // Discovery documents are cheap and public; every other endpoint is rate-limited
        // per source (the client's address, or what a trusted proxy forwarded).
        let path = req.uri().path();
        let discovery = path.starts_with("/.well-known/") || path.ends_with("/jwks");
        let peer = peer.map(|p| self.proxies.client_addr(p.ip(), req.headers()));
        if !discovery && let Some(r) = self.too_many(peer) {
            return r;
        }
        let (parts, body) = req.into_parts();
        let body = if parts.method == Method::POST {
            match Limited::new(body, MAX_FORM_LEN).collect().await {
                Ok(b) => b.to_bytes().to_vec(),
                Err(_) => return plain(StatusCode::PAYLOAD_TOO_LARGE, "body too large"),
            }
        } else {
            Vec::new()
        };
        let req = Request::from_parts(parts, body);
        let Some(entropy) = fill::<64>() else {
            return no_entropy();
        };
        let as_full = |r: Response<Vec<u8>>| r.map(|b| Full::new(Bytes::from(b)));
        let req = Arc::new(req);
        match self.core(&req, peer, entropy, None).await {
            Handled::Respond(r) => as_full(r),
            Handled::FetchClientMetadata { url } => match self.fetch_cimd(&url).await {
                Ok(doc) => match self.core(&req, peer, entropy, Some(doc)).await {
                    Handled::Respond(r) => as_full(r),
                    _ => plain(StatusCode::BAD_REQUEST, "client metadata document unusable"),
                },
                Err(e) => plain(
                    StatusCode::BAD_REQUEST,
                    &format!("client metadata document: {e}"),
                ),
            },
            _ => plain(StatusCode::INTERNAL_SERVER_ERROR, "unexpected"),
        }
    }

    /// The sans-IO server's decision, on a blocking thread when its storage blocks (a
    /// database), so no async worker ever waits on a disk.
    async fn core(
        &self,
        req: &Arc<Request<Vec<u8>>>,
        peer: Option<IpAddr>,
        entropy: [u8; 64],
        doc: Option<mcp_oauth_dcr::CheckedDocument>,
    ) -> Handled {
        if !self.server.storage().blocking() {
            return self.server.handle(now(), req, peer, &entropy, doc.as_ref());
        }
        let (server, req) = (self.server.clone(), req.clone());
        tokio::task::spawn_blocking(move || {
            server.handle(now(), &req, peer, &entropy, doc.as_ref())
        })
        .await
        .unwrap_or_else(|_| {
            Handled::Respond(mcp_oauth_authorization_server::OAuthError::server_error().response())
        })
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

    /// Serves connections from `listener` for ever with the default limits of
    /// [`ServeConfig`](crate::http::listen::ServeConfig) (see [`serve_with`](Self::serve_with)).
    pub async fn serve(self, listener: tokio::net::TcpListener) -> std::io::Result<()> {
        self.serve_with(listener, crate::http::listen::ServeConfig::default())
            .await
    }

    /// Serves connections from `listener` for ever through
    /// [`listen::serve`](crate::http::listen::serve) (accept errors back off and never stop the
    /// server; header-read and idle timeouts; a connection cap); forgets expired codes
    /// and tokens once a minute.
    pub async fn serve_with(
        self,
        listener: tokio::net::TcpListener,
        config: crate::http::listen::ServeConfig,
    ) -> std::io::Result<()> {
        self.serve_until(listener, config, std::future::pending(), Duration::ZERO)
            .await
    }

    /// [`serve_with`](Self::serve_with) until `shutdown` completes (a SIGTERM), then
    /// drains ([`listen::serve_until`](crate::http::listen::serve_until)): no new
    /// connections, requests in flight finish (their writes are committed before their
    /// responses, as always), and it returns when all connections closed or after
    /// `drain`.
    pub async fn serve_until(
        self,
        listener: tokio::net::TcpListener,
        config: crate::http::listen::ServeConfig,
        shutdown: impl Future<Output = ()>,
        drain: Duration,
    ) -> std::io::Result<()> {
        let server = self.server.clone();
        let purger = tokio::spawn(async move {
            loop {
                tokio::time::sleep(Duration::from_secs(60)).await;
                let server = server.clone();
                let _ = tokio::task::spawn_blocking(move || server.storage().purge(now())).await;
            }
        });
        let _stop = AbortOnDrop(purger);
        crate::http::listen::serve_until(
            listener,
            config,
            |peer| {
                let this = self.clone();
                hyper::service::service_fn(move |req: Request<hyper::body::Incoming>| {
                    let this = this.clone();
                    async move { Ok::<_, Infallible>(this.handle(req, Some(peer)).await) }
                })
            },
            shutdown,
            drain,
        )
        .await;
        Ok(())
    }
}

#[cfg(test)]
mod source_limit_tests {
    //! Per-source limits key an IPv6 peer by its /64 (DCR-8).
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use super::*;
    use mcp_oauth_authorization_server::{AsConfig, AutoApprove, MemoryStorage};

    fn service(config: AsConfig) -> AsService<MemoryStorage> {
        let server = AuthorizationServer::new(
            config.resource(
                mcp_oauth_resource_indicators::ResourceUri::parse("https://mcp.example.com/mcp")
                    .unwrap(),
                ["mcp:read"],
            ),
            MemoryStorage::new(),
            Box::new(Es256Signer::generate().unwrap()),
            Box::new(AutoApprove {
                subject: "alice".into(),
            }),
        )
        .unwrap();
        AsService::new(
            server,
            crate::Fetcher::with_ring(crate::FetchConfig::default()).unwrap(),
        )
    }

    /// The rate limiter counts every address of one IPv6 /64 together (old code gave
    /// each address its own bucket, so a host rotating through its /64 was never limited).
    #[test]
    fn rate_limits_key_ipv6_by_its_slash_64() {
        let svc = service(AsConfig::new("https://auth.example.com"));
        let in_64 = |i: u16| IpAddr::V6(std::net::Ipv6Addr::new(0x2001, 0xdb8, 0, 0, i, 0, 0, 1));
        let limited = (1..=40)
            .filter(|i| svc.limited(Some(in_64(*i))).is_some())
            .count();
        assert!(limited >= 10, "the burst of 30 is shared by the /64");
        let elsewhere = IpAddr::V6(std::net::Ipv6Addr::new(0x2001, 0xdb8, 0, 1, 0, 0, 0, 1));
        assert!(
            svc.limited(Some(elsewhere)).is_none(),
            "another /64 has its own"
        );
        assert!(svc.limited(Some("192.0.2.1".parse().unwrap())).is_none());
    }

    /// The peer address reaches the core's registration limits: a second pending
    /// registration from the same /64 (another address in it) is refused with 429.
    #[tokio::test]
    async fn registration_sees_the_peer_address() {
        let mut config = AsConfig::new("https://auth.example.com");
        config.max_pending_registrations_per_source = 1;
        let svc = service(config);
        let body =
            r#"{"redirect_uris": ["http://127.0.0.1:1/cb"], "token_endpoint_auth_method": "none"}"#;
        let post = |body: &'static str| {
            Request::post("https://auth.example.com/register")
                .header(header::CONTENT_TYPE, "application/json")
                .body(Full::new(Bytes::from(body)))
                .unwrap()
        };
        let peer = |s: &str| Some(SocketAddr::new(s.parse().unwrap(), 4000));
        let r = svc.handle(post(body), peer("2001:db8::1")).await;
        assert_eq!(r.status(), StatusCode::CREATED);
        let r = svc.handle(post(body), peer("2001:db8::2")).await;
        assert_eq!(r.status(), StatusCode::TOO_MANY_REQUESTS);
        assert!(r.headers().contains_key(header::RETRY_AFTER));
        let r = svc.handle(post(body), peer("2001:db8:0:1::1")).await;
        assert_eq!(r.status(), StatusCode::CREATED);
    }
}
