//! The task that drives a [`JwksCache`] over a [`Fetcher`], so key rotation needs no
//! restart.

use std::sync::{Arc, RwLock};
#[cfg(feature = "http-client")]
use std::time::Duration;

use mcp_oauth_common::UnixTime;
#[cfg(feature = "http-client")]
use mcp_oauth_guard::AuditEvent;
#[cfg(feature = "http-client")]
use mcp_oauth_jwt_validate::FetchOutcome;
use mcp_oauth_jwt_validate::{JwksCache, KeySet, Lookup};
use tokio::sync::Notify;

#[cfg(feature = "http-client")]
use crate::http::Fetcher;
use crate::rs::KeySource;
#[cfg(feature = "http-client")]
use crate::rs::audit;

/// Longest the refresher sleeps before looking at the cache again.
#[cfg(feature = "http-client")]
const MAX_SLEEP: Duration = Duration::from_secs(60);

/// A [`JwksCache`] shared by the request path and its refresher. Requests whose `kid` is
/// known only take a read lock, so they never wait for one another.
#[derive(Debug)]
pub struct CachedKeys {
    cache: RwLock<JwksCache>,
    wake: Notify,
    /// Counts finished fetches (success or failure), for requests waiting on a key.
    fetched: tokio::sync::watch::Sender<u64>,
}

impl CachedKeys {
    /// Shares `cache`.
    pub fn new(cache: JwksCache) -> Arc<Self> {
        Arc::new(CachedKeys {
            cache: RwLock::new(cache),
            wake: Notify::new(),
            fetched: tokio::sync::watch::Sender::new(0),
        })
    }

    /// Runs `f` on the cache (under the write lock).
    pub fn with<T>(&self, f: impl FnOnce(&mut JwksCache) -> T) -> Option<T> {
        self.cache.write().ok().map(|mut c| f(&mut c))
    }
}

impl KeySource for CachedKeys {
    fn keys(&self, kid: Option<&str>, now: UnixTime) -> Option<Arc<KeySet>> {
        // The common case, a known kid in a fresh set, changes nothing: a read lock.
        if let Some(keys) = self.cache.read().ok()?.keys(now)
            && match kid {
                Some(k) => keys.contains_kid(k),
                None => !keys.keys().is_empty(),
            }
        {
            return Some(keys);
        }
        let mut cache = self.cache.write().ok()?;
        match cache.lookup(kid, now) {
            Lookup::Found(keys) => Some(keys),
            // Unknown kid: the lookup asked for a refresh; wake the refresher, and verify
            // against the current set (the token fails now, a rotated key passes soon).
            Lookup::Unknown { .. } => {
                self.wake.notify_one();
                cache.keys(now)
            }
            Lookup::Unavailable => {
                self.wake.notify_one();
                None
            }
        }
    }

    fn key_arrival(
        &self,
        kid: Option<&str>,
        now: UnixTime,
    ) -> Option<std::pin::Pin<Box<dyn std::future::Future<Output = ()> + Send + 'static>>> {
        let cache = self.cache.read().ok()?;
        // Fetched in the meantime: validate again at once.
        if let (Some(k), Some(keys)) = (kid, cache.keys(now))
            && keys.contains_kid(k)
        {
            return Some(Box::pin(async {}));
        }
        // A fetch is under way or about to start (the miss that started it, or one
        // shortly before: a flood of unknown kids still costs one fetch per cooldown):
        // wait for it. Not while a backoff runs: the endpoint is failing, and a flood of
        // forged kids would otherwise hold every request for the whole wait.
        if cache.fetch_expected(now) {
            let mut rx = self.fetched.subscribe();
            drop(cache);
            self.wake.notify_one();
            return Some(Box::pin(async move {
                let _ = rx.changed().await;
            }));
        }
        None
    }
}

impl CachedKeys {
    /// Records that a fetch finished (the refresher calls it).
    #[cfg(feature = "http-client")]
    fn fetch_done(&self) {
        self.fetched.send_modify(|n| *n = n.wrapping_add(1));
    }
}

#[cfg(feature = "http-client")]
use crate::sys::now;

#[cfg(feature = "http-client")]
/// Spawns the refresher on the current tokio runtime. It fetches when the cache asks
/// (first load, scheduled refresh, unknown `kid` after the cooldown, retry after a
/// backoff), reports every outcome as a `tracing` event, and never holds the cache's lock
/// across a fetch. Abort the returned handle to stop it.
pub fn spawn_jwks_refresher(
    keys: Arc<CachedKeys>,
    fetcher: Fetcher,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        loop {
            let request = keys.with(|c| c.poll_request(now())).flatten();
            if let Some(request) = request {
                let uri = request.uri().to_string();
                let result = fetcher.fetch(request.map(|()| Vec::new())).await;
                let outcome = keys.with(|c| match &result {
                    Ok(resp) => {
                        c.handle_response(now(), resp.status(), resp.headers(), resp.body())
                    }
                    Err(_) => c.handle_error(now()),
                });
                keys.fetch_done();
                match (&outcome, &result) {
                    (Some(FetchOutcome::Updated { keys }), _) => {
                        audit(&AuditEvent::JwksRefreshed { uri, keys: *keys });
                    }
                    (Some(FetchOutcome::NotModified), _) => {
                        tracing::debug!(target: "mcp_oauth::audit", "jwks_not_modified uri={uri}");
                    }
                    (_, Err(e)) => audit(&AuditEvent::JwksFailed {
                        uri,
                        detail: e.to_string(),
                    }),
                    (other, Ok(_)) => audit(&AuditEvent::JwksFailed {
                        uri,
                        detail: format!("{other:?}"),
                    }),
                }
                continue;
            }
            let wake_at = keys.with(|c| c.poll_timeout()).flatten();
            let sleep = match wake_at {
                Some(t) => {
                    Duration::from_secs(t.as_secs().saturating_sub(now().as_secs())).min(MAX_SLEEP)
                }
                None => MAX_SLEEP,
            }
            .max(Duration::from_millis(200));
            tokio::select! {
                () = tokio::time::sleep(sleep) => {}
                () = keys.wake.notified() => {}
            }
        }
    })
}
