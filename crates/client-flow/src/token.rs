//! The token endpoint (RFC 6749 §3.2, §4.1.3, §4.4, §5, §6): requests as data, responses
//! checked, client authentication, and the token set a client keeps.

use core::fmt;

use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use http::{Method, Request, StatusCode, header};
use mcp_oauth_common::{
    AccessToken, ClientSecret, ErrorCode, ErrorResponse, RefreshToken, TokenResponse, UnixTime,
};
use mcp_oauth_resource_indicators::ResourceUri;
use mcp_oauth_resource_indicators::url::form_urlencoded;
use serde::{Deserialize, Serialize};

use crate::callback::AuthorizationCode;

pub use mcp_oauth_common::MAX_TOKEN_RESPONSE_LEN;

/// The `client_assertion_type` of RFC 7523 §2.2.
pub const JWT_BEARER_ASSERTION: &str = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";

/// How the client proves who it is at the token endpoint (RFC 6749 §2.3, OIDC Core §9).
#[derive(Clone)]
#[non_exhaustive]
pub enum ClientAuth {
    /// A public client: `client_id` in the body, nothing else (`none`).
    None,
    /// HTTP Basic with the id and secret each form-encoded first (RFC 6749 §2.3.1 and
    /// Appendix B), `client_secret_basic`.
    Basic(ClientSecret),
    /// `client_id` and `client_secret` in the body, `client_secret_post`.
    Post(ClientSecret),
    /// A signed JWT (RFC 7523, `private_key_jwt`); see [`client_assertion`].
    PrivateKeyJwt(std::sync::Arc<dyn AssertionSigner>),
}

impl fmt::Debug for ClientAuth {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            ClientAuth::None => "ClientAuth::None",
            ClientAuth::Basic(_) => "ClientAuth::Basic(<redacted>)",
            ClientAuth::Post(_) => "ClientAuth::Post(<redacted>)",
            ClientAuth::PrivateKeyJwt(_) => "ClientAuth::PrivateKeyJwt",
        })
    }
}

impl ClientAuth {
    /// The method name as RFC 7591 spells it.
    pub fn method(&self) -> &'static str {
        match self {
            ClientAuth::None => "none",
            ClientAuth::Basic(_) => "client_secret_basic",
            ClientAuth::Post(_) => "client_secret_post",
            ClientAuth::PrivateKeyJwt(_) => "private_key_jwt",
        }
    }

    /// The authentication a registered client uses: its `token_endpoint_auth_method`
    /// (RFC 7591 default `client_secret_basic` when a secret was issued and no method
    /// named, `none` without a secret).
    pub fn for_client(method: Option<&str>, secret: Option<&ClientSecret>) -> ClientAuth {
        match (method, secret) {
            (Some("client_secret_post"), Some(s)) => ClientAuth::Post(s.clone()),
            (Some("none"), _) | (_, None) => ClientAuth::None,
            (_, Some(s)) => ClientAuth::Basic(s.clone()),
        }
    }
}

/// Signs RFC 7523 client assertions (`private_key_jwt`): the JOSE signing seam of
/// `mcp-oauth-jwt-validate` ([`JwsSigner`](mcp_oauth_jwt_validate::crypto::JwsSigner)),
/// the same trait the authorization server signs access tokens with. The key never
/// leaves the implementation; [`client_assertion`] builds what it signs. An ES256 signer
/// on ring is `mcp_oauth_jwt_validate::crypto::Es256Signer`.
pub use mcp_oauth_jwt_validate::crypto::JwsSigner as AssertionSigner;

/// An RFC 7523 §3 client assertion: `iss` = `sub` = the client id, `aud` = `audience`
/// (the authorization server's issuer, as RFC 7523bis recommends), `iat`, `exp` = `iat` +
/// 60 s, and a `jti` the caller makes unique (random bytes, encoded here).
pub fn client_assertion(
    signer: &dyn AssertionSigner,
    client_id: &str,
    audience: &str,
    now: UnixTime,
    jti_entropy: &[u8; 16],
) -> Result<String, TokenError> {
    let claims = serde_json::json!({
        "iss": client_id,
        "sub": client_id,
        "aud": audience,
        "iat": now.as_secs(),
        "exp": now.as_secs().saturating_add(60),
        "jti": URL_SAFE_NO_PAD.encode(jti_entropy),
    });
    // `alg` and `kid` (when the signer has one) come from the signer.
    mcp_oauth_jwt_validate::crypto::sign_compact(
        signer,
        mcp_oauth_jwt_validate::crypto::typ_header("JWT"),
        &claims,
    )
    .map_err(|_| TokenError::SigningFailed)
}

