//! A tower layer in front of an MCP server's Streamable HTTP endpoint.
//!
//! For each request it serves the protected resource metadata at its well-known path(s),
//! takes the bearer token from the `Authorization` header only, validates it with
//! `mcp-oauth-jwt-validate`, checks the scopes the JSON-RPC operation needs, and either passes the
//! request on with the [`AuthContext`] in its extensions, or answers with the status and
//! `WWW-Authenticate` challenge that the core crates decide (401 / 403 / 400).
//!
//! On MCP 2026-07-28 requests the operation is read from the `Mcp-Method` / `Mcp-Name`
//! headers and the body must agree with them (else `400`, JSON-RPC `-32020`); MCP
//! sessions (`Mcp-Session-Id`, earlier versions) are bound to the principal that created
//! them (another principal gets `404`).

use core::fmt;
use core::time::Duration;
use std::collections::HashMap;
use std::future::Future;
use std::net::IpAddr;
use std::pin::Pin;
use std::sync::{Arc, Mutex, RwLock};
use std::task::{Context, Poll};

use bytes::Bytes;
use http::{HeaderValue, Method, Request, Response, StatusCode, header};
use http_body::Body;
use http_body_util::combinators::UnsyncBoxBody;
use http_body_util::{BodyExt, Either, Full, Limited};
use mcp_oauth_common::UnixTime;
use mcp_oauth_guard::{
    AuditEvent, Denied, Guard, GuardConfig, Principal, RejectReason, TrustedProxies,
};
use mcp_oauth_jwt_validate::{
    AuthContext, Cached, JwtError, KeySet, TokenCache, TokenKey, Validator,
};
use mcp_oauth_prm_metadata::{BearerChallenge, BearerError, PrmEndpoint};
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

/// Default cap on a JSON-RPC body read for the per-operation scope check.
pub const DEFAULT_MAX_BODY: usize = 4 * 1024 * 1024;

/// Default number of MCP sessions whose owner the layer remembers (see
/// [`ProtectedResource::session_binding`]).
pub const DEFAULT_SESSION_CAPACITY: usize = 10_000;
/// Default idle time after which the layer forgets a session's owner (and refuses the
/// session with `404`, so the client starts a new one).
pub const DEFAULT_SESSION_IDLE: Duration = Duration::from_secs(60 * 60);

mod headers;
mod refresher;
mod sessions;
#[cfg(test)]
mod tests;

pub use refresher::CachedKeys;
#[cfg(feature = "http-client")]
pub use refresher::spawn_jwks_refresher;

/// Where the layer gets the issuer's keys for a token.
pub trait KeySource: Send + Sync {
    /// The key set to verify a token with header `kid` at `now`, or `None` when no keys
    /// can be served (never loaded, or too stale): the token is then refused (401).
    fn keys(&self, kid: Option<&str>, now: UnixTime) -> Option<Arc<KeySet>>;

    /// For a `kid` the keys do not hold: a future that completes when a fetch that may
    /// bring it has finished, if such a fetch is starting now (not held back by the
    /// unknown-`kid` cooldown). The layer awaits it for a bounded time and validates once
    /// more, so a key that an authorization server rotates in is accepted on its first
    /// use instead of being refused until the next scheduled refresh. `None` (the
    /// default): refuse at once.
    fn key_arrival(
        &self,
        kid: Option<&str>,
        now: UnixTime,
    ) -> Option<Pin<Box<dyn Future<Output = ()> + Send + 'static>>> {
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

/// The scopes each JSON-RPC method, and each tool of `tools/call`, requires on top of the
/// policy's scopes.
#[derive(Debug, Clone, Default)]
pub struct OperationScopes {
    methods: HashMap<String, Vec<String>>,
    tools: HashMap<String, Vec<String>>,
}

impl OperationScopes {
    /// No per-operation scopes.
    pub fn new() -> Self {
        Self::default()
    }

    /// Scopes for a JSON-RPC method (`"resources/read"`).
    pub fn method<I, S>(mut self, method: impl Into<String>, scopes: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.methods
            .insert(method.into(), scopes.into_iter().map(Into::into).collect());
        self
    }

    /// Scopes for one tool of `tools/call`.
    pub fn tool<I, S>(mut self, tool: impl Into<String>, scopes: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.tools
            .insert(tool.into(), scopes.into_iter().map(Into::into).collect());
        self
    }

    fn is_empty(&self) -> bool {
        self.methods.is_empty() && self.tools.is_empty()
    }

