#![doc = include_str!("../README.md")]
#![forbid(unsafe_code)]

use core::fmt;

use mcp_oauth_common::parse_json;
use mcp_oauth_resource_indicators::{ResourceError, ResourceUri};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

pub use mcp_oauth_common::{JsonError, JsonLimits};

/// RFC 8414 §3 well-known suffix.
pub const OAUTH_WELL_KNOWN: &str = "/.well-known/oauth-authorization-server";
/// OpenID Connect Discovery 1.0 §4 well-known suffix.
pub const OIDC_WELL_KNOWN: &str = "/.well-known/openid-configuration";

/// Authorization server metadata: RFC 8414 §2, the OpenID Connect Discovery fields MCP
/// clients meet, and the extensions MCP relies on (RFC 9207 `iss`, client ID metadata
/// documents). Unknown members are kept in [`extra`] and written back out.
///
/// [`extra`]: AuthorizationServerMetadata::extra
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct AuthorizationServerMetadata {
    /// REQUIRED. The issuer identifier: `https`, no query, no fragment.
    pub issuer: String,
    /// The authorization endpoint.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub authorization_endpoint: Option<String>,
    /// The token endpoint.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token_endpoint: Option<String>,
    /// The JWK Set of the server's signing keys.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub jwks_uri: Option<String>,
    /// The RFC 7591 dynamic client registration endpoint.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub registration_endpoint: Option<String>,
    /// Scopes supported.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scopes_supported: Option<Vec<String>>,
    /// `response_type` values supported (REQUIRED by RFC 8414, absent in some documents).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub response_types_supported: Option<Vec<String>>,
    /// `response_mode` values supported.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub response_modes_supported: Option<Vec<String>>,
    /// Grant types supported.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub grant_types_supported: Option<Vec<String>>,
    /// Client authentication methods at the token endpoint.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token_endpoint_auth_methods_supported: Option<Vec<String>>,
    /// JWS algorithms for `private_key_jwt` / `client_secret_jwt` at the token endpoint.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token_endpoint_auth_signing_alg_values_supported: Option<Vec<String>>,
    /// Human-readable documentation URL.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub service_documentation: Option<String>,
    /// UI locales supported.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ui_locales_supported: Option<Vec<String>>,
    /// Policy URL.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub op_policy_uri: Option<String>,
    /// Terms of service URL.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub op_tos_uri: Option<String>,
    /// RFC 7009 revocation endpoint.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub revocation_endpoint: Option<String>,
    /// Client authentication methods at the revocation endpoint.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub revocation_endpoint_auth_methods_supported: Option<Vec<String>>,
    /// JWS algorithms for client authentication at the revocation endpoint.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub revocation_endpoint_auth_signing_alg_values_supported: Option<Vec<String>>,
    /// RFC 7662 introspection endpoint.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub introspection_endpoint: Option<String>,
    /// Client authentication methods at the introspection endpoint.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub introspection_endpoint_auth_methods_supported: Option<Vec<String>>,
    /// JWS algorithms for client authentication at the introspection endpoint.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub introspection_endpoint_auth_signing_alg_values_supported: Option<Vec<String>>,
    /// PKCE methods supported. Absent means no PKCE (RFC 8414 §2; MCP-AUTHZ-4).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub code_challenge_methods_supported: Option<Vec<String>>,
    /// A JWT asserting metadata values (RFC 8414 §2.1). Carried, never trusted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub signed_metadata: Option<String>,
    /// RFC 9207: the server sends `iss` in authorization responses.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub authorization_response_iss_parameter_supported: Option<bool>,
    /// The server accepts client ID metadata documents (MCP 2025-11-25+).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_id_metadata_document_supported: Option<bool>,
    /// RFC 9126 pushed authorization request endpoint.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pushed_authorization_request_endpoint: Option<String>,
    /// RFC 9126: only pushed authorization requests are accepted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub require_pushed_authorization_requests: Option<bool>,
    /// RFC 8628 device authorization endpoint.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub device_authorization_endpoint: Option<String>,
    /// RFC 9449 DPoP proof algorithms.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dpop_signing_alg_values_supported: Option<Vec<String>>,
    /// OpenID Connect userinfo endpoint.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub userinfo_endpoint: Option<String>,
    /// OpenID Connect subject identifier types.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subject_types_supported: Option<Vec<String>>,
    /// OpenID Connect ID token signing algorithms.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id_token_signing_alg_values_supported: Option<Vec<String>>,
    /// OpenID Connect RP-initiated logout endpoint.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub end_session_endpoint: Option<String>,
    /// Every other member, kept as received.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

impl AuthorizationServerMetadata {
    /// A document with only an issuer.
    pub fn new(issuer: impl Into<String>) -> Self {
        AuthorizationServerMetadata {
            issuer: issuer.into(),
            authorization_endpoint: None,
            token_endpoint: None,
            jwks_uri: None,
            registration_endpoint: None,
            scopes_supported: None,
            response_types_supported: None,
            response_modes_supported: None,
            grant_types_supported: None,
            token_endpoint_auth_methods_supported: None,
            token_endpoint_auth_signing_alg_values_supported: None,
            service_documentation: None,
            ui_locales_supported: None,
            op_policy_uri: None,
            op_tos_uri: None,
            revocation_endpoint: None,
            revocation_endpoint_auth_methods_supported: None,
            revocation_endpoint_auth_signing_alg_values_supported: None,
            introspection_endpoint: None,
            introspection_endpoint_auth_methods_supported: None,
            introspection_endpoint_auth_signing_alg_values_supported: None,
            code_challenge_methods_supported: None,
            signed_metadata: None,
            authorization_response_iss_parameter_supported: None,
            client_id_metadata_document_supported: None,
            pushed_authorization_request_endpoint: None,
            require_pushed_authorization_requests: None,
            device_authorization_endpoint: None,
            dpop_signing_alg_values_supported: None,
            userinfo_endpoint: None,
            subject_types_supported: None,
            id_token_signing_alg_values_supported: None,
            end_session_endpoint: None,
            extra: Map::new(),
        }
    }

    /// Parses a document's bytes within `limits`. Only JSON types are checked here.
    pub fn parse(bytes: &[u8], limits: &JsonLimits) -> Result<Self, AsMetadataError> {
        parse_json(bytes, limits).map_err(AsMetadataError::Json)
    }

    /// Parses a document that arrived as a JSON value (same depth limit).
    pub fn from_value(value: Value, limits: &JsonLimits) -> Result<Self, AsMetadataError> {
        if mcp_oauth_common::value_depth(&value) > limits.max_depth {
            return Err(AsMetadataError::Json(JsonError::TooDeep {
                max: limits.max_depth,
            }));
        }
        serde_json::from_value(value).map_err(|e| AsMetadataError::Json(e.into()))
    }

    /// The document as JSON bytes.
    pub fn to_json(&self) -> Vec<u8> {
        serde_json::to_vec(self).unwrap_or_default()
    }

    /// Whether `S256` is advertised.
    pub fn supports_s256(&self) -> bool {
        self.code_challenge_methods_supported
            .as_deref()
            .is_some_and(|m| m.iter().any(|m| m == "S256"))
    }
}

/// Why a document or an issuer is unusable (`invalid_as_metadata` in the conformance
/// format).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum AsMetadataError {
    /// Not JSON, too large, too deep, or a member of the wrong JSON type.
    Json(JsonError),
    /// The issuer identifier is not an `https` URL (`http` on loopback) without query or
    /// fragment (RFC 8414 §2).
    InvalidIssuer(ResourceError),
    /// The issuer identifier has a query, which RFC 8414 §2 forbids.
    IssuerHasQuery,
    /// The document's `issuer` is not the expected issuer, byte for byte (RFC 8414 §3.3;
    /// the mix-up defence MCP 2026-07-28 requires).
    IssuerMismatch {
        /// The issuer the client expected.
        expected: String,
        /// The issuer the document named.
        found: String,
    },
    /// A required endpoint is missing.
    MissingEndpoint {
        /// The member name.
        name: &'static str,
    },
    /// An endpoint is not an absolute `https` URL (`http` on loopback).
    InvalidEndpoint {
        /// The member name.
        name: &'static str,
        /// What is wrong with it.
        error: ResourceError,
    },
    /// `code_challenge_methods_supported` is absent: PKCE is unsupported (MCP-AUTHZ-4).
    PkceNotAdvertised,
    /// `code_challenge_methods_supported` does not list `S256`.
    S256NotSupported,
    /// `response_types_supported` does not list `code`.
    CodeFlowNotSupported,
}

