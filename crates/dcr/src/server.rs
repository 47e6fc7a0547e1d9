//! Authorization-server side of RFC 7591: validating a registration request.

use core::fmt;

use http::{Response, StatusCode, header};
use mcp_oauth_common::{JsonLimits, parse_json};
use mcp_oauth_resource_indicators::ResourceUri;
use serde_json::{Map, Value, json};

use crate::redirect::{DEFAULT_MAX_REDIRECT_URIS, RedirectPolicy};
use crate::{ClientMetadata, RegistrationErrorCode};

/// A registration refused, as RFC 7591 §3.2.2 describes it: the code and a description
/// for developers. [`Rejection::response`] is the 400 to send.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rejection {
    /// The error code.
    pub code: RegistrationErrorCode,
    /// What was wrong (never echoes a secret).
    pub description: String,
}

impl Rejection {
    pub(crate) fn new(code: RegistrationErrorCode, description: impl Into<String>) -> Self {
        Rejection {
            code,
            description: description.into(),
        }
    }

    /// `400 Bad Request` with `{"error", "error_description"}` (RFC 7591 §3.2.2).
    pub fn response(&self) -> Response<Vec<u8>> {
        let body = json!({"error": self.code.as_str(), "error_description": self.description});
        let mut resp = Response::new(serde_json::to_vec(&body).unwrap_or_default());
        *resp.status_mut() = StatusCode::BAD_REQUEST;
        resp.headers_mut().insert(
            header::CONTENT_TYPE,
            http::HeaderValue::from_static("application/json"),
        );
        resp.headers_mut().insert(
            header::CACHE_CONTROL,
            http::HeaderValue::from_static("no-store"),
        );
        resp
    }
}

impl fmt::Display for Rejection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.code.as_str(), self.description)
    }
}

impl std::error::Error for Rejection {}

/// Verifies software statements (RFC 7591 §2.3): returns the statement's claims, which
/// override the plain JSON members, or the code to refuse with
/// (`invalid_software_statement`, `unapproved_software_statement`).
pub trait SoftwareStatementVerifier: Send + Sync {
    /// Verifies `statement` (a JWT).
    fn verify(&self, statement: &str) -> Result<Map<String, Value>, RegistrationErrorCode>;
}

/// Checks initial access tokens (RFC 7591 §3: a registration endpoint may require one).
pub trait InitialAccessTokenVerifier: Send + Sync {
    /// Whether `token` authorises a registration.
    fn verify(&self, token: &str) -> bool;
}

/// Why a registration request is refused before or during validation.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum RegistrationRequestError {
    /// An initial access token is required and was missing or refused: answer `401` with
    /// an RFC 6750 `invalid_token` challenge.
    Unauthorized,
    /// The metadata was refused: answer with [`Rejection::response`].
    Rejected(Rejection),
}

impl fmt::Display for RegistrationRequestError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RegistrationRequestError::Unauthorized => {
                f.write_str("registration requires a valid initial access token")
            }
            RegistrationRequestError::Rejected(r) => r.fmt(f),
        }
    }
}

impl std::error::Error for RegistrationRequestError {}

/// The grant types an authorization server accepts by default.
pub const DEFAULT_GRANT_TYPES: &[&str] = &[
    "authorization_code",
    "refresh_token",
    "client_credentials",
    "urn:ietf:params:oauth:grant-type:device_code",
    "urn:ietf:params:oauth:grant-type:jwt-bearer",
    "urn:ietf:params:oauth:grant-type:token-exchange",
];

/// The client authentication methods accepted by default.
pub const DEFAULT_AUTH_METHODS: &[&str] = &[
    "none",
    "client_secret_basic",
    "client_secret_post",
    "private_key_jwt",
];

/// What an authorization server accepts at its registration endpoint.
pub struct RegistrationPolicy {
    limits: JsonLimits,
    max_redirect_uris: usize,
    redirect: RedirectPolicy,
    grant_types: Vec<String>,
    auth_methods: Vec<String>,
    statements: Option<Box<dyn SoftwareStatementVerifier>>,
    initial_tokens: Option<Box<dyn InitialAccessTokenVerifier>>,
}

