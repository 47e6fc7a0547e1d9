//! Token revocation (RFC 7009).

use http::{Response, StatusCode};
use mcp_oauth_common::{ErrorCode, UnixTime};
use serde_json::json;

use super::{AuthorizationServer, MAX_FORM_LEN, OAuthError, json_response, params, sha256};
use crate::ops::Op;
use crate::storage::Storage;

impl<S: Storage> AuthorizationServer<S> {
    /// RFC 7009 revocation: refresh tokens (the whole grant) and access tokens (by
    /// `jti`); always `200` for an authenticated client, whatever the token.
    pub fn revoke(
        &self,
        now: UnixTime,
        authorization: Option<&str>,
        body: &[u8],
    ) -> Response<Vec<u8>> {
        let run = || -> Result<(), OAuthError> {
            if body.len() > MAX_FORM_LEN {
                return Err(OAuthError::bad(
                    ErrorCode::InvalidRequest,
                    "request too large",
                ));
            }
            let p = params(body)?;
            let client = self.authenticate(authorization, &p)?;
            let token = p
                .get("token")
                .ok_or_else(|| OAuthError::bad(ErrorCode::InvalidRequest, "token is missing"))?;
            if let Some(r) = self.storage.refresh(&sha256(token.as_bytes())) {
                if r.client_id == client.client_id {
                    self.storage.apply(Op::RevokeGrant {
                        family: r.family,
                        now,
                    });
                }
                return Ok(());
            }
            if let Some(ctx) = self.own_token(token, now)
                && ctx.client_id() == Some(client.client_id.as_str())
                && let Some(jti) = ctx.token_id()
            {
                self.storage.apply(Op::RevokeAccess {
                    jti: jti.to_owned(),
                });
            }
            Ok(())
        };
        match run() {
            Ok(()) => json_response(StatusCode::OK, &json!({})),
            Err(e) => e.response(),
        }
    }
}