/// What a token request asks for.
#[derive(Debug)]
#[non_exhaustive]
pub enum Grant<'a> {
    /// `authorization_code` with the PKCE verifier and the redirect URI of the request.
    AuthorizationCode {
        /// The code from the callback.
        code: &'a AuthorizationCode,
        /// The PKCE verifier of the request.
        verifier: &'a str,
        /// The redirect URI the authorization request used.
        redirect_uri: &'a str,
    },
    /// `refresh_token`, optionally narrowing the scope.
    RefreshToken {
        /// The refresh token.
        refresh_token: &'a RefreshToken,
        /// A narrower scope, when wanted.
        scope: Option<&'a str>,
    },
    /// `client_credentials` for machine clients.
    ClientCredentials {
        /// The scope asked for.
        scope: Option<&'a str>,
    },
}

/// The client's side of a token request: who it is and how it authenticates.
#[derive(Debug)]
pub struct TokenClient<'a> {
    /// The `client_id`.
    pub client_id: &'a str,
    /// How it authenticates.
    pub auth: &'a ClientAuth,
    /// The audience of a `private_key_jwt` assertion (the issuer).
    pub issuer: &'a str,
}

/// Builds the `POST` to the token endpoint. `resource` is sent on every grant when given
/// (MCP-RES-1; pass `None` only for an authorization server that rejects it, such as
/// Entra ID v2). `now` and `jti_entropy` are used by `private_key_jwt` only.
pub fn token_request(
    token_endpoint: &str,
    client: &TokenClient<'_>,
    grant: &Grant<'_>,
    resource: Option<&ResourceUri>,
    now: UnixTime,
    jti_entropy: &[u8; 16],
) -> Result<Request<Vec<u8>>, TokenError> {
    let mut form = form_urlencoded::Serializer::new(String::new());
    match grant {
        Grant::AuthorizationCode {
            code,
            verifier,
            redirect_uri,
        } => {
            form.append_pair("grant_type", "authorization_code");
            form.append_pair("code", code.expose());
            form.append_pair("redirect_uri", redirect_uri);
            form.append_pair("code_verifier", verifier);
        }
        Grant::RefreshToken {
            refresh_token,
            scope,
        } => {
            form.append_pair("grant_type", "refresh_token");
            form.append_pair("refresh_token", refresh_token.expose());
            if let Some(s) = scope {
                form.append_pair("scope", s);
            }
        }
        Grant::ClientCredentials { scope } => {
            form.append_pair("grant_type", "client_credentials");
            if let Some(s) = scope {
                form.append_pair("scope", s);
            }
        }
    }
    if let Some(r) = resource {
        form.append_pair("resource", r.as_str());
    }
    let mut builder = Request::builder()
        .method(Method::POST)
        .uri(token_endpoint)
        .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
        .header(header::ACCEPT, "application/json");
    match client.auth {
        ClientAuth::None => {
            form.append_pair("client_id", client.client_id);
        }
        ClientAuth::Basic(secret) => {
            builder = builder.header(
                header::AUTHORIZATION,
                basic_authorization(client.client_id, secret.expose()),
            );
        }
        ClientAuth::Post(secret) => {
            form.append_pair("client_id", client.client_id);
            form.append_pair("client_secret", secret.expose());
        }
        ClientAuth::PrivateKeyJwt(signer) => {
            let assertion = client_assertion(
                signer.as_ref(),
                client.client_id,
                client.issuer,
                now,
                jti_entropy,
            )?;
            form.append_pair("client_id", client.client_id);
            form.append_pair("client_assertion_type", JWT_BEARER_ASSERTION);
            form.append_pair("client_assertion", &assertion);
        }
    }
    builder
        .body(form.finish().into_bytes())
        .map_err(|_| TokenError::InvalidRequest)
}

/// `Basic base64(form(id) ":" form(secret))`, RFC 6749 §2.3.1: each part is
/// `application/x-www-form-urlencoded` before joining (so `:` in an id and `+` or `%` in
/// a secret survive), which many clients forget.
pub fn basic_authorization(client_id: &str, secret: &str) -> String {
    let enc = |s: &str| form_urlencoded::byte_serialize(s.as_bytes()).collect::<String>();
    format!(
        "Basic {}",
        STANDARD.encode(format!("{}:{}", enc(client_id), enc(secret)))
    )
}

