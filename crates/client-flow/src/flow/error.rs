//! Why a flow failed: one typed error for the whole machine.

use core::fmt;

use mcp_oauth_as_metadata::AsMetadataError;
use mcp_oauth_dcr::RegistrationError;
use mcp_oauth_prm_metadata::PrmError;

use crate::authorize::AuthorizeError;
use crate::callback::CallbackError;
use crate::token::TokenError;

/// Why the flow failed.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum FlowError {
    /// No usable protected resource metadata (every candidate failed).
    NoResourceMetadata {
        /// The last document error, when a document was found.
        last: Option<PrmError>,
        /// The last HTTP status, when no document was read.
        status: Option<u16>,
    },
    /// No listed authorization server gave usable metadata.
    NoAuthorizationServer {
        /// The last metadata error (e.g. an issuer mismatch, no S256).
        last: Option<AsMetadataError>,
    },
    /// No way to get a client id at this issuer (no pre-registration, no CIMD support,
    /// no registration endpoint): configure one (MCP-REG-2 step 4).
    NoClient {
        /// The issuer.
        issuer: String,
    },
    /// Dynamic registration failed.
    Registration(RegistrationError),
    /// The authorization request could not be built.
    Authorize(AuthorizeError),
    /// The callback was refused.
    Callback(CallbackError),
    /// The token request failed.
    Token(TokenError),
    /// A response arrived that the flow did not ask for.
    UnexpectedInput,
}

impl fmt::Display for FlowError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FlowError::NoResourceMetadata { last: Some(e), .. } => write!(f, "{e}"),
            FlowError::NoResourceMetadata { status, .. } => write!(
                f,
                "no protected resource metadata found (last status {})",
                status.map_or_else(|| "none".to_owned(), |s| s.to_string())
            ),
            FlowError::NoAuthorizationServer { last: Some(e) } => {
                write!(f, "no usable authorization server: {e}")
            }
            FlowError::NoAuthorizationServer { last: None } => {
                f.write_str("no usable authorization server metadata found")
            }
            FlowError::NoClient { issuer } => write!(
                f,
                "{issuer} offers no registration and no client is configured for it"
            ),
            FlowError::Registration(e) => write!(f, "{e}"),
            FlowError::Authorize(e) => write!(f, "{e}"),
            FlowError::Callback(e) => write!(f, "{e}"),
            FlowError::Token(e) => write!(f, "{e}"),
            FlowError::UnexpectedInput => f.write_str("input the flow did not ask for"),
        }
    }
}

impl std::error::Error for FlowError {}
