//! A tower layer in front of an MCP server's Streamable HTTP endpoint.
//!
//! Every decision is `mcp-oauth-resource-server`'s ([`ResourceServer`]): the metadata at
//! its well-known path(s), the bearer token from the `Authorization` header only, its
//! validation, the tenant, the scopes of the JSON-RPC operation, the guard, the MCP
//! session's owner, and the status and `WWW-Authenticate` challenge of every refusal
//! (401 / 403 / 400 / 404 / 413 / 429). This layer is the plumbing: it reads the clocks
//! (through [`crate::sys`]), reads the body when the core asks (up to its cap), waits a
//! bounded time for a key fetch, passes the request on with the
//! [`AuthContext`](mcp_oauth_jwt_validate::AuthContext) in its
//! extensions, and reports the MCP server's answer back for session binding.

use core::fmt;
use core::time::Duration;
use std::future::Future;
use std::net::IpAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use bytes::Bytes;
use http::{Request, Response};
use http_body::Body;
use http_body_util::combinators::UnsyncBoxBody;
use http_body_util::{BodyExt, Either, Full, Limited};
use mcp_oauth_common::UnixTime;
use mcp_oauth_guard::{AuditEvent, GuardConfig, TrustedProxies};
use mcp_oauth_jwt_validate::Validator;
use mcp_oauth_prm_metadata::PrmEndpoint;
pub use mcp_oauth_resource_server::{
    DEFAULT_MAX_BODY, DEFAULT_SESSION_CAPACITY, DEFAULT_SESSION_IDLE, KeySource, OperationScopes,
    StaticKeys, Tenants,
};
use mcp_oauth_resource_server::{Decision, Now, ResourceServer};
use tower_layer::Layer;
use tower_service::Service;

/// Errors a body may carry through the layer.
pub type BoxError = Box<dyn std::error::Error + Send + Sync + 'static>;
/// A boxed body (for services that want one type whatever the layer passes on).
pub type BoxBody = UnsyncBoxBody<Bytes, BoxError>;

/// The bodies the layer passes on, with no boxing: to the inner service, the client's own
/// body (`Left`) or the bytes the layer read to check per-operation scopes (`Right`); to the
/// client, the inner service's response body (`Left`) or the layer's own answer (`Right`:
/// metadata, challenges, 413, 429).
pub type EitherBody<B> = Either<B, Full<Bytes>>;

/// How long a request with an unknown `kid` waits for the fetch it started.
pub const DEFAULT_KEY_WAIT: Duration = Duration::from_secs(2);

mod refresher;
#[cfg(test)]
mod tests;

pub use refresher::CachedKeys;
#[cfg(feature = "http-client")]
pub use refresher::spawn_jwks_refresher;

type Clock = Arc<dyn Fn() -> UnixTime + Send + Sync>;
type Monotonic = Arc<dyn Fn() -> Duration + Send + Sync>;

/// Everything the layer needs, shared by every clone of the service: the core's
/// configuration, the clocks and the key wait.
pub struct ProtectedResource {
    core: ResourceServer,
    key_wait: Duration,
    clock: Clock,
    monotonic: Monotonic,
}

impl fmt::Debug for ProtectedResource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ProtectedResource")
            .field("core", &self.core)
            .field("key_wait", &self.key_wait)
            .finish_non_exhaustive()
    }
}

impl ProtectedResource {
    /// A protected MCP endpoint: tokens checked by `validator` against `keys`, metadata
    /// served by `prm` (whose `metadata_url` goes into every challenge).
    pub fn new(validator: Validator, keys: Arc<dyn KeySource>, prm: PrmEndpoint) -> Self {
        Self::from_core(ResourceServer::new(validator, keys, prm))
    }

    /// A multi-tenant MCP endpoint: each request's tenant (by `Host`, path or a function
    /// of the request) with its own resource, metadata, issuers and keys (one
    /// [`CachedKeys`] and refresher per trusted issuer, so every tenant's keys rotate). A
    /// request for no tenant gets `404`; a token of another tenant's issuer `401`.
    pub fn multi_tenant(tenants: Tenants) -> Self {
        Self::from_core(ResourceServer::multi_tenant(tenants))
    }

    /// Any configured core.
    pub fn from_core(core: ResourceServer) -> Self {
        ProtectedResource {
            core,
            key_wait: DEFAULT_KEY_WAIT,
            clock: Arc::new(crate::sys::now),
            monotonic: Arc::new(crate::sys::monotonic),
        }
    }

    fn map_core(mut self, f: impl FnOnce(ResourceServer) -> ResourceServer) -> Self {
        self.core = f(self.core);
        self
    }

