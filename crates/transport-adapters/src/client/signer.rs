//! `private_key_jwt`: the client signs its RFC 7523 assertions with the JOSE signing
//! seam's ES256 signer (`mcp_oauth_jwt_validate::crypto::Es256Signer`), re-exported here
//! for the command-line client and other callers of this module.

pub use mcp_oauth_jwt_validate::crypto::Es256Signer;
