#![doc = include_str!("../README.md")]
#![forbid(unsafe_code)]

use core::fmt;
use core::hash::Hash;
use core::time::Duration;
use std::collections::HashMap;
use std::net::IpAddr;

mod proxies;

pub use proxies::{MAX_FORWARDED_HOPS, TrustedProxies};

/// A token bucket: `capacity` tokens, refilled at `per_second`; one token per request.
///
/// Time is the caller's: `now` is a [`Duration`] since any fixed origin (for example an
/// `Instant` taken at start-up), never read from a clock here. A clock that steps
/// backwards counts as no time passing.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Bucket {
    tokens: f64,
    last: Duration,
}

/// A rate: a burst of `burst` requests, refilled at `per_second` requests per second.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Rate {
    /// The bucket's capacity.
    pub burst: u32,
    /// Refill speed, in requests per second.
    pub per_second: f64,
}

impl Rate {
    /// `burst` requests at once, `per_minute` on average.
    pub fn per_minute(burst: u32, per_minute: u32) -> Self {
        Rate {
            burst,
            per_second: f64::from(per_minute) / 60.0,
        }
    }
}

impl Bucket {
    /// A full bucket at `now`.
    pub fn full(rate: Rate, now: Duration) -> Self {
        Bucket {
            tokens: f64::from(rate.burst),
            last: now,
        }
    }

    /// Takes one token, or says how long until one is available.
    pub fn take(&mut self, rate: Rate, now: Duration) -> Result<(), Duration> {
        let elapsed = now.saturating_sub(self.last).as_secs_f64();
        self.last = self.last.max(now);
        self.tokens = (self.tokens + elapsed * rate.per_second).min(f64::from(rate.burst));
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            Ok(())
        } else if rate.per_second > 0.0 {
            Err(Duration::from_secs_f64(
                ((1.0 - self.tokens) / rate.per_second).min(86_400.0),
            ))
        } else {
            Err(Duration::from_secs(86_400))
        }
    }
}

/// Token buckets per key, with a bound on how many keys are tracked: when full, buckets
/// idle for longest are dropped (a dropped bucket comes back full, so the bound only ever
/// errs towards allowing).
#[derive(Debug, Clone)]
pub struct RateLimiter<K> {
    rate: Rate,
    buckets: HashMap<K, Bucket>,
    max_keys: usize,
}

impl<K: Hash + Eq + Clone> RateLimiter<K> {
    /// Limits each key to `rate`, tracking at most `max_keys` keys.
    pub fn new(rate: Rate, max_keys: usize) -> Self {
        RateLimiter {
            rate,
            buckets: HashMap::new(),
            max_keys: max_keys.max(1),
        }
    }

    /// Takes one request for `key` at `now`; `Err(retry_after)` when over the limit.
    pub fn check(&mut self, key: &K, now: Duration) -> Result<(), Duration> {
        if !self.buckets.contains_key(key) && self.buckets.len() >= self.max_keys {
            self.evict_idle(now);
        }
        let rate = self.rate;
        // The common case, a known key, neither clones nor allocates.
        if let Some(b) = self.buckets.get_mut(key) {
            return b.take(rate, now);
        }
        self.buckets
            .entry(key.clone())
            .or_insert_with(|| Bucket::full(rate, now))
            .take(rate, now)
    }

    /// [`check`](Self::check) with a borrowed form of the key (`&str` for `String`
    /// keys): no allocation unless the key is new.
    pub fn check_borrowed<Q>(&mut self, key: &Q, now: Duration) -> Result<(), Duration>
    where
        K: std::borrow::Borrow<Q>,
        Q: Hash + Eq + ToOwned<Owned = K> + ?Sized,
    {
        let rate = self.rate;
        if let Some(b) = self.buckets.get_mut(key) {
            return b.take(rate, now);
        }
        self.check(&key.to_owned(), now)
    }

