//! The RFC 9728 §2 document.

use mcp_oauth_common::{JsonLimits, parse_json};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::PrmError;

/// An OAuth 2.0 Protected Resource Metadata document (RFC 9728 §2).
///
/// Every field the RFC defines has its JSON type; a document where one has another type
/// does not parse. Fields this type does not know (including language-tagged
/// human-readable values such as `resource_name#fr`) are kept in [`extra`] and written
/// back out, so a document round-trips. `signed_metadata` is carried as the JWT string it
/// is and **never trusted**: this crate does not verify it, and nothing in it overrides
/// the plain fields.
///
/// [`extra`]: ProtectedResourceMetadata::extra
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct ProtectedResourceMetadata {
    /// REQUIRED. The protected resource's resource identifier.
    pub resource: String,
    /// Issuer identifiers of the authorization servers that can issue tokens for this
    /// resource. Optional in RFC 9728; MCP servers MUST list at least one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub authorization_servers: Option<Vec<String>>,
    /// URL of the resource's own JWK Set (for signed responses; not token keys).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub jwks_uri: Option<String>,
    /// Scopes used in authorization requests for this resource.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scopes_supported: Option<Vec<String>>,
    /// How bearer tokens may be presented: `header`, `body`, `query`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bearer_methods_supported: Option<Vec<String>>,
    /// JWS algorithms the resource signs responses with.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resource_signing_alg_values_supported: Option<Vec<String>>,
    /// Human-readable name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resource_name: Option<String>,
    /// URL of developer documentation.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resource_documentation: Option<String>,
    /// URL of the data-use policy.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resource_policy_uri: Option<String>,
    /// URL of the terms of service.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resource_tos_uri: Option<String>,
    /// Whether the resource supports mutual-TLS certificate-bound tokens (RFC 8705).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tls_client_certificate_bound_access_tokens: Option<bool>,
    /// `authorization_details` types supported (RFC 9396).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub authorization_details_types_supported: Option<Vec<String>>,
    /// DPoP proof algorithms accepted (RFC 9449).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dpop_signing_alg_values_supported: Option<Vec<String>>,
    /// Whether DPoP-bound tokens are always required (RFC 9449).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dpop_bound_access_tokens_required: Option<bool>,
    /// A JWT asserting metadata values (RFC 9728 §2.2). Carried, never trusted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub signed_metadata: Option<String>,
    /// Every other member, kept as received.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

impl ProtectedResourceMetadata {
    /// A document naming only its resource. Use [`crate::PrmBuilder`] to publish one.
    pub fn new(resource: impl Into<String>) -> Self {
        ProtectedResourceMetadata {
            resource: resource.into(),
            authorization_servers: None,
            jwks_uri: None,
            scopes_supported: None,
            bearer_methods_supported: None,
            resource_signing_alg_values_supported: None,
            resource_name: None,
            resource_documentation: None,
            resource_policy_uri: None,
            resource_tos_uri: None,
            tls_client_certificate_bound_access_tokens: None,
            authorization_details_types_supported: None,
            dpop_signing_alg_values_supported: None,
            dpop_bound_access_tokens_required: None,
            signed_metadata: None,
            extra: Map::new(),
        }
    }

    /// Parses a document's bytes within `limits` (size, nesting). Only the JSON types are
    /// checked here; [`crate::Validation::validate`] checks the document against what was requested.
    pub fn parse(bytes: &[u8], limits: &JsonLimits) -> Result<Self, PrmError> {
        let doc: Self = parse_json(bytes, limits).map_err(PrmError::Json)?;
        Ok(doc)
    }

    /// Parses a document that arrived as a JSON value (checked against the same depth
    /// limit).
    pub fn from_value(value: Value, limits: &JsonLimits) -> Result<Self, PrmError> {
        if mcp_oauth_common::value_depth(&value) > limits.max_depth {
            return Err(PrmError::Json(mcp_oauth_common::JsonError::TooDeep {
                max: limits.max_depth,
            }));
        }
        serde_json::from_value(value).map_err(|e| PrmError::Json(e.into()))
    }

    /// The document as JSON bytes.
    pub fn to_json(&self) -> Vec<u8> {
        // Serialising a struct of strings, booleans and a JSON map cannot fail.
        serde_json::to_vec(self).unwrap_or_default()
    }
}
