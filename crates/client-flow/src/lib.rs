#![doc = include_str!("../README.md")]
#![forbid(unsafe_code)]

mod authorize;
mod callback;
mod client_auth;
mod config;
mod flow;
mod policy;
mod scope;
mod store;
mod token;

pub use authorize::{AuthorizationRequest, AuthorizeError, PendingAuthorization, RESERVED_PARAMS};
pub use callback::{
    AuthorizationCode, CallbackError, MAX_CALLBACK_LEN, check_callback_issuer, parse_callback,
};
pub use client_auth::{client_auth, pick_auth_method};
pub use config::{ClientConfig, IssuerOptions};
pub use flow::{Action, AuthFlow, Authorized, Discovered, FlowError};
pub use policy::{
    ChallengeDecision, ClientCredentialsGrant, Completion, GiveUp, IssuerChanged, Reauthorize,
    RefreshFlow, RefreshStep, Rejection, TokenDecision, TokenPolicy, bearer_challenge,
    decide_completion, decide_issuer,
};
pub use scope::{OFFLINE_ACCESS, covers, scope_union, select_scope, split_scopes};
pub use store::{Credential, CredentialStore, MemoryStore, StepUpLimiter, StoreLock};
pub use token::{
    AssertionSigner, ClientAuth, Grant, JWT_BEARER_ASSERTION, MAX_TOKEN_RESPONSE_LEN, TokenClient,
    TokenError, TokenSet, basic_authorization, client_assertion, parse_token_response,
    token_request,
};

pub use mcp_oauth_common::UnixTime;
pub use mcp_oauth_common::{AccessToken, ClientSecret, ErrorCode, RefreshToken, TokenResponse};
pub use mcp_oauth_dcr::{ClientMetadata, RegisteredClient};
pub use mcp_oauth_prm_metadata::{BearerParams, bearer_params, parse_www_authenticate};
pub use mcp_oauth_resource_indicators::ResourceUri;

#[cfg(test)]
mod tests;
