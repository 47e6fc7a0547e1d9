//! An opt-in cache of validated tokens: MCP clients send one token with many requests, so
//! most requests need no signature verification at all.

use std::collections::{HashMap, VecDeque};
use std::hash::{BuildHasherDefault, Hasher};
use std::sync::Arc;

use mcp_oauth_common::UnixTime;
use sha2::{Digest as _, Sha256};

use crate::{AuthContext, JwtError, KeySet, Validator};

/// The SHA-256 of a token: the cache key. The token itself is never stored.
type TokenHash = [u8; 32];

/// A token's cache key (its SHA-256). Computing it is most of the cost of a hit, so a
/// caller that shares the cache behind a lock computes it before taking the lock.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct TokenKey(TokenHash);

impl TokenKey {
    /// The key of `token`.
    pub fn of(token: &str) -> TokenKey {
        TokenKey(Sha256::digest(token.as_bytes()).into())
    }
}

impl core::fmt::Debug for TokenKey {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str("TokenKey(..)")
    }
}

/// What a read-only look at the cache found ([`TokenCache::check`]).
#[derive(Debug, Clone)]
pub enum Cached {
    /// A context live at `now` whose key is still present.
    Live(Arc<AuthContext>),
    /// An entry that expired or whose key left the set: remove it
    /// ([`TokenCache::remove`]) and validate the token in full.
    Stale,
    /// No entry.
    Absent,
}

/// The key is already a uniform hash: use its first eight bytes as the table hash.
#[derive(Default)]
struct PrefixHasher(u64);

impl Hasher for PrefixHasher {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        let mut b = [0u8; 8];
        for (d, s) in b.iter_mut().zip(bytes) {
            *d = *s;
        }
        self.0 ^= u64::from_le_bytes(b);
    }
}

#[derive(Debug)]
struct Entry {
    ctx: Arc<AuthContext>,
}

/// A bounded map from token hash to validated context.
///
/// Every hit re-checks `exp` against `now` (with the policy's leeway) and that the key
/// that verified the token is still in the current key set, so a rotated-out key stops
/// authenticating at once. Only tokens that passed full validation enter the cache, so
/// an attacker cannot fill it. When full, the oldest entry is evicted.
#[derive(Debug)]
pub struct TokenCache {
    map: HashMap<TokenHash, Entry, BuildHasherDefault<PrefixHasher>>,
    order: VecDeque<TokenHash>,
    capacity: usize,
}

impl TokenCache {
    /// A cache holding at most `capacity` tokens (at least 1).
    pub fn new(capacity: usize) -> Self {
        let capacity = capacity.max(1);
        TokenCache {
            map: HashMap::with_capacity_and_hasher(capacity, BuildHasherDefault::default()),
            order: VecDeque::with_capacity(capacity),
            capacity,
        }
    }

    /// Number of cached tokens.
    pub fn len(&self) -> usize {
        self.map.len()
    }

    /// Whether the cache is empty.
    pub fn is_empty(&self) -> bool {
        self.map.is_empty()
    }

    /// The read-only half of [`TokenCache::lookup`] (`&self`, so the cache can sit
    /// behind a read lock): the context for `key` when it is live at `now` (with
    /// `leeway_secs`) and `key_still_present` confirms the `kid` that verified it.
    pub fn check(
        &self,
        key: &TokenKey,
        leeway_secs: u64,
        now: UnixTime,
        key_still_present: impl FnOnce(Option<&str>) -> bool,
    ) -> Cached {
        match self.map.get(&key.0) {
            None => Cached::Absent,
            Some(e) if e.ctx.is_live(now, leeway_secs) && key_still_present(e.ctx.key_id()) => {
                Cached::Live(e.ctx.clone())
            }
            Some(_) => Cached::Stale,
        }
    }

    /// Drops the entry for `key`.
    pub fn remove(&mut self, key: &TokenKey) {
        self.map.remove(&key.0);
    }

    /// A cached, still-valid context for `token`, or `None` (expired entries, and entries
    /// whose key left `keys`, are dropped). Pass `keys: None` for introspected tokens,
    /// which have no key; they live until their `exp`.
    pub fn get(
        &mut self,
        token: &str,
        keys: Option<&KeySet>,
        leeway_secs: u64,
        now: UnixTime,
    ) -> Option<Arc<AuthContext>> {
        self.lookup(token, leeway_secs, now, |kid| match (kid, keys) {
            (Some(kid), Some(keys)) => keys.contains_kid(kid),
            (Some(_), None) => false,
            (None, _) => true,
        })
    }

    /// [`TokenCache::get`] with the key check as a function of the cached `kid`, so a
    /// caller can fetch the key set for that `kid` only on a hit (the request path of the
    /// transport layer does, and never parses the token on a hit).
    pub fn lookup(
        &mut self,
        token: &str,
        leeway_secs: u64,
        now: UnixTime,
        key_still_present: impl FnOnce(Option<&str>) -> bool,
    ) -> Option<Arc<AuthContext>> {
        let key = TokenKey::of(token);
        match self.check(&key, leeway_secs, now, key_still_present) {
            Cached::Live(ctx) => Some(ctx),
            Cached::Stale => {
                self.remove(&key);
                None
            }
            Cached::Absent => None,
        }
    }

    /// Caches a context for `token`.
    pub fn insert(&mut self, token: &str, ctx: Arc<AuthContext>) {
        self.insert_key(TokenKey::of(token), ctx);
    }

    /// Caches a context under a key computed with [`TokenKey::of`]. Only contexts from a
    /// full validation of that very token belong here.
    pub fn insert_key(&mut self, key: TokenKey, ctx: Arc<AuthContext>) {
        let h = key.0;
        if self.map.insert(h, Entry { ctx }).is_none() {
            self.order.push_back(h);
        }
        while self.map.len() > self.capacity {
            match self.order.pop_front() {
                Some(old) => {
                    self.map.remove(&old);
                }
                None => break,
            }
        }
        // Keep the order queue from growing with hashes already removed on expiry.
        if self.order.len() > self.capacity * 2 {
            let map = &self.map;
            self.order.retain(|h| map.contains_key(h));
        }
    }

    /// Validates through the cache: a hit costs a hash and a lookup; a miss validates in
    /// full and caches the result. Scopes are checked on every call, hit or miss.
    pub fn validate<S: AsRef<str>>(
        &mut self,
        validator: &Validator,
        token: &str,
        keys: &KeySet,
        now: UnixTime,
        operation_scopes: &[S],
    ) -> Result<Arc<AuthContext>, JwtError> {
        let leeway = validator.policy().leeway_secs();
        // One hash per call, hit or miss.
        let key = TokenKey::of(token);
        let present = |kid: Option<&str>| kid.is_none_or(|k| keys.contains_kid(k));
        let ctx = match self.check(&key, leeway, now, present) {
            Cached::Live(ctx) => ctx,
            stale_or_absent => {
                if matches!(stale_or_absent, Cached::Stale) {
                    self.remove(&key);
                }
                let ctx = Arc::new(validator.verify(token, keys, now)?);
                self.insert_key(key, ctx.clone());
                ctx
            }
        };
        ctx.require_scopes_in(
            &validator.policy().required_scopes,
            &validator.policy().hierarchy,
        )?;
        ctx.require_scopes(operation_scopes)?;
        Ok(ctx)
    }
}
