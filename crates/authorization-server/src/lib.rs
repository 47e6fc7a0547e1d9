#![doc = include_str!("../README.md")]
#![forbid(unsafe_code)]

mod server;
mod storage;

pub use server::{
    AsConfig, AuthorizationServer, AuthorizeOutcome, AutoApprove, Consent, ConsentDecision,
    ConsentRequest, MAX_FORM_LEN, MAX_QUERY_LEN, OAuthError, ResourceServer, TokenSigner,
};
pub use storage::{CodeRecord, Digest, MemoryStorage, RefreshRecord, Storage, StoredClient};

#[cfg(test)]
mod tests;
