#![doc = include_str!("../README.md")]
#![forbid(unsafe_code)]

use core::fmt;

mod challenge;
mod discovery;
mod forwarded;
mod metadata;
mod server;
mod syntax;

pub use challenge::{
    BearerChallenge, BearerError, BearerParams, Challenge, ChallengeError, HeaderError,
    MAX_CHALLENGES, MAX_HEADER_LEN, MAX_PARAMS, bearer_params, parse_www_authenticate,
};
pub use discovery::{
    Candidate, Source, Validation, discovery_candidates, root_well_known_url, well_known_url,
};
pub use forwarded::{ForwardedError, MAX_FORWARDED_LEN, PublicUrl, forwarded_for};
pub use metadata::ProtectedResourceMetadata;
pub use server::{Cors, DEFAULT_MAX_AGE, PrmBuilder, PrmEndpoint};

pub use mcp_oauth_common::{JsonError, JsonLimits};

/// The well-known URI suffix of RFC 9728 §3.
pub const WELL_KNOWN_PATH: &str = "/.well-known/oauth-protected-resource";

/// Why a protected resource metadata document, or a URL to fetch one from, is unusable
/// (`invalid_resource_metadata` in the conformance format), or why a server's document
/// could not be built.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum PrmError {
    /// Not JSON, too large, too deep, or a field of the wrong JSON type.
    Json(JsonError),
    /// The document's `resource` is not the resource it was fetched for (RFC 9728 §3.3).
    ResourceMismatch {
        /// The resource the document had to name.
        expected: String,
        /// The `resource` it named.
        found: String,
    },
    /// No `authorization_servers`, or an empty list: MCP requires at least one.
    NoAuthorizationServers,
    /// An `authorization_servers` entry that is not an absolute `https` URL (`http` on
    /// loopback).
    InvalidAuthorizationServer {
        /// Position in the list.
        index: usize,
        /// What is wrong with it.
        error: mcp_oauth_resource_indicators::ResourceError,
    },
    /// A `resource_metadata` URL from a challenge that is not an absolute `https` URL
    /// (`http` on loopback).
    InvalidMetadataUrl(mcp_oauth_resource_indicators::ResourceError),
    /// [`PrmBuilder::extra`] named a member the document defines.
    ShadowedMember(String),
    /// [`PrmBuilder::jwks_uri`] is not an absolute `https` URL (`http` on loopback)
    /// (RFC 9728 §2, PRM-4).
    InvalidJwksUri(mcp_oauth_resource_indicators::ResourceError),
    /// [`PrmBuilder::resource_signing_alg_values_supported`] lists `none` (RFC 9728 §2,
    /// PRM-7).
    NoneSigningAlgorithm,
    /// [`PrmBuilder::scopes_supported`] lists `offline_access` (MCP-SCOPE-16: a resource
    /// server does not advertise it).
    OfflineAccessAdvertised,
}

impl fmt::Display for PrmError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PrmError::Json(e) => write!(f, "protected resource metadata: {e}"),
            PrmError::ResourceMismatch { expected, found } => write!(
                f,
                "protected resource metadata is for {found:?}, not {expected:?}"
            ),
            PrmError::NoAuthorizationServers => {
                f.write_str("protected resource metadata lists no authorization server")
            }
            PrmError::InvalidAuthorizationServer { index, error } => {
                write!(f, "authorization_servers[{index}]: {error}")
            }
            PrmError::InvalidMetadataUrl(e) => write!(f, "resource_metadata URL: {e}"),
            PrmError::ShadowedMember(name) => {
                write!(f, "extra member {name:?} shadows a defined member")
            }
            PrmError::InvalidJwksUri(e) => write!(f, "jwks_uri: {e}"),
            PrmError::NoneSigningAlgorithm => {
                f.write_str("resource_signing_alg_values_supported lists none")
            }
            PrmError::OfflineAccessAdvertised => f.write_str(
                "scopes_supported lists offline_access, which a resource server does not advertise",
            ),
        }
    }
}

impl std::error::Error for PrmError {}

#[cfg(test)]
mod tests;
