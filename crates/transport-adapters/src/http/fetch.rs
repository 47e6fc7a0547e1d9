//! The HTTP client the core crates' requests go through: hyper over rustls, no redirects,
//! a time limit, a body cap, and an SSRF guard that checks every *resolved* address.

use core::fmt;
use core::time::Duration;
use std::future::Future;
use std::net::{IpAddr, SocketAddr};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use bytes::Bytes;
use http::{Request, Response};
use http_body_util::{BodyExt, Full, Limited};
use hyper_rustls::HttpsConnector;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::connect::dns::Name;
use hyper_util::rt::TokioExecutor;
use mcp_oauth_common::is_forbidden_address;
use tower_service::Service;

/// Limits and relaxations of a [`Fetcher`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FetchConfig {
    /// Whole-request time limit (connect, send, read the body).
    pub timeout: Duration,
    /// Largest body read.
    pub max_body: usize,
    allow_private: bool,
    allow_loopback: bool,
    allow_http: bool,
    hosts: Vec<(String, IpAddr)>,
}

impl Default for FetchConfig {
    fn default() -> Self {
        FetchConfig {
            timeout: Duration::from_secs(10),
            max_body: 1024 * 1024,
            allow_private: false,
            allow_loopback: false,
            allow_http: false,
            hosts: Vec::new(),
        }
    }
}

impl FetchConfig {
    /// Another time limit.
    pub fn with_timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// Another body cap.
    pub fn with_max_body(mut self, bytes: usize) -> Self {
        self.max_body = bytes;
        self
    }

    /// **Dangerous.** Allow loopback, private, link-local and other special addresses
    /// (see [`mcp_oauth_common::is_forbidden_address`]). Without this guard, a document
    /// that names `http://169.254.169.254/…` makes the server fetch its own cloud
    /// credentials (SSRF). For tests and for deployments whose authorization server is on
    /// a private network.
    pub fn dangerous_allow_private_addresses(mut self) -> Self {
        self.allow_private = true;
        self
    }

    /// Allow loopback addresses (`127.0.0.0/8`, `::1`) and nothing else the guard
    /// refuses: for a client talking to an MCP server and authorization server on the
    /// same machine (development, tests). Leave it off in a server: there, loopback is
    /// where the admin interfaces are.
    pub fn allow_loopback(mut self) -> Self {
        self.allow_loopback = true;
        self
    }

    /// Resolve `host` to `ip` without asking DNS (like `curl --resolve`). The guard still
    /// checks `ip`.
    pub fn resolve(mut self, host: impl Into<String>, ip: IpAddr) -> Self {
        self.hosts.push((host.into().to_ascii_lowercase(), ip));
        self
    }

    fn permits(&self, ip: IpAddr) -> bool {
        self.allow_private || !is_forbidden_address(ip) || (self.allow_loopback && ip.is_loopback())
    }

    /// **Insecure.** Allow plain `http` URLs: tokens, keys and metadata can then be read
    /// or altered on the way. For loopback tests only.
    pub fn insecure_allow_http(mut self) -> Self {
        self.allow_http = true;
        self
    }
}

/// Why a fetch failed.
#[derive(Debug)]
#[non_exhaustive]
pub enum FetchError {
    /// The URL is not `https` (and http was not allowed), or has no host.
    Scheme,
    /// The host is, or resolves only to, a forbidden address.
    Forbidden,
    /// No answer within the time limit.
    Timeout,
    /// The body is larger than the cap.
    TooLarge,
    /// Connection, TLS or protocol failure.
    Transport(Box<dyn std::error::Error + Send + Sync>),
    /// The TLS configuration could not be built.
    Tls(rustls::Error),
}

impl fmt::Display for FetchError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FetchError::Scheme => f.write_str("only https URLs are fetched"),
            FetchError::Forbidden => f.write_str("the host resolves to a forbidden address"),
            FetchError::Timeout => f.write_str("the request timed out"),
            FetchError::TooLarge => f.write_str("the response body is too large"),
            FetchError::Transport(e) => write!(f, "transport: {e}"),
            FetchError::Tls(e) => write!(f, "TLS configuration: {e}"),
        }
    }
}

impl std::error::Error for FetchError {}

/// A resolver that drops forbidden addresses, so the connector only ever connects to an
/// address that was checked (no second resolution between check and connect).
#[derive(Debug, Clone)]
pub struct GuardedResolver {
    config: Arc<FetchConfig>,
}

