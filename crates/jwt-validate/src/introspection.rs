//! Token introspection (RFC 7662) for opaque tokens: the request as data, the response
//! checked with the same [`Policy`] as a JWT and turned into the same [`AuthContext`].

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use http::{Method, Request, StatusCode, header};
use mcp_oauth_common::UnixTime;
use mcp_oauth_resource_indicators::url::form_urlencoded;

use crate::token::check_introspected;
use crate::{AuthContext, JwtError, Policy};

/// Largest introspection response parsed, in bytes.
pub const MAX_INTROSPECTION_LEN: usize = 64 * 1024;

/// How the resource server authenticates to the introspection endpoint.
#[derive(Clone)]
#[non_exhaustive]
pub enum IntrospectionAuth {
    /// HTTP Basic with the client id and secret, each form-encoded first (RFC 6749 §2.3.1).
    ClientSecretBasic {
        /// The resource server's client id.
        client_id: String,
        /// Its secret.
        client_secret: String,
    },
    /// A bearer token authorised for introspection.
    Bearer(String),
}

impl core::fmt::Debug for IntrospectionAuth {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            IntrospectionAuth::ClientSecretBasic { client_id, .. } => f
                .debug_struct("ClientSecretBasic")
                .field("client_id", client_id)
                .field("client_secret", &"<redacted>")
                .finish(),
            IntrospectionAuth::Bearer(_) => f.write_str("Bearer(<redacted>)"),
        }
    }
}

/// The `POST` to the introspection endpoint for `token` (RFC 7662 §2.1), as data.
pub fn introspection_request(
    endpoint: &str,
    token: &str,
    auth: &IntrospectionAuth,
) -> Result<Request<Vec<u8>>, http::Error> {
    let body = form_urlencoded::Serializer::new(String::new())
        .append_pair("token", token)
        .append_pair("token_type_hint", "access_token")
        .finish();
    let authorization = match auth {
        IntrospectionAuth::ClientSecretBasic {
            client_id,
            client_secret,
        } => {
            let enc = |s: &str| form_urlencoded::byte_serialize(s.as_bytes()).collect::<String>();
            let pair = format!("{}:{}", enc(client_id), enc(client_secret));
            format!("Basic {}", STANDARD.encode(pair))
        }
        IntrospectionAuth::Bearer(t) => format!("Bearer {t}"),
    };
    Request::builder()
        .method(Method::POST)
        .uri(endpoint)
        .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
        .header(header::ACCEPT, "application/json")
        .header(header::AUTHORIZATION, authorization)
        .body(body.into_bytes())
}

/// Checks an introspection response (RFC 7662 §2.2) against `policy` at `now`: status 200,
/// a JSON object of at most [`MAX_INTROSPECTION_LEN`] bytes with `active: true`, a
/// `token_type` that is absent (or `null`) or names an access token (`Bearer` or `DPoP`, any
/// case; anything else, such as an active `refresh_token`, is
/// [`JwtError::NotAnAccessToken`]), and then the same rules as a JWT: `iss` accepted, `exp`
/// present and in the future, `aud` naming this server, `nbf`/`iat` sane, claim types right.
/// Required scopes are checked too.
pub fn parse_introspection(
    policy: &Policy,
    status: StatusCode,
    body: &[u8],
    now: UnixTime,
) -> Result<AuthContext, JwtError> {
    if status != StatusCode::OK || body.len() > MAX_INTROSPECTION_LEN {
        return Err(JwtError::Inactive);
    }
    mcp_oauth_common::check_limits(
        body,
        &mcp_oauth_common::JsonLimits::default().with_max_depth(16),
    )
    .map_err(|_| JwtError::Inactive)?;
    let ctx = check_introspected(policy, body, now)?;
    ctx.require_scopes_in(&policy.required_scopes, &policy.hierarchy)?;
    Ok(ctx)
}