impl fmt::Display for AsMetadataError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            AsMetadataError::Json(e) => write!(f, "authorization server metadata: {e}"),
            AsMetadataError::InvalidIssuer(e) => write!(f, "issuer: {e}"),
            AsMetadataError::IssuerHasQuery => f.write_str("issuer has a query component"),
            AsMetadataError::IssuerMismatch { expected, found } => write!(
                f,
                "authorization server metadata names issuer {found:?}, expected {expected:?}"
            ),
            AsMetadataError::MissingEndpoint { name } => {
                write!(f, "authorization server metadata has no {name}")
            }
            AsMetadataError::InvalidEndpoint { name, error } => write!(f, "{name}: {error}"),
            AsMetadataError::PkceNotAdvertised => f.write_str(
                "authorization server does not advertise code_challenge_methods_supported (no PKCE)",
            ),
            AsMetadataError::S256NotSupported => {
                f.write_str("authorization server does not support PKCE S256")
            }
            AsMetadataError::CodeFlowNotSupported => {
                f.write_str("authorization server does not support response_type code")
            }
        }
    }
}

impl std::error::Error for AsMetadataError {}

/// Checks an issuer identifier (RFC 8414 §2): an absolute `https` URL (`http` on
/// loopback), no query, no fragment.
pub fn parse_issuer(issuer: &str) -> Result<ResourceUri, AsMetadataError> {
    let uri = ResourceUri::parse(issuer).map_err(AsMetadataError::InvalidIssuer)?;
    if uri.query().is_some() {
        return Err(AsMetadataError::IssuerHasQuery);
    }
    Ok(uri)
}

