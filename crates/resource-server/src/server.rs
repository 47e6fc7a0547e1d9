//! The configuration: one protected resource, or tenants; and the builder.

use core::fmt;
use core::time::Duration;
use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex, RwLock};

use mcp_oauth_common::UnixTime;
use mcp_oauth_guard::{Guard, GuardConfig, TrustedProxies};
use mcp_oauth_jwt_validate::{KeySet, TokenCache, Validator};
use mcp_oauth_prm_metadata::PrmEndpoint;
use mcp_oauth_tenant::{Registry, TenantId};

use crate::operations::OperationScopes;
use crate::sessions::SessionBindings;

/// Default cap on a JSON-RPC body read for the per-operation scope check.
pub const DEFAULT_MAX_BODY: usize = 4 * 1024 * 1024;
/// Default number of MCP sessions whose owner is remembered (see
/// [`ResourceServer::session_binding`]).
pub const DEFAULT_SESSION_CAPACITY: usize = 10_000;
/// Default idle time after which a session's owner is forgotten (and the session refused
/// with `404`, so the client starts a new one).
pub const DEFAULT_SESSION_IDLE: Duration = Duration::from_secs(60 * 60);

/// A future that completes when a key fetch has finished.
pub type KeyArrival = Pin<Box<dyn Future<Output = ()> + Send + 'static>>;

/// Where the keys of an issuer come from. The core never blocks on it: an adapter keeps
/// the keys fresh (a JWKS refresher), and the core asks for what it holds now.
pub trait KeySource: Send + Sync {
    /// The key set to verify a token with header `kid` at `now`, or `None` when no keys
    /// can be served (never loaded, or too stale): the token is then refused (401).
    fn keys(&self, kid: Option<&str>, now: UnixTime) -> Option<Arc<KeySet>>;

    /// For a `kid` the keys do not hold: a future that completes when a fetch that may
    /// bring it has finished, if such a fetch is starting now (not held back by the
    /// unknown-`kid` cooldown). The decision is then [`Decision::WaitForKeys`]: the
    /// adapter awaits it for a bounded time and resumes, so a key that an authorization
    /// server rotates in is accepted on its first use. `None` (the default): refuse at
    /// once.
    ///
    /// [`Decision::WaitForKeys`]: crate::Decision::WaitForKeys
    fn key_arrival(&self, kid: Option<&str>, now: UnixTime) -> Option<KeyArrival> {
        let _ = (kid, now);
        None
    }
}

/// A fixed key set (tests, or keys configured by hand).
#[derive(Debug, Clone)]
pub struct StaticKeys(pub Arc<KeySet>);

impl KeySource for StaticKeys {
    fn keys(&self, _: Option<&str>, _: UnixTime) -> Option<Arc<KeySet>> {
        Some(self.0.clone())
    }
}

/// Why a [`ResourceServer`] could not be configured.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum ConfigError {
    /// A tenant without protected resource metadata (`TenantTrust::prm`): its challenges
    /// would have nothing to point to.
    TenantWithoutMetadata(TenantId),
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ConfigError::TenantWithoutMetadata(t) => {
                write!(f, "tenant {t} has no protected resource metadata")
            }
        }
    }
}

impl std::error::Error for ConfigError {}

/// Tenants: a registry that resolves each request to its tenant (by `Host`, by path, or
/// by a function), each with its own resource, metadata, trusted issuers and keys.
pub struct Tenants {
    pub(crate) registry: Registry,
    pub(crate) endpoints: HashMap<TenantId, PrmEndpoint>,
    pub(crate) keys: HashMap<String, Arc<dyn KeySource>>,
}

impl fmt::Debug for Tenants {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Tenants")
            .field("tenants", &self.registry.len())
            .field("issuers_with_keys", &self.keys.keys().collect::<Vec<_>>())
            .finish()
    }
}

impl Tenants {
    /// The tenants of `registry`. `keys` gives the key source of each trusted issuer (one
    /// refresher per issuer, so every tenant's keys rotate); an issuer without one is
    /// checked with the keys its `IssuerTrust` holds. Each tenant's metadata is served
    /// at the path-inserted well-known URL of its resource (RFC 9728 §3.1).
    ///
    /// # Errors
    ///
    /// [`ConfigError::TenantWithoutMetadata`] for a tenant without metadata.
    pub fn new<I>(registry: Registry, keys: I) -> Result<Self, ConfigError>
    where
        I: IntoIterator<Item = (String, Arc<dyn KeySource>)>,
    {
        let mut endpoints = HashMap::new();
        for t in registry.tenants() {
            let doc = t
                .metadata()
                .ok_or_else(|| ConfigError::TenantWithoutMetadata(t.id().clone()))?;
            endpoints.insert(t.id().clone(), PrmEndpoint::new(doc.clone(), t.resource()));
        }
        Ok(Tenants {
            registry,
            endpoints,
            keys: keys.into_iter().collect(),
        })
    }
}

/// How tokens are trusted: one resource, or tenants.
pub(crate) enum Trust {
    Single {
        validator: Validator,
        keys: Arc<dyn KeySource>,
        prm: PrmEndpoint,
    },
    Tenants(Tenants),
}

/// The decisions of a protected MCP endpoint: everything but the IO. See the crate docs.
pub struct ResourceServer {
    pub(crate) trust: Trust,
    pub(crate) challenge_scope: Option<String>,
    pub(crate) operations: OperationScopes,
    pub(crate) max_body: usize,
    pub(crate) token_cache: Option<RwLock<TokenCache>>,
    pub(crate) guard: Option<Mutex<Guard>>,
    pub(crate) proxies: TrustedProxies,
    pub(crate) sessions: Option<SessionBindings>,
}