impl fmt::Debug for RegistrationPolicy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RegistrationPolicy")
            .field("limits", &self.limits)
            .field("max_redirect_uris", &self.max_redirect_uris)
            .field("redirect", &self.redirect)
            .field("grant_types", &self.grant_types)
            .field("auth_methods", &self.auth_methods)
            .field("software_statements", &self.statements.is_some())
            .field("initial_access_tokens", &self.initial_tokens.is_some())
            .finish()
    }
}

impl Default for RegistrationPolicy {
    fn default() -> Self {
        RegistrationPolicy {
            limits: JsonLimits::default()
                .with_max_bytes(16 * 1024)
                .with_max_depth(8),
            max_redirect_uris: DEFAULT_MAX_REDIRECT_URIS,
            redirect: RedirectPolicy::default(),
            grant_types: DEFAULT_GRANT_TYPES
                .iter()
                .map(|s| (*s).to_owned())
                .collect(),
            auth_methods: DEFAULT_AUTH_METHODS
                .iter()
                .map(|s| (*s).to_owned())
                .collect(),
            statements: None,
            initial_tokens: None,
        }
    }
}

impl RegistrationPolicy {
    /// The default policy: 16 KiB bodies, at most 10 redirect URIs of 2000 bytes,
    /// [`DEFAULT_GRANT_TYPES`], [`DEFAULT_AUTH_METHODS`], strict redirect rules, software
    /// statements ignored.
    pub fn new() -> Self {
        Self::default()
    }

    /// Other body limits.
    pub fn limits(mut self, limits: JsonLimits) -> Self {
        self.limits = limits;
        self
    }

    /// Most redirect URIs per client.
    pub fn max_redirect_uris(mut self, n: usize) -> Self {
        self.max_redirect_uris = n;
        self
    }

    /// Other redirect-URI rules.
    pub fn redirect_policy(mut self, policy: RedirectPolicy) -> Self {
        self.redirect = policy;
        self
    }

    /// The accepted grant types (`implicit` and `password` are refused whatever this says).
    pub fn grant_types<I: IntoIterator<Item = S>, S: Into<String>>(mut self, types: I) -> Self {
        self.grant_types = types.into_iter().map(Into::into).collect();
        self
    }

    /// The accepted token endpoint authentication methods.
    pub fn auth_methods<I: IntoIterator<Item = S>, S: Into<String>>(mut self, methods: I) -> Self {
        self.auth_methods = methods.into_iter().map(Into::into).collect();
        self
    }

    /// Verify software statements with this hook (otherwise they are ignored, as RFC 7591
    /// §3.1.1 allows).
    pub fn software_statements(mut self, verifier: Box<dyn SoftwareStatementVerifier>) -> Self {
        self.statements = Some(verifier);
        self
    }

    /// Require an initial access token, checked by this hook, on every registration.
    pub fn initial_access_tokens(mut self, verifier: Box<dyn InitialAccessTokenVerifier>) -> Self {
        self.initial_tokens = Some(verifier);
        self
    }

    /// The whole request: the `Authorization` header (an initial access token when the
    /// policy requires one, `Bearer` scheme) and then the body, as [`RegistrationPolicy::validate`].
    pub fn validate_request(
        &self,
        authorization: Option<&str>,
        body: &[u8],
    ) -> Result<ClientMetadata, RegistrationRequestError> {
        if let Some(v) = &self.initial_tokens {
            let token = authorization
                .and_then(|h| h.split_once(' '))
                .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
                .map(|(_, t)| t.trim())
                .filter(|t| !t.is_empty());
            if !token.is_some_and(|t| v.verify(t)) {
                return Err(RegistrationRequestError::Unauthorized);
            }
        }
        self.validate(body)
            .map_err(RegistrationRequestError::Rejected)
    }

