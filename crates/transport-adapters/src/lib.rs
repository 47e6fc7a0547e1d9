#![doc = include_str!("../README.md")]
#![forbid(unsafe_code)]

// One module per role: `rs` protects an MCP server, `client` authorizes an MCP client,
// `as_server` serves the authorization server (`as` is a Rust keyword), `http` is the
// plumbing they share (the guarded fetcher and the accept loop), `store` the durable
// storage engines (feature `sqlite`). `sys` is the one place that reads the clock and the
// operating system's entropy.

#[cfg(feature = "authorization-server")]
pub mod as_server;
#[cfg(feature = "client")]
pub mod client;
#[cfg(any(feature = "http-client", feature = "serve"))]
pub mod http;
#[cfg(feature = "rs")]
pub mod rs;
#[cfg(feature = "sqlite")]
pub mod store;
pub mod sys;

#[cfg(feature = "http-client")]
pub use http::{FetchConfig, FetchError, Fetcher, GuardedResolver};
#[cfg(all(feature = "rs", feature = "http-client"))]
pub use rs::spawn_jwks_refresher;
#[cfg(feature = "rs")]
pub use rs::{
    BoxBody, BoxError, CachedKeys, ClientAddr, EitherBody, KeySource, OperationScopes,
    ProtectedResource, RequireAuth, RequireAuthLayer, StaticKeys, Tenants,
};