    /// The scopes of one method (and, for `tools/call`, one tool): the method's, then the
    /// tool's. Borrowed, so the headers' decision allocates nothing.
    fn for_operation(&self, method: &str, tool: Option<&str>) -> [&[String]; 2] {
        let method_scopes = self.methods.get(method).map_or(&[][..], Vec::as_slice);
        let tool_scopes = match tool {
            Some(t) if method == "tools/call" => self.tools.get(t).map_or(&[][..], Vec::as_slice),
            _ => &[],
        };
        [method_scopes, tool_scopes]
    }

    /// The scopes a JSON-RPC message (or batch) needs, in first-seen order; `None` when
    /// the body is not a JSON-RPC message or batch.
    pub(crate) fn required(&self, body: &[u8]) -> Option<Vec<&str>> {
        let mut out: Vec<&str> = Vec::new();
        let mut visit = |m: &Msg<'_>| {
            let Some(method) = m.method.as_deref() else {
                return;
            };
            for s in self
                .for_operation(method, m.params.name.as_deref())
                .into_iter()
                .flatten()
            {
                if !out.contains(&s.as_str()) {
                    out.push(s);
                }
            }
        };
        // One message (the usual case) is read without a list around it.
        match body.iter().find(|b| !b.is_ascii_whitespace())? {
            b'[' => serde_json::from_slice::<Vec<Msg<'_>>>(body)
                .ok()?
                .iter()
                .for_each(&mut visit),
            b'{' => visit(&serde_json::from_slice(body).ok()?),
            _ => return None,
        }
        Some(out)
    }
}

/// One JSON-RPC message, as far as authorization reads it: its method, and the
/// `params.name` / `params.uri` that select a tool, prompt or resource.
#[derive(serde::Deserialize)]
struct Msg<'a> {
    #[serde(default, borrow)]
    method: Option<std::borrow::Cow<'a, str>>,
    #[serde(default, borrow)]
    params: tool_name::Target<'a>,
}

mod tool_name {
    use std::borrow::Cow;
    use std::fmt;

    use serde::de::{self, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};

    /// `params.name` and `params.uri` of a JSON-RPC message, read in the same pass as the
    /// message: each one's string when `params` is an object with a string member of that
    /// name, else nothing (any other shape of `params` is the inner service's to judge). A
    /// repeated `name` or `uri` fails the message.
    #[derive(Default)]
    pub(super) struct Target<'a> {
        /// `params.name` (the tool of `tools/call`, the prompt of `prompts/get`).
        pub(super) name: Option<Cow<'a, str>>,
        /// `params.uri` (the resource of `resources/read`).
        pub(super) uri: Option<Cow<'a, str>>,
    }

    /// Accepts any JSON value; keeps it when it is a string.
    struct AnyString<'a>(Option<Cow<'a, str>>);

    /// Which member a key of `params` is, without allocating.
    enum Key {
        Name,
        Uri,
        Other,
    }

    macro_rules! nothing_for_scalars {
        ($v:expr) => {
            fn visit_bool<E: de::Error>(self, _: bool) -> Result<Self::Value, E> {
                Ok($v)
            }
            fn visit_i64<E: de::Error>(self, _: i64) -> Result<Self::Value, E> {
                Ok($v)
            }
            fn visit_u64<E: de::Error>(self, _: u64) -> Result<Self::Value, E> {
                Ok($v)
            }
            fn visit_f64<E: de::Error>(self, _: f64) -> Result<Self::Value, E> {
                Ok($v)
            }
            fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
                Ok($v)
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
                while seq.next_element::<IgnoredAny>()?.is_some() {}
                Ok($v)
            }
        };
    }

    impl<'de> de::Deserialize<'de> for Key {
        fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
            struct V;
            impl Visitor<'_> for V {
                type Value = Key;
                fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                    f.write_str("a member name")
                }
                fn visit_str<E: de::Error>(self, v: &str) -> Result<Key, E> {
                    Ok(match v {
                        "name" => Key::Name,
                        "uri" => Key::Uri,
                        _ => Key::Other,
                    })
                }
            }
            d.deserialize_identifier(V)
        }
    }

    impl<'de: 'a, 'a> de::Deserialize<'de> for AnyString<'a> {
        fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
            struct V;
            impl<'de> Visitor<'de> for V {
                type Value = AnyString<'de>;
                fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                    f.write_str("a JSON value")
                }
                fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<Self::Value, E> {
                    Ok(AnyString(Some(Cow::Borrowed(v))))
                }
                fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
                    Ok(AnyString(Some(Cow::Owned(v.to_owned()))))
                }
                fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
                    while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
                    Ok(AnyString(None))
                }
                nothing_for_scalars!(AnyString(None));
            }
            d.deserialize_any(V)
        }
    }

    impl<'de: 'a, 'a> de::Deserialize<'de> for Target<'a> {
        fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
            struct V;
            impl<'de> Visitor<'de> for V {
                type Value = Target<'de>;
                fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                    f.write_str("JSON-RPC params")
                }
                fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
                    let mut name: Option<AnyString<'de>> = None;
                    let mut uri: Option<AnyString<'de>> = None;
                    while let Some(key) = map.next_key()? {
                        let (slot, field) = match key {
                            Key::Name => (&mut name, "name"),
                            Key::Uri => (&mut uri, "uri"),
                            Key::Other => {
                                map.next_value::<IgnoredAny>()?;
                                continue;
                            }
                        };
                        if slot.is_some() {
                            return Err(de::Error::duplicate_field(field));
                        }
                        *slot = Some(map.next_value()?);
                    }
                    Ok(Target {
                        name: name.and_then(|n| n.0),
                        uri: uri.and_then(|u| u.0),
                    })
                }
                fn visit_str<E: de::Error>(self, _: &str) -> Result<Self::Value, E> {
                    Ok(Target::default())
                }
                nothing_for_scalars!(Target::default());
            }
            d.deserialize_any(V)
        }
    }
}

