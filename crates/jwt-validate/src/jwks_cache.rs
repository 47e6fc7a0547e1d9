//! A sans-IO JWKS cache: it decides when to fetch and what to serve; the caller fetches.
//!
//! ```text
//!   adapter loop:  poll_request(now) ──► GET jwks_uri (If-None-Match) ──► handle_response(now, …)
//!                  poll_timeout()    ──► sleep until then
//!   request path:  lookup(kid, now)  ──► Found(keys) | Unknown { refresh_at } | Unavailable
//! ```

use core::time::Duration;
use std::sync::Arc;

use http::{HeaderMap, Method, Request, StatusCode, header};
use mcp_oauth_common::UnixTime;

use crate::crypto::CryptoProvider;
use crate::{KeyError, KeySet, KeySetLimits};

/// Timing and size rules of a [`JwksCache`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JwksConfig {
    /// Refresh interval when the response has no usable `Cache-Control: max-age`.
    pub default_refresh: Duration,
    /// Shortest refresh interval honoured from `max-age`.
    pub min_refresh: Duration,
    /// Longest refresh interval honoured from `max-age`.
    pub max_refresh: Duration,
    /// How long after the last successful fetch known keys are still served while the
    /// endpoint fails. Past this, validation fails with "keys unavailable".
    pub max_staleness: Duration,
    /// Shortest time between two fetches caused by unknown `kid`s.
    pub unknown_kid_cooldown: Duration,
    /// First retry delay after a failed fetch (at least one second); doubles per failure.
    pub initial_backoff: Duration,
    /// Longest retry delay.
    pub max_backoff: Duration,
    /// A fetch with no response after this long is considered lost and may be retried.
    pub request_timeout: Duration,
    /// Limits on the document.
    pub limits: KeySetLimits,
}

impl Default for JwksConfig {
    fn default() -> Self {
        JwksConfig {
            default_refresh: Duration::from_secs(3600),
            min_refresh: Duration::from_secs(300),
            max_refresh: Duration::from_secs(24 * 3600),
            max_staleness: Duration::from_secs(24 * 3600),
            unknown_kid_cooldown: Duration::from_secs(60),
            initial_backoff: Duration::from_secs(5),
            max_backoff: Duration::from_secs(600),
            request_timeout: Duration::from_secs(30),
            limits: KeySetLimits::default(),
        }
    }
}

/// The answer to [`JwksCache::lookup`].
#[derive(Debug, Clone)]
pub enum Lookup {
    /// The current keys, which hold the `kid` (or, without a `kid`, at least one key).
    Found(Arc<KeySet>),
    /// The `kid` is not among the current keys. A fetch has been requested for
    /// `refresh_at` (now, or when the unknown-kid cooldown ends).
    Unknown {
        /// When the cache will next ask to fetch.
        refresh_at: UnixTime,
    },
    /// No keys can be served: never fetched successfully, or the last success is older
    /// than the staleness limit.
    Unavailable,
}

/// What happened to a fetch, for audit and metrics.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum FetchOutcome {
    /// New keys installed.
    Updated {
        /// Usable keys in the new set.
        keys: usize,
    },
    /// `304 Not Modified`: the current keys were confirmed.
    NotModified,
    /// The fetch failed; known keys are still served until the staleness limit.
    Failed(FetchError),
}

/// Why a fetch failed.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum FetchError {
    /// A status other than 200 or 304 (redirects included: they are not followed).
    Status(u16),
    /// The body was not a usable JWK Set.
    Keys(KeyError),
    /// The transport failed (timeout, connection, body too large).
    Transport,
}

/// A sans-IO cache of one issuer's JWK Set.
#[derive(Debug)]
pub struct JwksCache {
    uri: String,
    provider: Arc<dyn CryptoProvider>,
    config: JwksConfig,
    keys: Option<Arc<KeySet>>,
    etag: Option<String>,
    last_success: Option<UnixTime>,
    next_refresh: Option<UnixTime>,
    in_flight_since: Option<UnixTime>,
    failures: u32,
    retry_at: Option<UnixTime>,
    wanted: bool,
    last_kid_fetch: Option<UnixTime>,
    fetches: u64,
}

