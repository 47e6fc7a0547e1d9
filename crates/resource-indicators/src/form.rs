//! Reading `resource` parameters from an authorization or token request (the
//! authorization-server side of RFC 8707 §2).

use std::borrow::Cow;

use crate::{ResourceError, ResourceUri};

/// Most `resource` parameters accepted in one request (RFC 8707 §2 allows several).
pub const MAX_RESOURCES_PER_REQUEST: usize = 16;

/// Collects and parses every `resource` parameter from decoded form pairs, e.g. from
/// `url::form_urlencoded::parse(body)` or an authorization URL's `query_pairs()`.
///
/// Returns them in request order; an empty vector means the client sent none (RFC 8707
/// §2.1 leaves the default to the authorization server). Any unusable value, or more than
/// [`MAX_RESOURCES_PER_REQUEST`] of them, is an error (`invalid_target`).
///
/// ```
/// use mcp_oauth_resource_indicators::{resources_from_pairs, url};
/// let body = b"grant_type=authorization_code&resource=https%3A%2F%2Fmcp.example.com%2F";
/// let resources = resources_from_pairs(url::form_urlencoded::parse(body))?;
/// assert_eq!(resources[0].as_str(), "https://mcp.example.com");
/// # Ok::<(), mcp_oauth_resource_indicators::FormError>(())
/// ```
pub fn resources_from_pairs<'a, I>(pairs: I) -> Result<Vec<ResourceUri>, FormError>
where
    I: IntoIterator<Item = (Cow<'a, str>, Cow<'a, str>)>,
{
    let mut out = Vec::new();
    for (name, value) in pairs {
        if name != "resource" {
            continue;
        }
        if out.len() == MAX_RESOURCES_PER_REQUEST {
            return Err(FormError::TooManyResources);
        }
        out.push(ResourceUri::parse(&value).map_err(FormError::Resource)?);
    }
    Ok(out)
}

/// Why the `resource` parameters of a request are unusable; `invalid_target` on the wire.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum FormError {
    /// One `resource` value is not a usable resource URI.
    Resource(ResourceError),
    /// More than [`MAX_RESOURCES_PER_REQUEST`] `resource` parameters.
    TooManyResources,
}

impl FormError {
    /// The OAuth error code: `invalid_target` (RFC 8707 §2).
    pub fn oauth_error_code(&self) -> &'static str {
        "invalid_target"
    }
}

impl core::fmt::Display for FormError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            FormError::Resource(e) => e.fmt(f),
            FormError::TooManyResources => write!(
                f,
                "more than {MAX_RESOURCES_PER_REQUEST} resource parameters in one request"
            ),
        }
    }
}

impl std::error::Error for FormError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            FormError::Resource(e) => Some(e),
            FormError::TooManyResources => None,
        }
    }
}
