//! The one mapping from the library's typed errors to FORMAT.md's error codes.

use mcp_oauth_pkce::PkceError;
use mcp_oauth_resource::ResourceError;

/// Any library error a suite may report.
pub(crate) enum LibError<'a> {
    Pkce(&'a PkceError),
    Resource(&'a ResourceError),
}

/// FORMAT.md's code for a library error.
pub(crate) fn code(err: LibError<'_>) -> &'static str {
    match err {
        // Every way a verifier can break RFC 7636 §4.1.
        LibError::Pkce(PkceError::VerifierLength { .. } | PkceError::VerifierCharacter { .. }) => {
            "invalid_verifier"
        }
        // Other PKCE errors belong to the authorization-server side, where RFC 7636
        // answers with the OAuth code the library already names.
        LibError::Pkce(e) => e.oauth_error_code(),
        LibError::Resource(e) => e.oauth_error_code(),
    }
}

impl<'a> From<&'a PkceError> for LibError<'a> {
    fn from(e: &'a PkceError) -> Self {
        LibError::Pkce(e)
    }
}

impl<'a> From<&'a ResourceError> for LibError<'a> {
    fn from(e: &'a ResourceError) -> Self {
        LibError::Resource(e)
    }
}

/// `{"error": "<code>"}` for a library error.
pub(crate) fn error_value<'a>(err: impl Into<LibError<'a>>) -> serde_json::Value {
    serde_json::json!({ "error": code(err.into()) })
}