    fn evict_idle(&mut self, now: Duration) {
        // Full buckets carry no state worth keeping: drop them first.
        let burst = f64::from(self.rate.burst);
        let per_second = self.rate.per_second;
        self.buckets.retain(|_, b| {
            let refilled = b.tokens + now.saturating_sub(b.last).as_secs_f64() * per_second;
            refilled < burst
        });
        if self.buckets.len() >= self.max_keys {
            // Still full: drop the longest-idle half.
            let mut lasts: Vec<Duration> = self.buckets.values().map(|b| b.last).collect();
            lasts.sort_unstable();
            let cut = lasts.get(lasts.len() / 2).copied().unwrap_or_default();
            self.buckets.retain(|_, b| b.last > cut);
        }
    }

    /// Keys currently tracked.
    pub fn len(&self) -> usize {
        self.buckets.len()
    }

    /// Whether no key is tracked.
    pub fn is_empty(&self) -> bool {
        self.buckets.is_empty()
    }
}

/// What a request is known to come from: its address before authentication, and after
/// it the token's client, subject and tenant.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Principal {
    /// `client_id`.
    pub client_id: Option<String>,
    /// `sub`.
    pub subject: Option<String>,
    /// The tenant the token belongs to (from the tenant resolver).
    pub tenant: Option<String>,
}

/// Which limit refused a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Limit {
    /// The source address is blocked for sending invalid tokens.
    Blocked,
    /// Requests per client address.
    Address,
    /// Requests per OAuth client.
    Client,
    /// Requests per subject.
    Subject,
    /// Requests per tenant.
    Tenant,
}

impl Limit {
    /// A short name for logs and metrics.
    pub fn as_str(self) -> &'static str {
        match self {
            Limit::Blocked => "blocked",
            Limit::Address => "address",
            Limit::Client => "client",
            Limit::Subject => "subject",
            Limit::Tenant => "tenant",
        }
    }
}

/// A refusal: answer `429 Too Many Requests` with `Retry-After` (whole seconds, rounded
/// up).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Denied {
    /// The limit that refused.
    pub limit: Limit,
    /// How long until a retry can pass.
    pub retry_after: Duration,
}

impl Denied {
    /// The `Retry-After` value in seconds (at least 1).
    pub fn retry_after_secs(&self) -> u64 {
        let s = self.retry_after.as_secs();
        if self.retry_after.subsec_nanos() > 0 || s == 0 {
            s + 1
        } else {
            s
        }
    }
}

impl fmt::Display for Denied {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "rate limited ({}), retry after {} s",
            self.limit.as_str(),
            self.retry_after_secs()
        )
    }
}

impl std::error::Error for Denied {}

/// The limits a [`Guard`] applies. Each is optional.
#[derive(Debug, Clone, PartialEq)]
pub struct GuardConfig {
    /// Per client address, checked before the token is looked at. Behind reverse
    /// proxies, resolve the address with [`TrustedProxies`], or every client shares the
    /// proxy's.
    pub per_address: Option<Rate>,
    /// Per OAuth client (`client_id`): one bucket for every user of that application, so
    /// one user who spends it gets all of them refused. Off by default; set it only as an
    /// application-wide ceiling sized for all of the application's users together.
    pub per_client: Option<Rate>,
    /// Per subject (`sub`): each user has their own bucket, across applications.
    pub per_subject: Option<Rate>,
    /// Per tenant.
    pub per_tenant: Option<Rate>,
    /// Invalid tokens from one address within `failure_window` that block it.
    pub max_failures: u32,
    /// The window for counting invalid tokens.
    pub failure_window: Duration,
    /// How long a source stays blocked.
    pub block_for: Duration,
    /// Most keys tracked per limiter (and addresses tracked for failures).
    pub max_keys: usize,
}

impl Default for GuardConfig {
    /// 600 requests a minute per address (bursts of 100), 300 per subject (bursts of 100),
    /// no client or tenant limit; 20 invalid tokens in a minute block an address for five
    /// minutes.
    ///
    /// No per-client limit by default: a `client_id` is shared by every user of an
    /// application, so its bucket would let one user (or one stolen token) get the whole
    /// application refused. The per-subject limit already bounds each user.
    fn default() -> Self {
        GuardConfig {
            per_address: Some(Rate::per_minute(100, 600)),
            per_client: None,
            per_subject: Some(Rate::per_minute(100, 300)),
            per_tenant: None,
            max_failures: 20,
            failure_window: Duration::from_secs(60),
            block_for: Duration::from_secs(300),
            max_keys: 100_000,
        }
    }
}

