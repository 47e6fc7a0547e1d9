//! The token endpoint and its grants: `authorization_code`, `refresh_token` (rotation,
//! reuse detection) and `client_credentials`; RFC 9068 access tokens signed through the
//! signing seam.

use http::{Response, StatusCode};
use mcp_oauth_common::{AccessToken, ErrorCode, RefreshToken, TokenResponse, UnixTime};
use mcp_oauth_jwt_validate::crypto::{sign_compact, typ_header};
use mcp_oauth_pkce::CodeChallenge;
use serde_json::{Value, json};

use super::{
    AuthorizationServer, MAX_FORM_LEN, OAuthError, b64, json_bytes_response, params, same_resource,
    set, sha256,
};
use crate::ops::{AccessRecord, Issued, Op, Outcome};
use crate::storage::{RefreshRecord, Storage, StoredClient};

/// What one token response is for.
#[derive(Clone, Copy)]
struct Issue<'a> {
    subject: &'a str,
    /// The access token's scope.
    scope: &'a str,
    /// The grant's scope, kept by the new refresh token (RFC 6749 §6: narrowing a
    /// refresh narrows the access token only).
    grant_scope: &'a str,
    resource: &'a str,
    family: &'a str,
    with_refresh: bool,
}

impl<S: Storage> AuthorizationServer<S> {
    fn issue(
        &self,
        now: UnixTime,
        client: &StoredClient,
        g: &Issue<'_>,
        entropy: &[u8; 64],
    ) -> Result<(Issued, Response<Vec<u8>>), OAuthError> {
        let Issue {
            subject,
            scope,
            grant_scope,
            resource,
            family,
            with_refresh,
        } = *g;
        let (jti_bytes, rest) = entropy.split_at(16);
        let refresh_bytes = rest.get(..32).unwrap_or_default();
        let jti = b64(jti_bytes);
        let exp = now.add_secs(self.config.access_ttl);
        let mut claims = json!({
            "iss": self.config.issuer,
            "sub": subject,
            "aud": resource,
            "client_id": client.client_id,
            "iat": now.as_secs(),
            "exp": exp.as_secs(),
            "jti": jti,
        });
        if !scope.is_empty() {
            set(&mut claims, "scope", Value::from(scope));
        }
        // RFC 9068 §2.1: `typ` is `at+jwt`; `alg` and `kid` come from the signer.
        let token =
            sign_compact(self.signer.as_ref(), typ_header("at+jwt"), &claims).map_err(|_| {
                OAuthError::new(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    ErrorCode::ServerError,
                    "signing failed",
                )
            })?;
        let mut refresh_record = None;
        let mut body = TokenResponse::bearer(AccessToken::new(token), Some(self.config.access_ttl));
        if !scope.is_empty() {
            body = body.with_scope(scope);
        }
        if with_refresh {
            let refresh = b64(refresh_bytes);
            refresh_record = Some((
                sha256(refresh.as_bytes()),
                RefreshRecord {
                    family: family.to_owned(),
                    client_id: client.client_id.clone(),
                    subject: subject.to_owned(),
                    scope: grant_scope.to_owned(),
                    resource: resource.to_owned(),
                    expires_at: now.add_secs(self.config.refresh_ttl),
                    rotated: false,
                },
            ));
            body = body.with_refresh_token(RefreshToken::new(refresh));
        }
        // The client is no longer a pending registration once this commits: kept, and
        // off its source's count.
        let issued = Issued {
            client_id: client.client_id.clone(),
            access: AccessRecord::new(jti, family, exp),
            refresh: refresh_record,
        };
        Ok((issued, json_bytes_response(StatusCode::OK, body.to_json())))
    }

    /// The token endpoint: `authorization_code` (PKCE verified, code single use, bound to
    /// client, redirect URI and resource), `refresh_token` (rotation; reusing a rotated
    /// token revokes the whole grant) and `client_credentials` (confidential clients).
    /// `entropy` gives the `jti` and the new refresh token.
    ///
    /// A code is spent by its first presentation, whatever the outcome: a request that
    /// fails the client, redirect URI or PKCE check spends it too (the client then starts
    /// a new authorization). A code that reached another party is compromised, and no one
    /// gets a second guess at its verifier. A replayed code revokes every token it issued
    /// only when the replay itself passes those checks (O21-13); an invalid replay gets
    /// `invalid_grant` and revokes nothing.
    ///
    /// A client ID metadata document is not fetched again here, even when stale: the
    /// grant was authorized against it, and [`Storage::purge`](crate::Storage::purge) keeps the stored copy while
    /// a code or refresh token issued to the client is stored.
    pub fn token(
        &self,
        now: UnixTime,
        authorization: Option<&str>,
        body: &[u8],
        entropy: &[u8; 64],
    ) -> Response<Vec<u8>> {
        self.token_inner(now, authorization, body, entropy)
            .unwrap_or_else(|e| e.response())
    }

