//! Every refusal, and the one place that turns it into the wire answer (status, body,
//! `WWW-Authenticate`) and the audit event, so every adapter answers the same way
//! (ARCHITECTURE.md, "Errors").

use std::net::IpAddr;

use http::{HeaderValue, Response, StatusCode, header};
use mcp_oauth_guard::{AuditEvent, Denied, RejectReason};
use mcp_oauth_prm_metadata::{BearerChallenge, BearerError};
use mcp_oauth_tenant::TenantError;

use crate::headers::{self, Mismatch};

/// Why a request is refused.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum Refusal {
    /// No bearer credentials: `401` with a bare challenge (RFC 6750 §3.1).
    NoToken,
    /// `access_token` in the query string: `400 invalid_request` (MCP: header only).
    TokenInQuery,
    /// A repeated, non-UTF-8 or empty `Authorization: Bearer`, or a token that is not
    /// RFC 6750 `b64token` syntax: `400 invalid_request`.
    MalformedAuthorization,
    /// The token failed validation (for a tenant, also: an issuer the tenant does not
    /// trust): `401 invalid_token`, or `403 insufficient_scope` for the policy's scopes.
    Token(TenantError),
    /// No tenant for the request's host (or path): `404 Not Found`, no challenge. There is
    /// no protected resource here, so there is no metadata a challenge could point to; a
    /// `421` would invite clients to retry on another connection, which cannot help when
    /// one listener serves every host; `400` would blame the request's syntax.
    UnknownTenant,
    /// The token lacks scopes this JSON-RPC operation needs (the MCP step-up):
    /// `403 insufficient_scope` naming them.
    OperationScopes {
        /// The operation's scopes, space-separated.
        required: String,
        /// The validator's explanation (for the audit log).
        detail: String,
    },
    /// The body is not a JSON-RPC message or batch: `400 invalid_request`.
    NotJsonRpc,
    /// The MCP 2026-07-28 `Mcp-Method` / `Mcp-Name` headers are unusable or disagree with
    /// the body: `400` with JSON-RPC error `-32020`, answering the body's `id`.
    HeaderMismatch {
        /// What disagreed.
        why: Mismatch,
        /// The body's `id` (a string or number), else `null`.
        id: serde_json::Value,
    },
    /// The body is over the cap: `413`.
    TooLarge,
    /// A rate limit or a block: `429` with `Retry-After`.
    RateLimited(Denied),
    /// An MCP session this principal may not use: `404` with JSON-RPC error `-32001`, the
    /// answer after which MCP clients start a new session.
    SessionNotFound {
        /// The session exists but belongs to another principal (for the audit log only:
        /// the answer is the same).
        other_principal: bool,
    },
}

/// Where a challenge points: the resource's metadata URL and the scope to ask for first.
#[derive(Debug, Clone, Copy)]
pub struct ChallengeTarget<'a> {
    /// The `resource_metadata` URL (RFC 9728 §5.1).
    pub metadata_url: &'a str,
    /// The `scope` of 401 challenges without one of their own.
    pub scope: Option<&'a str>,
}

impl Refusal {
    /// A header mismatch answering the `id` of `body` (when read).
    pub(crate) fn mismatch(body: Option<&[u8]>, why: Mismatch) -> Self {
        Refusal::HeaderMismatch {
            why,
            id: headers::request_id(body),
        }
    }

    /// Whether the guard counts this refusal against the source (blocking after
    /// repeated invalid tokens).
    pub fn counts_as_invalid_token(&self) -> bool {
        match self {
            Refusal::TokenInQuery | Refusal::MalformedAuthorization => true,
            Refusal::Token(e) => e.bearer_error() != BearerError::InsufficientScope,
            _ => false,
        }
    }

