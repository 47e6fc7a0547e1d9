//! The decision for one request: `decide`, then `handle_keys` / `handle_body` to resume,
//! and `handle_response` once the MCP server has answered.

use core::fmt;
use core::time::Duration;
use std::net::IpAddr;
use std::sync::{Arc, LazyLock};

use http::request::Parts;
use http::{HeaderMap, Method, Response, StatusCode, header};
use mcp_oauth_common::UnixTime;
use mcp_oauth_guard::{AuditEvent, Principal};
use mcp_oauth_jwt_validate::{AuthContext, JwtError, ScopeHierarchy};
use mcp_oauth_prm_metadata::PrmEndpoint;
use mcp_oauth_tenant::{TenantError, TenantId, TenantTrust};

use crate::credentials::{Credentials, credentials, is_b64token, token_in_query, token_kid};
use crate::headers;
use crate::refusal::{ChallengeTarget, Refusal};
use crate::server::{KeyArrival, ResourceServer, Trust};
use crate::sessions::SessionStep;

/// The caller's clocks: wall time for token lifetimes, monotonic time for rate limits and
/// session idleness.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Now {
    /// Seconds since the Unix epoch.
    pub wall: UnixTime,
    /// A monotonic clock (any fixed origin).
    pub monotonic: Duration,
}

/// Where audit events go (the adapter logs them).
pub type Audit<'a> = &'a mut dyn FnMut(AuditEvent);

/// What to do with a request.
#[must_use]
#[derive(Debug)]
#[non_exhaustive]
pub enum Decision {
    /// Answer with this response (metadata, a challenge, `400`/`404`/`413`/`429`); the
    /// request does not reach the MCP server.
    Respond(Response<Vec<u8>>),
    /// Pass the request on, with this context.
    Allow(Allowed),
    /// Read the body (at most `max` bytes) and call [`ResourceServer::handle_body`].
    NeedBody(NeedBody),
    /// Wait (bounded) for [`WaitForKeys::arrival`] and call [`ResourceServer::handle_keys`].
    WaitForKeys(WaitForKeys),
}

/// An authenticated request the MCP server may serve.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct Allowed {
    /// The validated token.
    pub context: Arc<AuthContext>,
    /// The tenant, for a multi-tenant server.
    pub tenant: Option<TenantId>,
    /// What to do with the MCP server's response ([`ResourceServer::handle_response`]).
    pub session: SessionStep,
}

/// An authenticated request whose body decides its scopes.
#[derive(Debug)]
pub struct NeedBody {
    /// The most bytes to read; a longer body is answered by `handle_body(.., None)`.
    pub max: usize,
    state: Authenticated,
}

/// A request whose token names a key that a fetch under way may bring.
pub struct WaitForKeys {
    /// Completes when the fetch has finished (await it with a timeout).
    pub arrival: KeyArrival,
    token: String,
    addr: Option<IpAddr>,
    tenant: Option<Arc<TenantTrust>>,
}

impl fmt::Debug for WaitForKeys {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WaitForKeys").finish_non_exhaustive()
    }
}

#[derive(Debug)]
struct Authenticated {
    context: Arc<AuthContext>,
    tenant: Option<Arc<TenantTrust>>,
    addr: Option<IpAddr>,
    session: SessionStep,
}

static NO_HIERARCHY: LazyLock<ScopeHierarchy> = LazyLock::new(ScopeHierarchy::new);