type Clock = Arc<dyn Fn() -> UnixTime + Send + Sync>;

/// How long a request with an unknown `kid` waits for the fetch it started.
pub const DEFAULT_KEY_WAIT: Duration = Duration::from_secs(2);

/// Everything the layer needs, shared by every clone of the service.
pub struct ProtectedResource {
    validator: Validator,
    keys: Arc<dyn KeySource>,
    prm: PrmEndpoint,
    challenge_scope: Option<String>,
    operations: OperationScopes,
    max_body: usize,
    key_wait: Duration,
    token_cache: Option<RwLock<TokenCache>>,
    clock: Clock,
    guard: Option<Mutex<Guard>>,
    proxies: TrustedProxies,
    monotonic: Arc<dyn Fn() -> Duration + Send + Sync>,
    sessions: Option<sessions::SessionBindings>,
}

impl fmt::Debug for ProtectedResource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ProtectedResource")
            .field("policy", self.validator.policy())
            .field("metadata_url", &self.prm.metadata_url())
            .field("operations", &self.operations)
            .field("max_body", &self.max_body)
            .field("token_cache", &self.token_cache.is_some())
            .field("guard", &self.guard.is_some())
            .field(
                "session_capacity",
                &self
                    .sessions
                    .as_ref()
                    .map(sessions::SessionBindings::capacity),
            )
            .finish_non_exhaustive()
    }
}

use crate::sys::now as system_clock;

impl ProtectedResource {
    /// A protected MCP endpoint: tokens checked by `validator` against `keys`, metadata
    /// served by `prm` (whose `metadata_url` goes into every challenge).
    pub fn new(validator: Validator, keys: Arc<dyn KeySource>, prm: PrmEndpoint) -> Self {
        ProtectedResource {
            validator,
            keys,
            prm,
            challenge_scope: None,
            operations: OperationScopes::default(),
            max_body: DEFAULT_MAX_BODY,
            key_wait: DEFAULT_KEY_WAIT,
            token_cache: None,
            clock: Arc::new(system_clock),
            guard: None,
            proxies: TrustedProxies::none(),
            monotonic: {
                let start = std::time::Instant::now();
                Arc::new(move || start.elapsed())
            },
            sessions: Some(sessions::SessionBindings::new(
                DEFAULT_SESSION_CAPACITY,
                DEFAULT_SESSION_IDLE,
            )),
        }
    }

