//! The one mapping from the library's typed errors to FORMAT.md's error codes: one
//! `impl Code` per error type, all in this file.

use mcp_oauth_as_metadata::AsMetadataError;
use mcp_oauth_pkce::PkceError;
use mcp_oauth_prm_metadata::{HeaderError, PrmError};
use mcp_oauth_resource_indicators::ResourceError;

/// FORMAT.md's error code for a library error.
pub(crate) trait Code {
    fn code(&self) -> &'static str;
}

impl Code for PkceError {
    fn code(&self) -> &'static str {
        match self {
            // Every way a verifier can break RFC 7636 §4.1.
            PkceError::VerifierLength { .. } | PkceError::VerifierCharacter { .. } => {
                "invalid_verifier"
            }
            // Other PKCE errors belong to the authorization-server side, where RFC 7636
            // answers with the OAuth code the library already names.
            other => other.oauth_error_code(),
        }
    }
}

impl Code for ResourceError {
    fn code(&self) -> &'static str {
        self.oauth_error_code() // invalid_target
    }
}

impl Code for PrmError {
    fn code(&self) -> &'static str {
        "invalid_resource_metadata"
    }
}

impl Code for AsMetadataError {
    fn code(&self) -> &'static str {
        "invalid_as_metadata"
    }
}

impl Code for HeaderError {
    fn code(&self) -> &'static str {
        "invalid_header"
    }
}

impl Code for mcp_oauth_jwt_validate::JwtError {
    fn code(&self) -> &'static str {
        // The library's one RFC 6750 mapping: invalid_token, or insufficient_scope.
        self.bearer_error().as_str()
    }
}

impl Code for mcp_oauth_dcr::Rejection {
    fn code(&self) -> &'static str {
        self.code.as_str()
    }
}

/// `{"error": "<code>"}` for a library error.
pub(crate) fn error_value(err: &impl Code) -> serde_json::Value {
    serde_json::json!({ "error": err.code() })
}

/// The client's callback check (`iss-check`): both RFC 9207 failures are
/// `issuer_mismatch`; an error response from the right issuer keeps the authorization
/// server's own code (`access_denied`, ...), which FORMAT.md does not rename.
pub(crate) fn callback_code(e: &mcp_oauth_client_flow::CallbackError) -> String {
    e.code().to_owned()
}