    fn token_inner(
        &self,
        now: UnixTime,
        authorization: Option<&str>,
        body: &[u8],
        entropy: &[u8; 64],
    ) -> Result<Response<Vec<u8>>, OAuthError> {
        if body.len() > MAX_FORM_LEN {
            return Err(OAuthError::bad(
                ErrorCode::InvalidRequest,
                "request too large",
            ));
        }
        let p = params(body)?;
        let client = self.authenticate(authorization, &p)?;
        let grants = client.metadata.grant_types_or_default();
        let grant = p
            .get("grant_type")
            .ok_or_else(|| OAuthError::bad(ErrorCode::InvalidRequest, "grant_type is missing"))?;
        if !grants.iter().any(|g| g == grant) {
            return Err(OAuthError::bad(
                ErrorCode::UnauthorizedClient,
                "grant type not registered for this client",
            ));
        }
        let refresh_allowed = grants.iter().any(|g| g == "refresh_token");
        let invalid_grant = |d: &str| OAuthError::bad(ErrorCode::InvalidGrant, d);
        match grant {
            "authorization_code" => {
                let code = p
                    .get("code")
                    .ok_or_else(|| OAuthError::bad(ErrorCode::InvalidRequest, "code is missing"))?;
                let digest = sha256(code.as_bytes());
                let (rec, replayed) = self
                    .storage
                    .code(&digest)
                    .ok_or_else(|| invalid_grant("unknown code"))?;
                // The code is spent by this presentation whatever follows (see `token`):
                // a failed check does not leave it for another try.
                let spend = |e: OAuthError| {
                    self.storage.apply(Op::SpendCode { digest });
                    e
                };
                // Who presents the code proves itself first: the client it was issued
                // to, the same redirect URI, the PKCE verifier. Only then may a replay
                // revoke anything (O21-13: not on invalid replays, or anyone holding a
                // leaked code could revoke the victim's tokens).
                if rec.client_id != client.client_id {
                    return Err(spend(invalid_grant("code was issued to another client")));
                }
                if p.get("redirect_uri").is_some_and(|r| r != rec.redirect_uri) {
                    return Err(spend(invalid_grant(
                        "redirect_uri differs from the authorization request",
                    )));
                }
                let verifier = p.get("code_verifier").ok_or_else(|| {
                    spend(OAuthError::bad(
                        ErrorCode::InvalidRequest,
                        "code_verifier is missing",
                    ))
                })?;
                let challenge = CodeChallenge::parse_s256(&rec.challenge)
                    .map_err(|_| spend(invalid_grant("bad code")))?;
                challenge.verify(verifier).map_err(|_| {
                    spend(invalid_grant("code_verifier does not match the challenge"))
                })?;
                if replayed {
                    // A second valid redemption (RFC 6749 §4.1.2, OAuth 2.1 §4.1.3): the
                    // code leaked with its verifier; revoke what it issued.
                    self.storage.apply(Op::RevokeGrant {
                        family: rec.family.clone(),
                        now,
                    });
                    return Err(invalid_grant("code already used; its tokens are revoked"));
                }
                if rec.expires_at <= now {
                    return Err(spend(invalid_grant("code expired")));
                }
                if !same_resource(&p.resources, &rec.resource) {
                    return Err(spend(OAuthError::bad(
                        ErrorCode::InvalidTarget,
                        "resource differs from the authorization request",
                    )));
                }
                let g = Issue {
                    subject: &rec.subject,
                    scope: &rec.scope,
                    grant_scope: &rec.scope,
                    resource: &rec.resource,
                    family: &rec.family,
                    with_refresh: refresh_allowed,
                };
                let (issued, response) = self.issue(now, &client, &g, entropy).map_err(spend)?;
                // The single-use decision is the store's, in its transaction: another
                // redemption may have won since the read above, on any instance.
                match self.storage.apply(Op::RedeemCode {
                    digest,
                    issued,
                    now,
                }) {
                    Outcome::Applied => Ok(response),
                    Outcome::Replayed => {
                        Err(invalid_grant("code already used; its tokens are revoked"))
                    }
                    Outcome::Revoked => Err(invalid_grant("the grant was revoked")),
                    Outcome::Unavailable => Err(OAuthError::unavailable()),
                    _ => Err(invalid_grant("unknown code")),
                }
            }
            "refresh_token" => {
                let token = p.get("refresh_token").ok_or_else(|| {
                    OAuthError::bad(ErrorCode::InvalidRequest, "refresh_token is missing")
                })?;
                let digest = sha256(token.as_bytes());
                let rec = self
                    .storage
                    .refresh(&digest)
                    .ok_or_else(|| invalid_grant("unknown refresh token"))?;
                if rec.client_id != client.client_id {
                    return Err(invalid_grant("refresh token of another client"));
                }
                // Every check before the token is spent: a refused request must not turn
                // the client's next, correct use into "reuse".
                if rec.rotated || self.storage.family_revoked(&rec.family) {
                    // Reuse of a rotated token: someone holds a stolen copy.
                    self.storage.apply(Op::RevokeGrant {
                        family: rec.family.clone(),
                        now,
                    });
                    return Err(invalid_grant("refresh token reused; the grant is revoked"));
                }
                if rec.expires_at <= now {
                    return Err(invalid_grant("refresh token expired"));
                }
                if !same_resource(&p.resources, &rec.resource) {
                    return Err(OAuthError::bad(
                        ErrorCode::InvalidTarget,
                        "resource differs from the grant",
                    ));
                }
                let scope = match p.get("scope") {
                    Some(s) => {
                        let held: Vec<&str> = rec.scope.split(' ').collect();
                        if s.split(' ')
                            .filter(|x| !x.is_empty())
                            .any(|x| !held.contains(&x))
                        {
                            return Err(OAuthError::bad(
                                ErrorCode::InvalidScope,
                                "more scope than the grant holds",
                            ));
                        }
                        s.to_owned()
                    }
                    None => rec.scope.clone(),
                };
                let g = Issue {
                    subject: &rec.subject,
                    scope: &scope,
                    grant_scope: &rec.scope,
                    resource: &rec.resource,
                    family: &rec.family,
                    with_refresh: true,
                };
                let (issued, response) = self.issue(now, &client, &g, entropy)?;
                // Exactly one of concurrent uses rotates, decided in the store's
                // transaction; the loser's use is reuse, and the grant is revoked there.
                match self.storage.apply(Op::RotateRefresh {
                    digest,
                    issued,
                    now,
                }) {
                    Outcome::Applied => Ok(response),
                    Outcome::Reused => {
                        Err(invalid_grant("refresh token reused; the grant is revoked"))
                    }
                    Outcome::Revoked => Err(invalid_grant("the grant was revoked")),
                    Outcome::Unavailable => Err(OAuthError::unavailable()),
                    _ => Err(invalid_grant("unknown refresh token")),
                }
            }
            "client_credentials" => {
                if client.secret_hash.is_none() {
                    return Err(OAuthError::bad(
                        ErrorCode::UnauthorizedClient,
                        "public clients cannot use client_credentials",
                    ));
                }
                let rs = self.resource_for(&p.resources).map_err(|c| {
                    OAuthError::bad(c, "resource is missing, repeated or not served here")
                })?;
                let scopes = Self::check_scopes(rs, p.get("scope"))
                    .map_err(|c| OAuthError::bad(c, "a requested scope is not offered"))?;
                let family = b64(entropy.get(48..64).unwrap_or_default());
                let scope = scopes.join(" ");
                let g = Issue {
                    subject: &client.client_id,
                    scope: &scope,
                    grant_scope: &scope,
                    resource: rs.resource.as_str(),
                    family: &family,
                    with_refresh: false,
                };
                let (issued, response) = self.issue(now, &client, &g, entropy)?;
                match self.storage.apply(Op::IssueAccess { issued }) {
                    Outcome::Applied => Ok(response),
                    Outcome::Unavailable => Err(OAuthError::unavailable()),
                    _ => Err(invalid_grant("the grant was revoked")),
                }
            }
            _ => Err(OAuthError::bad(
                ErrorCode::UnsupportedGrantType,
                "grant type not supported",
            )),
        }
    }
}
