#![doc = include_str!("../README.md")]
#![forbid(unsafe_code)]

mod server;
mod storage;

pub use server::{
    AsConfig, AsConfigError, AuthorizationServer, AuthorizeOutcome, AutoApprove, Consent,
    ConsentDecision, ConsentRequest, MAX_CONTACTS, MAX_FORM_LEN, MAX_METADATA_STRING,
    MAX_QUERY_LEN, OAuthError, ResourceServer, TokenSigner,
};
pub use storage::{
    ClientKind, ClientLimitReached, ClientLimits, CodeRecord, Digest, MemoryStorage,
    REVOCATION_GRACE, RefreshRecord, Storage, StoredClient,
};

#[cfg(test)]
mod tests;
