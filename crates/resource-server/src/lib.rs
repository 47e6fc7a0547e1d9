#![doc = include_str!("../README.md")]
#![forbid(unsafe_code)]

// One sub-concern per file: where credentials come from (`credentials`), what an operation
// needs (`operations`, `headers`), who owns a session (`sessions`), the configuration
// (`server`), the decision (`decide`), and the one mapping of refusals to the wire
// (`refusal`).

mod credentials;
mod decide;
mod headers;
mod operations;
mod refusal;
mod server;
mod sessions;
mod validate;

pub use decide::{Allowed, Audit, Decision, NeedBody, Now, WaitForKeys};
pub use headers::Mismatch;
pub use operations::OperationScopes;
pub use refusal::{ChallengeTarget, Refusal};
pub use server::{
    ConfigError, DEFAULT_MAX_BODY, DEFAULT_SESSION_CAPACITY, DEFAULT_SESSION_IDLE, KeyArrival,
    KeySource, ResourceServer, StaticKeys, Tenants,
};
pub use sessions::{MCP_SESSION_ID, SessionBindings, SessionStep};

#[cfg(test)]
mod tests;
