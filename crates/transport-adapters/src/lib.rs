#![doc = include_str!("../README.md")]
#![forbid(unsafe_code)]

#[cfg(feature = "client")]
#[cfg(feature = "authorization-server")]
pub mod as_server;
pub mod client;
#[cfg(feature = "serve")]
pub mod listen;
#[cfg(feature = "oauth-client")]
pub mod oauth;
#[cfg(feature = "server")]
mod refresher;
#[cfg(feature = "server")]
pub mod server;

#[cfg(feature = "client")]
pub use client::{FetchConfig, FetchError, Fetcher, GuardedResolver};
#[cfg(feature = "server")]
pub use refresher::CachedKeys;
#[cfg(feature = "client")]
pub use refresher::spawn_jwks_refresher;
#[cfg(feature = "server")]
pub use server::{
    Bearer, BearerLayer, BoxBody, BoxError, ClientAddr, EitherBody, KeySource, OperationScopes,
    ProtectedResource, StaticKeys,
};

#[cfg(all(test, feature = "authorization-server"))]
mod as_server_tests;
#[cfg(all(test, feature = "authorization-server"))]
mod listen_tests;
#[cfg(all(test, feature = "client"))]
mod live_tests;
#[cfg(all(test, feature = "server"))]
mod tests;