type Addrs = std::vec::IntoIter<SocketAddr>;

impl Service<Name> for GuardedResolver {
    type Response = Addrs;
    type Error = std::io::Error;
    type Future = Pin<Box<dyn Future<Output = Result<Addrs, std::io::Error>> + Send>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, name: Name) -> Self::Future {
        let config = self.config.clone();
        Box::pin(async move {
            let name = name.as_str().to_ascii_lowercase();
            let pinned: Vec<SocketAddr> = config
                .hosts
                .iter()
                .filter(|(h, _)| *h == name)
                .map(|(_, ip)| SocketAddr::new(*ip, 0))
                .collect();
            let resolved = if pinned.is_empty() {
                tokio::net::lookup_host((name.as_str(), 0)).await?.collect()
            } else {
                pinned
            };
            let addrs: Vec<SocketAddr> = resolved
                .into_iter()
                .filter(|a| config.permits(a.ip()))
                .collect();
            if addrs.is_empty() {
                return Err(std::io::Error::new(
                    std::io::ErrorKind::PermissionDenied,
                    "forbidden address",
                ));
            }
            Ok(addrs.into_iter())
        })
    }
}

/// An HTTPS client for discovery documents, JWK sets, registrations and token requests.
#[derive(Clone)]
pub struct Fetcher {
    client: Client<HttpsConnector<HttpConnector<GuardedResolver>>, Full<Bytes>>,
    config: FetchConfig,
}

impl fmt::Debug for Fetcher {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Fetcher")
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

impl Fetcher {
    /// A fetcher trusting the Mozilla root certificates (webpki-roots), with TLS from the
    /// given rustls provider (no process-wide default is installed or read).
    pub fn new(
        config: FetchConfig,
        provider: Arc<rustls::crypto::CryptoProvider>,
    ) -> Result<Self, FetchError> {
        let mut http = HttpConnector::new_with_resolver(GuardedResolver {
            config: Arc::new(config.clone()),
        });
        http.enforce_http(false);
        http.set_connect_timeout(Some(config.timeout));
        let https = hyper_rustls::HttpsConnectorBuilder::new()
            .with_provider_and_webpki_roots(provider)
            .map_err(FetchError::Tls)?
            .https_or_http()
            .enable_http1()
            .wrap_connector(http);
        let client = Client::builder(TokioExecutor::new()).build(https);
        Ok(Fetcher { client, config })
    }

    /// A fetcher with the ring TLS provider.
    #[cfg(feature = "ring")]
    pub fn with_ring(config: FetchConfig) -> Result<Self, FetchError> {
        Self::new(config, Arc::new(rustls::crypto::ring::default_provider()))
    }

    /// Sends `request` and reads the whole response (redirects are returned, never
    /// followed).
    pub async fn fetch(&self, request: Request<Vec<u8>>) -> Result<Response<Bytes>, FetchError> {
        let uri = request.uri();
        match uri.scheme_str() {
            Some("https") => {}
            Some("http") if self.config.allow_http => {}
            _ => return Err(FetchError::Scheme),
        }
        let host = uri.host().ok_or(FetchError::Scheme)?;
        // An IP literal never reaches the resolver: check it here.
        let literal = host.trim_start_matches('[').trim_end_matches(']');
        if let Ok(ip) = literal.parse::<IpAddr>()
            && !self.config.permits(ip)
        {
            return Err(FetchError::Forbidden);
        }
        let request = request.map(|b| Full::new(Bytes::from(b)));
        let max = self.config.max_body;
        let work = async {
            let resp = self.client.request(request).await.map_err(|e| {
                if is_forbidden(&e) {
                    FetchError::Forbidden
                } else {
                    FetchError::Transport(Box::new(e))
                }
            })?;
            let (parts, body) = resp.into_parts();
            let bytes = Limited::new(body, max)
                .collect()
                .await
                .map_err(|_| FetchError::TooLarge)?
                .to_bytes();
            Ok(Response::from_parts(parts, bytes))
        };
        tokio::time::timeout(self.config.timeout, work)
            .await
            .map_err(|_| FetchError::Timeout)?
    }
}

fn is_forbidden(e: &hyper_util::client::legacy::Error) -> bool {
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(e);
    while let Some(s) = source {
        if let Some(io) = s.downcast_ref::<std::io::Error>()
            && io.kind() == std::io::ErrorKind::PermissionDenied
        {
            return true;
        }
        source = s.source();
    }
    false
}