impl fmt::Debug for ResourceServer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut d = f.debug_struct("ResourceServer");
        match &self.trust {
            Trust::Single { validator, prm, .. } => d
                .field("policy", validator.policy())
                .field("metadata_url", &prm.metadata_url()),
            Trust::Tenants(t) => d.field("tenants", t),
        };
        d.field("operations", &self.operations)
            .field("max_body", &self.max_body)
            .field("token_cache", &self.token_cache.is_some())
            .field("guard", &self.guard.is_some())
            .field(
                "session_capacity",
                &self.sessions.as_ref().map(SessionBindings::capacity),
            )
            .finish_non_exhaustive()
    }
}

impl ResourceServer {
    /// One protected resource: tokens checked by `validator` against `keys`, metadata
    /// served by `prm` (whose `metadata_url` goes into every challenge).
    pub fn new(validator: Validator, keys: Arc<dyn KeySource>, prm: PrmEndpoint) -> Self {
        Self::with_trust(Trust::Single {
            validator,
            keys,
            prm,
        })
    }

    /// A multi-tenant resource server: each request's tenant comes from the registry's
    /// resolver; a request for no tenant is refused with `404` ([`Refusal::UnknownTenant`]
    /// says why). The verified-token cache is not used for tenants (a cached context
    /// would have to be re-checked against each tenant's trust).
    ///
    /// [`Refusal::UnknownTenant`]: crate::Refusal::UnknownTenant
    pub fn multi_tenant(tenants: Tenants) -> Self {
        Self::with_trust(Trust::Tenants(tenants))
    }

    fn with_trust(trust: Trust) -> Self {
        ResourceServer {
            trust,
            challenge_scope: None,
            operations: OperationScopes::default(),
            max_body: DEFAULT_MAX_BODY,
            token_cache: None,
            guard: None,
            proxies: TrustedProxies::none(),
            sessions: Some(SessionBindings::new(
                DEFAULT_SESSION_CAPACITY,
                DEFAULT_SESSION_IDLE,
            )),
        }
    }

    /// How many MCP sessions' owners to remember (at least one) and for how long unused
    /// (defaults: [`DEFAULT_SESSION_CAPACITY`], [`DEFAULT_SESSION_IDLE`]).
    ///
    /// Session binding is on by default. When a request without `Mcp-Session-Id` gets a
    /// response that carries one (an MCP `initialize`), the session is recorded as the
    /// token's (issuer, subject, client). A later request with that session id passes only
    /// with a token of the same principal; any other — another principal's valid token,
    /// an id never seen, one forgotten after `idle` or evicted (least recently used first)
    /// when `capacity` is reached — gets `404 Not Found`, which MCP clients answer by
    /// starting a new session. A `DELETE` by the owner, or a `404` from the MCP server,
    /// forgets the session. Servers that never issue session ids (stateless, or MCP
    /// 2026-07-28) are not affected. The bindings live in this process: replicas behind a
    /// load balancer need sticky sessions, as in-memory MCP sessions do anyway.
    pub fn session_binding(mut self, capacity: usize, idle: Duration) -> Self {
        self.sessions = Some(SessionBindings::new(capacity, idle));
        self
    }

    /// Passes `Mcp-Session-Id` through unchecked: any holder of a valid token can then use
    /// any session whose id it learns (MCP security best practices, "Session Hijacking":
    /// a stolen or guessed session id lets its holder act in, and receive the messages of,
    /// another user's session). Only for MCP servers that bind sessions to the
    /// authenticated context themselves.
    pub fn dangerous_unbound_sessions(mut self) -> Self {
        self.sessions = None;
        self
    }

    /// Rate limits and blocking of sources that keep sending invalid tokens
    /// (`mcp-oauth-guard`); refusals are `429` with `Retry-After`.
    pub fn guard(mut self, config: GuardConfig) -> Self {
        self.guard = Some(Mutex::new(Guard::new(config)));
        self
    }

    /// The reverse proxies whose forwarding header names the client's address (default:
    /// none, so the TCP peer is the client whatever the headers say).
    pub fn trusted_proxies(mut self, proxies: TrustedProxies) -> Self {
        self.proxies = proxies;
        self
    }

    /// The `scope` to name in 401 challenges (what a client should ask for first).
    pub fn challenge_scope(mut self, scope: impl Into<String>) -> Self {
        self.challenge_scope = Some(scope.into());
        self
    }

    /// Per-method and per-tool scopes, decided from the MCP 2026-07-28 `Mcp-Method` /
    /// `Mcp-Name` headers when the request has them (the body must then agree with them,
    /// else `400` with JSON-RPC error `-32020`), else from the JSON-RPC body.
    pub fn operation_scopes(mut self, scopes: OperationScopes) -> Self {
        self.operations = scopes;
        self
    }

    /// Largest body read for the per-operation check (larger: 413).
    pub fn max_body(mut self, bytes: usize) -> Self {
        self.max_body = bytes;
        self
    }

    /// Cache validated tokens (at most `capacity`), so a reused token costs a hash.
    pub fn token_cache(mut self, capacity: usize) -> Self {
        self.token_cache = Some(RwLock::new(TokenCache::new(capacity)));
        self
    }

    /// Whether this server has tenants.
    pub fn is_multi_tenant(&self) -> bool {
        matches!(self.trust, Trust::Tenants(_))
    }
}