/// Tokens as a client keeps them. `Debug` shows no token.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct TokenSet {
    /// The access token.
    pub access_token: AccessToken,
    /// `Bearer`.
    pub token_type: String,
    /// When the access token expires, from `expires_in` and the time of the response.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires_at: Option<UnixTime>,
    /// The refresh token, when one was issued (or the previous one, kept when a refresh
    /// response issued none: RFC 6749 §6).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub refresh_token: Option<RefreshToken>,
    /// The granted scope: the response's `scope`, or the requested one when the response
    /// omitted it (RFC 6749 §5.1: identical to the request).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scope: Option<String>,
}

impl TokenSet {
    /// Whether the access token should be refreshed at `now`: it expires within `ahead`
    /// seconds (or has). A token without an expiry never needs it.
    pub fn needs_refresh(&self, now: UnixTime, ahead: u64) -> bool {
        self.expires_at
            .is_some_and(|exp| now.as_secs().saturating_add(ahead) >= exp.as_secs())
    }

    /// The `Authorization` header value.
    pub fn authorization(&self) -> String {
        format!("Bearer {}", self.access_token.expose())
    }
}

/// Why a token request failed or its response cannot be used.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum TokenError {
    /// The endpoint answered with an RFC 6749 §5.2 error.
    Rejected {
        /// The HTTP status.
        status: u16,
        /// `error`, e.g. [`ErrorCode::InvalidGrant`].
        error: ErrorCode,
        /// `error_description`, when sent.
        description: Option<String>,
    },
    /// Another status, not JSON, too large, no `access_token`, a member of the wrong
    /// type, or a `token_type` other than `Bearer`.
    InvalidResponse,
    /// The request could not be built (an endpoint that is not a URI).
    InvalidRequest,
    /// The assertion signer failed.
    SigningFailed,
}

impl TokenError {
    /// Whether this is `invalid_grant` (a spent or revoked refresh token, a bad code).
    pub fn is_invalid_grant(&self) -> bool {
        matches!(self, TokenError::Rejected { error, .. } if *error == ErrorCode::InvalidGrant)
    }
}

impl fmt::Display for TokenError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TokenError::Rejected {
                status,
                error,
                description,
            } => {
                write!(f, "token endpoint refused ({status}): {error}")?;
                if let Some(d) = description {
                    write!(f, " ({d})")?;
                }
                Ok(())
            }
            TokenError::InvalidResponse => f.write_str("token response is not usable"),
            TokenError::InvalidRequest => f.write_str("token request could not be built"),
            TokenError::SigningFailed => f.write_str("client assertion could not be signed"),
        }
    }
}

impl std::error::Error for TokenError {}

/// Reads a token response (RFC 6749 §5.1/§5.2). `requested_scope` fills `scope` when the
/// response omits it; `previous_refresh` is kept when a refresh response issues no new
/// refresh token. `expires_in` may be a number or a numeric string (some servers send
/// strings); anything else is refused.
pub fn parse_token_response(
    status: StatusCode,
    body: &[u8],
    now: UnixTime,
    requested_scope: Option<&str>,
    previous_refresh: Option<&RefreshToken>,
) -> Result<TokenSet, TokenError> {
    if !status.is_success() {
        return match ErrorResponse::parse(body) {
            Some(e) if status.is_client_error() => Err(TokenError::Rejected {
                status: status.as_u16(),
                error: e.error,
                description: e.error_description,
            }),
            _ => Err(TokenError::InvalidResponse),
        };
    }
    let r = TokenResponse::parse(body).map_err(|_| TokenError::InvalidResponse)?;
    if !r.is_token_type("bearer") {
        return Err(TokenError::InvalidResponse);
    }
    Ok(TokenSet {
        access_token: r.access_token,
        token_type: "Bearer".to_owned(),
        expires_at: r.expires_in.map(|e| now.add_secs(e)),
        refresh_token: r
            .refresh_token
            .filter(|t| !t.is_empty())
            .or_else(|| previous_refresh.cloned()),
        scope: r.scope.or_else(|| requested_scope.map(str::to_owned)),
    })
}
