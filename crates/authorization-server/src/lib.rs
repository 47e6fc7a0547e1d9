#![doc = include_str!("../README.md")]
#![forbid(unsafe_code)]

pub mod ops;
mod server;
mod storage;
pub mod store_conformance;

/// Signs access tokens: the JOSE signing seam of `mcp-oauth-jwt-validate`
/// ([`JwsSigner`](mcp_oauth_jwt_validate::crypto::JwsSigner)), under the name this crate
/// has always used. Its `public_jwk()` is what `/jwks` publishes; the ES256 and RS256
/// signers on ring are `mcp_oauth_jwt_validate::crypto::{Es256Signer, Rs256Signer}`.
pub use mcp_oauth_jwt_validate::crypto::JwsSigner as TokenSigner;
pub use ops::{AccessRecord, Issued, Op, Outcome};
pub use server::{
    AsConfig, AsConfigError, AuthorizationServer, AuthorizeOutcome, AutoApprove, Consent,
    ConsentDecision, ConsentRequest, Handled, MAX_CONTACTS, MAX_FORM_LEN, MAX_METADATA_STRING,
    MAX_QUERY_LEN, OAuthError, ResourceServer,
};
pub use storage::{
    ClientKind, ClientLimitReached, ClientLimits, CodeRecord, Digest, MemoryStorage,
    REVOCATION_GRACE, RefreshRecord, Storage, StoredClient,
};

#[cfg(test)]
mod tests;