#[derive(Debug, Clone, Copy)]
struct Failures {
    count: u32,
    window_start: Duration,
    blocked_until: Option<Duration>,
}

/// Rate limits and abuse blocking for one protected resource.
///
/// ```
/// use std::time::Duration;
/// use mcp_oauth_guard::{Guard, GuardConfig, Limit, Principal};
/// let mut guard = Guard::new(GuardConfig { max_failures: 3, ..GuardConfig::default() });
/// let addr = "198.51.100.7".parse().unwrap();
/// let t = Duration::from_secs(10);
/// assert!(guard.before_auth(addr, t).is_ok());
/// for _ in 0..3 {
///     guard.record_invalid_token(addr, t);
/// }
/// assert_eq!(guard.before_auth(addr, t).unwrap_err().limit, Limit::Blocked);
/// ```
#[derive(Debug, Clone)]
pub struct Guard {
    config: GuardConfig,
    address: Option<RateLimiter<IpAddr>>,
    client: Option<RateLimiter<String>>,
    subject: Option<RateLimiter<String>>,
    tenant: Option<RateLimiter<String>>,
    failures: HashMap<IpAddr, Failures>,
}

impl Guard {
    /// A guard with these limits.
    pub fn new(config: GuardConfig) -> Self {
        fn limiter<K: Hash + Eq + Clone>(
            r: Option<Rate>,
            max_keys: usize,
        ) -> Option<RateLimiter<K>> {
            r.map(|r| RateLimiter::new(r, max_keys))
        }
        Guard {
            address: limiter(config.per_address, config.max_keys),
            client: limiter(config.per_client, config.max_keys),
            subject: limiter(config.per_subject, config.max_keys),
            tenant: limiter(config.per_tenant, config.max_keys),
            failures: HashMap::new(),
            config,
        }
    }

    /// Before the token is validated: is the address blocked, or over its rate?
    pub fn before_auth(&mut self, addr: IpAddr, now: Duration) -> Result<(), Denied> {
        if let Some(f) = self.failures.get(&addr)
            && let Some(until) = f.blocked_until
            && now < until
        {
            return Err(Denied {
                limit: Limit::Blocked,
                retry_after: until.saturating_sub(now),
            });
        }
        if let Some(l) = &mut self.address {
            l.check(&addr, now).map_err(|retry_after| Denied {
                limit: Limit::Address,
                retry_after,
            })?;
        }
        Ok(())
    }

    /// [`after_auth`](Self::after_auth) with borrowed identifiers: the request path's
    /// version, which allocates nothing for clients and subjects already seen.
    pub fn after_auth_ids(
        &mut self,
        client_id: Option<&str>,
        subject: Option<&str>,
        tenant: Option<&str>,
        now: Duration,
    ) -> Result<(), Denied> {
        let check =
            |limiter: &mut Option<RateLimiter<String>>, key: Option<&str>, limit: Limit| match (
                limiter.as_mut(),
                key,
            ) {
                (Some(l), Some(k)) => l
                    .check_borrowed(k, now)
                    .map_err(|retry_after| Denied { limit, retry_after }),
                _ => Ok(()),
            };
        check(&mut self.client, client_id, Limit::Client)?;
        check(&mut self.subject, subject, Limit::Subject)?;
        check(&mut self.tenant, tenant, Limit::Tenant)?;
        Ok(())
    }

    /// After the token is validated: is its client, subject or tenant over its rate?
    pub fn after_auth(&mut self, who: &Principal, now: Duration) -> Result<(), Denied> {
        let check = |limiter: &mut Option<RateLimiter<String>>,
                     key: &Option<String>,
                     limit: Limit| {
            match (limiter.as_mut(), key) {
                (Some(l), Some(k)) => l
                    .check(k, now)
                    .map_err(|retry_after| Denied { limit, retry_after }),
                _ => Ok(()),
            }
        };
        check(&mut self.client, &who.client_id, Limit::Client)?;
        check(&mut self.subject, &who.subject, Limit::Subject)?;
        check(&mut self.tenant, &who.tenant, Limit::Tenant)?;
        Ok(())
    }