    /// How many MCP sessions' owners to remember (at least one) and for how long unused
    /// (defaults: [`DEFAULT_SESSION_CAPACITY`], [`DEFAULT_SESSION_IDLE`]).
    ///
    /// Session binding is on by default. When a request without `Mcp-Session-Id` gets a
    /// response that carries one (an MCP `initialize`), the layer records that session as
    /// the token's (issuer, subject, client). A later request with that session id passes
    /// only with a token of the same principal; any other — another principal's valid
    /// token, an id the layer never saw, one forgotten after `idle` or evicted (least
    /// recently used first) when `capacity` is reached — gets `404 Not Found`, which MCP
    /// clients answer by starting a new session. A `DELETE` by the owner, or a `404` from
    /// the MCP server, forgets the session. Servers that never issue session ids (stateless,
    /// or MCP 2026-07-28) are not affected. The bindings live in this process: replicas
    /// behind a load balancer need sticky sessions, as in-memory MCP sessions do anyway.
    pub fn session_binding(mut self, capacity: usize, idle: Duration) -> Self {
        self.sessions = Some(sessions::SessionBindings::new(capacity, idle));
        self
    }

    /// Passes `Mcp-Session-Id` through unchecked: any holder of a valid token can then use
    /// any session whose id it learns (MCP security best practices, "Session Hijacking":
    /// a stolen or guessed session id lets its holder act in, and receive the messages of,
    /// another user's session). Only for MCP servers that bind sessions to the
    /// [`AuthContext`] themselves.
    pub fn dangerous_unbound_sessions(mut self) -> Self {
        self.sessions = None;
        self
    }

    /// Rate limits and blocking of sources that keep sending invalid tokens
    /// (`mcp-oauth-guard`); refusals are `429` with `Retry-After`. The client address is
    /// the TCP peer, read from a [`ClientAddr`] (or `SocketAddr`) request extension, or
    /// behind [`trusted_proxies`](Self::trusted_proxies) the address they forward; without
    /// one, only the client, subject and tenant limits apply.
    pub fn guard(mut self, config: GuardConfig) -> Self {
        self.guard = Some(Mutex::new(Guard::new(config)));
        self
    }

    /// The reverse proxies whose forwarding header names the client's address for the
    /// guard's address limit, its blocks and the audit events (default: none, so the TCP
    /// peer is the client whatever the headers say). Behind a proxy, without this, every
    /// client shares the proxy's address, and one client's invalid tokens block them all.
    /// See [`TrustedProxies`] for the walk and which header to name.
    pub fn trusted_proxies(mut self, proxies: TrustedProxies) -> Self {
        self.proxies = proxies;
        self
    }

    /// Another monotonic clock for the guard (tests).
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
    pub fn challenge_scope(mut self, scope: impl Into<String>) -> Self {
        self.challenge_scope = Some(scope.into());
        self
    }

    /// Per-method and per-tool scopes. They are decided from the MCP 2026-07-28
    /// `Mcp-Method` / `Mcp-Name` headers when the request has them (the body is then read
    /// only to check that it agrees: a batch, an unreadable body or any disagreement is
    /// `400` with JSON-RPC error `-32020`), else from the JSON-RPC body.
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

    fn challenge(
        &self,
        error: Option<BearerError>,
        scope: Option<String>,
        description: &str,
    ) -> Response<Full<Bytes>> {
        let mut c = BearerChallenge::new().resource_metadata(self.prm.metadata_url());
        if let Some(s) = scope.or_else(|| self.challenge_scope.clone()) {
            c = c.scope(s);
        }
        if let Some(e) = error {
            c = c.error(e).error_description(description);
        }
        let status = c.status();
        let mut resp = Response::new(empty());
        *resp.status_mut() = status;
        match c.header_value() {
            Ok(v) => {
                resp.headers_mut().insert(header::WWW_AUTHENTICATE, v);
            }
            // Only our own constant descriptions reach here; should one ever be refused,
            // answer without a description rather than with a broken header.
            Err(_) => {
                resp.headers_mut()
                    .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
            }
        }
        resp
    }