    /// How many MCP sessions' owners to remember (at least one) and for how long unused
    /// (defaults: [`DEFAULT_SESSION_CAPACITY`], [`DEFAULT_SESSION_IDLE`]); see
    /// [`ResourceServer::session_binding`]. A request with another principal's session
    /// id, or one never seen, gets `404 Not Found`.
    pub fn session_binding(self, capacity: usize, idle: Duration) -> Self {
        self.map_core(|c| c.session_binding(capacity, idle))
    }

    /// Passes `Mcp-Session-Id` through unchecked: any holder of a valid token can then use
    /// any session whose id it learns (MCP security best practices, "Session Hijacking").
    /// Only for MCP servers that bind sessions to the
    /// [`AuthContext`](mcp_oauth_jwt_validate::AuthContext) themselves.
    pub fn dangerous_unbound_sessions(self) -> Self {
        self.map_core(ResourceServer::dangerous_unbound_sessions)
    }

    /// Rate limits and blocking of sources that keep sending invalid tokens
    /// (`mcp-oauth-guard`); refusals are `429` with `Retry-After`. The client address is
    /// the TCP peer, read from a [`ClientAddr`] (or `SocketAddr`) request extension, or
    /// behind [`trusted_proxies`](Self::trusted_proxies) the address they forward; without
    /// one, only the client, subject and tenant limits apply.
    pub fn guard(self, config: GuardConfig) -> Self {
        self.map_core(|c| c.guard(config))
    }

    /// The reverse proxies whose forwarding header names the client's address for the
    /// guard's address limit, its blocks and the audit events (default: none, so the TCP
    /// peer is the client whatever the headers say). See [`TrustedProxies`].
    pub fn trusted_proxies(self, proxies: TrustedProxies) -> Self {
        self.map_core(|c| c.trusted_proxies(proxies))
    }

    /// Another monotonic clock for the guard and session idleness (tests).
    pub fn monotonic_clock(mut self, clock: impl Fn() -> Duration + Send + Sync + 'static) -> Self {
        self.monotonic = Arc::new(clock);
        self
    }

    /// How long a request whose `kid` is unknown waits for the key fetch it started
    /// (default 2 s; see [`KeySource::key_arrival`]). Zero refuses at once.
    pub fn key_wait(mut self, wait: Duration) -> Self {
        self.key_wait = wait;
        self
    }

    /// The `scope` to name in 401 challenges (what a client should ask for first).
    pub fn challenge_scope(self, scope: impl Into<String>) -> Self {
        self.map_core(|c| c.challenge_scope(scope))
    }

    /// Per-method and per-tool scopes, from the MCP 2026-07-28 `Mcp-Method` / `Mcp-Name`
    /// headers when the request has them (the body must agree: else `400`, JSON-RPC
    /// `-32020`), else from the JSON-RPC body.
    pub fn operation_scopes(self, scopes: OperationScopes) -> Self {
        self.map_core(|c| c.operation_scopes(scopes))
    }

    /// Largest body read for the per-operation check (larger: 413).
    pub fn max_body(self, bytes: usize) -> Self {
        self.map_core(|c| c.max_body(bytes))
    }

    /// Cache validated tokens (at most `capacity`), so a reused token costs a hash.
    pub fn token_cache(self, capacity: usize) -> Self {
        self.map_core(|c| c.token_cache(capacity))
    }

    /// Another clock (tests).
    pub fn clock(mut self, clock: impl Fn() -> UnixTime + Send + Sync + 'static) -> Self {
        self.clock = Arc::new(clock);
        self
    }

    /// The layer.
    pub fn layer(self) -> RequireAuthLayer {
        RequireAuthLayer {
            shared: Arc::new(self),
        }
    }

    fn now(&self) -> Now {
        Now {
            wall: (self.clock)(),
            monotonic: (self.monotonic)(),
        }
    }
}

/// The layer: wrap an MCP server's service with it.
#[derive(Debug, Clone)]
pub struct RequireAuthLayer {
    shared: Arc<ProtectedResource>,
}

impl<S> Layer<S> for RequireAuthLayer {
    type Service = RequireAuth<S>;

    fn layer(&self, inner: S) -> RequireAuth<S> {
        RequireAuth {
            inner,
            shared: self.shared.clone(),
        }
    }
}

/// The service [`RequireAuthLayer`] produces.
#[derive(Debug, Clone)]
pub struct RequireAuth<S> {
    inner: S,
    shared: Arc<ProtectedResource>,
}