impl ResourceServer {
    /// Decides a request from its parts: `peer` is the TCP peer's address (resolved
    /// through the trusted proxies), `now` the caller's clocks.
    pub fn decide(
        &self,
        parts: &Parts,
        peer: Option<IpAddr>,
        now: Now,
        audit: Audit<'_>,
    ) -> Decision {
        let tenant = match &self.trust {
            Trust::Single { .. } => None,
            Trust::Tenants(t) => match t.registry.resolve(parts) {
                Some(tenant) => Some(tenant.clone()),
                None => return self.refuse(None, Refusal::UnknownTenant, None, now, audit),
            },
        };
        if let Some(resp) = self
            .endpoint(tenant.as_deref())
            .and_then(|prm| prm.respond(&parts.method, parts.uri.path()))
        {
            return Decision::Respond(resp);
        }
        let addr = peer.map(|p| self.proxies.client_addr(p, &parts.headers));
        if let Err(denied) = self.guard_before(addr, now) {
            return self.refuse(
                tenant.as_deref(),
                Refusal::RateLimited(denied),
                addr,
                now,
                audit,
            );
        }
        if token_in_query(&parts.uri) {
            return self.refuse(tenant.as_deref(), Refusal::TokenInQuery, addr, now, audit);
        }
        let token = match credentials(&parts.headers) {
            Credentials::None => {
                return self.refuse(tenant.as_deref(), Refusal::NoToken, addr, now, audit);
            }
            Credentials::Malformed => {
                let r = Refusal::MalformedAuthorization;
                return self.refuse(tenant.as_deref(), r, addr, now, audit);
            }
            Credentials::Bearer(t) => t,
        };
        let result = self.validate(tenant.as_deref(), token, now.wall);
        if result.is_err() && !is_b64token(token) {
            let r = Refusal::MalformedAuthorization;
            return self.refuse(tenant.as_deref(), r, addr, now, audit);
        }
        if matches!(result, Err(TenantError::Token(JwtError::KeyNotFound)))
            && let Some(arrival) = self
                .key_source(tenant.as_deref(), token)
                .and_then(|k| k.key_arrival(token_kid(token).as_deref(), now.wall))
        {
            // A key rotated in: the adapter waits (bounded) for the fetch it started.
            return Decision::WaitForKeys(WaitForKeys {
                arrival,
                token: token.to_owned(),
                addr,
                tenant,
            });
        }
        self.after_validation(parts, tenant, result, addr, now, audit)
    }

    /// Resumes after [`Decision::WaitForKeys`] (the wait finished or timed out): validates
    /// once more, with no further wait.
    pub fn handle_keys(
        &self,
        parts: &Parts,
        wait: WaitForKeys,
        now: Now,
        audit: Audit<'_>,
    ) -> Decision {
        let result = self.validate(wait.tenant.as_deref(), &wait.token, now.wall);
        self.after_validation(parts, wait.tenant, result, wait.addr, now, audit)
    }

    /// Resumes after [`Decision::NeedBody`] with the body, or `None` when it was longer
    /// than [`NeedBody::max`] or could not be read (`413`).
    pub fn handle_body(
        &self,
        parts: &Parts,
        need: NeedBody,
        body: Option<&[u8]>,
        now: Now,
        audit: Audit<'_>,
    ) -> Decision {
        let state = need.state;
        let tenant = state.tenant.as_deref();
        let Some(body) = body else {
            return self.refuse(tenant, Refusal::TooLarge, state.addr, now, audit);
        };
        let refuse = |r, audit: Audit<'_>| self.refuse(tenant, r, state.addr, now, audit);
        match headers::mirrored(&parts.headers) {
            Err(why) => return refuse(Refusal::mismatch(Some(body), why), audit),
            Ok(Some(m)) => {
                if let Err(why) = headers::check_body(body, &m) {
                    return refuse(Refusal::mismatch(Some(body), why), audit);
                }
            }
            Ok(None) => {
                let Some(required) = self.operations.required(body) else {
                    return refuse(Refusal::NotJsonRpc, audit);
                };
                if let Some(r) = self.missing_scopes(&state, &required) {
                    return refuse(r, audit);
                }
            }
        }
        self.allow(state, audit)
    }

    /// After the MCP server answered an allowed request: records a new session's owner,
    /// or forgets an ended session.
    pub fn handle_response(
        &self,
        session: SessionStep,
        status: StatusCode,
        headers: &HeaderMap,
        now: Now,
    ) {
        if let Some(s) = &self.sessions {
            s.after_response(session, status, headers, now.monotonic);
        }
    }