    fn validate(&self, token: &str, now: UnixTime) -> Result<Arc<AuthContext>, JwtError> {
        let policy = self.validator.policy();
        if let Some(cache) = &self.token_cache {
            // A hit costs a hash (taken before the lock) and a lookup under a read lock,
            // so concurrent requests never wait for one another; no parsing. The keys are
            // consulted for the cached kid only, so a rotated-out key stops
            // authenticating at once.
            let key = TokenKey::of(token);
            let cached = cache.read().map_err(|_| JwtError::KeysUnavailable)?.check(
                &key,
                policy.leeway_secs(),
                now,
                |kid| match kid {
                    Some(k) => self
                        .keys
                        .keys(Some(k), now)
                        .is_some_and(|ks| ks.contains_kid(k)),
                    None => self.keys.keys(None, now).is_some(),
                },
            );
            match cached {
                Cached::Live(ctx) => {
                    ctx.require_scopes(policy.required_scopes())?;
                    return Ok(ctx);
                }
                Cached::Stale => {
                    if let Ok(mut c) = cache.write() {
                        c.remove(&key);
                    }
                }
                Cached::Absent => {}
            }
            let keys = self
                .keys
                .keys(token_kid(token).as_deref(), now)
                .ok_or(JwtError::KeysUnavailable)?;
            let ctx = Arc::new(self.validator.verify(token, &keys, now)?);
            if let Ok(mut c) = cache.write() {
                c.insert_key(key, ctx.clone());
            }
            ctx.require_scopes(policy.required_scopes())?;
            return Ok(ctx);
        }
        let keys = self
            .keys
            .keys(token_kid(token).as_deref(), now)
            .ok_or(JwtError::KeysUnavailable)?;
        self.validator.validate(token, &keys, now).map(Arc::new)
    }
}

/// The header's `kid`, for key lookup before validation (validation re-reads the header
/// strictly; this is only a hint).
fn token_kid(token: &str) -> Option<String> {
    use base64::Engine as _;
    #[derive(serde::Deserialize)]
    struct Kid<'a> {
        #[serde(default, borrow)]
        kid: Option<std::borrow::Cow<'a, str>>,
    }
    let header = token.split('.').next()?;
    if header.len() > 2048 {
        return None;
    }
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(header)
        .ok()?;
    let h: Kid<'_> = serde_json::from_slice(&bytes).ok()?;
    h.kid.map(std::borrow::Cow::into_owned)
}

fn empty() -> Full<Bytes> {
    Full::new(Bytes::new())
}

fn full(bytes: Bytes) -> Full<Bytes> {
    Full::new(bytes)
}

fn status(code: StatusCode) -> Response<Full<Bytes>> {
    let mut r = Response::new(empty());
    *r.status_mut() = code;
    r
}

/// What the `Authorization` header holds.
enum Credentials<'a> {
    None,
    Bearer(&'a str),
    Malformed,
}

fn credentials(req_headers: &http::HeaderMap) -> Credentials<'_> {
    let mut values = req_headers.get_all(header::AUTHORIZATION).iter();
    let Some(value) = values.next() else {
        return Credentials::None;
    };
    if values.next().is_some() {
        return Credentials::Malformed;
    }
    // UTF-8 is enough here (a quick check); a token that fails to validate has its
    // syntax checked in full (`is_b64token`).
    let Ok(text) = std::str::from_utf8(value.as_bytes()) else {
        return Credentials::Malformed;
    };
    match text.split_once(' ') {
        Some((scheme, token)) if scheme.eq_ignore_ascii_case("bearer") => {
            let token = token.trim_start_matches(' ');
            if token.is_empty() {
                Credentials::Malformed
            } else {
                // Its syntax is checked when it fails to validate (`is_b64token`): a token
                // that validates, or is in the token cache, is made of base64url and dots.
                Credentials::Bearer(token)
            }
        }
        // Another scheme (Basic, DPoP, …): no bearer credentials (RFC 6750 §3.1).
        Some(_) => Credentials::None,
        None if text.eq_ignore_ascii_case("bearer") => Credentials::Malformed,
        None => Credentials::None,
    }
}

/// RFC 6750 §2.1 `b64token` syntax.
fn is_b64token(token: &str) -> bool {
    !token.is_empty()
        && token.bytes().all(|b| {
            b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~' | b'+' | b'/' | b'=')
        })
}

/// Whether the query string carries `access_token` (MCP: tokens never in the URI).
fn token_in_query<B>(req: &Request<B>) -> bool {
    req.uri().query().is_some_and(|q| {
        mcp_oauth_resource_indicators::url::form_urlencoded::parse(q.as_bytes())
            .any(|(k, _)| k == "access_token")
    })
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
            match authorize(&shared, req).await {
                Ok((req, session)) => {
                    let resp = inner.call(req).await?;
                    shared.after_response(session, &resp);
                    Ok(resp.map(Either::Left))
                }
                Err(resp) => Ok(resp.map(Either::Right)),
            }
        })
    }
}

/// The TCP peer's address, for rate limits and blocking. Insert it into the request's
/// extensions before the layer (hyper gives it at `accept`); a `SocketAddr` extension is
/// read too. When the peer is one of the layer's
/// [`trusted_proxies`](ProtectedResource::trusted_proxies), the client's address is read
/// from the forwarding header they write; otherwise the peer is the client.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClientAddr(pub IpAddr);

