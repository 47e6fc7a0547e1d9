//! HTTP plumbing every role shares: the guarded fetcher the core crates' requests go
//! through (feature `http-client`) and the hardened accept loop every server we ship runs
//! (feature `serve`).

#[cfg(feature = "http-client")]
mod fetch;
#[cfg(feature = "serve")]
pub mod listen;

#[cfg(feature = "http-client")]
pub use fetch::{FetchConfig, FetchError, Fetcher, GuardedResolver};

#[cfg(all(test, feature = "authorization-server"))]
mod listen_tests;
#[cfg(all(test, feature = "http-client", feature = "rs"))]
mod live_tests;