impl JwksCache {
    /// A cache for the JWK Set at `uri`, preparing keys with `provider`. Nothing is
    /// loaded until the first [`JwksCache::poll_request`] is answered.
    pub fn new(
        uri: impl Into<String>,
        provider: Arc<dyn CryptoProvider>,
        config: JwksConfig,
    ) -> Self {
        JwksCache {
            uri: uri.into(),
            provider,
            config,
            keys: None,
            etag: None,
            last_success: None,
            next_refresh: None,
            in_flight_since: None,
            failures: 0,
            retry_at: None,
            wanted: true,
            last_kid_fetch: None,
            fetches: 0,
        }
    }

    /// The JWK Set URL.
    pub fn uri(&self) -> &str {
        &self.uri
    }

    /// How many fetches have been requested so far.
    pub fn fetch_count(&self) -> u64 {
        self.fetches
    }

    /// The keys, if they may still be served at `now`.
    pub fn keys(&self, now: UnixTime) -> Option<Arc<KeySet>> {
        let last = self.last_success?;
        if now.since(last) > self.config.max_staleness {
            return None;
        }
        self.keys.clone()
    }

    /// Looks a token's `kid` up. An unknown `kid` asks for a fetch, at most once per
    /// cooldown, so a flood of random `kid`s costs one fetch per cooldown.
    pub fn lookup(&mut self, kid: Option<&str>, now: UnixTime) -> Lookup {
        let Some(keys) = self.keys(now) else {
            self.wanted = true;
            return Lookup::Unavailable;
        };
        let known = match kid {
            Some(k) => keys.contains_kid(k),
            None => !keys.keys().is_empty(),
        };
        if known {
            return Lookup::Found(keys);
        }
        let refresh_at = match self.last_kid_fetch {
            Some(t) => t.saturating_add(self.config.unknown_kid_cooldown).max(now),
            None => now,
        };
        if refresh_at <= now {
            self.wanted = true;
            self.last_kid_fetch = Some(now);
        }
        Lookup::Unknown { refresh_at }
    }

    /// Whether a fetch is wanted or in flight (so keys may change soon).
    pub fn fetch_pending(&self) -> bool {
        self.wanted || self.in_flight_since.is_some()
    }

    /// Whether a fetch is under way or may start at `now`: in flight, or wanted with no
    /// backoff running. A request for an unknown `kid` is worth holding for a fetch only
    /// then; during a backoff (the endpoint failing) it would wait for nothing.
    pub fn fetch_expected(&self, now: UnixTime) -> bool {
        let in_flight = self
            .in_flight_since
            .is_some_and(|since| now.since(since) < self.config.request_timeout);
        let may_start = self.wanted && self.retry_at.is_none_or(|t| now >= t);
        in_flight || may_start
    }

    /// The fetch to perform now, if any: at most one in flight, none before a backoff
    /// ends. The request carries `If-None-Match` when an `ETag` is known.
    pub fn poll_request(&mut self, now: UnixTime) -> Option<Request<()>> {
        if let Some(since) = self.in_flight_since {
            if now.since(since) < self.config.request_timeout {
                return None;
            }
            // Lost: the adapter never answered. Count it as a failure.
            self.record_failure(now);
        }
        if self.retry_at.is_some_and(|t| now < t) {
            return None;
        }
        let due = self.wanted || self.keys.is_none() || self.next_refresh.is_some_and(|t| now >= t);
        if !due {
            return None;
        }
        let mut builder = Request::builder()
            .method(Method::GET)
            .uri(self.uri.as_str())
            .header(header::ACCEPT, "application/jwk-set+json, application/json");
        if let Some(etag) = &self.etag {
            builder = builder.header(header::IF_NONE_MATCH, etag.as_str());
        }
        let request = builder.body(()).ok()?;
        self.in_flight_since = Some(now);
        self.wanted = false;
        self.fetches += 1;
        Some(request)
    }

