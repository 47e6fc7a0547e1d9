#![doc = include_str!("../README.md")]
#![forbid(unsafe_code)]

mod alg;
mod claims;
pub mod crypto;
mod error;
mod introspection;
mod jwk;
mod jwks_cache;
mod peek;
mod policy;
mod scopes;
mod token;
mod token_cache;

pub use alg::Algorithm;
#[cfg(any(feature = "ring", feature = "aws-lc-rs"))]
pub use crypto::default_provider;
pub use crypto::{
    CryptoProvider, JwsSigner, PublicKeyMaterial, SignError, VerifyingKey, sign_compact,
};
pub use error::{JwtError, KeyError, Malformed};
pub use introspection::{
    IntrospectionAuth, MAX_INTROSPECTION_LEN, introspection_request, parse_introspection,
};
pub use jwk::{Key, KeySet, KeySetLimits};
pub use jwks_cache::{FetchError, FetchOutcome, JwksCache, JwksConfig, Lookup};
pub use peek::{MAX_PEEK_LEN, Peeked, peek};
pub use policy::{
    ClientIdClaim, DEFAULT_LEEWAY, DEFAULT_MAX_TOKEN_LEN, Policy, RFC9068_TYP, ScopeClaim,
};
pub use scopes::ScopeHierarchy;
pub use token::{AuthContext, Validator};
pub use token_cache::{Cached, TokenCache, TokenKey};

pub use mcp_oauth_common::UnixTime;

#[cfg(test)]
mod tests;