    /// Counts an invalid token from `addr`; returns `true` when this blocks the address.
    pub fn record_invalid_token(&mut self, addr: IpAddr, now: Duration) -> bool {
        if !self.failures.contains_key(&addr) && self.failures.len() >= self.config.max_keys {
            let window = self.config.failure_window;
            self.failures.retain(|_, f| {
                f.blocked_until.is_some_and(|u| u > now)
                    || now.saturating_sub(f.window_start) < window
            });
            if self.failures.len() >= self.config.max_keys {
                return false;
            }
        }
        let f = self.failures.entry(addr).or_insert(Failures {
            count: 0,
            window_start: now,
            blocked_until: None,
        });
        if now.saturating_sub(f.window_start) >= self.config.failure_window {
            f.count = 0;
            f.window_start = now;
        }
        f.count = f.count.saturating_add(1);
        if f.count >= self.config.max_failures && f.blocked_until.is_none_or(|u| u <= now) {
            f.blocked_until = Some(now.saturating_add(self.config.block_for));
            f.count = 0;
            f.window_start = now;
            return true;
        }
        false
    }
}

/// Why a request was refused, for audit events (never the token itself).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum RejectReason {
    /// No bearer credentials.
    NoToken,
    /// A malformed request (token in the query, two `Authorization` headers, …).
    InvalidRequest,
    /// The token failed validation.
    InvalidToken,
    /// The token lacks a scope the operation needs.
    InsufficientScope,
    /// The body was too large to check.
    TooLarge,
}

/// One decision, for the audit log. `Display` gives a single line with no token or secret.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum AuditEvent {
    /// A request passed: who made it.
    Accepted {
        /// The caller.
        who: Principal,
    },
    /// A request was refused.
    Rejected {
        /// Why.
        reason: RejectReason,
        /// Where it came from, when known.
        addr: Option<IpAddr>,
        /// The validator's explanation (the `JwtError` text; never the token).
        detail: String,
    },
    /// A request was rate limited or its source blocked.
    RateLimited {
        /// The refusal.
        denied: Denied,
        /// Where it came from, when known.
        addr: Option<IpAddr>,
    },
    /// A source was blocked for sending invalid tokens.
    SourceBlocked {
        /// The source.
        addr: IpAddr,
    },
    /// The issuer's keys were refreshed.
    JwksRefreshed {
        /// The JWK Set URL.
        uri: String,
        /// Usable keys now.
        keys: usize,
    },
    /// A key refresh failed; known keys are still served until the staleness limit.
    JwksFailed {
        /// The JWK Set URL.
        uri: String,
        /// What failed.
        detail: String,
    },
}

impl fmt::Display for AuditEvent {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let opt = |s: &Option<String>| s.clone().unwrap_or_else(|| "-".to_owned());
        match self {
            AuditEvent::Accepted { who } => write!(
                f,
                "accepted client={} subject={} tenant={}",
                opt(&who.client_id),
                opt(&who.subject),
                opt(&who.tenant)
            ),
            AuditEvent::Rejected {
                reason,
                addr,
                detail,
            } => {
                write!(
                    f,
                    "rejected reason={reason:?} addr={} detail={detail:?}",
                    addr.map_or("-".to_owned(), |a| a.to_string())
                )
            }
            AuditEvent::RateLimited { denied, addr } => write!(
                f,
                "rate_limited limit={} retry_after={}s addr={}",
                denied.limit.as_str(),
                denied.retry_after_secs(),
                addr.map_or("-".to_owned(), |a| a.to_string())
            ),
            AuditEvent::SourceBlocked { addr } => write!(f, "source_blocked addr={addr}"),
            AuditEvent::JwksRefreshed { uri, keys } => {
                write!(f, "jwks_refreshed uri={uri} keys={keys}")
            }
            AuditEvent::JwksFailed { uri, detail } => {
                write!(f, "jwks_failed uri={uri} detail={detail:?}")
            }
        }
    }
}

#[cfg(test)]
mod tests;