    /// Validates a registration request body (FORMAT `dcr-validate`) and returns the
    /// metadata to register, RFC 7591 defaults applied:
    ///
    /// - a JSON object within the size limit, every member of its defined type;
    /// - `grant_types` default `["authorization_code"]`, `response_types` default
    ///   `["code"]`, `token_endpoint_auth_method` default `client_secret_basic`;
    /// - `implicit`, `password` and `token` response types refused (OAuth 2.1); grant and
    ///   response types consistent (RFC 7591 §2.1);
    /// - `redirect_uris` required with `authorization_code`, each valid (see
    ///   [`RedirectPolicy::check`]), at most the configured number;
    /// - URLs for `client_uri`, `logo_uri`, `tos_uri`, `policy_uri`, `jwks_uri` are
    ///   absolute `https` (`http` on loopback), so none can be `javascript:`;
    /// - `jwks` and `jwks_uri` not both; `private_key_jwt` needs one of them.
    ///
    /// An initial access token, when required, is checked by
    /// [`RegistrationPolicy::validate_request`].
    pub fn validate(&self, body: &[u8]) -> Result<ClientMetadata, Rejection> {
        use RegistrationErrorCode::{
            InvalidClientMetadata as Meta, InvalidRedirectUri as Redirect,
        };
        let mut value: Value = parse_json(body, &self.limits)
            .map_err(|e| Rejection::new(Meta, format!("request body: {e}")))?;
        let Some(obj) = value.as_object_mut() else {
            return Err(Rejection::new(Meta, "request body is not a JSON object"));
        };
        if let (Some(v), Some(Value::String(statement))) =
            (&self.statements, obj.get("software_statement"))
        {
            let claims = v
                .verify(statement)
                .map_err(|code| Rejection::new(code, "software statement refused"))?;
            obj.extend(claims);
        }
        let mut m: ClientMetadata = serde_json::from_value(value)
            .map_err(|_| Rejection::new(Meta, "a metadata member has the wrong JSON type"))?;

        let grants = m.grant_types_or_default();
        let responses = m.response_types_or_default();
        for g in &grants {
            if g == "implicit" || g == "password" {
                return Err(Rejection::new(
                    Meta,
                    format!("grant type {g} is not allowed (OAuth 2.1)"),
                ));
            }
            if !self.grant_types.contains(g) {
                return Err(Rejection::new(Meta, "unsupported grant type"));
            }
        }
        for r in &responses {
            if r != "code" {
                return Err(Rejection::new(
                    Meta,
                    "only response type code is supported (OAuth 2.1)",
                ));
            }
        }
        let code_grant = grants.iter().any(|g| g == "authorization_code");
        if code_grant != responses.iter().any(|r| r == "code") {
            return Err(Rejection::new(
                Meta,
                "grant_types and response_types disagree (authorization_code needs code)",
            ));
        }
        let redirects = m.redirect_uris.as_deref().unwrap_or_default();
        if code_grant && redirects.is_empty() {
            return Err(Rejection::new(
                Redirect,
                "redirect_uris is required for authorization_code",
            ));
        }
        if redirects.len() > self.max_redirect_uris {
            return Err(Rejection::new(Redirect, "too many redirect_uris"));
        }
        for (i, uri) in redirects.iter().enumerate() {
            self.redirect
                .check(uri)
                .map_err(|e| Rejection::new(Redirect, format!("redirect_uris[{i}]: {e}")))?;
        }
        let method = m.auth_method().to_owned();
        if !self.auth_methods.contains(&method) {
            return Err(Rejection::new(
                Meta,
                "unsupported token_endpoint_auth_method",
            ));
        }
        if m.jwks.is_some() && m.jwks_uri.is_some() {
            return Err(Rejection::new(
                Meta,
                "jwks and jwks_uri must not both be present",
            ));
        }
        if method == "private_key_jwt" && m.jwks.is_none() && m.jwks_uri.is_none() {
            return Err(Rejection::new(
                Meta,
                "private_key_jwt needs jwks or jwks_uri",
            ));
        }
        for (name, url) in [
            ("client_uri", &m.client_uri),
            ("logo_uri", &m.logo_uri),
            ("tos_uri", &m.tos_uri),
            ("policy_uri", &m.policy_uri),
            ("jwks_uri", &m.jwks_uri),
        ] {
            if let Some(u) = url
                && ResourceUri::parse(u).is_err()
            {
                return Err(Rejection::new(
                    Meta,
                    format!("{name} must be an absolute https URL"),
                ));
            }
        }
        if let Some(t) = m.application_type.as_deref()
            && t != "native"
            && t != "web"
        {
            return Err(Rejection::new(
                Meta,
                "application_type must be native or web",
            ));
        }
        m.grant_types = Some(grants);
        m.response_types = Some(responses);
        m.token_endpoint_auth_method = Some(method);
        Ok(m)
    }
}
