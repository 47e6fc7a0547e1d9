//! The authorization request (OAuth 2.1 §4.1.1 with PKCE S256, `state`, RFC 8707
//! `resource`) and the record a client keeps until the callback (MCP-AUTHZ-9).

use core::fmt;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use mcp_oauth_pkce::{CodeVerifier, CryptoRng};
use mcp_oauth_resource_indicators::ResourceUri;
use mcp_oauth_resource_indicators::url::Url;

use crate::callback::{AuthorizationCode, CallbackError, parse_callback};

/// Parameters an extra-parameter hook may not set: the flow owns them.
pub const RESERVED_PARAMS: &[&str] = &[
    "response_type",
    "client_id",
    "redirect_uri",
    "code_challenge",
    "code_challenge_method",
    "state",
    "resource",
    "scope",
];

/// Everything the client must remember between sending the user to the authorization
/// server and reading the callback: the PKCE verifier, `state`, and the issuer the
/// request went to (MCP-AUTHZ-9), with what the token request needs. `Debug` redacts the
/// verifier.
#[derive(Clone)]
pub struct PendingAuthorization {
    /// The issuer, from validated metadata.
    pub issuer: String,
    /// Whether that issuer's metadata promised `iss` in responses (RFC 9207).
    pub iss_supported: bool,
    /// The `state` sent.
    pub state: String,
    /// The redirect URI sent.
    pub redirect_uri: String,
    /// The `client_id` sent.
    pub client_id: String,
    /// The `resource` sent, if any.
    pub resource: Option<ResourceUri>,
    /// The scope requested, if any.
    pub scope: Option<String>,
    verifier: CodeVerifier,
}

impl fmt::Debug for PendingAuthorization {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PendingAuthorization")
            .field("issuer", &self.issuer)
            .field("iss_supported", &self.iss_supported)
            .field("redirect_uri", &self.redirect_uri)
            .field("client_id", &self.client_id)
            .field("resource", &self.resource)
            .field("scope", &self.scope)
            .finish_non_exhaustive()
    }
}

impl PendingAuthorization {
    /// The PKCE verifier, for the token request.
    pub fn verifier(&self) -> &str {
        self.verifier.as_str()
    }

    /// Checks a callback against this request ([`parse_callback`]).
    pub fn check_callback(&self, callback: &str) -> Result<AuthorizationCode, CallbackError> {
        parse_callback(callback, &self.state, &self.issuer, self.iss_supported)
    }
}

/// Why an authorization request could not be built.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum AuthorizeError {
    /// The authorization endpoint is not an absolute URL.
    InvalidEndpoint,
    /// An extra parameter tried to set one the flow owns ([`RESERVED_PARAMS`]).
    ReservedParameter(String),
}

impl fmt::Display for AuthorizeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            AuthorizeError::InvalidEndpoint => f.write_str("authorization endpoint is not a URL"),
            AuthorizeError::ReservedParameter(p) => {
                write!(f, "extra parameter {p:?} is set by the flow itself")
            }
        }
    }
}

impl std::error::Error for AuthorizeError {}

/// An authorization request being assembled.
#[derive(Debug, Clone)]
pub struct AuthorizationRequest<'a> {
    /// The authorization endpoint from the metadata.
    pub authorization_endpoint: &'a str,
    /// The issuer from the metadata.
    pub issuer: &'a str,
    /// The metadata's `authorization_response_iss_parameter_supported`.
    pub iss_supported: bool,
    /// The `client_id`.
    pub client_id: &'a str,
    /// The redirect URI (registered with the server).
    pub redirect_uri: &'a str,
    /// The canonical resource (MCP-RES-1), or `None` for a server that rejects it.
    pub resource: Option<&'a ResourceUri>,
    /// The scope, if any.
    pub scope: Option<&'a str>,
    /// Further parameters, e.g. Auth0's `audience`.
    pub extra: &'a [(String, String)],
}

impl AuthorizationRequest<'_> {
    /// The URL to send the user agent to, and what to remember. The PKCE verifier (32
    /// bytes of entropy) and `state` (16 bytes) come from `rng`.
    pub fn build<R: CryptoRng + ?Sized>(
        &self,
        rng: &mut R,
    ) -> Result<(String, PendingAuthorization), AuthorizeError> {
        let mut state_bytes = [0u8; 16];
        rng.fill_bytes(&mut state_bytes);
        let state = URL_SAFE_NO_PAD.encode(state_bytes);
        let verifier = CodeVerifier::generate(rng);
        self.build_with(verifier, state)
    }

    /// [`build`](Self::build) with a verifier and state chosen by the caller.
    pub fn build_with(
        &self,
        verifier: CodeVerifier,
        state: String,
    ) -> Result<(String, PendingAuthorization), AuthorizeError> {
        if let Some((k, _)) = self
            .extra
            .iter()
            .find(|(k, _)| RESERVED_PARAMS.contains(&k.as_str()))
        {
            return Err(AuthorizeError::ReservedParameter(k.clone()));
        }
        let mut url =
            Url::parse(self.authorization_endpoint).map_err(|_| AuthorizeError::InvalidEndpoint)?;
        {
            let challenge = verifier.challenge();
            let mut q = url.query_pairs_mut();
            q.append_pair("response_type", "code");
            q.append_pair("client_id", self.client_id);
            q.append_pair("redirect_uri", self.redirect_uri);
            for (k, v) in challenge.authorization_params() {
                q.append_pair(k, &v);
            }
            q.append_pair("state", &state);
            if let Some(r) = self.resource {
                q.append_pair("resource", r.as_str());
            }
            if let Some(s) = self.scope {
                q.append_pair("scope", s);
            }
            for (k, v) in self.extra {
                q.append_pair(k, v);
            }
        }
        Ok((
            url.into(),
            PendingAuthorization {
                issuer: self.issuer.to_owned(),
                iss_supported: self.iss_supported,
                state,
                redirect_uri: self.redirect_uri.to_owned(),
                client_id: self.client_id.to_owned(),
                resource: self.resource.cloned(),
                scope: self.scope.map(str::to_owned),
                verifier,
            },
        ))
    }
}