/// The metadata URLs to try for an issuer, in the order of the MCP specification
/// (2025-11-25 and later; FORMAT suite `as-discovery-urls`):
///
/// - issuer with a path: RFC 8414 path-inserted, OIDC path-inserted, OIDC path-appended;
/// - issuer without: RFC 8414, then OIDC.
///
/// A trailing `/` on the issuer's path is dropped first. No other fallbacks are added
/// (trap T3).
///
/// ```
/// use mcp_oauth_as_metadata::discovery_urls;
/// assert_eq!(discovery_urls("https://auth.example.com/tenant1")?, [
///     "https://auth.example.com/.well-known/oauth-authorization-server/tenant1",
///     "https://auth.example.com/.well-known/openid-configuration/tenant1",
///     "https://auth.example.com/tenant1/.well-known/openid-configuration",
/// ]);
/// # Ok::<(), mcp_oauth_as_metadata::AsMetadataError>(())
/// ```
pub fn discovery_urls(issuer: &str) -> Result<Vec<String>, AsMetadataError> {
    let uri = parse_issuer(issuer)?;
    let origin = uri.origin();
    let path = uri.path().trim_end_matches('/');
    Ok(if path.is_empty() {
        vec![
            format!("{origin}{OAUTH_WELL_KNOWN}"),
            format!("{origin}{OIDC_WELL_KNOWN}"),
        ]
    } else {
        vec![
            format!("{origin}{OAUTH_WELL_KNOWN}{path}"),
            format!("{origin}{OIDC_WELL_KNOWN}{path}"),
            format!("{origin}{path}{OIDC_WELL_KNOWN}"),
        ]
    })
}

/// The 2025-03-26 specification's discovery, for MCP servers that predate protected
/// resource metadata: the authorization server is the MCP server's origin (the
/// "authorization base URL"), its metadata is at that origin's RFC 8414 well-known URL,
/// and when that answers 404 the default endpoints `/authorize`, `/token` and `/register`
/// are assumed. Use it only when the server offers no protected resource metadata.
#[derive(Debug, Clone)]
pub struct LegacyDiscovery {
    origin: String,
}

impl LegacyDiscovery {
    /// For the MCP server at `server`.
    pub fn new(server: &ResourceUri) -> Self {
        LegacyDiscovery {
            origin: server.origin().to_owned(),
        }
    }

    /// The issuer the 2025-03-26 rules assume: the origin.
    pub fn issuer(&self) -> &str {
        &self.origin
    }

    /// The one metadata URL to try.
    pub fn metadata_url(&self) -> String {
        format!("{}{OAUTH_WELL_KNOWN}", self.origin)
    }

    /// The metadata to assume when that URL answers 404: the default endpoints under the
    /// origin, PKCE S256 (which 2025-03-26 made mandatory), and dynamic registration.
    pub fn default_metadata(&self) -> AuthorizationServerMetadata {
        let mut m = AuthorizationServerMetadata::new(self.origin.clone());
        m.authorization_endpoint = Some(format!("{}/authorize", self.origin));
        m.token_endpoint = Some(format!("{}/token", self.origin));
        m.registration_endpoint = Some(format!("{}/register", self.origin));
        m.response_types_supported = Some(vec!["code".to_owned()]);
        m.code_challenge_methods_supported = Some(vec!["S256".to_owned()]);
        m
    }
}

