//! Token introspection (RFC 7662) for the configured resource servers.

use http::{Response, StatusCode};
use mcp_oauth_common::{ErrorCode, UnixTime};
use serde_json::{Value, json};

use super::{AuthorizationServer, MAX_FORM_LEN, OAuthError, json_response, params, set, sha256};
use crate::storage::Storage;

impl<S: Storage> AuthorizationServer<S> {
    /// RFC 7662 introspection, for the resource servers named in
    /// [`AsConfig::introspection_clients`](crate::AsConfig::introspection_clients) only (configured clients with a secret): any
    /// other client, even authenticated, is refused with `403 unauthorized_client`
    /// (RFC 7662 §4: token scanning); failed authentication is `401 invalid_client`
    /// (§2.3). Active answers: access tokens this server signed (unexpired, not revoked),
    /// and refresh tokens (not rotated, not expired, not revoked) only to the client
    /// they were issued to; a refresh token asked about by anyone else is
    /// `{"active": false}`, so it can never pass for an access token at a resource
    /// server. `token_type_hint` (`access_token`, `refresh_token`) picks which kind is
    /// looked up first; the other is still looked up (RFC 7662 §2.1), and an unknown
    /// hint is ignored.
    pub fn introspect(
        &self,
        now: UnixTime,
        authorization: Option<&str>,
        body: &[u8],
    ) -> Response<Vec<u8>> {
        let run = || -> Result<Value, OAuthError> {
            if body.len() > MAX_FORM_LEN {
                return Err(OAuthError::bad(
                    ErrorCode::InvalidRequest,
                    "request too large",
                ));
            }
            let p = params(body)?;
            let caller = self.authenticate(authorization, &p)?;
            // Introspection is for resource servers, which authenticate: a public client
            // id is known to anyone and proves nothing.
            if caller.secret_hash.is_none() {
                return Err(OAuthError::invalid_client());
            }
            // And only for those the operator named: a client anyone can register must
            // not learn whose tokens are live, and for what.
            if !caller.trusted()
                || !self
                    .config
                    .introspection_clients
                    .contains(&caller.client_id)
            {
                return Err(OAuthError::new(
                    StatusCode::FORBIDDEN,
                    ErrorCode::UnauthorizedClient,
                    "this client may not introspect tokens",
                ));
            }
            let token = p
                .get("token")
                .ok_or_else(|| OAuthError::bad(ErrorCode::InvalidRequest, "token is missing"))?;
            let access = || {
                let ctx = self.own_token(token, now)?;
                let jti = ctx.token_id()?;
                if self.storage.access_revoked(jti) {
                    return None;
                }
                let mut v = Value::Object(ctx.claims());
                set(&mut v, "active", Value::Bool(true));
                set(&mut v, "token_type", Value::from("Bearer"));
                Some(v)
            };
            let refresh = || {
                let r = self.storage.refresh(&sha256(token.as_bytes()))?;
                let live = !r.rotated
                    && r.expires_at > now
                    && !self.storage.family_revoked(&r.family)
                    && r.client_id == caller.client_id;
                live.then(|| {
                    json!({
                        "active": true, "token_type": "refresh_token", "client_id": r.client_id,
                        "sub": r.subject, "scope": r.scope, "aud": r.resource,
                        "iss": self.config.issuer, "exp": r.expires_at.as_secs(),
                    })
                })
            };
            let found = if p.get("token_type_hint") == Some("refresh_token") {
                refresh().or_else(access)
            } else {
                access().or_else(refresh)
            };
            Ok(found.unwrap_or_else(|| json!({"active": false})))
        };
        match run() {
            Ok(v) => json_response(StatusCode::OK, &v),
            Err(e) => e.response(),
        }
    }
}