    /// The audit event of this refusal from `addr`.
    pub fn audit_event(&self, addr: Option<IpAddr>) -> AuditEvent {
        let rejected = |reason, detail: &str| AuditEvent::Rejected {
            reason,
            addr,
            detail: detail.to_owned(),
        };
        match self {
            Refusal::NoToken => rejected(RejectReason::NoToken, "no bearer credentials"),
            Refusal::TokenInQuery => {
                rejected(RejectReason::InvalidRequest, "token in the query string")
            }
            Refusal::MalformedAuthorization => rejected(
                RejectReason::InvalidRequest,
                "malformed Authorization header",
            ),
            Refusal::Token(e) => {
                let reason = match e.bearer_error() {
                    BearerError::InsufficientScope => RejectReason::InsufficientScope,
                    _ => RejectReason::InvalidToken,
                };
                rejected(reason, &e.to_string())
            }
            Refusal::UnknownTenant => {
                rejected(RejectReason::InvalidRequest, "no tenant for this request")
            }
            Refusal::OperationScopes { detail, .. } => {
                rejected(RejectReason::InsufficientScope, detail)
            }
            Refusal::NotJsonRpc => rejected(RejectReason::InvalidRequest, "body is not JSON"),
            Refusal::HeaderMismatch { why, .. } => {
                rejected(RejectReason::InvalidRequest, why.message())
            }
            Refusal::TooLarge => rejected(RejectReason::TooLarge, "body over the cap"),
            Refusal::RateLimited(denied) => AuditEvent::RateLimited {
                denied: *denied,
                addr,
            },
            Refusal::SessionNotFound { other_principal } => rejected(
                RejectReason::InvalidRequest,
                if *other_principal {
                    "MCP session bound to another principal"
                } else {
                    "unknown MCP session"
                },
            ),
        }
    }

    /// The answer: the one function from every refusal to status, body and
    /// `WWW-Authenticate` (built by `mcp-oauth-prm-metadata`'s challenge builder).
    /// `target` is `None` where there is no resource to point to (an unknown tenant).
    pub fn response(&self, target: Option<ChallengeTarget<'_>>) -> Response<Vec<u8>> {
        let challenge = |error: Option<BearerError>, scope: Option<&str>, description: &str| {
            challenge(target, error, scope, description)
        };
        match self {
            Refusal::NoToken => challenge(None, None, ""),
            Refusal::TokenInQuery => challenge(
                Some(BearerError::InvalidRequest),
                None,
                "access tokens are accepted in the Authorization header only",
            ),
            Refusal::MalformedAuthorization => challenge(
                Some(BearerError::InvalidRequest),
                None,
                "malformed Authorization header",
            ),
            Refusal::Token(e) => {
                let scope = match e {
                    TenantError::Token(e) => e.missing_scopes().map(|m| m.join(" ")),
                    _ => None,
                };
                challenge(
                    Some(e.bearer_error()),
                    scope.as_deref(),
                    "the access token is not valid for this resource",
                )
            }
            Refusal::UnknownTenant => status(StatusCode::NOT_FOUND),
            Refusal::OperationScopes { required, .. } => challenge(
                Some(BearerError::InsufficientScope),
                Some(required),
                "the access token lacks a scope this operation needs",
            ),
            Refusal::NotJsonRpc => challenge(
                Some(BearerError::InvalidRequest),
                None,
                "the body is not a JSON-RPC message",
            ),
            Refusal::HeaderMismatch { why, id } => headers::refusal(id.clone(), *why),
            Refusal::TooLarge => status(StatusCode::PAYLOAD_TOO_LARGE),
            Refusal::RateLimited(denied) => {
                let mut r = status(StatusCode::TOO_MANY_REQUESTS);
                if let Ok(v) = HeaderValue::from_str(&denied.retry_after_secs().to_string()) {
                    r.headers_mut().insert(header::RETRY_AFTER, v);
                }
                r
            }
            Refusal::SessionNotFound { .. } => {
                let mut r = Response::new(
                    br#"{"jsonrpc":"2.0","id":null,"error":{"code":-32001,"message":"Session not found"}}"#
                        .to_vec(),
                );
                *r.status_mut() = StatusCode::NOT_FOUND;
                r.headers_mut().insert(
                    header::CONTENT_TYPE,
                    HeaderValue::from_static("application/json"),
                );
                r
            }
        }
    }
}

fn status(code: StatusCode) -> Response<Vec<u8>> {
    let mut r = Response::new(Vec::new());
    *r.status_mut() = code;
    r
}

fn challenge(
    target: Option<ChallengeTarget<'_>>,
    error: Option<BearerError>,
    scope: Option<&str>,
    description: &str,
) -> Response<Vec<u8>> {
    let mut c = BearerChallenge::new();
    if let Some(t) = target {
        c = c.resource_metadata(t.metadata_url);
    }
    if let Some(s) = scope.or_else(|| target.and_then(|t| t.scope)) {
        c = c.scope(s);
    }
    if let Some(e) = error {
        c = c.error(e).error_description(description);
    }
    let mut resp = status(c.status());
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
