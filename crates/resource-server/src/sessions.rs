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

use http::{HeaderMap, HeaderName, HeaderValue, Method, StatusCode};
use mcp_oauth_jwt_validate::AuthContext;

/// The `Mcp-Session-Id` header.
pub const MCP_SESSION_ID: HeaderName = HeaderName::from_static("mcp-session-id");

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
pub(crate) enum Check {
    /// The session is this principal's.
    Bound,
    /// No live binding: never seen, forgotten, idle too long or evicted.
    Unknown,
    /// The session belongs to another principal.
    OtherPrincipal,
}

/// Session id → owner, bounded in size and idle time. Time is the caller's monotonic
/// clock, passed in.
#[derive(Debug)]
pub struct SessionBindings {
    capacity: usize,
    idle: Duration,
    map: Mutex<HashMap<Box<str>, Binding>>,
}

impl SessionBindings {
    /// At most `capacity` sessions (at least one), each forgotten after `idle` unused.
    pub fn new(capacity: usize, idle: Duration) -> Self {
        SessionBindings {
            capacity: capacity.max(1),
            idle,
            map: Mutex::new(HashMap::new()),
        }
    }

    /// How many sessions are remembered at most.
    pub fn capacity(&self) -> usize {
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
    pub(crate) fn check(&self, id: &str, ctx: &AuthContext, now: Duration) -> Check {
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
    pub(crate) fn bind(&self, id: &str, ctx: &AuthContext, now: Duration) {
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
    pub(crate) fn forget(&self, id: &str) {
        self.lock().remove(id);
    }
}

/// What to do with the inner service's response for session binding
/// ([`ResourceServer::handle_response`](crate::ResourceServer::handle_response)).
#[derive(Debug, Clone)]
#[non_exhaustive]
pub enum SessionStep {
    /// Binding is off.
    Nothing,
    /// The request carried no session: a session id in the response is this principal's.
    BindNew(std::sync::Arc<AuthContext>),
    /// The request used this principal's session `id`: forget it when the MCP server no
    /// longer knows it (`404`) or the owner deleted it (`DELETE`, `2xx`).
    Bound {
        /// The session id.
        id: HeaderValue,
        /// Whether the request was a `DELETE`.
        delete: bool,
    },
}

impl SessionBindings {
    /// The step for a request by `ctx`: `Err(other_principal)` refuses its session.
    pub(crate) fn step(
        &self,
        method: &Method,
        headers: &HeaderMap,
        ctx: &std::sync::Arc<AuthContext>,
        now: Duration,
    ) -> Result<SessionStep, bool> {
        let mut ids = headers.get_all(MCP_SESSION_ID).iter();
        let Some(id) = ids.next() else {
            return Ok(SessionStep::BindNew(ctx.clone()));
        };
        let check = match id.to_str() {
            Ok(text) if ids.next().is_none() => self.check(text, ctx, now),
            _ => Check::Unknown,
        };
        match check {
            Check::Bound => Ok(SessionStep::Bound {
                id: id.clone(),
                delete: method == Method::DELETE,
            }),
            Check::Unknown => Err(false),
            Check::OtherPrincipal => Err(true),
        }
    }

    /// Records a new session's owner, or forgets an ended session.
    pub(crate) fn after_response(
        &self,
        step: SessionStep,
        status: StatusCode,
        headers: &HeaderMap,
        now: Duration,
    ) {
        match step {
            SessionStep::Nothing => {}
            SessionStep::BindNew(ctx) => {
                if let Some(id) = headers
                    .get(MCP_SESSION_ID)
                    .and_then(|v| v.to_str().ok())
                    .filter(|id| !id.is_empty())
                {
                    self.bind(id, &ctx, now);
                }
            }
            SessionStep::Bound { id, delete } => {
                if (status == StatusCode::NOT_FOUND || (delete && status.is_success()))
                    && let Ok(id) = id.to_str()
                {
                    self.forget(id);
                }
            }
        }
    }
}