    /// Feeds the response to the last request.
    pub fn handle_response(
        &mut self,
        now: UnixTime,
        status: StatusCode,
        headers: &HeaderMap,
        body: &[u8],
    ) -> FetchOutcome {
        self.in_flight_since = None;
        match status {
            StatusCode::OK => {
                match KeySet::parse(body, self.provider.as_ref(), &self.config.limits) {
                    Ok(set) => {
                        let count = set.keys().len();
                        self.keys = Some(Arc::new(set));
                        self.etag = headers
                            .get(header::ETAG)
                            .and_then(|v| v.to_str().ok())
                            .map(str::to_owned);
                        self.record_success(now, headers);
                        FetchOutcome::Updated { keys: count }
                    }
                    Err(e) => {
                        self.record_failure(now);
                        FetchOutcome::Failed(FetchError::Keys(e))
                    }
                }
            }
            StatusCode::NOT_MODIFIED if self.keys.is_some() => {
                self.record_success(now, headers);
                FetchOutcome::NotModified
            }
            other => {
                self.record_failure(now);
                FetchOutcome::Failed(FetchError::Status(other.as_u16()))
            }
        }
    }

    /// Reports that the last request failed in transport (no response).
    pub fn handle_error(&mut self, now: UnixTime) -> FetchOutcome {
        self.in_flight_since = None;
        self.record_failure(now);
        FetchOutcome::Failed(FetchError::Transport)
    }

    /// When to call [`JwksCache::poll_request`] again: the next refresh, the end of a
    /// backoff, a pending unknown-kid fetch, or a lost request's timeout.
    pub fn poll_timeout(&self) -> Option<UnixTime> {
        if let Some(since) = self.in_flight_since {
            return Some(since.saturating_add(self.config.request_timeout));
        }
        if let Some(t) = self.retry_at {
            return Some(t);
        }
        let pending_kid = self
            .wanted
            .then(|| {
                self.last_kid_fetch
                    .map(|t| t.saturating_add(self.config.unknown_kid_cooldown))
            })
            .flatten();
        match (self.next_refresh, pending_kid) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    fn record_success(&mut self, now: UnixTime, headers: &HeaderMap) {
        self.last_success = Some(now);
        self.failures = 0;
        self.retry_at = None;
        let c = &self.config;
        let interval = max_age(headers)
            .map(|s| Duration::from_secs(s).clamp(c.min_refresh, c.max_refresh))
            .unwrap_or(c.default_refresh);
        self.next_refresh = Some(now.saturating_add(interval));
    }

    fn record_failure(&mut self, now: UnixTime) {
        self.in_flight_since = None;
        self.failures = self.failures.saturating_add(1);
        let factor = 1u32
            .checked_shl(self.failures.saturating_sub(1).min(16))
            .unwrap_or(u32::MAX);
        // At least a second, so a zero configuration cannot turn failures into a hot loop.
        let backoff = self
            .config
            .initial_backoff
            .max(Duration::from_secs(1))
            .saturating_mul(factor)
            .min(self.config.max_backoff.max(Duration::from_secs(1)));
        self.retry_at = Some(now.saturating_add(backoff));
        self.wanted = true;
    }
}

/// `Cache-Control: max-age=N` (the first one); `no-store`/`no-cache` mean 0 (so the
/// minimum refresh applies).
pub(crate) fn max_age(headers: &HeaderMap) -> Option<u64> {
    let value = headers.get(header::CACHE_CONTROL)?.to_str().ok()?;
    let mut out = None;
    for directive in value.split(',') {
        let d = directive.trim();
        let lower = d.to_ascii_lowercase();
        if lower == "no-store" || lower == "no-cache" {
            return Some(0);
        }
        if out.is_none()
            && let Some(v) = lower.strip_prefix("max-age=")
        {
            out = v.trim_matches('"').parse::<u64>().ok();
        }
    }
    out
}