/// The client's address: the peer's from the request extensions, resolved through the
/// trusted proxies (`TrustedProxies::client_addr`, the one decision every limiter shares).
fn client_addr<B>(proxies: &TrustedProxies, req: &Request<B>) -> Option<IpAddr> {
    let peer = req
        .extensions()
        .get::<ClientAddr>()
        .map(|a| a.0)
        .or_else(|| {
            req.extensions()
                .get::<std::net::SocketAddr>()
                .map(std::net::SocketAddr::ip)
        })?;
    Some(proxies.client_addr(peer, req.headers()))
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

fn principal(ctx: &AuthContext) -> Principal {
    Principal {
        client_id: ctx.client_id().map(str::to_owned),
        subject: ctx.subject().map(str::to_owned),
        tenant: None,
    }
}

fn too_many(denied: Denied) -> Response<Full<Bytes>> {
    let mut r = status(StatusCode::TOO_MANY_REQUESTS);
    if let Ok(v) = HeaderValue::from_str(&denied.retry_after_secs().to_string()) {
        r.headers_mut().insert(header::RETRY_AFTER, v);
    }
    r
}

impl ProtectedResource {
    fn reject(&self, reason: RejectReason, addr: Option<IpAddr>, detail: &str) {
        audit(&AuditEvent::Rejected {
            reason,
            addr,
            detail: detail.to_owned(),
        });
    }

    fn guard_before(&self, addr: Option<IpAddr>) -> Result<(), Denied> {
        let (Some(guard), Some(ip)) = (&self.guard, addr) else {
            return Ok(());
        };
        let now = (self.monotonic)();
        let verdict = guard
            .lock()
            .map(|mut g| g.before_auth(ip, now))
            .unwrap_or(Ok(()));
        verdict.inspect_err(|&denied| audit(&AuditEvent::RateLimited { denied, addr }))
    }

    fn guard_failure(&self, addr: Option<IpAddr>) {
        let (Some(guard), Some(ip)) = (&self.guard, addr) else {
            return;
        };
        let now = (self.monotonic)();
        if guard
            .lock()
            .is_ok_and(|mut g| g.record_invalid_token(ip, now))
        {
            audit(&AuditEvent::SourceBlocked { addr: ip });
        }
    }

    fn guard_after(&self, addr: Option<IpAddr>, ctx: &AuthContext) -> Result<(), Denied> {
        let Some(guard) = &self.guard else {
            return Ok(());
        };
        let now = (self.monotonic)();
        let verdict = guard
            .lock()
            .map(|mut g| g.after_auth_ids(ctx.client_id(), ctx.subject(), None, now))
            .unwrap_or(Ok(()));
        match verdict {
            Ok(()) => Ok(()),
            Err(denied) => {
                audit(&AuditEvent::RateLimited { denied, addr });
                Err(denied)
            }
        }
    }
}

/// Decides one request: the response to send now, or the request to pass on.
async fn authorize<B>(
    shared: &ProtectedResource,
    req: Request<B>,
) -> Result<(Request<EitherBody<B>>, SessionStep), Response<Full<Bytes>>>
where
    B: Body<Data = Bytes> + Send + 'static,
    B::Error: Into<BoxError>,
{
    if let Some(resp) = shared.prm.respond(req.method(), req.uri().path()) {
        return Err(resp.map(|b| full(Bytes::from(b))));
    }
    let addr = client_addr(&shared.proxies, &req);
    shared.guard_before(addr).map_err(too_many)?;
    if token_in_query(&req) {
        shared.reject(
            RejectReason::InvalidRequest,
            addr,
            "token in the query string",
        );
        shared.guard_failure(addr);
        return Err(shared.challenge(
            Some(BearerError::InvalidRequest),
            None,
            "access tokens are accepted in the Authorization header only",
        ));
    }
    let malformed = || {
        shared.reject(
            RejectReason::InvalidRequest,
            addr,
            "malformed Authorization header",
        );
        shared.guard_failure(addr);
        shared.challenge(
            Some(BearerError::InvalidRequest),
            None,
            "malformed Authorization header",
        )
    };
    let token = match credentials(req.headers()) {
        Credentials::None => {
            shared.reject(RejectReason::NoToken, addr, "no bearer credentials");
            return Err(shared.challenge(None, None, ""));
        }
        Credentials::Malformed => return Err(malformed()),
        Credentials::Bearer(t) => t,
    };
    let now = (shared.clock)();
    let mut result = shared.validate(token, now);
    if result.is_err() && !is_b64token(token) {
        return Err(malformed());
    }
    if matches!(result, Err(JwtError::KeyNotFound))
        && let Some(arrival) = shared.keys.key_arrival(token_kid(token).as_deref(), now)
    {
        // A key rotated in: wait (bounded) for the fetch it started, then try once more.
        let _ = tokio::time::timeout(shared.key_wait, arrival).await;
        result = shared.validate(token, (shared.clock)());
    }
    let ctx = match result {
        Ok(ctx) => ctx,
        Err(e) => {
            let reason = match e.bearer_error() {
                BearerError::InsufficientScope => RejectReason::InsufficientScope,
                _ => RejectReason::InvalidToken,
            };
            shared.reject(reason, addr, &e.to_string());
            if reason == RejectReason::InvalidToken {
                shared.guard_failure(addr);
            }
            let scope = e.missing_scopes().map(|m| m.join(" "));
            return Err(shared.challenge(
                Some(e.bearer_error()),
                scope,
                "the access token is not valid for this resource",
            ));
        }
    };
    shared.guard_after(addr, &ctx).map_err(too_many)?;
    let session = shared
        .session_step(&req, &ctx, addr)
        .ok_or_else(session_not_found)?;
    let (parts, body) = req.into_parts();
    let body = if shared.operations.is_empty() || parts.method != Method::POST {
        Either::Left(body)
    } else {
        Either::Right(
            shared
                .check_operation(&parts.headers, body, &ctx, addr)
                .await?,
        )
    };
    if tracing::enabled!(target: "mcp_oauth::audit", tracing::Level::DEBUG) {
        audit(&AuditEvent::Accepted {
            who: principal(&ctx),
        });
    }
    let mut req = Request::from_parts(parts, body);
    req.extensions_mut().insert(ctx);
    Ok((req, session))
}

/// What to do with the inner service's response for session binding.
enum SessionStep {
    /// Binding is off.
    Nothing,
    /// The request carried no session: a session id in the response is this principal's.
    BindNew(Arc<AuthContext>),
    /// The request used this principal's session `id`: forget it when the MCP server no
    /// longer knows it (`404`) or the owner deleted it (`DELETE`, `2xx`).
    Bound { id: HeaderValue, delete: bool },
}

/// The `404` for a session this principal may not use (the MCP answer for a session the
/// server does not know, after which a client starts a new session).
fn session_not_found() -> Response<Full<Bytes>> {
    let mut r = Response::new(full(Bytes::from_static(
        br#"{"jsonrpc":"2.0","id":null,"error":{"code":-32001,"message":"Session not found"}}"#,
    )));
    *r.status_mut() = StatusCode::NOT_FOUND;
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    r
}

impl ProtectedResource {
    /// Checks the request's `Mcp-Session-Id` against its owner: `None` refuses it.
    fn session_step<B>(
        &self,
        req: &Request<B>,
        ctx: &Arc<AuthContext>,
        addr: Option<IpAddr>,
    ) -> Option<SessionStep> {
        let Some(sessions) = &self.sessions else {
            return Some(SessionStep::Nothing);
        };
        let mut ids = req.headers().get_all(sessions::MCP_SESSION_ID).iter();
        let Some(id) = ids.next() else {
            return Some(SessionStep::BindNew(ctx.clone()));
        };
        let check = match id.to_str() {
            Ok(text) if ids.next().is_none() => sessions.check(text, ctx, (self.monotonic)()),
            _ => sessions::Check::Unknown,
        };
        match check {
            sessions::Check::Bound => Some(SessionStep::Bound {
                id: id.clone(),
                delete: req.method() == Method::DELETE,
            }),
            sessions::Check::Unknown => {
                self.reject(RejectReason::InvalidRequest, addr, "unknown MCP session");
                None
            }
            sessions::Check::OtherPrincipal => {
                self.reject(
                    RejectReason::InvalidRequest,
                    addr,
                    "MCP session bound to another principal",
                );
                None
            }
        }
    }

    /// Records a new session's owner, or forgets an ended session.
    fn after_response<R>(&self, step: SessionStep, resp: &Response<R>) {
        let Some(sessions) = &self.sessions else {
            return;
        };
        match step {
            SessionStep::Nothing => {}
            SessionStep::BindNew(ctx) => {
                if let Some(id) = resp
                    .headers()
                    .get(sessions::MCP_SESSION_ID)
                    .and_then(|v| v.to_str().ok())
                    .filter(|id| !id.is_empty())
                {
                    sessions.bind(id, &ctx, (self.monotonic)());
                }
            }
            SessionStep::Bound { id, delete } => {
                let status = resp.status();
                if (status == StatusCode::NOT_FOUND || (delete && status.is_success()))
                    && let Ok(id) = id.to_str()
                {
                    sessions.forget(id);
                }
            }
        }
    }

    /// Reads a POST's JSON-RPC body (up to the cap) and checks the scopes its operation
    /// needs. With the MCP 2026-07-28 `Mcp-Method` / `Mcp-Name` headers the scopes are
    /// decided from the headers before the body is read, and the body must then be one
    /// message that agrees with them; without them the body decides (message or batch).
    async fn check_operation<B>(
        &self,
        request_headers: &http::HeaderMap,
        body: B,
        ctx: &AuthContext,
        addr: Option<IpAddr>,
    ) -> Result<Full<Bytes>, Response<Full<Bytes>>>
    where
        B: Body<Data = Bytes> + Send + 'static,
        B::Error: Into<BoxError>,
    {
        let mismatch = |body: Option<&[u8]>, why: headers::Mismatch| {
            self.reject(RejectReason::InvalidRequest, addr, why.message());
            headers::refusal(body, why)
        };
        let mirrored = headers::mirrored(request_headers).map_err(|why| mismatch(None, why))?;
        if let Some(m) = &mirrored {
            let [for_method, for_tool] = self.operations.for_operation(m.method, m.tool());
            // No allocation unless a scope is missing.
            let hierarchy = self.validator.policy().hierarchy();
            if !(ctx.has_scopes_in(for_method, hierarchy) && ctx.has_scopes_in(for_tool, hierarchy))
            {
                let mut required: Vec<&str> = Vec::new();
                for s in for_method.iter().chain(for_tool) {
                    if !required.contains(&s.as_str()) {
                        required.push(s);
                    }
                }
                if let Some(refusal) = self.missing_operation_scopes(ctx, &required, addr) {
                    return Err(refusal);
                }
            }
        }
        if request_headers
            .get(header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok()?.parse::<usize>().ok())
            .is_some_and(|len| len > self.max_body)
        {
            self.reject(RejectReason::TooLarge, addr, "body over the cap");
            return Err(status(StatusCode::PAYLOAD_TOO_LARGE));
        }
        let bytes = match Limited::new(body, self.max_body).collect().await {
            Ok(c) => c.to_bytes(),
            Err(_) => {
                self.reject(RejectReason::TooLarge, addr, "body over the cap");
                return Err(status(StatusCode::PAYLOAD_TOO_LARGE));
            }
        };
        if let Some(m) = &mirrored {
            headers::check_body(&bytes, m).map_err(|why| mismatch(Some(&bytes), why))?;
            return Ok(full(bytes));
        }
        let Some(required) = self.operations.required(&bytes) else {
            self.reject(RejectReason::InvalidRequest, addr, "body is not JSON");
            return Err(self.challenge(
                Some(BearerError::InvalidRequest),
                None,
                "the body is not a JSON-RPC message",
            ));
        };
        match self.missing_operation_scopes(ctx, &required, addr) {
            Some(refusal) => Err(refusal),
            None => Ok(full(bytes)),
        }
    }

    /// `403 insufficient_scope` naming the operation's scopes (the MCP step-up) when the
    /// token lacks one of them; `None` when it has them all.
    fn missing_operation_scopes(
        &self,
        ctx: &AuthContext,
        required: &[&str],
        addr: Option<IpAddr>,
    ) -> Option<Response<Full<Bytes>>> {
        // MCP-SCOPE-15: a broader scope of the policy's hierarchy counts.
        match ctx.require_scopes_in(required, self.validator.policy().hierarchy()) {
            Err(e @ JwtError::InsufficientScope { .. }) => {
                self.reject(RejectReason::InsufficientScope, addr, &e.to_string());
                Some(self.challenge(
                    Some(BearerError::InsufficientScope),
                    Some(required.join(" ")),
                    "the access token lacks a scope this operation needs",
                ))
            }
            _ => None,
        }
    }
}