impl<S, B, ResBody> Service<Request<B>> for RequireAuth<S>
where
    S: Service<Request<EitherBody<B>>, Response = Response<ResBody>> + Clone + Send + 'static,
    S::Future: Send + 'static,
    S::Error: Send + 'static,
    B: Body<Data = Bytes> + Send + 'static,
    B::Error: Into<BoxError>,
    ResBody: Body<Data = Bytes> + Send + 'static,
    ResBody::Error: Into<BoxError>,
{
    type Response = Response<EitherBody<ResBody>>;
    type Error = S::Error;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, Self::Error>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: Request<B>) -> Self::Future {
        let shared = self.shared.clone();
        // The clone that was driven to readiness serves this call (tower's idiom).
        let clone = self.inner.clone();
        let mut inner = std::mem::replace(&mut self.inner, clone);
        Box::pin(async move {
            let (req, session) = match drive(&shared, req).await {
                Ok(passed) => passed,
                Err(resp) => return Ok(resp.map(|b| Either::Right(Full::new(Bytes::from(b))))),
            };
            let resp = inner.call(req).await?;
            let core = &shared.core;
            core.handle_response(session, resp.status(), resp.headers(), shared.now());
            Ok(resp.map(Either::Left))
        })
    }
}

/// Drives the core's decision for one request: the request to pass on (with what to do
/// with its response), or the answer to send now.
async fn drive<B>(
    shared: &ProtectedResource,
    req: Request<B>,
) -> Result<
    (
        Request<EitherBody<B>>,
        mcp_oauth_resource_server::SessionStep,
    ),
    Response<Vec<u8>>,
>
where
    B: Body<Data = Bytes> + Send + 'static,
    B::Error: Into<BoxError>,
{
    let core = &shared.core;
    let (mut parts, body) = req.into_parts();
    let peer = peer_addr(&parts.extensions);
    let mut body = Either::Left(body);
    let mut decision = core.decide(&parts, peer, shared.now(), &mut |e| audit(&e));
    let allowed = loop {
        decision = match decision {
            Decision::Respond(resp) => return Err(resp),
            Decision::Allow(allowed) => break allowed,
            Decision::WaitForKeys(mut wait) => {
                // A key rotated in: wait (bounded) for the fetch it started, then decide
                // once more.
                let _ = tokio::time::timeout(shared.key_wait, &mut wait.arrival).await;
                core.handle_keys(&parts, wait, shared.now(), &mut |e| audit(&e))
            }
            Decision::NeedBody(need) => {
                let read = match body {
                    Either::Left(b) => Limited::new(b, need.max).collect().await.ok(),
                    Either::Right(_) => None,
                }
                .map(http_body_util::Collected::to_bytes);
                let d = core.handle_body(&parts, need, read.as_deref(), shared.now(), &mut |e| {
                    audit(&e)
                });
                body = Either::Right(Full::new(read.unwrap_or_default()));
                d
            }
            // The core's decisions are non-exhaustive; refuse what this layer cannot drive.
            _ => {
                let mut r = Response::new(Vec::new());
                *r.status_mut() = http::StatusCode::INTERNAL_SERVER_ERROR;
                return Err(r);
            }
        };
    };
    parts.extensions.insert(allowed.context.clone());
    if let Some(tenant) = allowed.tenant.clone() {
        parts.extensions.insert(tenant);
    }
    Ok((Request::from_parts(parts, body), allowed.session))
}

/// The TCP peer's address, for rate limits and blocking. Insert it into the request's
/// extensions before the layer (hyper gives it at `accept`); a `SocketAddr` extension is
/// read too. When the peer is one of the layer's
/// [`trusted_proxies`](ProtectedResource::trusted_proxies), the client's address is read
/// from the forwarding header they write; otherwise the peer is the client.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClientAddr(pub IpAddr);

fn peer_addr(extensions: &http::Extensions) -> Option<IpAddr> {
    extensions.get::<ClientAddr>().map(|a| a.0).or_else(|| {
        extensions
            .get::<std::net::SocketAddr>()
            .map(std::net::SocketAddr::ip)
    })
}

/// Emits one audit event on target `mcp_oauth::audit`.
pub(crate) fn audit(event: &AuditEvent) {
    match event {
        AuditEvent::Accepted { .. } => tracing::debug!(target: "mcp_oauth::audit", "{event}"),
        AuditEvent::JwksFailed { .. } | AuditEvent::SourceBlocked { .. } => {
            tracing::warn!(target: "mcp_oauth::audit", "{event}");
        }
        _ => tracing::info!(target: "mcp_oauth::audit", "{event}"),
    }
}
