#![doc = include_str!("../README.md")]
#![forbid(unsafe_code)]

#[cfg(feature = "server")]
pub mod server;

#[cfg(feature = "server")]
pub use server::{
    Bearer, BearerLayer, BoxBody, BoxError, CachedKeys, KeySource, OperationScopes,
    ProtectedResource, StaticKeys,
};

#[cfg(all(test, feature = "server"))]
mod tests;
