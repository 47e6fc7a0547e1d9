#![doc = include_str!("../README.md")]
#![forbid(unsafe_code)]

mod cimd;
mod client;
mod metadata;
mod redirect;
mod server;

pub use cimd::{
    CheckedDocument, CimdError, CimdPolicy, FETCH_RULES, RegistrationRoute, SHARED_SECRET_METHODS,
    choose_registration, client_id_metadata_document, validate_client_id_url,
};
pub use client::{
    MAX_RESPONSE_LEN, RegistrationError, parse_registration_response, registration_request,
};
pub use mcp_oauth_common::{AccessToken, ClientSecret};
pub use metadata::{ClientMetadata, DEFAULT_AUTH_METHOD, RegisteredClient};
pub use redirect::{
    DEFAULT_MAX_REDIRECT_URI_LEN, DEFAULT_MAX_REDIRECT_URIS, RedirectError, RedirectKind,
    RedirectPolicy, redirect_matches,
};
pub use server::{
    DEFAULT_AUTH_METHODS, DEFAULT_GRANT_TYPES, InitialAccessTokenVerifier, RegistrationPolicy,
    RegistrationRequestError, Rejection, SoftwareStatementVerifier,
};

/// The RFC 7591 §3.2.2 error codes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum RegistrationErrorCode {
    /// `invalid_redirect_uri`.
    InvalidRedirectUri,
    /// `invalid_client_metadata`.
    InvalidClientMetadata,
    /// `invalid_software_statement`.
    InvalidSoftwareStatement,
    /// `unapproved_software_statement`.
    UnapprovedSoftwareStatement,
}

impl RegistrationErrorCode {
    /// The code as sent.
    pub fn as_str(self) -> &'static str {
        match self {
            RegistrationErrorCode::InvalidRedirectUri => "invalid_redirect_uri",
            RegistrationErrorCode::InvalidClientMetadata => "invalid_client_metadata",
            RegistrationErrorCode::InvalidSoftwareStatement => "invalid_software_statement",
            RegistrationErrorCode::UnapprovedSoftwareStatement => "unapproved_software_statement",
        }
    }

    /// Reads a code; `None` for others.
    pub fn parse(code: &str) -> Option<Self> {
        [
            RegistrationErrorCode::InvalidRedirectUri,
            RegistrationErrorCode::InvalidClientMetadata,
            RegistrationErrorCode::InvalidSoftwareStatement,
            RegistrationErrorCode::UnapprovedSoftwareStatement,
        ]
        .into_iter()
        .find(|c| c.as_str() == code)
    }
}

impl From<RegistrationErrorCode> for mcp_oauth_common::ErrorCode {
    fn from(code: RegistrationErrorCode) -> Self {
        mcp_oauth_common::ErrorCode::parse(code.as_str())
    }
}

#[cfg(test)]
mod tests;