/// Validation of a fetched document against the issuer the client expected.
#[derive(Debug, Clone, Default)]
pub struct Validation {
    limits: JsonLimits,
    assume_s256_for: Vec<String>,
}

impl Validation {
    /// Strict validation with the default limits (1 MiB, depth 32).
    pub fn new() -> Self {
        Self::default()
    }

    /// Other size and depth limits.
    pub fn limits(mut self, limits: JsonLimits) -> Self {
        self.limits = limits;
        self
    }

    /// **Dangerous.** For this issuer only, treat a document that omits
    /// `code_challenge_methods_supported` as supporting S256. Entra ID and Amazon Cognito
    /// publish OpenID documents without the member while enforcing S256 (trap T4).
    ///
    /// What it reopens: MCP-AUTHZ-4 makes the client refuse such servers so that a
    /// server without PKCE is never sent an unprotected authorization code. If the issuer
    /// does not in fact enforce PKCE, an intercepted code can be redeemed by the
    /// interceptor. A document that lists methods without S256 is still refused.
    pub fn dangerous_assume_s256_for_issuer(mut self, issuer: impl Into<String>) -> Self {
        self.assume_s256_for.push(issuer.into());
        self
    }

    /// Parses and validates (FORMAT suite `as-metadata-validate`):
    ///
    /// - `issuer` equals `expected_issuer` byte for byte (RFC 8414 §3.3);
    /// - `authorization_endpoint` and `token_endpoint` present, absolute `https` URLs
    ///   (`http` on loopback);
    /// - `registration_endpoint`, `revocation_endpoint`, `introspection_endpoint`,
    ///   `jwks_uri` and `userinfo_endpoint`, when present, held to the same rule;
    /// - `code_challenge_methods_supported` present and listing `S256` (MCP-AUTHZ-4);
    /// - `response_types_supported`, when present, lists `code`.
    pub fn validate(
        &self,
        document: &[u8],
        expected_issuer: &str,
    ) -> Result<AuthorizationServerMetadata, AsMetadataError> {
        let doc = AuthorizationServerMetadata::parse(document, &self.limits)?;
        self.check(doc, expected_issuer)
    }

    /// [`Validation::validate`] for a document already parsed as a JSON value.
    pub fn validate_value(
        &self,
        document: Value,
        expected_issuer: &str,
    ) -> Result<AuthorizationServerMetadata, AsMetadataError> {
        let doc = AuthorizationServerMetadata::from_value(document, &self.limits)?;
        self.check(doc, expected_issuer)
    }

    fn check(
        &self,
        doc: AuthorizationServerMetadata,
        expected_issuer: &str,
    ) -> Result<AuthorizationServerMetadata, AsMetadataError> {
        if doc.issuer != expected_issuer {
            return Err(AsMetadataError::IssuerMismatch {
                expected: expected_issuer.to_owned(),
                found: doc.issuer.clone(),
            });
        }
        parse_issuer(&doc.issuer)?;
        for (name, value) in [
            ("authorization_endpoint", &doc.authorization_endpoint),
            ("token_endpoint", &doc.token_endpoint),
        ] {
            let url = value
                .as_deref()
                .ok_or(AsMetadataError::MissingEndpoint { name })?;
            ResourceUri::parse(url)
                .map_err(|error| AsMetadataError::InvalidEndpoint { name, error })?;
        }
        // Every other endpoint the document names is held to the same rule: a client
        // would send credentials or tokens there (a relative or `http` registration
        // endpoint was accepted before; found by fuzzing client_flow).
        for (name, value) in [
            ("registration_endpoint", &doc.registration_endpoint),
            ("revocation_endpoint", &doc.revocation_endpoint),
            ("introspection_endpoint", &doc.introspection_endpoint),
            ("jwks_uri", &doc.jwks_uri),
            ("userinfo_endpoint", &doc.userinfo_endpoint),
        ] {
            if let Some(url) = value.as_deref() {
                ResourceUri::parse(url)
                    .map_err(|error| AsMetadataError::InvalidEndpoint { name, error })?;
            }
        }
        match &doc.code_challenge_methods_supported {
            None if self.assume_s256_for.contains(&doc.issuer) => {}
            None => return Err(AsMetadataError::PkceNotAdvertised),
            Some(_) if !doc.supports_s256() => return Err(AsMetadataError::S256NotSupported),
            Some(_) => {}
        }
        if doc
            .response_types_supported
            .as_deref()
            .is_some_and(|t| !t.iter().any(|t| t == "code"))
        {
            return Err(AsMetadataError::CodeFlowNotSupported);
        }
        Ok(doc)
    }
}

#[cfg(test)]
mod tests;
