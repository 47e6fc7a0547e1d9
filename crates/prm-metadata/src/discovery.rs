//! Client side: where to look for the metadata (RFC 9728 §3.1, MCP 2025-11-25+), and
//! whether what came back is usable (RFC 9728 §3.3).

use mcp_oauth_common::JsonLimits;
use mcp_oauth_resource_indicators::ResourceUri;

use crate::{PrmError, ProtectedResourceMetadata, WELL_KNOWN_PATH};

/// Where a document came from decides what its `resource` must be.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Source {
    /// The `resource_metadata` URL of a `WWW-Authenticate` challenge (RFC 9728 §5.1).
    Challenge,
    /// The well-known URL with the resource's path inserted (RFC 9728 §3.1).
    PathInserted,
    /// The well-known URL at the origin's root (MCP's fallback).
    Root,
}

/// One URL to try, and the `resource` the document found there must name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Candidate {
    /// The URL to GET.
    pub url: String,
    /// The resource identifier to validate the document against (RFC 9728 §3.3):
    /// the server URL the client used, or the origin for the root fallback.
    pub expected_resource: String,
    /// How the URL was found.
    pub source: Source,
}

/// The RFC 9728 §3.1 well-known URL for a resource: `/.well-known/oauth-protected-resource`
/// inserted between the host and the path (and query). A resource with no path gets the
/// root URL.
///
/// ```
/// use mcp_oauth_prm_metadata::well_known_url;
/// use mcp_oauth_resource_indicators::ResourceUri;
/// let r = ResourceUri::parse("https://resource.example.com/resource1")?;
/// assert_eq!(well_known_url(&r), "https://resource.example.com/.well-known/oauth-protected-resource/resource1");
/// # Ok::<(), mcp_oauth_resource_indicators::ResourceError>(())
/// ```
pub fn well_known_url(resource: &ResourceUri) -> String {
    format!(
        "{}{WELL_KNOWN_PATH}{}",
        resource.origin(),
        resource.path_and_query()
    )
}

/// The root well-known URL of a resource's origin.
pub fn root_well_known_url(resource: &ResourceUri) -> String {
    format!("{}{WELL_KNOWN_PATH}", resource.origin())
}

/// The URLs a client tries, in order (MCP 2025-11-25+ "Protected Resource Metadata
/// Discovery Requirements"; FORMAT suite `prm-discovery-urls`):
///
/// - with a `resource_metadata` URL from the challenge: that URL alone, which must be an
///   absolute `https` URL (or `http` on loopback);
/// - otherwise the path-inserted URL, then the root URL; the root URL alone when the
///   resource has no path.
pub fn discovery_candidates(
    resource: &ResourceUri,
    resource_metadata: Option<&str>,
) -> Result<Vec<Candidate>, PrmError> {
    if let Some(url) = resource_metadata {
        ResourceUri::parse(url).map_err(PrmError::InvalidMetadataUrl)?;
        return Ok(vec![Candidate {
            url: url.to_owned(),
            expected_resource: resource.as_str().to_owned(),
            source: Source::Challenge,
        }]);
    }
    let root = Candidate {
        url: root_well_known_url(resource),
        expected_resource: resource.origin().to_owned(),
        source: Source::Root,
    };
    if resource.path().is_empty() {
        return Ok(vec![root]);
    }
    Ok(vec![
        Candidate {
            url: well_known_url(resource),
            expected_resource: resource.as_str().to_owned(),
            source: Source::PathInserted,
        },
        root,
    ])
}

/// How strictly a document's `resource` is compared with the expected one.
#[derive(Debug, Clone, Default)]
pub struct Validation {
    limits: JsonLimits,
    accept_parent_resource: bool,
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

    /// **Dangerous.** Also accept a document whose `resource` is a *parent* of the
    /// expected one: same scheme, host and port, and a path that is a whole-segment
    /// prefix (`https://host` or `https://host/api` for `https://host/api/mcp`).
    ///
    /// This is the relaxation some deployments need when a server at `https://host/mcp`
    /// publishes only a root document saying `"resource": "https://host"` and points to it
    /// from its challenge (trap T1 in the requirements). It reopens what RFC 9728 §3.3 and
    /// §7.3 close: any resource under the same origin, and the operator of a parent path,
    /// can then direct your client to its authorization servers, and the token you obtain
    /// is for the parent resource, usable at every server below it.
    pub fn dangerous_accept_parent_resource(mut self) -> Self {
        self.accept_parent_resource = true;
        self
    }

    /// Parses a fetched document and validates it against the resource it was fetched
    /// for (FORMAT suite `prm-validate`):
    ///
    /// - `resource` equals `expected_resource` code point for code point, except that a
    ///   lone `/` path on either side is ignored (RFC 9728 §3.3; trap T2);
    /// - `authorization_servers` is a non-empty array of absolute `https` URLs (`http` on
    ///   loopback), as MCP requires;
    /// - every RFC 9728 field has the RFC's JSON type; unknown fields are kept.
    pub fn validate(
        &self,
        document: &[u8],
        expected_resource: &str,
    ) -> Result<ProtectedResourceMetadata, PrmError> {
        let doc = ProtectedResourceMetadata::parse(document, &self.limits)?;
        self.check(doc, expected_resource)
    }

    /// [`Validation::validate`] for a document already parsed as a JSON value.
    pub fn validate_value(
        &self,
        document: serde_json::Value,
        expected_resource: &str,
    ) -> Result<ProtectedResourceMetadata, PrmError> {
        let doc = ProtectedResourceMetadata::from_value(document, &self.limits)?;
        self.check(doc, expected_resource)
    }

    fn check(
        &self,
        doc: ProtectedResourceMetadata,
        expected_resource: &str,
    ) -> Result<ProtectedResourceMetadata, PrmError> {
        let found = strip_lone_root_slash(&doc.resource);
        let expected = strip_lone_root_slash(expected_resource);
        let matches = found == expected
            || (self.accept_parent_resource && is_parent_resource(found, expected));
        if !matches {
            return Err(PrmError::ResourceMismatch {
                expected: expected_resource.to_owned(),
                found: doc.resource.clone(),
            });
        }
        let servers = doc
            .authorization_servers
            .as_deref()
            .filter(|s| !s.is_empty())
            .ok_or(PrmError::NoAuthorizationServers)?;
        for (index, s) in servers.iter().enumerate() {
            ResourceUri::parse(s)
                .map_err(|error| PrmError::InvalidAuthorizationServer { index, error })?;
        }
        Ok(doc)
    }
}

/// `https://host/` → `https://host`; anything else unchanged.
pub(crate) fn strip_lone_root_slash(s: &str) -> &str {
    match s.split_once("://") {
        Some((_, rest)) if rest.find('/') == Some(rest.len().saturating_sub(1)) => {
            s.strip_suffix('/').unwrap_or(s)
        }
        _ => s,
    }
}

/// Whether `parent` is `child`'s origin or a whole-segment path prefix of it. Both must
/// parse as resource URIs; the comparison is on the strings as given.
fn is_parent_resource(parent: &str, child: &str) -> bool {
    let (Ok(p), Ok(c)) = (ResourceUri::parse(parent), ResourceUri::parse(child)) else {
        return false;
    };
    if p.origin() != c.origin() || p.query().is_some() {
        return false;
    }
    let (pp, cp) = (p.path().trim_end_matches('/'), c.path());
    pp.is_empty()
        || cp
            .strip_prefix(pp)
            .is_some_and(|rest| rest.is_empty() || rest.starts_with('/'))
}