    fn after_validation(
        &self,
        parts: &Parts,
        tenant: Option<Arc<TenantTrust>>,
        result: Result<Arc<AuthContext>, TenantError>,
        addr: Option<IpAddr>,
        now: Now,
        audit: Audit<'_>,
    ) -> Decision {
        let context = match result {
            Ok(ctx) => ctx,
            Err(e) => return self.refuse(tenant.as_deref(), Refusal::Token(e), addr, now, audit),
        };
        let tenant_id = tenant.as_ref().map(|t| t.id().as_str());
        if let Err(denied) = self.guard_after(&context, tenant_id, now) {
            return self.refuse(
                tenant.as_deref(),
                Refusal::RateLimited(denied),
                addr,
                now,
                audit,
            );
        }
        let session = match &self.sessions {
            None => SessionStep::Nothing,
            Some(s) => match s.step(&parts.method, &parts.headers, &context, now.monotonic) {
                Ok(step) => step,
                Err(other_principal) => {
                    let r = Refusal::SessionNotFound { other_principal };
                    return self.refuse(tenant.as_deref(), r, addr, now, audit);
                }
            },
        };
        let state = Authenticated {
            context,
            tenant,
            addr,
            session,
        };
        if self.operations.is_empty() || parts.method != Method::POST {
            return self.allow(state, audit);
        }
        let refuse =
            |r, audit: Audit<'_>| self.refuse(state.tenant.as_deref(), r, addr, now, audit);
        // With the MCP 2026-07-28 headers the scopes are decided before the body is read.
        match headers::mirrored(&parts.headers) {
            Err(why) => return refuse(Refusal::mismatch(None, why), audit),
            Ok(Some(m)) => {
                let [for_method, for_tool] = self.operations.for_operation(m.method, m.tool());
                let hierarchy = self.hierarchy(&state);
                // No allocation unless a scope is missing.
                if !(state.context.has_scopes_in(for_method, hierarchy)
                    && state.context.has_scopes_in(for_tool, hierarchy))
                {
                    let mut required: Vec<&str> = Vec::new();
                    for s in for_method.iter().chain(for_tool) {
                        if !required.contains(&s.as_str()) {
                            required.push(s);
                        }
                    }
                    if let Some(r) = self.missing_scopes(&state, &required) {
                        return refuse(r, audit);
                    }
                }
            }
            Ok(None) => {}
        }
        if parts
            .headers
            .get(header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok()?.parse::<usize>().ok())
            .is_some_and(|len| len > self.max_body)
        {
            return refuse(Refusal::TooLarge, audit);
        }
        Decision::NeedBody(NeedBody {
            max: self.max_body,
            state,
        })
    }

    fn allow(&self, state: Authenticated, audit: Audit<'_>) -> Decision {
        let tenant = state.tenant.map(|t| t.id().clone());
        audit(AuditEvent::Accepted {
            who: Principal {
                client_id: state.context.client_id().map(str::to_owned),
                subject: state.context.subject().map(str::to_owned),
                tenant: tenant.as_ref().map(ToString::to_string),
            },
        });
        Decision::Allow(Allowed {
            context: state.context,
            tenant,
            session: state.session,
        })
    }

    /// `insufficient_scope` naming the operation's scopes when the token lacks one.
    fn missing_scopes(&self, state: &Authenticated, required: &[&str]) -> Option<Refusal> {
        // MCP-SCOPE-15: a broader scope of the policy's hierarchy counts.
        match state
            .context
            .require_scopes_in(required, self.hierarchy(state))
        {
            Err(e @ JwtError::InsufficientScope { .. }) => Some(Refusal::OperationScopes {
                required: required.join(" "),
                detail: e.to_string(),
            }),
            _ => None,
        }
    }

    fn hierarchy<'a>(&'a self, state: &'a Authenticated) -> &'a ScopeHierarchy {
        match (&self.trust, &state.tenant) {
            (Trust::Single { validator, .. }, _) => validator.policy().hierarchy(),
            (Trust::Tenants(_), Some(t)) => t
                .issuer_policy(state.context.issuer())
                .map_or(&NO_HIERARCHY, |p| p.hierarchy()),
            (Trust::Tenants(_), None) => &NO_HIERARCHY,
        }
    }

    /// The one path from a refusal to the wire: the answer (through
    /// [`Refusal::response`]), the audit event, and the guard's count of invalid tokens.
    fn refuse(
        &self,
        tenant: Option<&TenantTrust>,
        refusal: Refusal,
        addr: Option<IpAddr>,
        now: Now,
        audit: Audit<'_>,
    ) -> Decision {
        audit(refusal.audit_event(addr));
        if refusal.counts_as_invalid_token() {
            self.guard_failure(addr, now, audit);
        }
        let target = self
            .endpoint(tenant)
            .map(|prm| ChallengeTarget {
                metadata_url: prm.metadata_url(),
                scope: self.challenge_scope.as_deref(),
            })
            .filter(|_| refusal != Refusal::UnknownTenant);
        Decision::Respond(refusal.response(target))
    }

    fn endpoint(&self, tenant: Option<&TenantTrust>) -> Option<&PrmEndpoint> {
        match (&self.trust, tenant) {
            (Trust::Single { prm, .. }, _) => Some(prm),
            (Trust::Tenants(t), Some(tenant)) => t.endpoints.get(tenant.id()),
            (Trust::Tenants(_), None) => None,
        }
    }
}
