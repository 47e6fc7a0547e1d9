//! MCP sessions bound to the principal that created them.
//!
//! Streamable HTTP up to MCP 2025-11-25 lets a server hand out a session id
//! (`Mcp-Session-Id`) at initialization; the client sends it on every later request. A
//! session id is not a credential (MCP security best practices, "Session Hijacking": servers
//! "MUST NOT use sessions for authentication" and "SHOULD bind session IDs to
//! user-specific information"), so the layer remembers which principal — issuer, subject and
//! client — each session was created by, and refuses the session to anyone else.

use core::time::Duration;
use std::collections::HashMap;
use std::sync::{Mutex, MutexGuard, PoisonError};

use http::HeaderName;
use mcp_oauth_jwt_validate::AuthContext;

/// The `Mcp-Session-Id` header.
pub(super) const MCP_SESSION_ID: HeaderName = HeaderName::from_static("mcp-session-id");

/// Who created a session: the token's `iss`, `sub` and `client_id`.
#[derive(Debug, PartialEq, Eq)]
struct Owner {
    issuer: Box<str>,
    subject: Option<Box<str>>,
    client_id: Option<Box<str>>,
}

impl Owner {
    fn of(ctx: &AuthContext) -> Self {
        Owner {
            issuer: ctx.issuer().into(),
            subject: ctx.subject().map(Into::into),
            client_id: ctx.client_id().map(Into::into),
        }
    }

    /// Compared without allocating (a bound session's every request asks).
    fn is(&self, ctx: &AuthContext) -> bool {
        *self.issuer == *ctx.issuer()
            && self.subject.as_deref() == ctx.subject()
            && self.client_id.as_deref() == ctx.client_id()
    }
}

#[derive(Debug)]
struct Binding {
    owner: Owner,
    last_used: Duration,
}

/// What [`SessionBindings::check`] found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Check {
    /// The session is this principal's.
    Bound,
    /// No live binding: never seen, forgotten, idle too long or evicted.
    Unknown,
    /// The session belongs to another principal.
    OtherPrincipal,
}

/// Session id → owner, bounded in size and idle time.
#[derive(Debug)]
pub(super) struct SessionBindings {
    capacity: usize,
    idle: Duration,
    map: Mutex<HashMap<Box<str>, Binding>>,
}

impl SessionBindings {
    pub(super) fn new(capacity: usize, idle: Duration) -> Self {
        SessionBindings {
            capacity: capacity.max(1),
            idle,
            map: Mutex::new(HashMap::new()),
        }
    }

    pub(super) fn capacity(&self) -> usize {
        self.capacity
    }

    fn lock(&self) -> MutexGuard<'_, HashMap<Box<str>, Binding>> {
        // Nothing panics while the lock is held; a poisoned map is still a consistent one.
        self.map.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn expired(&self, b: &Binding, now: Duration) -> bool {
        now.saturating_sub(b.last_used) > self.idle
    }

    /// Whether session `id` may be used by `ctx` at `now` (monotonic); a use keeps it alive.
    pub(super) fn check(&self, id: &str, ctx: &AuthContext, now: Duration) -> Check {
        let mut map = self.lock();
        let Some(b) = map.get_mut(id) else {
            return Check::Unknown;
        };
        if self.expired(b, now) {
            map.remove(id);
            return Check::Unknown;
        }
        if !b.owner.is(ctx) {
            return Check::OtherPrincipal;
        }
        b.last_used = b.last_used.max(now);
        Check::Bound
    }

    /// Records that `ctx` created session `id`. A live binding stays with its first owner;
    /// when full, expired bindings go first, then the least recently used one.
    pub(super) fn bind(&self, id: &str, ctx: &AuthContext, now: Duration) {
        let mut map = self.lock();
        if let Some(b) = map.get_mut(id) {
            if !self.expired(b, now) {
                if b.owner.is(ctx) {
                    b.last_used = b.last_used.max(now);
                }
                return;
            }
        } else if map.len() >= self.capacity {
            map.retain(|_, b| now.saturating_sub(b.last_used) <= self.idle);
            if map.len() >= self.capacity
                && let Some(oldest) = map
                    .iter()
                    .min_by_key(|(_, b)| b.last_used)
                    .map(|(k, _)| k.clone())
            {
                map.remove(&oldest);
            }
        }
        map.insert(
            id.into(),
            Binding {
                owner: Owner::of(ctx),
                last_used: now,
            },
        );
    }

    /// Forgets session `id` (deleted by its owner, or unknown to the MCP server).
    pub(super) fn forget(&self, id: &str) {
        self.lock().remove(id);
    }
}
