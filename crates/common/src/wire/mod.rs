//! The OAuth wire vocabulary the authorization server, the client and the resource server
//! share: error codes ([`ErrorCode`], [`ErrorResponse`]), the RFC 6750 bearer error
//! ([`BearerError`]), the token endpoint's success body ([`TokenResponse`]) and secret
//! newtypes ([`ClientSecret`], [`AccessToken`], [`RefreshToken`]) that never print their
//! value and compare in constant time.

mod bearer;
mod error_code;
mod secret;
mod token_response;

pub use bearer::BearerError;
pub use error_code::{ErrorCode, ErrorResponse, MAX_ERROR_RESPONSE_LEN};
pub use secret::{AccessToken, ClientSecret, RefreshToken, ct_eq};
pub use token_response::{MAX_TOKEN_RESPONSE_LEN, TokenResponse, TokenResponseError};

#[cfg(test)]
mod tests;
